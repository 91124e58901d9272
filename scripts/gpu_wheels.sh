#!/usr/bin/env bash
# Run here, before the device checks: downloads into .whl/ the pure-Python wheels that bayes_distill needs and the
# device image lacks (it has jax, numpyro, torch, pandas, scipy, h5py, pyarrow, safetensors, tqdm), and the xarray
# the tests here use (ArviZ 1.x needs xarray's DataTree). .whl/ is git-ignored through .git/info/exclude and
# travels with `carry: [".whl"]` (about 3 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYENV_VERSION=${PYENV_VERSION:-3.12.1}
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")" && touch "$exclude"
grep -qx '/.whl/' "$exclude" || echo '/.whl/' >> "$exclude"
rm -rf .whl && mkdir .whl
python3.12 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
  arviz-base==1.3.1 arviz-stats==1.3.3 xarray-einstats==0.11.0 h5netcdf==1.8.2 lazy-loader xarray==2026.9.0
ls .whl
