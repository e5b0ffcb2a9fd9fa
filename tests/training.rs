//! The trainer end to end on small networks and synthetic data: minibatch,
//! full-batch and stochastic descent, reproducibility, validation,
//! early stopping, checkpoints, non-finite losses, fine-tuning (frozen and
//! re-initialised layers), Adam and the schedules, learning curves and
//! every bad-input error. The allocation test is `tests/training_alloc.rs`.

use std::path::{Path, PathBuf};

use cnn::train::{
    accuracy, evaluate, History, Loss, Optimizer, Schedule, TargetRef, TrainConfig, Trainer,
};
use cnn::{Dataset, Error, Init};

cnn::network! {
    /// A small conv net for 1x6x6 images of three classes.
    struct Tiny {
        input: [1, 6, 6],
        conv1: conv(4, kernel = 3, pad = 1), relu, max_pool(2),
        conv2: conv(4, kernel = 3, pad = 1), relu,
        flatten,
        fc1: dense(12), relu,
        dropout(0.2),
        fc2: dense(3),
        softmax,
    }

    /// Sigmoid neurons for XOR.
    struct Xor {
        input: [2],
        hidden: dense(4), sigmoid,
        out: dense(1), sigmoid,
    }

    /// Linear regression, two outputs.
    struct Linear {
        input: [4],
        out: dense(2),
    }

    /// A small MLP for MNIST digits.
    struct DigitMlp {
        input: [784],
        fc1: dense(32), relu,
        fc2: dense(10),
        softmax,
    }
}

// ---------------------------------------------------------------- helpers

/// A small deterministic generator (xorshift64*), uniform in [0, 1).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let v = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (v >> 40) as f32 / (1u64 << 24) as f32
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.next() * n as f32) as usize).min(n - 1)
    }
}

/// `n` 1x6x6 images: class `k` is a bright 2x2 blob in quadrant `k`
/// (jittered by a pixel), on noise. `relabel` maps the true class to the
/// label stored (identity for honest data).
fn blobs_with(n: usize, seed: u64, relabel: impl Fn(usize) -> usize) -> Dataset {
    let mut rng = Rng::new(seed);
    let mut inputs = Vec::with_capacity(n * 36);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 3;
        let mut img = [0.0f32; 36];
        for v in &mut img {
            *v = 0.3 * rng.next();
        }
        let (r0, c0) = [(0, 0), (0, 3), (3, 0)][class];
        let (r, c) = (r0 + rng.below(2), c0 + rng.below(2));
        for dr in 0..2 {
            for dc in 0..2 {
                img[(r + dr) * 6 + c + dc] = 1.0;
            }
        }
        inputs.extend_from_slice(&img);
        labels.push(relabel(class));
    }
    Dataset::classification(inputs, &[1, 6, 6], labels, 3).unwrap()
}

fn blobs(n: usize, seed: u64) -> Dataset {
    blobs_with(n, seed, |c| c)
}

/// `n` samples of 4 features in [0, 1) with targets `(Σx, x0 - x1)`.
fn linear_data(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let inputs: Vec<f32> = (0..n * 4).map(|_| rng.next()).collect();
    let targets: Vec<f32> = inputs
        .chunks(4)
        .flat_map(|x| [x.iter().sum::<f32>(), x[0] - x[1]])
        .collect();
    Dataset::regression(inputs, &[4], targets, 2).unwrap()
}

fn xor_data() -> Dataset {
    Dataset::regression(
        vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        &[2],
        vec![0.0, 1.0, 1.0, 0.0],
        1,
    )
    .unwrap()
}

fn config() -> TrainConfig {
    TrainConfig::default()
        .epochs(6)
        .batch_size(16)
        .optimizer(Optimizer::sgd(0.1, 0.9))
        .seed(11)
        .threads(1)
        .quiet()
}

fn bits(w: &[f32]) -> Vec<u32> {
    w.iter().map(|v| v.to_bits()).collect()
}

/// Every figure of the history except the wall-clock seconds, as bits.
type Row = (usize, u64, Option<u64>, Option<u64>, Option<u64>, u32);

