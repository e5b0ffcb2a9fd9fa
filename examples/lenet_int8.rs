//! LeNet-5 in int8: post-training quantization of the f32 network that
//! `lenet_mnist` trained (`examples/firmware/lenet5.safetensors`), then the
//! 2,000 held-out digits scored in f32 and in int8.
//!
//! ```text
//! cargo run --release --example lenet_int8                      # min/max calibration
//! cargo run --release --example lenet_int8 -- --percentile 99.99
//! cargo run --release --example lenet_int8 -- --out runs/lenet_int8
//! ```
//!
//! Calibration runs the unfused f32 network (the f32 kernels) on the first
//! 512 training digits and records the range of every tensor the int8
//! network stores; `quantize_network` then quantizes the weights per
//! output channel and the activations per tensor (TFLite's int8
//! specification), and the result is written as safetensors
//! (`lenet5_int8.safetensors`: int8 weights, int32 biases, scales and zero
//! points). The int8 network is composed by hand from the int8 kernels
//! (`examples/nets/lenet_int8.rs`). The example fails if int8 is more than
//! 0.5 points below f32.

#[path = "nets/classic.rs"]
mod classic;
#[path = "nets/lenet_int8.rs"]
mod lenet_int8;

use std::path::PathBuf;

use cnn::quant::Method;
use lenet_int8::{correct, F32Lenet, Int8Lenet, CALIBRATION_DIGITS};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut method = Method::MinMax;
    let mut out = PathBuf::from("runs/lenet_int8");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--percentile" => {
                method = Method::Percentile(args.next().ok_or("--percentile P")?.parse()?)
            }
            "--out" => out = args.next().ok_or("--out DIR")?.into(),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let f32_net = F32Lenet::load();
    let (x, labels) = lenet_int8::test_digits();
    let n = labels.len();

    let f32_logits = &f32_net.forward(&x, n)[5].1;
    let f32_correct = correct(f32_logits, &labels);

    let cal = lenet_int8::calibration_digits(CALIBRATION_DIGITS);
    let model = f32_net.quantize(&cal, CALIBRATION_DIGITS, method);
    std::fs::create_dir_all(&out)?;
    let path = out.join("lenet5_int8.safetensors");
    model.save(&path)?;
    let net = Int8Lenet::load(&path);
    println!(
        "calibrated on {CALIBRATION_DIGITS} training digits ({method:?}); input {:?}, logits {:?}",
        net.net.input,
        net.net.output()
    );
    for e in &net.net.layers {
        println!("  {:6} output {:?}", e.name, e.layer.output());
    }
    println!(
        "wrote {} ({} bytes; blob {} bytes)",
        path.display(),
        std::fs::metadata(&path)?.len(),
        net.net.blob.len()
    );

    let mut arena = net.arena(n);
    let mut logits = vec![0.0; n * 10];
    net.infer(&x, &mut arena, &mut logits, n);
    let int8_correct = correct(&logits, &labels);
    let pct = |c: usize| 100.0 * c as f64 / n as f64;
    println!(
        "f32 accuracy:  {:.2}% ({f32_correct}/{n})",
        pct(f32_correct)
    );
    println!(
        "int8 accuracy: {:.2}% ({int8_correct}/{n})",
        pct(int8_correct)
    );
    let drop = pct(f32_correct) - pct(int8_correct);
    println!("difference: {drop:.2} points (limit 0.5)");
    if drop > 0.5 {
        return Err(format!("int8 is {drop:.2} points below f32").into());
    }
    Ok(())
}
