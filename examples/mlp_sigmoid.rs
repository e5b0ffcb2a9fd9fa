//! Multilayer perceptrons of sigmoid neurons.
//!
//! 1. XOR: `2 -> 4 sigmoid -> 1 sigmoid`, trained by full-batch gradient
//!    descent with momentum on the binary cross-entropy; prints the four
//!    outputs and checks that they round to XOR.
//! 2. MNIST: `784 -> 100 sigmoid -> 10` on the bundled 8,000 training
//!    digits (10% of them held out for the validation curves), twice:
//!    with a softmax output and cross-entropy (SGD with momentum 0.9,
//!    batches of 32), and with sigmoid outputs and the mean squared error,
//!    the classic "quadratic cost" network (plain SGD, batches of 10).
//!    Both halve the learning rate every 4 epochs. Prints the accuracy on
//!    the 2,000 held-out digits and writes the learning curves to
//!    `runs/mlp_sigmoid/`.
//!
//! ```text
//! cargo run --release --example mlp_sigmoid
//! cargo run --release --example mlp_sigmoid -- --epochs 15 --lr-ce 0.2 --lr-mse 15 \
//!     --threads 2 --seed 1 --out runs/mlp_sigmoid
//! ```

use std::path::{Path, PathBuf};

use cnn::data::mnist;
use cnn::train::{accuracy, History, Loss, Optimizer, Schedule, TrainConfig, Trainer};
use cnn::{Dataset, Init};

cnn::network! {
    /// Two inputs, four sigmoid hidden units, one sigmoid output.
    pub struct XorMlp {
        input: [2],
        hidden: dense(4), sigmoid,
        out: dense(1), sigmoid,
    }

    /// 784-100-10: sigmoid hidden layer, softmax output.
    pub struct SoftmaxMlp {
        input: [784],
        hidden: dense(100), sigmoid,
        out: dense(10),
        softmax,
    }

    /// 784-100-10: sigmoid neurons throughout.
    pub struct SigmoidMlp {
        input: [784],
        hidden: dense(100), sigmoid,
        out: dense(10),
        sigmoid,
    }
}