fn figures(h: &History) -> Vec<Row> {
    h.epochs
        .iter()
        .map(|e| {
            (
                e.epoch,
                e.train_loss.to_bits(),
                e.train_accuracy.map(f64::to_bits),
                e.val_loss.map(f64::to_bits),
                e.val_accuracy.map(f64::to_bits),
                e.lr.to_bits(),
            )
        })
        .collect()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The files in `dir` whose names start with `prefix`.
fn files_with_prefix(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect()
}

fn train_loss(h: &History) -> Vec<f64> {
    h.epochs.iter().map(|e| e.train_loss).collect()
}

fn message(e: Error) -> String {
    e.to_string()
}

// ---------------------------------------------------------------- trainer

#[test]
fn default_configuration() {
    let c = TrainConfig::default();
    assert_eq!(c.batch_size, 32);
    assert_eq!(c.loss, Loss::CrossEntropy);
    assert!(c.shuffle && c.progress);
    assert_eq!(TrainConfig::default().full_batch().batch_size, usize::MAX);
    assert_eq!(TrainConfig::default().stochastic().batch_size, 1);
}

#[test]
fn minibatches_learn_with_one_and_two_threads() {
    let train = blobs(240, 1);
    let test = blobs(90, 2);
    for threads in [1, 2] {
        let mut net = Tiny::new(Init::He, 3);
        let before = accuracy(&net, &test).unwrap();
        // The default progress bar is on: it must stay silent off a terminal.
        let config = TrainConfig::default()
            .epochs(8)
            .optimizer(Optimizer::sgd(0.05, 0.9))
            .threads(threads)
            .seed(5);
        let h = Trainer::new(config)
            .fit(&mut net, &train, Some(&test))
            .unwrap();
        assert_eq!(h.epochs.len(), 8);
        let losses = train_loss(&h);
        assert!(
            losses[7] < 0.5 * losses[0],
            "{threads} threads: losses {losses:?}"
        );
        let after = accuracy(&net, &test).unwrap();
        assert!(
            after > 0.9,
            "{threads} threads: held-out accuracy {before} -> {after}"
        );
        let last = h.epochs.last().unwrap();
        assert_eq!(last.val_accuracy, Some(after));
        assert!(last.train_accuracy.unwrap() > 0.8);
        assert!(h.epochs.iter().all(|e| e.seconds >= 0.0));
        assert!(!h.stopped_early && h.restored_epoch.is_none());
    }
}

#[test]
fn same_seed_and_threads_reproduce_bit_for_bit() {
    let train = blobs(150, 3);
    let val = blobs(60, 4);
    for threads in [1, 2] {
        let run = |seed: u64| {
            let mut net = Tiny::new(Init::He, 7);
            let c = config().threads(threads).seed(seed).batch_size(10);
            let h = Trainer::new(c).fit(&mut net, &train, Some(&val)).unwrap();
            (figures(&h), bits(net.weights()))
        };
        let (h1, w1) = run(21);
        let (h2, w2) = run(21);
        assert_eq!(h1, h2, "{threads} threads: curves differ");
        assert_eq!(w1, w2, "{threads} threads: weights differ");
        let (h3, w3) = run(22);
        assert_ne!(w1, w3, "{threads} threads: another seed, same weights");
        assert_ne!(h1, h3, "{threads} threads: another seed, same curves");
    }
}

#[test]
fn shuffling_changes_the_run_and_can_be_turned_off() {
    let train = blobs(60, 5);
    let run = |shuffle: bool, seed: u64| {
        let mut net = Tiny::new(Init::He, 1);
        let c = config().epochs(2).shuffle(shuffle).seed(seed);
        Trainer::new(c).fit(&mut net, &train, None).unwrap();
        bits(net.weights())
    };
    assert_ne!(run(true, 1), run(false, 1));
    // Without shuffling the seed only drives dropout.
    assert_eq!(run(false, 1), run(false, 1));
}

/// Full-batch gradient descent takes exactly one step per epoch over the
/// whole set: the same as stepping a session by hand.
#[test]
fn full_batch_is_one_step_per_epoch_and_learns() {
    let train = blobs(90, 6);
    let epochs = 25;
    let mut net = Tiny::new(Init::He, 2);
    let start = net.weights().to_vec();
    let c = config()
        .epochs(epochs)
        .full_batch()
        .shuffle(false)
        .optimizer(Optimizer::sgd(0.2, 0.9));
    let h = Trainer::new(c.clone()).fit(&mut net, &train, None).unwrap();
    let losses = train_loss(&h);
    assert!(losses[epochs - 1] < 0.5 * losses[0], "{losses:?}");

    let mut by_hand = Tiny::from_weights(start).unwrap();
    let mut session = Trainer::new(c).session::<Tiny>(train.len()).unwrap();
    let labels = train.labels().unwrap();
    for (e, &loss) in losses.iter().enumerate() {
        let s = session
            .step(
                &mut by_hand,
                train.inputs(),
                TargetRef::Classes(labels),
                train.len(),
            )
            .unwrap();
        assert_eq!(s.loss / train.len() as f64, loss, "epoch {}", e + 1);
    }
    assert_eq!(bits(by_hand.weights()), bits(net.weights()));
}

/// Stochastic gradient descent: one sample per step, in order when not
/// shuffled.
#[test]
fn stochastic_is_one_sample_per_step_and_learns() {
    let train = blobs(60, 7);
    let mut net = Tiny::new(Init::He, 4);
    let start = net.weights().to_vec();
    let c = config()
        .epochs(3)
        .stochastic()
        .shuffle(false)
        .optimizer(Optimizer::sgd(0.03, 0.0));
    let h = Trainer::new(c.clone()).fit(&mut net, &train, None).unwrap();
    let losses = train_loss(&h);
    assert!(losses[2] < 0.5 * losses[0], "{losses:?}");

    let mut by_hand = Tiny::from_weights(start).unwrap();
    let mut session = Trainer::new(c).session::<Tiny>(1).unwrap();
    let labels = train.labels().unwrap();
    for _ in 0..3 {
        for i in 0..train.len() {
            session
                .step(
                    &mut by_hand,
                    train.input(i),
                    TargetRef::Classes(&labels[i..i + 1]),
                    1,
                )
                .unwrap();
        }
    }
    assert_eq!(bits(by_hand.weights()), bits(net.weights()));
}

#[test]
fn momentum_sgd_with_weight_decay_follows_pytorch() {
    // buf = g + wd w on the first step, then m buf + (g + wd w); w -= lr buf.
    let data = linear_data(8, 9);
    let (lr, momentum, wd) = (0.05f32, 0.9f32, 0.01f32);
    let opt = Optimizer::sgd(lr, momentum).with_weight_decay(wd);
    let c = config().optimizer(opt).loss(Loss::MeanSquaredError);
    let mut net = Linear::new(Init::PyTorch, 3);
    let mut reference = net.weights().to_vec();
    let mut buf = vec![0.0f32; reference.len()];
    let mut session = Trainer::new(c.clone()).session::<Linear>(8).unwrap();
    let mut probe = Trainer::new(c).session::<Linear>(8).unwrap();
    let cnn::Targets::Values { values, .. } = data.targets() else {
        unreachable!()
    };
    for step in 0..4 {
        // The gradient at the reference weights.
        let at = Linear::from_weights(reference.clone()).unwrap();
        probe
            .compute_gradients(&at, data.inputs(), TargetRef::Values(values), 8)
            .unwrap();
        for i in 0..reference.len() {
            let d = probe.gradients()[i] + wd * reference[i];
            buf[i] = if step == 0 { d } else { momentum * buf[i] + d };
            reference[i] -= lr * buf[i];
        }
        session
            .step(&mut net, data.inputs(), TargetRef::Values(values), 8)
            .unwrap();
        assert_eq!(bits(net.weights()), bits(&reference), "step {}", step + 1);
    }
}

#[test]
fn mse_regression_learns() {
    let train = linear_data(200, 10);
    let val = linear_data(50, 11);
    let mut net = Linear::new(Init::PyTorch, 1);
    let c = config()
        .epochs(30)
        .loss(Loss::MeanSquaredError)
        .optimizer(Optimizer::sgd(0.05, 0.9));
    let h = Trainer::new(c).fit(&mut net, &train, Some(&val)).unwrap();
    let last = h.epochs.last().unwrap();
    assert!(last.val_loss.unwrap() < 1e-3, "{:?}", last);
    // Two target values per sample: no accuracy.
    assert_eq!((last.train_accuracy, last.val_accuracy), (None, None));
    let (val_loss, _) = evaluate(&net, &val, Loss::MeanSquaredError).unwrap();
    assert_eq!(Some(val_loss), last.val_loss);
}

#[test]
fn sigmoid_and_binary_cross_entropy_learn_xor() {
    let data = xor_data();
    let mut net = Xor::new(Init::Xavier, 3);
    let c = config()
        .epochs(1500)
        .full_batch()
        .loss(Loss::BinaryCrossEntropy)
        .optimizer(Optimizer::adam(0.05));
    let h = Trainer::new(c).fit(&mut net, &data, Some(&data)).unwrap();
    let out = net.predict_batch(data.inputs()).unwrap();
    let rounded: Vec<f32> = out.iter().map(|v| v.round()).collect();
    assert_eq!(rounded, [0.0, 1.0, 1.0, 0.0], "outputs {out:?}");
    let last = h.epochs.last().unwrap();
    assert_eq!(last.val_accuracy, Some(1.0));
    assert!(last.train_loss < 0.1, "{last:?}");
    // Cross-entropy cannot train a sigmoid head.
    let m = message(
        Trainer::new(config())
            .fit(&mut net, &data, None)
            .unwrap_err(),
    );
    assert!(m.contains("BinaryCrossEntropy") && m.contains("Xor"), "{m}");
}

#[test]
fn adam_learns() {
    let train = blobs(150, 12);
    let mut net = Tiny::new(Init::He, 5);
    let c = config().epochs(6).optimizer(Optimizer::adam(0.01));
    let h = Trainer::new(c).fit(&mut net, &train, None).unwrap();
    let losses = train_loss(&h);
    assert!(losses[5] < 0.5 * losses[0], "{losses:?}");
    assert!(h.epochs.iter().all(|e| e.lr == 0.01));
}

#[test]
fn step_decay_schedule_in_history() {
    let train = blobs(60, 13);
    let mut net = Tiny::new(Init::He, 5);
    let c = config().epochs(5).schedule(Schedule::StepDecay {
        every: 2,
        gamma: 0.5,
    });
    let h = Trainer::new(c).fit(&mut net, &train, None).unwrap();
    let lrs: Vec<f32> = h.epochs.iter().map(|e| e.lr).collect();
    assert_eq!(lrs, [0.1, 0.1, 0.05, 0.05, 0.025]);
}

#[test]
fn reduce_on_plateau_schedule_in_history() {
    // The validation labels are wrong (shifted by one class), so the
    // validation loss rises while the training set is learnt: a plateau.
    let train = blobs(90, 14);
    let val = blobs_with(60, 15, |c| (c + 1) % 3);
    let mut net = Tiny::new(Init::He, 5);
    let (factor, patience) = (0.5, 1);
    let c = config()
        .epochs(8)
        .schedule(Schedule::reduce_on_plateau(factor, patience));
    let h = Trainer::new(c).fit(&mut net, &train, Some(&val)).unwrap();
    // PyTorch's ReduceLROnPlateau (mode min, relative threshold 1e-4) on
    // the recorded validation losses.
    let (mut lr, mut best, mut bad) = (0.1f32, f64::INFINITY, 0);
    let mut reductions = 0;
    for e in &h.epochs {
        assert_eq!(e.lr, lr, "epoch {}", e.epoch);
        let loss = e.val_loss.unwrap();
        if loss < best * (1.0 - 1e-4) {
            best = loss;
            bad = 0;
        } else {
            bad += 1;
            if bad > patience {
                lr *= factor;
                bad = 0;
                reductions += 1;
            }
        }
    }
    assert!(reductions >= 2, "{:?}", h.epochs);
}

#[test]
fn validation_split_holds_out_part_of_the_training_set() {
    let train = blobs(120, 16);
    let run = |split: Option<f32>| {
        let mut net = Tiny::new(Init::He, 5);
        let mut c = config().epochs(2);
        if let Some(f) = split {
            c = c.validation_split(f);
        }
        let h = Trainer::new(c).fit(&mut net, &train, None).unwrap();
        (h, bits(net.weights()))
    };
    let (with, w1) = run(Some(0.25));
    for e in &with.epochs {
        let (l, a) = (e.val_loss.unwrap(), e.val_accuracy.unwrap());
        assert!(
            l.is_finite() && l > 0.0 && (0.0..=1.0).contains(&a),
            "{e:?}"
        );
        // 30 held-out samples: accuracy is a multiple of 1/30.
        assert!(((a * 30.0) - (a * 30.0).round()).abs() < 1e-9, "{a}");
    }
    let (without, w2) = run(None);
    assert!(without.epochs.iter().all(|e| e.val_loss.is_none()));
    assert_ne!(
        w1, w2,
        "training on 90 samples differs from training on 120"
    );
    // An explicit validation set takes precedence over the split.
    let val = blobs(30, 17);
    let mut net = Tiny::new(Init::He, 5);
    let h = Trainer::new(config().epochs(1).validation_split(0.25))
        .fit(&mut net, &train, Some(&val))
        .unwrap();
    assert_eq!(
        h.epochs[0].val_loss,
        Some(evaluate(&net, &val, Loss::CrossEntropy).unwrap().0)
    );
    // Fractions that cannot work.
    for bad in [1.0, -0.5, f32::NAN] {
        let mut net = Tiny::new(Init::He, 5);
        let m = message(
            Trainer::new(config().validation_split(bad))
                .fit(&mut net, &train, None)
                .unwrap_err(),
        );
        assert!(m.contains("validation fraction"), "{bad}: {m}");
    }
}

#[test]
fn early_stopping_restores_the_best_epoch() {
    let train = blobs(90, 18);
    let val = blobs_with(60, 19, |c| (c + 1) % 3);
    let dir = tempdir();
    let ckpt = dir.path().join("best.safetensors");
    let patience = 2;
    let c = config().epochs(30).early_stopping(patience, 0.0);
    let mut net = Tiny::new(Init::He, 8);
    let h = Trainer::new(c.clone().checkpoint(&ckpt))
        .fit(&mut net, &train, Some(&val))
        .unwrap();
    let losses: Vec<f64> = h.epochs.iter().map(|e| e.val_loss.unwrap()).collect();
    let best = 1
        + (0..losses.len())
            .min_by(|&a, &b| losses[a].total_cmp(&losses[b]))
            .unwrap();
    assert!(h.stopped_early, "{losses:?}");
    assert_eq!(h.restored_epoch, Some(best), "{losses:?}");
    assert_eq!(h.epochs.len(), best + patience, "{losses:?}");
    // The weights are those after epoch `best`: the same run stopped there.
    let mut reference = Tiny::new(Init::He, 8);
    let mut c = c.epochs(best);
    c.early_stopping = None;
    Trainer::new(c)
        .fit(&mut reference, &train, Some(&val))
        .unwrap();
    assert_eq!(bits(net.weights()), bits(reference.weights()));
    let (val_loss, _) = evaluate(&net, &val, Loss::CrossEntropy).unwrap();
    assert_eq!(val_loss, losses[best - 1]);
    // And the checkpoint holds them too.
    let saved = Tiny::from_safetensors(&ckpt).unwrap();
    assert_eq!(bits(saved.weights()), bits(net.weights()));
}

#[test]
fn early_stopping_without_validation_watches_the_training_loss() {
    let train = blobs(60, 20);
    let mut net = Tiny::new(Init::He, 8);
    let c = config().epochs(5).early_stopping(3, 0.0);
    let h = Trainer::new(c).fit(&mut net, &train, None).unwrap();
    let losses = train_loss(&h);
    let best = 1
        + (0..5)
            .min_by(|&a, &b| losses[a].total_cmp(&losses[b]))
            .unwrap();
    assert_eq!(h.restored_epoch, Some(best), "{losses:?}");
}

#[test]
fn checkpoints_are_written_every_epoch_and_load() {
    let train = blobs(60, 21);
    let dir = tempdir();
    let ckpt = dir.path().join("run").with_extension("safetensors");
    let mut net = Tiny::new(Init::He, 9);
    Trainer::new(config().epochs(2).checkpoint(&ckpt))
        .fit(&mut net, &train, None)
        .unwrap();
    assert!(ckpt.is_file());
    let loaded = Tiny::from_safetensors(&ckpt).unwrap();
    assert_eq!(bits(loaded.weights()), bits(net.weights()));
    let mut other = Tiny::zeros();
    other.load_safetensors(&ckpt).unwrap();
    assert_eq!(bits(other.weights()), bits(net.weights()));
    // Written through a temporary file renamed over the target: nothing
    // else is left in the directory.
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    // A checkpoint in a directory that does not exist is an I/O error
    // naming the file.
    let missing = dir.path().join("no/such/dir/w.safetensors");
    let m = message(
        Trainer::new(config().epochs(1).checkpoint(&missing))
            .fit(&mut net, &train, None)
            .unwrap_err(),
    );
    assert!(m.contains("no/such/dir/w.safetensors"), "{m}");
}

// ------------------------------------------------------- non-finite loss

#[test]
fn diverging_loss_stops_with_epoch_and_step_and_keeps_the_checkpoint() {
    // Linear regression at a learning rate far past stability: the error
    // grows about tenfold per step until the loss overflows.
    let train = linear_data(32, 22);
    let dir = tempdir();
    let ckpt = dir.path().join("last_good.safetensors");
    let c = config()
        .epochs(100)
        .batch_size(8)
        .loss(Loss::MeanSquaredError)
        .optimizer(Optimizer::sgd(4.0, 0.0));
    let mut net = Linear::new(Init::PyTorch, 2);
    let err = Trainer::new(c.clone().checkpoint(&ckpt))
        .fit(&mut net, &train, None)
        .unwrap_err();
    let m = err.to_string();
    let Error::NonFiniteLoss { epoch, step, loss } = err else {
        panic!("expected NonFiniteLoss, got {m}");
    };
    assert!(!loss.is_finite());
    assert!(epoch >= 2, "diverged in the first epoch: {m}");
    assert!((1..=4).contains(&step), "{m}");
    assert!(
        m.contains(&format!("epoch {epoch}, step {step}")),
        "the message names the epoch and the step: {m}"
    );
    // The checkpoint is the one written after epoch `epoch - 1`: whole,
    // finite, and equal to the weights of the same run stopped there.
    let saved = Linear::from_safetensors(&ckpt).unwrap();
    assert!(saved.weights().iter().all(|v| v.is_finite()));
    let mut reference = Linear::new(Init::PyTorch, 2);
    Trainer::new(c.epochs(epoch - 1))
        .fit(&mut reference, &train, None)
        .unwrap();
    assert_eq!(bits(saved.weights()), bits(reference.weights()));
    assert_eq!(files_with_prefix(dir.path(), ".cnn-tmp").len(), 0);
}

#[test]
fn nan_and_huge_inputs_stop_training_at_their_step() {
    let dir = tempdir();
    let ckpt = dir.path().join("w.safetensors");
    // A good run leaves a checkpoint ...
    let good = blobs(60, 23);
    let mut net = Tiny::new(Init::He, 10);
    Trainer::new(config().epochs(1).checkpoint(&ckpt))
        .fit(&mut net, &good, None)
        .unwrap();
    let before = std::fs::read(&ckpt).unwrap();
    // ... which a run failing in its first epoch leaves alone.
    for (bad, value) in [("NaN", f32::NAN), ("f32::MAX", f32::MAX)] {
        let mut inputs = good.inputs().to_vec();
        // Sample 37: the third step of 16 (samples 32..48), unshuffled.
        inputs[37 * 36..38 * 36].fill(value);
        let data = Dataset::classification(inputs, &[1, 6, 6], good.labels().unwrap().to_vec(), 3)
            .unwrap();
        let mut net = Tiny::new(Init::He, 10);
        let weights = bits(net.weights());
        let err = Trainer::new(config().shuffle(false).checkpoint(&ckpt))
            .fit(&mut net, &data, None)
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::NonFiniteLoss {
                    epoch: 1,
                    step: 3,
                    ..
                }
            ),
            "{bad}: {err:?}"
        );
        let m = err.to_string();
        assert!(m.contains("epoch 1, step 3"), "{bad}: {m}");
        assert_eq!(std::fs::read(&ckpt).unwrap(), before, "{bad}");
        // Steps 1 and 2 trained, and the failed epoch is undone: the
        // network is back at its weights before it.
        assert_eq!(bits(net.weights()), weights, "{bad}");
        assert!(m.contains("back at its initial weights"), "{bad}: {m}");
    }
}

