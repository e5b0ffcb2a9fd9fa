#!/bin/bash
# Alternating A/B runs of prebuilt criterion bench binaries, one bench id at
# a time (A then B in odd rounds, B then A in even ones), 0.5 s warm-up and
# 2 s of measurement each. Summarise with benches/ab_summary.py.
#
# Usage: benches/ab.sh ROUNDS OUTDIR FILTER NAME=DIR:BINDIR NAME=DIR:BINDIR
#   DIR     the checkout the binaries run in (their working directory)
#   BINDIR  holds copies of its `lenet`, `fused` and `gemm` bench binaries
#           (from `cargo bench --no-run --bench lenet --bench fused --bench gemm`)
#   FILTER  an extended regex over the bench ids ("." for all)
set -u
ROUNDS=$1; OUT=$2; FILTER=$3; A=$4; B=$5; mkdir -p "$OUT"
IDS="lenet5_forward/fused_1thread/1 lenet5_forward/unfused_1thread/1 lenet5_forward/fused_1threads/64
lenet5_forward/fused_2threads/64 lenet5_train_step/1threads/32 lenet5_train_step/2threads/32
lenet5_train_step/1threads/64 lenet5_train_step/2threads/64 lenet_conv1_block/fused/1
lenet_conv1_block/unfused/1 lenet_conv1_block/fused/32 lenet_conv1_block/unfused/32
lenet_conv2_block/fused/1 lenet_conv2_block/unfused/1 lenet_conv2_block/fused/32
lenet_conv2_block/unfused/32 vgg_block/fused/8 vgg_block/unfused/8
sgemm/square_1024/1024x1024x1024 sgemm/vgg_block_conv/64x576x3136
sgemm/lenet_conv2/16x150x100 sgemm/lenet_fc1_batch64/120x400x64 sgemm/resnet18_layer4_conv/512x4608x49"
run() { # spec id round
  local name=${1%%=*} rest=${1#*=}
  local dir=${rest%%:*} bins=${rest#*:} b
  case $2 in lenet5*) b=lenet;; sgemm*) b=gemm;; *) b=fused;; esac
  (cd "$dir" && "$bins/$b" --bench --noplot --warm-up-time 0.5 --measurement-time 2 "^${2}\$" 2>&1 \
    | grep -A4 "^$2" | grep -m1 "time:" | sed "s|^|$2 $name $3 |" >> "$OUT/results.txt")
}
for r in $(seq 1 "$ROUNDS"); do
  for id in $IDS; do
    echo "$id" | grep -qE "$FILTER" || continue
    if [ $((r % 2)) -eq 1 ]; then run "$A" "$id" "$r"; run "$B" "$id" "$r"
    else run "$B" "$id" "$r"; run "$A" "$id" "$r"; fi
  done
  echo "round $r $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)" >> "$OUT/rounds.txt"
done