struct Args {
    epochs: usize,
    lr_ce: f32,
    lr_mse: f32,
    threads: usize,
    seed: u64,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        epochs: 15,
        lr_ce: 0.2,
        lr_mse: 15.0,
        threads: 0,
        seed: 1,
        out: "runs/mlp_sigmoid".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
        match flag.as_str() {
            "--epochs" => a.epochs = value()?.parse().map_err(|e| bad(&e))?,
            "--lr-ce" => a.lr_ce = value()?.parse().map_err(|e| bad(&e))?,
            "--lr-mse" => a.lr_mse = value()?.parse().map_err(|e| bad(&e))?,
            "--threads" => a.threads = value()?.parse().map_err(|e| bad(&e))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| bad(&e))?,
            "--out" => a.out = value()?.into(),
            "-h" | "--help" => {
                println!(
                    "usage: mlp_sigmoid [--epochs N] [--lr-ce X] [--lr-mse X] [--threads N] \
                     [--seed N] [--out DIR]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(a)
}

fn xor(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let data = Dataset::regression(
        vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        &[2],
        vec![0.0, 1.0, 1.0, 0.0],
        1,
    )?;
    let mut net = XorMlp::new(Init::Xavier, args.seed);
    let config = TrainConfig::default()
        .epochs(2000)
        .full_batch()
        .loss(Loss::BinaryCrossEntropy)
        .optimizer(Optimizer::sgd(0.5, 0.9))
        .seed(args.seed)
        .threads(1)
        .quiet();
    let history = Trainer::new(config).fit(&mut net, &data, None)?;
    let last = history.epochs.last().expect("at least one epoch");
    println!(
        "XOR, 2-4-1 sigmoid MLP, {} epochs of full-batch SGD: loss {:.5} -> {:.5}",
        history.epochs.len(),
        history.epochs[0].train_loss,
        last.train_loss
    );
    let mut all = true;
    for (x, want) in [
        ([0.0, 0.0], 0.0),
        ([0.0, 1.0], 1.0),
        ([1.0, 0.0], 1.0),
        ([1.0, 1.0], 0.0),
    ] {
        let y = net.predict(&x)[0];
        let ok = y.round() == want;
        all &= ok;
        println!(
            "  {} xor {} -> {y:.4} (rounds to {}, want {want}){}",
            x[0],
            x[1],
            y.round(),
            if ok { "" } else { "  WRONG" }
        );
    }
    println!(
        "  {}",
        if all {
            "all four round to XOR"
        } else {
            "NOT XOR"
        }
    );
    if !all {
        return Err("the MLP did not learn XOR".into());
    }
    Ok(())
}

/// Trains one MNIST network, returns its history and held-out accuracy.
fn mnist_run<N: cnn::Network>(
    what: &str,
    net: &mut N,
    config: TrainConfig,
    train: &Dataset,
    test: &Dataset,
    out: &Path,
) -> Result<(History, f64), Box<dyn std::error::Error>> {
    let history = Trainer::new(config).fit(net, train, None)?;
    println!("{what}");
    println!("  epoch  train loss  train acc  val loss  val acc  seconds");
    for e in &history.epochs {
        println!(
            "  {:>5}  {:>10.4}  {:>8.2}%  {:>8.4}  {:>6.2}%  {:>7.2}",
            e.epoch,
            e.train_loss,
            100.0 * e.train_accuracy.unwrap_or(f64::NAN),
            e.val_loss.unwrap_or(f64::NAN),
            100.0 * e.val_accuracy.unwrap_or(f64::NAN),
            e.seconds
        );
    }
    let acc = accuracy(&*net, test)?;
    let stem = what.split(':').next().unwrap_or(what);
    history.write_csv(out.join(format!("{stem}.csv")))?;
    history.write_svg(out.join(format!("{stem}.svg")))?;
    println!(
        "  held-out accuracy ({} digits): {:.2}%",
        test.len(),
        100.0 * acc
    );
    Ok((history, acc))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let started = std::time::Instant::now();
    xor(&args)?;

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let train = mnist::load(&dir, "train")?;
    let test = mnist::load(&dir, "t2k")?;
    println!(
        "\nMNIST subset: {} training digits (10% held out for validation), {} test digits, pixels in [0, 1]",
        train.len(),
        test.len()
    );
    std::fs::create_dir_all(&args.out)?;
    let base = TrainConfig::default()
        .epochs(args.epochs)
        .batch_size(32)
        .validation_split(0.1)
        .schedule(Schedule::StepDecay {
            every: 4,
            gamma: 0.5,
        })
        .threads(args.threads)
        .seed(args.seed)
        .quiet();

    let mut softmax = SoftmaxMlp::new(Init::Xavier, args.seed);
    let (_, a1) = mnist_run(
        &format!(
            "softmax_ce: 784-100 sigmoid-10 softmax, cross-entropy, SGD lr {} momentum 0.9",
            args.lr_ce
        ),
        &mut softmax,
        base.clone()
            .loss(Loss::CrossEntropy)
            .optimizer(Optimizer::sgd(args.lr_ce, 0.9)),
        &train,
        &test,
        &args.out,
    )?;

    let mut sigmoid = SigmoidMlp::new(Init::Xavier, args.seed);
    let (_, a2) = mnist_run(
        &format!(
            "sigmoid_mse: 784-100 sigmoid-10 sigmoid, mean squared error, plain SGD lr {} on batches of 10",
            args.lr_mse
        ),
        &mut sigmoid,
        base.loss(Loss::MeanSquaredError)
            .batch_size(10)
            .optimizer(Optimizer::sgd(args.lr_mse, 0.0)),
        &train,
        &test,
        &args.out,
    )?;

    println!(
        "\nheld-out accuracy: softmax + cross-entropy {:.2}%, sigmoid + MSE {:.2}%",
        100.0 * a1,
        100.0 * a2
    );
    println!(
        "learning curves in {}; total {:.1} s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