#[test]
fn a_non_finite_step_leaves_the_network_untouched() {
    let mut net = Tiny::new(Init::He, 12);
    let before = bits(net.weights());
    let mut session = Trainer::new(config()).session::<Tiny>(2).unwrap();
    let mut x = vec![0.5f32; 72];
    x[40] = f32::NAN;
    let err = session
        .step(&mut net, &x, TargetRef::Classes(&[0, 1]), 2)
        .unwrap_err();
    assert!(matches!(err, Error::NonFiniteLoss { .. }), "{err:?}");
    assert_eq!(bits(net.weights()), before);
}

// ------------------------------------------------------------ fine-tuning

/// The parameter tensors of `layers`, and those of every other layer.
fn split_params<N: cnn::Network>(layers: &[&str]) -> (Vec<cnn::ParamInfo>, Vec<cnn::ParamInfo>) {
    N::PARAMS
        .iter()
        .partition(|p| layers.contains(&N::LAYERS[p.layer].name))
}

fn assert_frozen<N: cnn::Network>(frozen: &[&str], before: &[f32], after: &[f32], what: &str) {
    let (kept, trained) = split_params::<N>(frozen);
    assert!(!kept.is_empty() && !trained.is_empty());
    for p in kept {
        assert_eq!(
            bits(&before[p.range()]),
            bits(&after[p.range()]),
            "{what}: frozen {} changed",
            p.name
        );
    }
    for p in trained {
        assert_ne!(
            bits(&before[p.range()]),
            bits(&after[p.range()]),
            "{what}: trainable {} did not change",
            p.name
        );
    }
}

