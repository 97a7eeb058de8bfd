#!/usr/bin/env bash
# The main job: install, build, compile the embedded default example
# (BERT-Large, 8 pipeline stages, 16 micro-batches, 1F1B, on V100 DGX-1
# nodes) into build/plan.pb, print its summary and write its SVG timeline.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/compiler/pfc compile --model bert-large --cluster v100-dgx1 --schedule 1f1b \
  --stages 8 --microbatches 16 -o build/plan.pb
build/compiler/pfc-dump build/plan.pb
build/compiler/pfc-dump --view svg build/plan.pb -o build/timeline.svg
echo "wrote build/plan.pb and build/timeline.svg"
