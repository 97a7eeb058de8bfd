#!/usr/bin/env bash
# Runs pfc's CUDA checks on a GPU machine from .gpu/bundle.tar.xz
# (scripts/gpu-bundle.sh, made where the build is): the CUDA unit tests
# (kernels, factors and K-FAC update against the CPU backend), the cuBLAS
# benchmark, and the same plan trained for 5 steps with --backend cpu and
# --backend cuda (fp64 and fp32; losses side by side). Logs go to $OUT (the
# device tool's folder) or .gpu/out. Exit status: that of the unit tests.
#
#   bash scripts/gpu-run.sh
set -uo pipefail
cd "$(dirname "$0")/.."
LOGS=${OUT:-.gpu/out}
mkdir -p "$LOGS"
ROOT=$(mktemp -d)
tar -C "$ROOT" -xJf .gpu/bundle.tar.xz || { echo "gpu-run: no .gpu/bundle.tar.xz (run scripts/gpu-bundle.sh)"; exit 2; }
export LD_LIBRARY_PATH="$ROOT/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
B="$ROOT/bin"
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1; ldd "$B/pfc-run" | grep "not found"; } | tee "$LOGS/device.txt"

"$B/pfc-cuda-tests" 2>&1 | tee "$LOGS/cuda-tests.txt"
STATUS=${PIPESTATUS[0]}
"$B/pfc-cuda-bench" 2>&1 | tee "$LOGS/cuda-bench.txt"
"$B/pfc-interp-bench" 2>&1 | tail -20 | tee "$LOGS/interp-bench.txt"

# One plan, both backends, same seed: the losses should agree (fp64 to ~1e-10).
"$B/pfc" compile --model "$ROOT/tiny.textproto" --cluster p100-cluster --schedule 1f1b \
  --stages 2 --microbatches 4 --optimizer kfac -o "$ROOT/plan.pb"
for PREC in fp64 fp32; do
  for BACKEND in cpu cuda; do
    "$B/pfc-run" "$ROOT/plan.pb" --backend $BACKEND --precision $PREC --steps 5 \
      --data teacher --losses "$LOGS/losses-$BACKEND-$PREC.csv" > "$LOGS/run-$BACKEND-$PREC.txt" 2>&1
    echo "pfc-run --backend $BACKEND --precision $PREC: exit $?"
  done
  paste -d, "$LOGS/losses-cpu-$PREC.csv" "$LOGS/losses-cuda-$PREC.csv" 2>/dev/null | tee "$LOGS/losses-$PREC.txt"
done
exit "$STATUS"