#[test]
fn frozen_layers_keep_their_weights_bit_for_bit() {
    let train = blobs(60, 24);
    let optimizers = [
        Optimizer::sgd(0.05, 0.9).with_weight_decay(1e-3),
        Optimizer::adam(0.01).with_weight_decay(1e-3),
    ];
    for opt in optimizers {
        for threads in [1, 2] {
            let c = config().epochs(2).optimizer(opt).threads(threads);
            // By name.
            let mut net = Tiny::new(Init::He, 13);
            let before = net.weights().to_vec();
            Trainer::new(c.clone().freeze(["conv2", "fc1"]))
                .fit(&mut net, &train, None)
                .unwrap();
            let what = format!("{opt:?}, {threads} threads, freeze(conv2, fc1)");
            assert_frozen::<Tiny>(&["conv2", "fc1"], &before, net.weights(), &what);
            // The first k convolutions.
            let mut net = Tiny::new(Init::He, 13);
            let before = net.weights().to_vec();
            Trainer::new(c.freeze_first_convs(2))
                .fit(&mut net, &train, None)
                .unwrap();
            let what = format!("{opt:?}, {threads} threads, freeze_first_convs(2)");
            assert_frozen::<Tiny>(&["conv1", "conv2"], &before, net.weights(), &what);
        }
    }
    // The session reports which layers train.
    let s = Trainer::new(config().freeze_first_convs(1))
        .session::<Tiny>(4)
        .unwrap();
    let names: Vec<&str> = Tiny::LAYERS
        .iter()
        .zip(s.trainable())
        .filter(|(_, &t)| !t)
        .map(|(l, _)| l.name)
        .collect();
    assert_eq!(names, ["conv1"]);
}

