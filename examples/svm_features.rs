//! A trained CNN as a feature extractor for a linear SVM.
//!
//! (a) LeNet-5 trained on all ten digits of the bundled MNIST subset (8,000
//! training digits); the activations of `fc2` (after its ReLU: 84 values
//! per digit, the input of the last layer) of the training digits train a
//! multi-class linear SVM ([`cnn::svm::LinearSvm`], one-vs-rest, squared
//! hinge), compared with the network's own softmax head on the 2,000
//! held-out digits.
//!
//! (b) Transfer with few samples: LeNet-5 trained on the digits 0–4 only;
//! its `fc2` features of 50 training digits per class of 5–9 train an SVM,
//! against (i) fine-tuning the head (`fc3` re-initialised and trained,
//! every other layer frozen: a linear classifier on the same features, by
//! Adam at 1e-2 on the cross-entropy) and (ii) the whole network trained
//! from scratch (Adam at 1e-3), both for 50 epochs in batches of 10 on the
//! same 250 digits; all are measured on the 983 held-out digits 5–9.
//!
//! The networks of (a) and (b) train for 5 epochs (SGD, learning rate
//! 0.03, momentum 0.9, weight decay 5e-4, batches of 32); the SVMs use
//! `C = 0.1`, the squared hinge and standardised features.
//!
//! ```text
//! cargo run --release --example svm_features
//! cargo run --release --example svm_features -- --epochs 5 --per-class 50 --seed 1 --threads 2
//! ```
//!
//! Measured with the defaults (seed 1, 2 threads; about 13 s):
//!
//! | | held-out accuracy |
//! | --- | --- |
//! | (a) LeNet-5's softmax head, all digits | 96.70% |
//! | (a) its `fc2` features + linear SVM (fit in about 1 s) | 97.60% |
//! | (b) `fc2` features of the 0–4 network + SVM, 50 per class of 5–9 | 83.32% |
//! | (b) fine-tuned head (`fc3`), same 250 digits | 81.99% |
//! | (b) trained from scratch, same 250 digits | 94.00% |
//!
//! On all digits the SVM on `fc2` does a little better than the softmax
//! layer it replaces (a max-margin fit of a linear map on the same
//! features). In the transfer, the SVM and the retrained head, both
//! linear on the same frozen features, agree within about a point; but
//! `fc2` learnt to tell 0–4 apart and keeps too little of what separates
//! 5–9, so here a LeNet-5 trained from scratch on the 250 digits does
//! better.
//!
//! `fc2`'s activations are read with `LeNet5::activations`: in LeNet-5,
//! `fc2: dense(84), relu` runs as one fused dense→ReLU step whose stored
//! output is that of its ReLU, `relu4` (`LeNet5::PLAN` lists the steps).

#[path = "nets/classic.rs"]
mod classic;

use classic::LeNet5;
use cnn::data::{mnist, Standardizer};
use cnn::svm::LinearSvm;
use cnn::train::{accuracy, Optimizer, TrainConfig, Trainer};
use cnn::{Dataset, Init};

/// The ReLU of `fc2`, the last layer of the fused step `fc2 + relu4`.
const FC2_RELU: &str = "relu4";

