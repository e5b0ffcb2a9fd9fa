#!/usr/bin/env bash
# Compile time and compiler memory of a network with 8,390,656 compiled-in
# parameters (dense 4096 -> 2048, weights from a 33.6 MB safetensors file):
# builds the crate's dependencies once, then times a rebuild of the crate
# alone, in release and debug.
#   benches/embed_build.sh [PYTHON]    (PYTHON needs numpy; default python3)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-python3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/src"
cat >"$dir/Cargo.toml" <<TOML
[package]
name = "embed-build"
version = "0.1.0"
edition = "2021"
[dependencies]
cnn = { path = "$repo" }
[workspace]
TOML
cat >"$dir/src/main.rs" <<'RS'
cnn::network! {
    #[cnn(weights = "big.safetensors")]
    struct Big {
        input: [4096],
        fc1: dense(2048),
    }
}
fn main() {
    println!("{} parameters, fc1.weight[0] = {}", Big::PARAM_COUNT, Big::embedded().weights()[0]);
}
RS
"$python" - "$dir/big.safetensors" <<'PY'
import json, struct, sys
import numpy as np
rng = np.random.default_rng(0)
tensors = {"fc1.weight": rng.standard_normal((2048, 4096), dtype=np.float32),
           "fc1.bias": rng.standard_normal(2048, dtype=np.float32)}
header, data, offset = {"__metadata__": {"format": "pt"}}, b"", 0
for name, t in tensors.items():
    raw = t.astype("<f4").tobytes()
    header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
    data, offset = data + raw, offset + len(raw)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + data)
PY
cd "$dir"
export CARGO_TARGET_DIR="$dir/target"
for profile in release dev; do
    cargo build -q --profile "$profile"
    touch src/main.rs
    /usr/bin/time -f "$profile: %e s wall, %U s user, %S s system, %M KB peak memory" \
        cargo build -q --profile "$profile"
done
cargo run -q --release
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
