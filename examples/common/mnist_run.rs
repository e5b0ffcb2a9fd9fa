//! What `lenet_mnist` and `mnist_blocks` share: their flags, and training a
//! network on the bundled MNIST subset with learning curves.

use std::path::PathBuf;

use cnn::data::{mnist, Preprocessing, Standardizer};
use cnn::network::Network;
use cnn::train::{accuracy, Optimizer, Schedule, TrainConfig, Trainer};

/// The flags (see each example's docs).
pub struct Args {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub threads: usize,
    pub seed: u64,
    pub decay_every: usize,
    pub gamma: f32,
    pub weight_decay: f32,
    pub validation: f32,
    pub out: PathBuf,
}

impl Args {
    /// The defaults both examples share (10 epochs of batch 32, the rate
    /// divided by 10 every 5 epochs, seed 1, every core, no validation
    /// split), with the example's own rate, weight decay and output folder.
    pub fn with(lr: f32, weight_decay: f32, out: &str) -> Args {
        Args {
            epochs: 10,
            batch: 32,
            lr,
            threads: 0,
            seed: 1,
            decay_every: 5,
            gamma: 0.1,
            weight_decay,
            validation: 0.0,
            out: out.into(),
        }
    }
}

/// Reads the flags over `defaults`; `name` is the example's, for `--help`.
pub fn parse_args(name: &str, defaults: Args) -> Result<Args, String> {
    let mut a = defaults;
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
                    "usage: {name} [--epochs N] [--batch N] [--lr X] [--decay-every N] [--gamma X] \
                     [--weight-decay X] [--threads N] [--seed N] [--validation F] [--out DIR]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(a)
}

/// Trains `net` on the MNIST subset with `args` (He or PyTorch
/// initialisation is the caller's), prints the curves and the accuracy, and
/// writes the curves and the weights (`weights_file`) to `args.out`.
pub fn run<N: Network>(
    args: &Args,
    mut net: N,
    weights_file: &str,
) -> Result<(), Box<dyn std::error::Error>> {
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
    println!("{}", N::summary());

    std::fs::create_dir_all(&args.out)?;
    let weights = args.out.join(weights_file);
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
    // The weights with the standardisation their inputs need, in one file.
    let model = cnn::Model::new(net, Some(Preprocessing::PerChannel(scaler)))?;
    model.save(&weights)?;
    let net = model.network;
    println!("learning curves: {} and {}", csv.display(), svg.display());
    println!("weights: {}", weights.display());
    println!(
        "{held_out} accuracy: {:.2}%",
        100.0 * accuracy(&net, &test)?
    );
    Ok(())
}