struct Args {
    epochs: usize,
    per_class: usize,
    seed: u64,
    threads: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        epochs: 5,
        per_class: 50,
        seed: 1,
        threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let bad = |e: &dyn std::fmt::Display| format!("{flag}: {e}");
        match flag.as_str() {
            "--epochs" => a.epochs = value()?.parse().map_err(|e| bad(&e))?,
            "--per-class" => a.per_class = value()?.parse().map_err(|e| bad(&e))?,
            "--seed" => a.seed = value()?.parse().map_err(|e| bad(&e))?,
            "--threads" => a.threads = value()?.parse().map_err(|e| bad(&e))?,
            "-h" | "--help" => {
                println!(
                    "usage: svm_features [--epochs N] [--per-class N] [--seed N] [--threads N]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(a)
}

/// The `fc2` activations `[n, 84]` (after its ReLU) of every digit of `data`.
fn fc2_features(net: &LeNet5, data: &Dataset) -> cnn::Result<Vec<f32>> {
    net.activations(FC2_RELU, data.inputs())
}

fn labels(data: &Dataset) -> Vec<usize> {
    data.labels().expect("MNIST has labels").to_vec()
}

/// The first `per_class` digits of each class of `data`, in file order.
fn few_per_class(data: &Dataset, per_class: usize) -> Dataset {
    let mut counts = [0usize; 10];
    let picked: Vec<usize> = labels(data)
        .iter()
        .enumerate()
        .filter(|&(_, &l)| {
            counts[l] += 1;
            counts[l] <= per_class
        })
        .map(|(i, _)| i)
        .collect();
    data.subset(&picked)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let started = std::time::Instant::now();
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let mut train = mnist::load(&dir, "train")?;
    let mut test = mnist::load(&dir, "t2k")?;
    let scaler = Standardizer::fit(&train)?;
    scaler.apply(&mut train)?;
    scaler.apply(&mut test)?;
    let sgd = || Optimizer::sgd(0.03, 0.9).with_weight_decay(5e-4);
    let base = TrainConfig::default()
        .batch_size(32)
        .threads(args.threads)
        .seed(args.seed)
        .quiet();

    // (a) All digits.
    let mut net = LeNet5::new(Init::PyTorch, args.seed);
    let config = base.clone().epochs(args.epochs).optimizer(sgd());
    Trainer::new(config).fit(&mut net, &train, None)?;
    let softmax_a = accuracy(&net, &test)?;
    let svm_started = std::time::Instant::now();
    let svm = LinearSvm::config().c(0.1).seed(args.seed).fit(
        &fc2_features(&net, &train)?,
        84,
        &labels(&train),
        10,
    )?;
    let svm_seconds = svm_started.elapsed().as_secs_f64();
    let svm_a = svm.accuracy(&fc2_features(&net, &test)?, &labels(&test))?;
    println!(
        "(a) LeNet-5 on all digits ({} training, {} held out, {} epochs)",
        train.len(),
        test.len(),
        args.epochs
    );
    println!(
        "    softmax head:                 {:6.2}%",
        100.0 * softmax_a
    );
    println!(
        "    fc2 features + linear SVM:    {:6.2}%  (fit in {svm_seconds:.2} s, passes per class {:?})",
        100.0 * svm_a,
        svm.passes()
    );

    // (b) Transfer from 0-4 to 5-9 with few samples.
    let train_low = train.filter_classes(|c| c < 5);
    let few = few_per_class(&train.filter_classes(|c| c >= 5), args.per_class);
    let test_high = test.filter_classes(|c| c >= 5);
    let mut low = LeNet5::new(Init::PyTorch, args.seed);
    let config = base.clone().epochs(args.epochs).optimizer(sgd());
    Trainer::new(config).fit(&mut low, &train_low, None)?;

    let svm = LinearSvm::config().c(0.1).seed(args.seed).fit(
        &fc2_features(&low, &few)?,
        84,
        &labels(&few),
        10,
    )?;
    let svm_b = svm.accuracy(&fc2_features(&low, &test_high)?, &labels(&test_high))?;

    let few_epochs = 50;
    let few_opt = || Optimizer::adam(1e-3);
    let mut head = LeNet5::from_weights(low.weights().to_vec())?;
    head.reinitialize_layer("fc3", Init::PyTorch, args.seed + 7)?;
    let config = base
        .clone()
        .epochs(few_epochs)
        .batch_size(10)
        .optimizer(Optimizer::adam(1e-2))
        .freeze(["conv1", "conv2", "fc1", "fc2"]);
    Trainer::new(config).fit(&mut head, &few, None)?;
    let head_b = accuracy(&head, &test_high)?;

    let mut scratch = LeNet5::new(Init::PyTorch, args.seed + 11);
    let config = base.epochs(few_epochs).batch_size(10).optimizer(few_opt());
    Trainer::new(config).fit(&mut scratch, &few, None)?;
    let scratch_b = accuracy(&scratch, &test_high)?;

    println!(
        "(b) transfer: LeNet-5 trained on digits 0-4 ({} digits, {} epochs); {} per class of 5-9 \
         ({} digits), {} held out",
        train_low.len(),
        args.epochs,
        args.per_class,
        few.len(),
        test_high.len()
    );
    println!("    fc2 features + linear SVM:    {:6.2}%", 100.0 * svm_b);
    println!(
        "    fine-tuned head (fc3 only):   {:6.2}%  ({few_epochs} epochs)",
        100.0 * head_b
    );
    println!(
        "    from scratch:                 {:6.2}%  ({few_epochs} epochs)",
        100.0 * scratch_b
    );
    println!("{:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