#[test]
fn freezing_errors_name_the_layer() {
    let train = blobs(30, 25);
    let mut net = Tiny::new(Init::He, 1);
    let m = message(
        Trainer::new(config().freeze(["fc9"]))
            .fit(&mut net, &train, None)
            .unwrap_err(),
    );
    assert!(
        m.contains("Tiny has no layer `fc9`") && m.contains("conv1") && m.contains("fc2"),
        "{m}"
    );
    let m = message(
        Trainer::new(config().freeze_first_convs(3))
            .fit(&mut net, &train, None)
            .unwrap_err(),
    );
    assert!(
        m.contains("first 3 conv layers") && m.contains("has 2"),
        "{m}"
    );
    let m = message(
        Trainer::new(config().freeze(["conv1", "conv2", "fc1", "fc2"]))
            .fit(&mut net, &train, None)
            .unwrap_err(),
    );
    assert!(m.contains("every layer of Tiny is frozen"), "{m}");
}

#[test]
fn reinitialize_layer_touches_only_that_layer() {
    let mut net = Tiny::new(Init::He, 14);
    let before = net.weights().to_vec();
    net.reinitialize_layer("fc1", Init::Gaussian { std: 0.01 }, 99)
        .unwrap();
    let after = net.weights().to_vec();
    for p in Tiny::PARAMS {
        let (b, a) = (&before[p.range()], &after[p.range()]);
        match p.name {
            "fc1.weight" => {
                assert_ne!(bits(a), bits(b));
                let n = a.len() as f32;
                let mean = a.iter().sum::<f32>() / n;
                let std = (a.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n).sqrt();
                assert!(
                    mean.abs() < 0.003 && (0.007..0.013).contains(&std),
                    "{mean} {std}"
                );
            }
            "fc1.bias" => assert!(a.iter().all(|&v| v == 0.0)),
            _ => assert_eq!(bits(a), bits(b), "{} changed", p.name),
        }
    }
    // Reproducible from the seed.
    let mut again = Tiny::new(Init::He, 14);
    again
        .reinitialize_layer("fc1", Init::Gaussian { std: 0.01 }, 99)
        .unwrap();
    assert_eq!(bits(again.weights()), bits(&after));
    let m = message(net.reinitialize_layer("fc7", Init::He, 1).unwrap_err());
    assert!(m.contains("no layer `fc7`"), "{m}");
}

