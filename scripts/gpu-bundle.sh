#!/usr/bin/env bash
# Packs what a GPU machine without Debian's -dev packages needs to run pfc's
# CUDA backend: the tools and test/bench programs of a CUDA build, stripped,
# and the shared libraries they load that are not the C/C++ runtime or CUDA's
# own (protobuf, fmt, OpenBLAS, LAPACKE, gfortran, ...), into
# .gpu/bundle.tar.xz (~15 MiB; .gpu/ is ignored by git). On the GPU machine,
# from the repository root: bash scripts/gpu-run.sh (tests, benchmarks and a
# CUDA-vs-CPU training run; logs to $OUT or .gpu/out).
#
#   scripts/gpu-bundle.sh [BUILD_DIR]   (default build; configured with CUDA)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
if ! ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^pfc-cuda-tests:'; then
  echo "gpu-bundle: $BUILD is not a CUDA build (no pfc-cuda-tests target); configure it where nvcc is found" >&2
  exit 2
fi
ninja -C "$BUILD" pfc pfc-run pfc-dump pfc-cuda-tests pfc-cuda-bench pfc-interp-bench pfc-interp-tests
PROGRAMS=("$BUILD/compiler/pfc" "$BUILD/compiler/pfc-run" "$BUILD/compiler/pfc-dump"
          "$BUILD/tests/pfc-cuda-tests" "$BUILD/tests/pfc-interp-tests"
          "$BUILD/bench/pfc-cuda-bench" "$BUILD/bench/pfc-interp-bench")
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib"
for P in "${PROGRAMS[@]}"; do
  cp "$P" "$STAGE/bin/"
  strip "$STAGE/bin/$(basename "$P")"
done
# Libraries outside the C/C++ runtime and CUDA, by the name the loader asks for.
ldd "${PROGRAMS[@]}" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r NAME PATH_; do
    case "$PATH_" in
      /usr/local/cuda*|*/libc.so*|*/libm.so*|*/libdl.so*|*/librt.so*|*/libpthread.so*|\
      */libgcc_s.so*|*/libstdc++.so*|*/ld-linux*) continue ;;
    esac
    cp -L "$PATH_" "$STAGE/lib/$NAME"
  done
cp tests/lit/run/Inputs/tiny.textproto "$STAGE/"
mkdir -p .gpu
tar -C "$STAGE" -cJf .gpu/bundle.tar.xz .
echo "gpu-bundle: .gpu/bundle.tar.xz ($(du -h .gpu/bundle.tar.xz | cut -f1)): $(ls "$STAGE/bin" | tr '\n' ' ')+ $(ls "$STAGE/lib" | wc -l) libraries"
