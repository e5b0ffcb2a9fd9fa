//! LeNet-5, AlexNet (torchvision's and the original two-tower one), VGG-16
//! and GoogLeNet: their summaries (shapes, parameters and
//! multiply-accumulates, all known at compile time) and one forward pass
//! each with random weights.
//!
//! ```text
//! cargo run --release --example classic            # all five
//! cargo run --release --example classic -- lenet   # one of lenet, alexnet, alexnet-original, vgg16, googlenet
//! ```

#[path = "nets/classic.rs"]
mod classic;

use classic::{AlexNet, AlexNetOriginal, GoogLeNet, LeNet5, Vgg16};
use std::time::Instant;

// Checked by the compiler: the figures the literature gives.
const _: () = assert!(LeNet5::PARAM_COUNT == 61_706 && LeNet5::MACS == 416_520);
const _: () = assert!(AlexNet::PARAM_COUNT == 61_100_840 && AlexNet::MACS == 714_188_480);
const _: () =
    assert!(AlexNetOriginal::PARAM_COUNT == 60_965_224 && AlexNetOriginal::MACS == 724_406_816);
const _: () = assert!(Vgg16::PARAM_COUNT == 138_357_544 && Vgg16::MACS == 15_470_264_320);
const _: () = assert!(GoogLeNet::PARAM_COUNT == 6_998_552 && GoogLeNet::MACS == 1_582_671_872);

/// A deterministic test image in [0, 1).
fn image(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect()
}

fn top5(p: &[f32]) -> Vec<(usize, f32)> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
    idx.into_iter().take(5).map(|i| (i, p[i])).collect()
}

fn main() {
    println!(
        "cnn-runtime compiled at opt-level {}{}",
        cnn::OPT_LEVEL,
        if cnn::OPTIMIZED {
            ""
        } else {
            " (unoptimised: see the README's quickstart for a fast debug build)"
        }
    );
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if matches!(which.as_str(), "all" | "lenet") {
        println!("{}\n", LeNet5::summary());
        let t = Instant::now();
        let net = LeNet5::new(cnn::Init::He, 1);
        println!("LeNet5::new: {:?}", t.elapsed());
        let x: [f32; 784] = image(784).try_into().unwrap();
        let t = Instant::now();
        let p = net.predict(&x);
        println!(
            "LeNet-5 forward pass: {:?}, top classes {:?}\n",
            t.elapsed(),
            top5(&p)
        );
    }
    if matches!(which.as_str(), "all" | "alexnet") {
        println!("{}\n", AlexNet::summary());
        let t = Instant::now();
        let net = AlexNet::new(cnn::Init::He, 1);
        println!("AlexNet::new: {:?}", t.elapsed());
        let x = image(AlexNet::INPUT_LEN);
        let t = Instant::now();
        let p = net.predict_batch(&x).expect("one whole sample");
        println!(
            "AlexNet forward pass: {:?}, top classes {:?}\n",
            t.elapsed(),
            top5(&p)
        );
    }
    if matches!(which.as_str(), "all" | "alexnet-original") {
        println!("{}\n", AlexNetOriginal::summary());
        let net = AlexNetOriginal::new(cnn::Init::He, 1);
        let x = image(AlexNetOriginal::INPUT_LEN);
        let t = Instant::now();
        let p = net.predict_batch(&x).expect("one whole sample");
        println!(
            "AlexNet (original) forward pass: {:?}, top classes {:?}\n",
            t.elapsed(),
            top5(&p)
        );
    }
    if matches!(which.as_str(), "all" | "vgg16") {
        println!("{}\n", Vgg16::summary());
        let t = Instant::now();
        let net = Vgg16::new(cnn::Init::He, 1);
        println!("Vgg16::new: {:?}", t.elapsed());
        let x = image(Vgg16::INPUT_LEN);
        let t = Instant::now();
        let p = net.predict_batch(&x).expect("one whole sample");
        println!(
            "VGG-16 forward pass: {:?}, top classes {:?}\n",
            t.elapsed(),
            top5(&p)
        );
    }
    if matches!(which.as_str(), "all" | "googlenet") {
        println!("{}\n", GoogLeNet::summary());
        let t = Instant::now();
        let net = GoogLeNet::new(cnn::Init::He, 1);
        println!("GoogLeNet::new: {:?}", t.elapsed());
        let x = image(GoogLeNet::INPUT_LEN);
        let t = Instant::now();
        let p = net.predict_batch(&x).expect("one whole sample");
        println!(
            "GoogLeNet forward pass: {:?}, top classes {:?}",
            t.elapsed(),
            top5(&p)
        );
    }
}
