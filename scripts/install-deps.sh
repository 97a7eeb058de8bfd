#!/usr/bin/env bash
# Installs what pfc needs to build and test, from Debian packages, if missing.
# Idempotent: does nothing when everything is present. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  cmake ninja-build g++ python3
  llvm-14-dev llvm-14-tools        # LLVM ADT/Support; FileCheck and lit
  libfmt-dev
  libprotobuf-dev protobuf-compiler
  doctest-dev
  libopenblas-dev liblapacke-dev  # CPU interpreter: GEMM (CBLAS) and Cholesky (LAPACKE)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