/// Pretrain, save, load into a fresh network, re-initialise the head,
/// freeze the convolutions and retrain on a relabelled task.
#[test]
fn fine_tuning_from_pretrained_weights() {
    let dir = tempdir();
    let path = dir.path().join("pretrained.safetensors");
    let pretrain = blobs(150, 26);
    let mut net = Tiny::new(Init::He, 15);
    Trainer::new(config().epochs(6))
        .fit(&mut net, &pretrain, None)
        .unwrap();
    net.save_safetensors(&path).unwrap();

    let mut tuned = Tiny::zeros();
    tuned.load_safetensors(&path).unwrap();
    assert_eq!(bits(tuned.weights()), bits(net.weights()));
    tuned
        .reinitialize_layer("fc2", Init::Gaussian { std: 0.01 }, 3)
        .unwrap();
    let loaded = tuned.weights().to_vec();
    // A new task on the same images: the classes permuted.
    let task = blobs_with(150, 27, |c| (c + 2) % 3);
    let test = blobs_with(60, 28, |c| (c + 2) % 3);
    let fresh = accuracy(&tuned, &test).unwrap();
    Trainer::new(config().epochs(6).freeze_first_convs(2))
        .fit(&mut tuned, &task, None)
        .unwrap();
    assert_frozen::<Tiny>(&["conv1", "conv2"], &loaded, tuned.weights(), "fine-tuning");
    let tuned_accuracy = accuracy(&tuned, &test).unwrap();
    assert!(
        tuned_accuracy > 0.9,
        "fine-tuned accuracy {fresh} -> {tuned_accuracy}"
    );
}

