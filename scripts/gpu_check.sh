#!/usr/bin/env bash
# Run on the device machine (repository root, $OUT set), with .whl/ from scripts/gpu_wheels.sh carried along:
# installs the missing pure-Python wheels beside the image's jax/numpyro/torch, then runs scripts/gpu_check.py.
set -o pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 BAYES_DISTILL_JAX_CACHE=
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
out=${OUT:-gpu_check_out}
mkdir -p "$out"
python3 scripts/gpu_check.py --out "$out" "$@" 2>&1 | tee "$out/gpu_check.log"
