//! Trains a small network of the classic canon's later ideas on the bundled
//! 8,000-digit MNIST subset: a batch-normalised stem, an inception module
//! (GoogLeNet) and a residual block (ResNet), every convolution followed by
//! batch norm; reports the accuracy on the 2,000 held-out digits and writes
//! the learning curves.
//!
//! ```text
//! cargo run --release --example mnist_blocks
//! cargo run --release --example mnist_blocks -- --epochs 10 --batch 32 --lr 0.05 \
//!     --decay-every 5 --gamma 0.1 --weight-decay 5e-4 --threads 2 --seed 1 --out runs/blocks
//! ```
//!
//! Weights start from He initialisation (batch norm scales at one, shifts at
//! zero). It writes the learning curves (CSV and SVG) and the trained
//! weights (safetensors, PyTorch names such as
//! `inception.branch2.1.bn.running_var`) to `runs/mnist_blocks/`.
//!
//! `--validation F` trains on the rest of the training digits and reports
//! the accuracy on a random fraction F of them instead (the held-out digits
//! are not read); the defaults were chosen that way, never on the test
//! digits. Validation accuracy with `--validation 0.125 --threads 2 --seed 1`
//! (1,000 of the 8,000 training digits held back):
//!
//! | network head | lr, then ×0.1 | weight decay | validation accuracy |
//! | --- | --- | --- | --- |
//! | **global average pool → dense** | **0.05, at epoch 5** | **5e-4** | **99.00%** |
//! | global average pool → dense | 0.1, at epoch 6 | 1e-3 | 98.30% |
//! | flatten 32x7x7 → dense | 0.05, at epoch 5 | 5e-4 | 96.20% |
//!
//! With the defaults the 2,000 held-out digits score 98.50% after 10 epochs
//! (seed 1; 98.35% to 98.70% over the last five epochs), level with
//! LeNet-5's 98.45% on this subset and short of 98.8%. The network is small
//! (39,242 trained parameters, 2.2M multiply-accumulates per digit); wider
//! versions were not tried.
//!

cnn::network! {
    /// A convolution without bias, batch norm and ReLU (torchvision's
    /// `BasicConv2d`).
    block conv_bn(out, kernel, pad = 0) = [
        conv: conv(out, kernel = kernel, pad = pad, bias = false),
        bn: batch_norm,
        relu,
    ];

    /// An inception module of three branches: 1x1; 1x1 then 3x3; 3x3
    /// max-pool then 1x1; concatenated along channels.
    block inception(c1, c3r, c3, pool) = concat(
        branch1: conv_bn(c1, 1),
        branch2: [conv_bn(c3r, 1), conv_bn(c3, 3, pad = 1)],
        branch3: [max_pool(3, stride = 1, pad = 1), conv_bn(pool, 1)],
    );

    /// A residual block: two 3x3 convolutions with batch norm, added to
    /// its input.
    block residual(planes) = [
        add(
            [conv1: conv(planes, kernel = 3, pad = 1, bias = false), bn1: batch_norm, relu,
             conv2: conv(planes, kernel = 3, pad = 1, bias = false), bn2: batch_norm],
            identity,
        ),
        relu,
    ];

    /// 1x28x28 → 16x14x14 → inception 32x14x14 → 32x7x7 → two residual
    /// blocks → global average → 10 classes.
    pub struct BlocksNet {
        input: [1, 28, 28],
        stem: conv_bn(16, 3, pad = 1), max_pool(2),
        inception: inception(8, 8, 16, 8), max_pool(2),
        layer1: [residual(32), residual(32)],
        global_avg_pool, flatten,
        fc: dense(10),
    }
}

use std::path::PathBuf;

use cnn::data::{mnist, Standardizer};
use cnn::train::{accuracy, Optimizer, Schedule, TrainConfig, Trainer};

