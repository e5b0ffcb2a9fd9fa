//! Fine-tuning LeNet-5: pretrain on the digits 0-4 of the bundled MNIST
//! subset, save the weights, load them into a fresh network, re-initialise
//! the classifier head (`fc1`, `fc2`, `fc3` by default) with Gaussian
//! noise, freeze the two convolution layers and retrain on the digits 5-9.
//! Both phases: SGD, learning rate 0.03, momentum 0.9, weight decay 5e-4,
//! batches of 32.
//!
//! ```text
//! cargo run --release --example finetune
//! cargo run --release --example finetune -- --pretrain-epochs 5 --finetune-epochs 5 \
//!     --reinit fc3 --threads 2 --seed 1 --out runs/finetune
//! ```
//!
//! Reports the held-out accuracy on 0-4 after pretraining and on 5-9 after
//! fine-tuning, and checks that the frozen convolution weights are
//! unchanged bit for bit.

#[path = "nets/classic.rs"]
mod classic;

use std::path::PathBuf;

use classic::LeNet5;
use cnn::data::{mnist, Standardizer};
use cnn::train::{accuracy, History, Optimizer, TrainConfig, Trainer};
use cnn::{Dataset, Init};

struct Args {
    pretrain_epochs: usize,
    finetune_epochs: usize,
    reinit: Vec<String>,
    threads: usize,
    seed: u64,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        pretrain_epochs: 5,
        finetune_epochs: 5,
        reinit: vec!["fc1".into(), "fc2".into(), "fc3".into()],
        threads: 0,
        seed: 1,
        out: "runs/finetune".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
        match flag.as_str() {
            "--pretrain-epochs" => a.pretrain_epochs = value()?.parse().map_err(|e| bad(&e))?,
            "--finetune-epochs" => a.finetune_epochs = value()?.parse().map_err(|e| bad(&e))?,
            "--reinit" => {
                a.reinit = value()?
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            }
            "--threads" => a.threads = value()?.parse().map_err(|e| bad(&e))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| bad(&e))?,
            "--out" => a.out = value()?.into(),
            "-h" | "--help" => {
                println!(
                    "usage: finetune [--pretrain-epochs N] [--finetune-epochs N] \
                     [--reinit fc1,fc2,fc3] [--threads N] [--seed N] [--out DIR]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(a)
}

fn print_history(h: &History) {
    println!("  epoch  train loss  train acc  held-out loss  held-out acc  seconds");
    for e in &h.epochs {
        println!(
            "  {:>5}  {:>10.4}  {:>8.2}%  {:>13.4}  {:>11.2}%  {:>7.2}",
            e.epoch,
            e.train_loss,
            100.0 * e.train_accuracy.unwrap_or(f64::NAN),
            e.val_loss.unwrap_or(f64::NAN),
            100.0 * e.val_accuracy.unwrap_or(f64::NAN),
            e.seconds
        );
    }
}

/// The parameters of the named layers, concatenated.
fn layer_weights(net: &LeNet5, layers: &[&str]) -> Vec<f32> {
    LeNet5::PARAMS
        .iter()
        .filter(|p| layers.contains(&LeNet5::LAYERS[p.layer].name))
        .flat_map(|p| net.weights()[p.range()].iter().copied())
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let started = std::time::Instant::now();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let mut train = mnist::load(&dir, "train")?;
    let mut test = mnist::load(&dir, "t2k")?;
    let scaler = Standardizer::fit(&train)?;
    scaler.apply(&mut train)?;
    scaler.apply(&mut test)?;
    let low = |d: &Dataset| d.filter_classes(|c| c < 5);
    let high = |d: &Dataset| d.filter_classes(|c| c >= 5);
    let (train_low, test_low) = (low(&train), low(&test));
    let (train_high, test_high) = (high(&train), high(&test));
    println!(
        "MNIST subset: digits 0-4: {} training, {} held out; digits 5-9: {} training, {} held out",
        train_low.len(),
        test_low.len(),
        train_high.len(),
        test_high.len()
    );
    std::fs::create_dir_all(&args.out)?;
    let base = TrainConfig::default()
        .batch_size(32)
        .threads(args.threads)
        .seed(args.seed)
        .quiet();

    // 1. Pretraining on 0-4.
    let mut pretrained = LeNet5::new(Init::PyTorch, args.seed);
    let config = base
        .clone()
        .epochs(args.pretrain_epochs)
        .optimizer(Optimizer::sgd(0.03, 0.9).with_weight_decay(5e-4));
    println!(
        "\n1. pretraining LeNet-5 ({} parameters) on digits 0-4",
        LeNet5::PARAM_COUNT
    );
    let h = Trainer::new(config).fit(&mut pretrained, &train_low, Some(&test_low))?;
    print_history(&h);
    let pre_low = accuracy(&pretrained, &test_low)?;
    let pre_high = accuracy(&pretrained, &test_high)?;
    let weights = args.out.join("lenet5_digits_0_4.safetensors");
    pretrained.save_safetensors(&weights)?;
    println!(
        "  held-out accuracy on 0-4: {:.2}% (on 5-9, never seen: {:.2}%)",
        100.0 * pre_low,
        100.0 * pre_high
    );
    println!("  weights saved to {}", weights.display());

    // 2. Fine-tuning on 5-9.
    let mut net = LeNet5::zeros();
    net.load_safetensors(&weights)?;
    assert_eq!(net.weights(), pretrained.weights());
    for (i, layer) in args.reinit.iter().enumerate() {
        net.reinitialize_layer(
            layer,
            Init::Gaussian { std: 0.01 },
            args.seed + 100 + i as u64,
        )?;
    }
    let convs = ["conv1", "conv2"];
    let convs_before = layer_weights(&net, &convs);
    let frozen_count = convs_before.len();
    println!(
        "\n2. fine-tuning on digits 5-9: weights loaded from {}, {} re-initialised \
         (Gaussian, std 0.01), conv1 and conv2 frozen ({frozen_count} parameters)",
        weights.display(),
        args.reinit.join(", ")
    );
    let config = base
        .epochs(args.finetune_epochs)
        .optimizer(Optimizer::sgd(0.03, 0.9).with_weight_decay(5e-4))
        .freeze_first_convs(2)
        .checkpoint(args.out.join("lenet5_digits_5_9.safetensors"));
    let h = Trainer::new(config).fit(&mut net, &train_high, Some(&test_high))?;
    print_history(&h);
    h.write_csv(args.out.join("finetune.csv"))?;
    h.write_svg(args.out.join("finetune.svg"))?;
    let tuned_high = accuracy(&net, &test_high)?;
    let tuned_low = accuracy(&net, &test_low)?;
    let convs_after = layer_weights(&net, &convs);
    let unchanged = convs_before
        .iter()
        .zip(&convs_after)
        .all(|(a, b)| a.to_bits() == b.to_bits());
    let head_changed = LeNet5::PARAMS
        .iter()
        .filter(|p| !convs.contains(&LeNet5::LAYERS[p.layer].name))
        .filter(|p| net.weights()[p.range()] != pretrained.weights()[p.range()])
        .count();
    println!(
        "  held-out accuracy on 5-9: {:.2}% (on 0-4, whose head was replaced: {:.2}%)",
        100.0 * tuned_high,
        100.0 * tuned_low
    );
    println!(
        "  conv1 and conv2 weights unchanged bit for bit: {} ({frozen_count} values); \
         {head_changed} of {} other tensors changed",
        if unchanged { "yes" } else { "NO" },
        LeNet5::PARAMS.len() - 4
    );

    println!(
        "\nsummary: pretrained on 0-4 -> {:.2}% on held-out 0-4; fine-tuned on 5-9 -> {:.2}% on held-out 5-9; {:.1} s",
        100.0 * pre_low,
        100.0 * tuned_high,
        started.elapsed().as_secs_f64()
    );
    if !unchanged {
        return Err("the frozen convolution weights changed".into());
    }
    Ok(())
}
