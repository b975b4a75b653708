#!/usr/bin/env bash
# The main job: the NS-N2N demo on a synthetic CT stack.
#   scripts/run-napari.sh                      # napari + sample + dock widget (with a display)
#   scripts/run-napari.sh --sample mri --epochs 40 --out results/
# Without a display (DISPLAY unset) it runs headless: the engine trains on the CPU and writes
# the denoised stack (.tif) and a comparison PNG into --out (default ./nsn2n-demo-output).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/_setup_env.sh
VENV="${VENV:-.venv}"
unset QT_QPA_PLATFORM   # offscreen cannot render image layers; Qt picks xcb on X
if [ -n "${DISPLAY:-}" ]; then
  exec "$VENV/bin/nsn2n" demo "$@"
else
  echo "run-napari: no DISPLAY; running the demo headless" >&2
  exec "$VENV/bin/nsn2n" demo --headless "$@"
fi
