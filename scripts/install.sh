#!/usr/bin/env bash
# Install everything saelab needs on a fresh Debian machine: Jupyter from Debian (PyPI is not
# needed), OpenBLAS headers for the native backend, Chromium and the Liberation and DejaVu fonts (the tests open every
# page in headless Chromium; plots are drawn to PNG with them), the npm dependencies (npm ci also builds lib/),
# and the tslab kernel for this checkout. libopenblas0-openmp: the native backend links the OpenMP build of
# OpenBLAS by its own path (its threads are the addon's OpenMP pool); the system default BLAS is left as it is.
# libdnnl-dev: oneDNN headers for the optional bfloat16 matmul (computeDtype bfloat16 on bfloat16 weights); the addon
# builds and works without it.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
PKGS="jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel jupyter-client libopenblas-dev libopenblas0-openmp libdnnl-dev chromium fonts-dejavu-core fonts-liberation2"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "saelab install: installing Debian packages:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

echo "saelab install: npm ci"
npm ci --no-audit --no-fund
echo "saelab install: registering the tslab kernel"
node scripts/install-kernel.js
