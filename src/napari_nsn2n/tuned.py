"""Every constant that was chosen by measuring, in one place, with where it was measured.

These values were fitted on the project's **synthetic phantoms** (CT, MRI, fluorescence; see
docs/benchmarks.md) and checked on cases held out from the fit where the line says so. They are
defaults, not laws: each one is also a setting (CLI option, ``TrainConfig`` field or keyword).
The experiment log behind each line is ``benchmarks/NOTES.md`` (the section named in brackets).
"""

from __future__ import annotations

# --- threshold suggestion (method/threshold.py) ---------------------------------------------
# th = k * s. k = 10 for runs of up to 800 optimiser steps, 5 from 2400 on, log-linear between:
# best k of PSNR sweeps over th at 800 / 1500 / 2400 / 4800 steps on MRI 5-9 % and fluorescence;
# checked on held-out ct_cosine and microscopy20 [Threshold rule; Threshold and budget].
SHORT_RUN_K = 10.0
LONG_RUN_K = 5.0
SHORT_RUN_STEPS = 800
LONG_RUN_STEPS = 2400
# k = 5 at any budget after the LPF tuned for noise correlated within slices (both CT filters'
# sweeps at 800 steps) [Threshold rule].
CORRELATED_K = 5.0
# differences above TAIL_K * s count as structure in the fit of s: s agreed within 15 % with the
# noise-only median on the six cases [Threshold rule, conditions].
TAIL_K = 5.0

# --- noise checks before the LPF (method/lowpass.py, method/noise_model.py) ------------------
# inter-slice sigma / in-plane sigma above this = noise correlated within slices: 1.8x (FBP ramp)
# and 3.3x (Hann) on CT, 1.0-1.2x on white, Rician and stabilised Poisson noise [Correlated noise].
CORRELATED_NOISE_RATIO = 1.5
# variance stabilisation is applied when the Poisson-Gaussian fit has R^2 >= MIN_R2 and its noise
# std grows by MIN_STD_RATIO over the level range: true on fluorescence only of the six cases
# (+1.1 dB there; the other five unchanged bit for bit) [Variance stabilisation].
VST_MIN_R2 = 0.5
VST_MIN_STD_RATIO = 1.5

# --- training defaults (config.py) -----------------------------------------------------------
# the CPU preset: 16-channel U-Net, 64 px patches, batch 8, within 0.3 dB of its final PSNR in
# under 3 minutes on 2 cores on a 48 x 256 x 256 CT stack [Speed presets].
FAST_EPOCHS = 16
FAST_CHANNELS = 16
FAST_PATCH = 64
FAST_BATCH = 8
# at least this many optimiser steps on a short stack: the step count of the fast preset on that
# 48 x 256 x 256 stack; MRI / fluorescence still gained 1-2 dB from 800 to 2400 steps [Budget].
FAST_MIN_STEPS = 1500
# "late" lr schedule as the CPU default: +0.02 to +0.86 dB over the paper's halving at 800 steps
# on all six cases, seed 0 [Learning-rate schedule]. Also what a run of a given length of the quick
# preset gets (TrainConfig.fixed_length).
FAST_LR_SCHEDULE = "late"
# the quick preset (`--preset quick`): 48 px patches, batch 4, stopped by the held-out loss (5 % of
# every slice, checked every 50 steps, patience 3, `plateau`) within a plan of 4000 steps. Against
# the fast preset, seed 0: 0.33 of its end-to-end time on ct_ramp 48 x 256 x 256 (2 idle cores) at
# +0.11 / -0.01 dB; -0.26 (CT Hann) to +0.45 dB (fluorescence) on the six cases, +0.12 / +0.04 on
# the held-out brains; seed 1: fluorescence -0.96 dB (it stopped at step 1350), so it is not the
# default [Stop rule].
QUICK_PATCH = 48
QUICK_BATCH = 4
QUICK_PLANNED_STEPS = 4000
QUICK_LR_SCHEDULE = "plateau"
QUICK_HOLDOUT = 0.05
QUICK_STOP_PATIENCE = 3
# lambda_RC "auto" = 0.5 on correlated noise, 0 elsewhere: without L_RC CT Hann lost 0.81 dB and
# fluorescence / MRI foreground gained +0.4 to +0.6 / +0.2 to +0.5 dB (800 and 2400 steps)
# [L_RC and the noise].
AUTO_LAMBDA_RC_CORRELATED = 0.5
AUTO_LAMBDA_RC_INDEPENDENT = 0.0