// --------------------------------------------------------- learning curves

#[test]
fn learning_curves_as_csv_and_svg() {
    let train = blobs(60, 29);
    let val = blobs(30, 30);
    let mut net = Tiny::new(Init::He, 16);
    let h = Trainer::new(config().epochs(3))
        .fit(&mut net, &train, Some(&val))
        .unwrap();
    let dir = tempdir();
    let csv = dir.path().join("curves.csv");
    let svg = dir.path().join("curves.svg");
    h.write_csv(&csv).unwrap();
    h.write_svg(&svg).unwrap();

    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text, h.to_csv());
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 3);
    for (row, e) in rows.iter().zip(&h.epochs) {
        assert_eq!(row.len(), 7, "{row:?}");
        assert_eq!(row[0].parse::<usize>().unwrap(), e.epoch);
        let close = |cell: &str, v: f64| (cell.parse::<f64>().unwrap() - v).abs() < 1e-6;
        assert!(close(row[1], e.train_loss), "{row:?}");
        assert!(close(row[2], e.train_accuracy.unwrap()), "{row:?}");
        assert!(close(row[3], e.val_loss.unwrap()), "{row:?}");
        assert!(close(row[4], e.val_accuracy.unwrap()), "{row:?}");
        assert_eq!(row[5].parse::<f32>().unwrap(), e.lr);
        assert!(row[6].parse::<f64>().unwrap() >= 0.0);
    }

    let drawing = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(drawing, h.to_svg().unwrap());
    assert!(
        drawing.starts_with("<svg"),
        "{}",
        &drawing[..80.min(drawing.len())]
    );
    assert!(drawing.trim_end().ends_with("</svg>"));
    for word in ["loss", "accuracy", "training", "validation", "epoch"] {
        assert!(drawing.contains(word), "the SVG lacks {word:?}");
    }
    assert!(drawing.matches("<polyline").count() >= 4);
    // Without validation or accuracy figures, and with a single epoch.
    let mut lin = Linear::new(Init::PyTorch, 1);
    let h = Trainer::new(config().epochs(1).loss(Loss::MeanSquaredError))
        .fit(&mut lin, &linear_data(20, 31), None)
        .unwrap();
    assert_eq!(h.to_csv().lines().nth(1).unwrap().matches(",,").count(), 2);
    let drawing = h.to_svg().unwrap();
    assert!(drawing.starts_with("<svg") && drawing.trim_end().ends_with("</svg>"));
    assert!(!drawing.contains("NaN"));
}

// -------------------------------------------------------------- bad input

#[test]
fn bad_datasets_are_clear_errors() {
    // Labels out of range.
    let m =
        message(Dataset::classification(vec![0.0; 108], &[1, 6, 6], vec![0, 5, 1], 3).unwrap_err());
    assert!(
        m.contains("label 5 at index 1") && m.contains("3 classes"),
        "{m}"
    );
    // Image and label counts that differ.
    let m = message(
        Dataset::classification(vec![0.0; 36 * 4], &[1, 6, 6], vec![0, 1, 2], 3).unwrap_err(),
    );
    assert!(
        m.contains("144 values") && m.contains("3 labels") && m.contains("need 108"),
        "{m}"
    );
    let m = message(Dataset::regression(vec![0.0; 12], &[4], vec![0.0; 8], 2).unwrap_err());
    assert!(
        m.contains("12 values") && m.contains("4 target rows"),
        "{m}"
    );
    // An empty dataset.
    let m = message(Dataset::classification(vec![], &[1, 6, 6], vec![], 3).unwrap_err());
    assert!(m.contains("empty"), "{m}");
}

