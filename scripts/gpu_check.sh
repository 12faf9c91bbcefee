#!/usr/bin/env bash
# The GPU check in one command (issue 29): install the carried wheels, then run benchmarks/gpu_check.py
# (one table: throughput, MFU, memory, loader, ridge, DDP; at most about 8 minutes on one H100/H200).
#
#   bash scripts/gpu_check.sh                     # on the GPU machine, from anywhere in the repository
#   bash scripts/gpu_check.sh --only ridge,ddp    # rerun some rows (arguments go to gpu_check.py)
#   bash scripts/gpu_check.sh --download          # with network, beforehand: fetch the wheels
#
# The wheels (benchmarks/gpu_wheels/, git-ignored, about 49 MiB): PyAV (writes the mp4s and decodes them),
# decord (the default decoder), jsonargparse and its two helpers (train.py's command line). A machine that
# has them already (pip install -r requirements.txt) needs none. In this workplace's device tool:
#   run(command="bash scripts/gpu_check.sh", carry=["benchmarks/gpu_wheels"], timeout_s=560)
# The table, its JSON and the log land in $OUT (the device tool's folder), else in runs/gpu_check/.
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=benchmarks/gpu_wheels

if [ "${1:-}" = "--download" ]; then
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux2010_x86_64 -d "$WHEELS" \
    av==18.1.0 decord==0.6.0 jsonargparse==4.53.0 docstring_parser==0.18.0 typeshed_client==2.15.0
  du -sh "$WHEELS"
  exit
fi

SITE=/tmp/gpu_check_site
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  for wheel in "$WHEELS"/*.whl; do
    # One at a time: a wheel that does not install here (another Python, say) costs only its own rows.
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$wheel" \
      || echo "gpu_check.sh: could not install $wheel; the rows that need it will say so"
  done
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
OUT_DIR=${OUT:-runs/gpu_check}
mkdir -p "$OUT_DIR"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
PYTHONUNBUFFERED=1 timeout 500 python3 -m benchmarks.gpu_check --out "$OUT_DIR/gpu_check.md" "$@" 2>&1 \
  | tee "$OUT_DIR/gpu_check.log"
