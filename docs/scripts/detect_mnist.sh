#!/usr/bin/env bash
# The MNIST symmetry-detection runs reported in docs/detect.md, one after the other.
# Usage: bash docs/scripts/detect_mnist.sh [OUT_ROOT] [MNIST_DIR]
# Each run writes OUT_ROOT/<name>/{metrics.json,flow_field.png,t_histogram.png} and a log.
set -euo pipefail
OUT=${1:-runs/detect}
DATA=mnist:${2:-../shared/data/mnist}
mkdir -p "$OUT"
run() {
  local name=$1; shift
  echo "=== $name: sgm-eqx detect $* --data $DATA --out $OUT/$name"
  /usr/bin/time -f "$name wall %e s" sgm-eqx detect "$@" --data "$DATA" --out "$OUT/$name" \
    > "$OUT/$name.log" 2>&1
  tail -2 "$OUT/$name.log"
}
run rotation    --transform rotation    --magnitude uniform:-0.5,0.5
run scale       --transform scale       --magnitude uniform:-0.3,0.3
run translate-x --transform translate-x --magnitude uniform:-0.3,0.3
run sct         --transform sct         --magnitude uniform:-0.5,0.5
run rotation-bimodal --transform rotation --magnitude bimodal:0.5,0.05
run scale-4modal --transform scale --magnitude "modes:-0.3,-0.1,0.1,0.3;0.02"
run translate-y --transform translate-y --magnitude uniform:-0.3,0.3
run shear       --transform shear       --magnitude uniform:-0.3,0.3
run sct-wide  --transform sct         --magnitude uniform:-0.8,0.8
run rotation+scale --transform rotation+scale --magnitude uniform:-0.4,0.4
run translate-y-l1 --transform translate-y --magnitude uniform:-0.3,0.3 --set l1=0.01