#[test]
fn datasets_that_do_not_fit_the_network_are_clear_errors() {
    let fit = |data: &Dataset, val: Option<&Dataset>, c: TrainConfig| {
        let mut net = Tiny::new(Init::He, 1);
        let before = bits(net.weights());
        let e = Trainer::new(c).fit(&mut net, data, val).unwrap_err();
        assert_eq!(
            bits(net.weights()),
            before,
            "failed fit changed the weights"
        );
        e
    };
    let good = blobs(30, 32);
    // Empty training and validation sets.
    let empty = good.filter_classes(|_| false);
    let e = fit(&empty, None, config());
    assert!(matches!(e, Error::Data { .. }), "{e:?}");
    assert_eq!(message(e), "the training set is empty");
    let e = fit(&good, Some(&empty), config());
    assert_eq!(message(e), "the validation set is empty");
    // Batch size 0.
    let e = fit(&good, None, config().batch_size(0));
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
    assert_eq!(message(e), "the batch size must be in [1, inf), found 0");
    // Samples of another shape.
    let small = Dataset::classification(vec![0.0; 25 * 3], &[1, 5, 5], vec![0, 1, 2], 3).unwrap();
    let m = message(fit(&small, None, config()));
    assert!(
        m.contains("[1, 5, 5] (25 values)") && m.contains("Tiny takes [1, 6, 6] (36 values)"),
        "{m}"
    );
    // As many values, arranged differently: [2, 6, 3] is not [1, 6, 6].
    let other = Dataset::classification(vec![0.0; 36 * 3], &[2, 6, 3], vec![0, 1, 2], 3).unwrap();
    let m = message(fit(&other, None, config()));
    assert!(
        m.contains("[2, 6, 3] (36 values)") && m.contains("Tiny takes [1, 6, 6] (36 values)"),
        "{m}"
    );
    // A flat vector of the right length is accepted (and MNIST's [1, 28, 28]
    // digits feed the [784] perceptron below).
    let flat = Dataset::classification(
        good.inputs().to_vec(),
        &[36],
        good.labels().unwrap().to_vec(),
        3,
    )
    .unwrap();
    let mut net = Tiny::new(Init::He, 1);
    Trainer::new(config().epochs(1))
        .fit(&mut net, &flat, None)
        .unwrap();
    let m = message(fit(&good, Some(&small), config()));
    assert!(
        m.contains("validation set's samples have shape [1, 5, 5]"),
        "{m}"
    );
    // More classes than outputs.
    let four = Dataset::classification(vec![0.0; 36 * 4], &[1, 6, 6], vec![0, 1, 2, 3], 4).unwrap();
    let m = message(fit(&four, None, config()));
    assert!(
        m.contains("4 classes") && m.contains("Tiny has 3 outputs"),
        "{m}"
    );
    // Target values of the wrong width.
    let values = Dataset::regression(vec![0.0; 72], &[1, 6, 6], vec![0.0; 4], 2).unwrap();
    let m = message(fit(&values, None, config().loss(Loss::MeanSquaredError)));
    assert!(
        m.contains("2 target values per sample") && m.contains("3 outputs"),
        "{m}"
    );
    // Binary cross-entropy on a softmax head.
    let m = message(fit(&good, None, config().loss(Loss::BinaryCrossEntropy)));
    assert!(m.contains("ends with softmax"), "{m}");
    // Optimizer settings.
    let m = message(fit(
        &good,
        None,
        config().optimizer(Optimizer::sgd(-0.1, 0.9)),
    ));
    assert!(m.contains("learning rate") && m.contains("-0.1"), "{m}");
    let m = message(fit(
        &good,
        None,
        config().optimizer(Optimizer::sgd(f32::NAN, 0.9)),
    ));
    assert!(m.contains("learning rate") && m.contains("NaN"), "{m}");
    let m = message(fit(
        &good,
        None,
        config().optimizer(Optimizer::sgd(0.1, 1.5)),
    ));
    assert!(m.contains("momentum") && m.contains("1.5"), "{m}");
    // Schedule settings.
    let m = message(fit(
        &good,
        None,
        config().schedule(Schedule::StepDecay {
            every: 0,
            gamma: 0.5,
        }),
    ));
    assert!(m.contains("step decay") && m.contains("found 0"), "{m}");
    let m = message(fit(
        &good,
        None,
        config().schedule(Schedule::reduce_on_plateau(2.0, 1)),
    ));
    assert!(
        m.contains("reduce-on-plateau factor") && m.contains("found 2"),
        "{m}"
    );
    // Evaluation and accuracy check their data too.
    let net = Tiny::new(Init::He, 1);
    let m = message(evaluate(&net, &small, Loss::CrossEntropy).unwrap_err());
    assert!(m.contains("[1, 5, 5]"), "{m}");
    let m = message(accuracy(&net, &values).unwrap_err());
    assert!(m.contains("class labels"), "{m}");
}

#[test]
fn session_rejects_a_zero_batch() {
    let m = message(
        Trainer::new(config())
            .session::<Tiny>(0)
            .err()
            .expect("a session for 0 samples"),
    );
    assert!(m.contains("found 0"), "{m}");
}

// ------------------------------------------------------------------ MNIST

#[test]
fn mlp_learns_real_mnist_digits() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let train = cnn::data::mnist::load(&dir, "train").unwrap();
    let test = cnn::data::mnist::load(&dir, "t2k").unwrap();
    let train = train.subset(&(0..2000).collect::<Vec<_>>());
    let test = test.subset(&(0..500).collect::<Vec<_>>());
    let mut net = DigitMlp::new(Init::He, 1);
    let c = config()
        .epochs(3)
        .batch_size(32)
        .optimizer(Optimizer::sgd(0.05, 0.9))
        .threads(2);
    let h = Trainer::new(c).fit(&mut net, &train, Some(&test)).unwrap();
    let acc = accuracy(&net, &test).unwrap();
    assert!(acc > 0.82, "held-out accuracy {acc}: {:?}", h.epochs);
}