struct Args {
    epochs: usize,
    batch: usize,
    lr: f32,
    threads: usize,
    seed: u64,
    decay_every: usize,
    gamma: f32,
    weight_decay: f32,
    validation: f32,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        epochs: 10,
        batch: 32,
        lr: 0.05,
        threads: 0,
        seed: 1,
        decay_every: 5,
        gamma: 0.1,
        weight_decay: 5e-4,
        validation: 0.0,
        out: "runs/mnist_blocks".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
        match flag.as_str() {
            "--epochs" => a.epochs = value()?.parse().map_err(|e| bad(&e))?,
            "--batch" => a.batch = value()?.parse().map_err(|e| bad(&e))?,
            "--lr" => a.lr = value()?.parse().map_err(|e| bad(&e))?,
            "--threads" => a.threads = value()?.parse().map_err(|e| bad(&e))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| bad(&e))?,
            "--decay-every" => a.decay_every = value()?.parse().map_err(|e| bad(&e))?,
            "--gamma" => a.gamma = value()?.parse().map_err(|e| bad(&e))?,
            "--weight-decay" => a.weight_decay = value()?.parse().map_err(|e| bad(&e))?,
            "--validation" => a.validation = value()?.parse().map_err(|e| bad(&e))?,
            "--out" => a.out = value()?.into(),
            "-h" | "--help" => {
                println!(
                    "usage: mnist_blocks [--epochs N] [--batch N] [--lr X] [--decay-every N] [--gamma X] \
                     [--weight-decay X] [--threads N] [--seed N] [--validation F] [--out DIR]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(a)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let train = mnist::load(&data, "train")?;
    // With `--validation F`, a fraction F of the training digits stands in
    // for the held-out ones, which are then not read at all: settings are
    // compared on that split, never on the test digits.
    let (mut train, mut test, held_out) = if args.validation > 0.0 {
        let (train, validation) = train.split(args.validation, args.seed)?;
        (train, validation, "validation")
    } else {
        let test = mnist::load(&data, "t2k")?;
        (train, test, "test")
    };
    let scaler = Standardizer::fit(&train)?;
    scaler.apply(&mut train)?;
    scaler.apply(&mut test)?;
    println!(
        "MNIST subset: {} training and {} {held_out} digits (mean {:.4}, std {:.4})",
        train.len(),
        test.len(),
        scaler.mean[0],
        scaler.std[0]
    );
    println!("{}", BlocksNet::summary());

    let mut net = BlocksNet::new(cnn::Init::He, args.seed);
    std::fs::create_dir_all(&args.out)?;
    let weights = args.out.join("blocks.safetensors");
    let config = TrainConfig::default()
        .epochs(args.epochs)
        .batch_size(args.batch)
        .optimizer(Optimizer::sgd(args.lr, 0.9).with_weight_decay(args.weight_decay))
        .schedule(if args.decay_every > 0 {
            Schedule::StepDecay {
                every: args.decay_every,
                gamma: args.gamma,
            }
        } else {
            Schedule::Constant
        })
        .threads(args.threads)
        .seed(args.seed)
        .checkpoint(&weights);
    // The held-out digits are evaluated after every epoch for the learning
    // curves only; nothing is selected on them.
    let history = Trainer::new(config).fit(&mut net, &train, Some(&test))?;

    println!("epoch  train loss  train acc  held-out loss  held-out acc  seconds");
    for e in &history.epochs {
        println!(
            "{:>5}  {:>10.4}  {:>8.2}%  {:>13.4}  {:>11.2}%  {:>7.2}",
            e.epoch,
            e.train_loss,
            100.0 * e.train_accuracy.unwrap_or(f64::NAN),
            e.val_loss.unwrap_or(f64::NAN),
            100.0 * e.val_accuracy.unwrap_or(f64::NAN),
            e.seconds
        );
    }
    let seconds: f64 = history.epochs.iter().map(|e| e.seconds).sum();
    let images = (train.len() * history.epochs.len()) as f64;
    println!(
        "training: {:.0} images/s over {} epochs",
        images / seconds,
        history.epochs.len()
    );

    let csv = args.out.join("curves.csv");
    let svg = args.out.join("curves.svg");
    history.write_csv(&csv)?;
    history.write_svg(&svg)?;
    net.save_safetensors(&weights)?;
    println!("learning curves: {} and {}", csv.display(), svg.display());
    println!("weights: {}", weights.display());
    println!(
        "{held_out} accuracy: {:.2}%",
        100.0 * accuracy(&net, &test)?
    );
    Ok(())
}
