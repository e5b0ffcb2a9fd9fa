#!/usr/bin/env bash
# Runs this crate's benchmarks and the peer scripts in one session, on this
# machine, so the figures in BENCHMARKS.md stand side by side.
#
#   PEERS=../shared/peers PYTHON=/tmp/peers-venv/bin/python benches/side_by_side.sh
#
# The peers' environment comes from `$PEERS/setup.sh [DIR] --torch`.
set -euo pipefail
cd "$(dirname "$0")/.."
PEERS=${PEERS:-../shared/peers}
PYTHON=${PYTHON:-/tmp/peers-venv/bin/python}
out=${OUT:-target/side-by-side}
mkdir -p "$out"

peer() { (cd "$PEERS" && "$PYTHON" "$@"); }

echo "== machine"; lscpu | grep -E "Model name|^CPU\(s\)|L2|Flags" | sed 's/Flags:.*\(avx512f\).*/Flags: ... avx512f .../'
echo "== ONNX Runtime, LeNet-5, 1 thread";  peer lenet_ort.py 1 | tee "$out/ort1.json"
echo "== ONNX Runtime, LeNet-5, 2 threads"; peer lenet_ort.py 2 | tee "$out/ort2.json"
echo "== cnn, LeNet-5 (cargo bench --bench lenet)"
cargo bench --bench lenet 2>&1 | grep -E "^lenet|time:" | grep -v "change" | tee "$out/lenet.txt"
echo "== PyTorch, LeNet-5 training and inference, 2 threads, 3 epochs"
peer lenet_torch.py 2 3 | tee "$out/torch2.json"
echo "== cnn, fused vs unfused blocks (cargo bench --bench fused)"
cargo bench --bench fused 2>&1 | grep -E "^[a-z0-9_]+/|time:" | grep -v "change" | tee "$out/fused.txt"
echo "== PyTorch, conv3x3-ReLU-max-pool blocks, 1 thread"
peer conv_block_torch.py 1 | tee "$out/torch_blocks1.json"
echo "== cnn, LeNet-5 training epoch (lenet_mnist, 2 threads)"
cargo run --release --example lenet_mnist -- --threads 2 --out "$out/lenet_mnist" 2>&1 | grep -E "images/s|test accuracy" | tee "$out/epoch.txt"
echo "== ONNX Runtime again (drift check)"; peer lenet_ort.py 1 | tee "$out/ort1_again.json"

# Whole ImageNet-sized networks (NETS=0 skips them: about 10 minutes), each
# network's peers then ours, so that the two run under the same load.
if [[ ${NETS:-1} != 0 ]]; then
  for net in resnet18 googlenet alexnet vgg16; do
    train=(); [[ $net == resnet18 || $net == vgg16 ]] && train=(--train 8)
    echo "== PyTorch eager and ONNX Runtime, $net, 2 threads"
    peer nets_peers.py "$net" --threads 2 "${train[@]}" --out "$PWD/$out/nets" | tee "$out/nets_$net.jsonl"
    echo "== cnn, $net (cargo bench --bench nets -- $net)"
    cargo bench --bench nets -- "$net/" 2>&1 | grep -E "^$net/|time:" | grep -v "change" | tee "$out/nets_$net.txt"
  done
fi
