"""The method of Zhou et al. (NS-N2N), one part per module: the LPF and its noise estimates,
the weight masks W_i, the threshold suggestion, the signal-dependent noise model, the losses,
the U-Net, inference, and the optional Rician bias correction. No training loop and no UI here."""
