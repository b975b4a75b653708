#!/usr/bin/env bash
# The CUDA benchmark in one short run (<= 8 minutes): run on a machine with an NVIDIA GPU.
#   bash benchmarks/gpu.sh [OUT.json]
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e . 2>/dev/null || true
timeout 480 python benchmarks/gpu.py --out "${1:-benchmarks/results/gpu.json}"