# the held-out loss's stop rule (training/loop.py StopRule, lr_schedule="plateau"): a check
# improves on any fall below the best (tolerance 0 x the fall so far) and the rate halves 3 times
# before the next plateau ends the run. On ct_ramp 48 x 256 x 256 a tolerance of 0.01 (patience
# 2) stopped at step 705, 0.77 dB (batch 8) / 0.48 dB (batch 4) below the default run; 0
# (patience 3) ran to 2162 / 2585 steps, +0.09 / +0.19 dB above it (seed 0; seed 1 at batch 4:
# +0.37 dB). Checked, with batch 4, on MRI 5 % and held-out fluorescence at 20 photons: +0.00 /
# +0.06 and +0.25 / -0.03 dB against the default run [Stop rule].
PLATEAU_TOLERANCE = 0.0
PLATEAU_HALVINGS = 3

# what `nsn2n denoise --help` tells to expect on a CPU (cli/denoise.py): seconds per training
# step of the fast preset, 2 threads on 2 idle cores (189 ms) and 1 thread while 8-10 other
# CPU-bound jobs shared those cores (2.07 s): benchmarks/speed.py --parts train
# (docs/performance.md); and a quick-preset run on a 48 x 256 x 256 CT stack, 2 idle cores, LPF
# to written output (111 s, stopped at step 1800; benchmarks/NOTES.md [Stop rule]).
CPU_STEP_SECONDS_IDLE = 0.19
CPU_STEP_SECONDS_BUSY = 2.1
QUICK_RUN_SECONDS_IDLE = 111

# --- divergence guard (training/guard.py) ----------------------------------------------------
# a step whose loss exceeds SPIKE_FACTOR x the median of the last GUARD_WINDOW steps is rolled
# back: healthy benchmark runs peaked at 1.1-1.2x, the diverging MRI 9 % run at 4-5x before its
# blow-up [Divergence guard].
SPIKE_FACTOR = 20.0
GUARD_WINDOW = 50
GUARD_WARMUP = 20
GUARD_SNAPSHOT_EVERY = 50

# --- inference (method/inference.py) ---------------------------------------------------------
# one slice per forward pass on a CPU: 22.0 against 15.4 slices/s for batches of 8 at 256 x 256
# on 2 cores (docs/performance.md, benchmarks/speed.py).
CPU_INFERENCE_BATCH = 1
DEVICE_INFERENCE_BATCH = 8

# --- Rician sigma estimate (method/rician.py) ------------------------------------------------
# 2 x 2 blocks brighter than RICIAN_SNR sigma and without an edge above RICIAN_EDGE sigma: the
# estimate was 1-4 % above the true sigma on MRI 5 / 7 / 9 % [Rician floor].
RICIAN_SNR = 4.0
RICIAN_EDGE = 3.0

# --- samples (samples/ct_abdomen.py) ---------------------------------------------------------
# the abdominal CT sample's suggested th: the engine's suggestion (threshold.py, short-run k) on
# abdomen_ct_stack((16, 256, 256)) was 0.0045 at dose 3e5 (Shepp-Logan), 0.0043 at 7.5e4 (Hamming)
# [docs/samples.md: Thresholds].
ABDOMEN_CT_THRESHOLD = 0.005

# --- bioimage.io packages (models/bmz.py) ----------------------------------------------------
# a package's test output must be reproduced within this fraction of the training stack's range:
# bioimageio.core reproduced it to 1.4e-7 (CT) / 1.9e-7 (microscopy) on the CPU with both weight
# formats (benchmarks/package_tolerance.py); the margin is for GPU (TF32) consumers, not measured.
PACKAGE_TOLERANCE = 1e-3

# --- structure kept after inference (method/structure.py) ------------------------------------
# the residual, averaged over 3 slices and smoothed in-plane by a Gaussian of this sigma, is put
# back where it stands 4 to 8 robust noise levels out (fully above 8). Chosen on ct_ramp and
# MRI 5 % (800 steps, seed 0): insert contrast 0.25 -> 0.71 and 0.61 -> 0.82 (median), PSNR
# +0.02 / +0.01 dB; checked on held-out abdomen_ct and brain_t1_4 and on CT Hann and
# fluorescence: PSNR +0.01 to +0.26 dB, insert contrast up on all four [Structure kept].
STRUCTURE_GATE_K = 4.0
STRUCTURE_GATE_SIGMA_PX = 1.5
