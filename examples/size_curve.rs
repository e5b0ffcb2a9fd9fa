//! The other learning curve: held-out error against the training-set size
//! (bias and variance), for LeNet-5 on the bundled MNIST subset.
//!
//! For each size (125 to 8,000 digits, nested subsets of one seeded
//! shuffle) a fresh LeNet-5 trains with the same number of gradient steps
//! (three epochs over 8,000 digits, in batches of 32); its error is
//! measured on the digits it trained on and on the 2,000 held-out ones.
//! Writes `runs/size_curve/size_curve.csv` and `size_curve.svg`.
//!
//! ```text
//! cargo run --release --example size_curve
//! cargo run --release --example size_curve -- --epochs 3 --seed 1 --threads 2 --out runs/size_curve
//! ```
//!
//! Measured with the defaults (2 threads, 13 s):
//!
//! ```text
//!   size  epochs  training error  held-out error
//!    125     192           0.00%          17.70%
//!    250      96           0.00%           8.80%
//!    500      48           0.00%           6.65%
//!   1000      24           0.80%           7.20%
//!   2000      12           0.55%           3.80%
//!   4000       6           1.50%           3.65%
//!   8000       3           2.38%           4.05%
//! ```
//!
//! Reading it: with few digits the training error is zero while the
//! held-out error is high — variance: the network memorises its 125
//! digits. More data closes the gap: the training error rises from zero
//! and the held-out error falls, the two meeting at a few percent (the
//! last points differ by less than the run-to-run noise of one seed). A
//! high-bias model would instead show both errors meeting early at a
//! high level, where more data does not help.

#[path = "nets/classic.rs"]
mod classic;

use std::path::PathBuf;

use classic::LeNet5;
use cnn::data::{mnist, Standardizer};
use cnn::train::{size_curve, Budget, Optimizer, TrainConfig};
use cnn::Init;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut epochs = 3;
    let mut seed = 1;
    let mut threads = 2;
    let mut out = PathBuf::from("runs/size_curve");
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--epochs" => epochs = value.parse()?,
            "--seed" => seed = value.parse()?,
            "--threads" => threads = value.parse()?,
            "--out" => out = value.into(),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let mut train = mnist::load(&dir, "train")?;
    let mut test = mnist::load(&dir, "t2k")?;
    let scaler = Standardizer::fit(&train)?;
    scaler.apply(&mut train)?;
    scaler.apply(&mut test)?;
    let config = TrainConfig::default()
        .epochs(epochs)
        .batch_size(32)
        .optimizer(Optimizer::sgd(0.03, 0.9).with_weight_decay(5e-4))
        .threads(threads)
        .seed(seed)
        .quiet();
    let sizes = [125, 250, 500, 1000, 2000, 4000, 8000];
    let started = std::time::Instant::now();
    let curve = size_curve::<LeNet5>(
        &config,
        Budget::EqualSteps,
        (Init::PyTorch, seed),
        &train,
        &test,
        &sizes,
    )?;
    println!("  size  epochs  training error  held-out error");
    for p in &curve.points {
        println!(
            "{:>6}  {:>6}  {:>13.2}%  {:>13.2}%",
            p.size,
            p.epochs,
            100.0 * p.train_error,
            100.0 * p.heldout_error
        );
    }
    std::fs::create_dir_all(&out)?;
    curve.write_csv(out.join("size_curve.csv"))?;
    curve.write_svg(out.join("size_curve.svg"))?;
    println!(
        "wrote {} and size_curve.svg in {:.1} s",
        out.join("size_curve.csv").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
