//! Reproducers of the faults found in hardening the trainer and the
//! loaders: divergence and checkpoints, NaN, arguments that panicked or
//! hung, settings that broke training silently, files that are not
//! regular, and what an atomic save leaves behind. The memory bounds of
//! the loaders are `tests/load_bounds.rs`, their fuzzing
//! `tests/fuzz_loaders.rs`, resumable training `tests/resume.rs`.

use cnn::train::{
    accuracy, evaluate, EpochStats, History, Loss, Optimizer, Schedule, TargetRef, TrainConfig,
    Trainer,
};
use cnn::{Dataset, Error, Init};

cnn::network! {
    /// A small conv net for 1x6x6 images of three classes.
    struct Tiny {
        input: [1, 6, 6],
        conv1: conv(4, kernel = 3, pad = 1), relu, max_pool(2),
        flatten,
        fc1: dense(12), relu,
        fc2: dense(3),
        softmax,
    }

    /// LeNet-5 on 28x28 digits without padding (fc1 reads 16x4x4).
    struct LeNet28 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }

    /// LeNet-5 with padding 2 on conv1 (fc1 reads 16x5x5).
    struct LeNetPadded {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }
}

/// `n` 1x6x6 images: class `k` is a bright pixel block in a corner, on a
/// deterministic pattern.
fn blobs(n: usize, seed: u64) -> Dataset {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut inputs = Vec::with_capacity(n * 36);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 3;
        let mut img = [0.0f32; 36];
        for v in &mut img {
            *v = 0.3 * next();
        }
        let (r, c) = [(0, 0), (0, 3), (3, 0)][class];
        for dr in 0..3 {
            for dc in 0..3 {
                img[(r + dr) * 6 + c + dc] = 1.0;
            }
        }
        inputs.extend_from_slice(&img);
        labels.push(class);
    }
    Dataset::classification(inputs, &[1, 6, 6], labels, 3).unwrap()
}

fn config() -> TrainConfig {
    TrainConfig::default()
        .epochs(2)
        .batch_size(16)
        .optimizer(Optimizer::sgd(0.1, 0.9))
        .seed(3)
        .threads(1)
        .quiet()
}

fn bits(w: &[f32]) -> Vec<u32> {
    w.iter().map(|v| v.to_bits()).collect()
}

fn config_error(e: Error) -> String {
    assert!(matches!(e, Error::Config { .. }), "{e:?}");
    e.to_string()
}

// ------------------------------------------------------------- divergence

#[test]
fn a_diverged_run_leaves_the_good_checkpoint_and_weights() {
    let train = blobs(48, 1);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("good.safetensors");
    let mut net = Tiny::new(Init::He, 1);
    Trainer::new(config().epochs(1).checkpoint(&p))
        .fit(&mut net, &train, None)
        .unwrap();
    let good = bits(net.weights());
    let file = std::fs::read(&p).unwrap();
    // One full-batch step at a learning rate of 1e30: the loss before the
    // step is finite, the weights after it (up to ~1e28) predict NaN.
    let err = Trainer::new(
        config()
            .full_batch()
            .optimizer(Optimizer::sgd(1e30, 0.0))
            .checkpoint(&p),
    )
    .fit(&mut net, &train, None)
    .unwrap_err();
    let m = err.to_string();
    assert!(
        matches!(err, Error::Diverged { epoch: 1, .. }),
        "diverged in the first epoch's check: {m}"
    );
    assert!(m.contains("after its last step (step 1)"), "{m}");
    assert!(m.contains("checkpoint was not written"), "{m}");
    assert_eq!(
        std::fs::read(&p).unwrap(),
        file,
        "the checkpoint is untouched"
    );
    assert_eq!(
        bits(net.weights()),
        good,
        "the network is back at its good weights"
    );
    let saved = Tiny::from_safetensors(&p).unwrap();
    assert_eq!(bits(saved.weights()), good);
    assert!(accuracy(&net, &train).unwrap() > 0.0);
}

#[test]
fn a_nan_validation_input_is_divergence_not_a_loss() {
    let train = blobs(48, 2);
    let mut val = blobs(12, 3);
    val.inputs_mut()[40] = f32::NAN;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.safetensors");
    let mut net = Tiny::new(Init::He, 2);
    let before = bits(net.weights());
    let err = Trainer::new(config().checkpoint(&p).early_stopping(1, 0.0))
        .fit(&mut net, &train, Some(&val))
        .unwrap_err();
    let m = err.to_string();
    assert!(matches!(err, Error::Diverged { epoch: 1, .. }), "{m}");
    assert!(m.contains("the validation loss is NaN"), "{m}");
    assert!(!p.exists(), "no checkpoint of a diverged epoch");
    assert_eq!(bits(net.weights()), before);
}

// -------------------------------------------------------------------- NaN

#[test]
fn nan_is_never_a_correct_prediction() {
    // Labels all 0: argmax used to return 0 for NaN outputs.
    let data = Dataset::classification(vec![0.5; 36 * 4], &[1, 6, 6], vec![0; 4], 3).unwrap();
    let net = Tiny::from_weights(vec![f32::NAN; Tiny::PARAM_COUNT]).unwrap();
    assert_eq!(accuracy(&net, &data).unwrap(), 0.0);
    let (loss, acc) = evaluate(&net, &data, Loss::CrossEntropy).unwrap();
    assert!(
        loss.is_nan(),
        "the loss of NaN outputs is NaN, found {loss}"
    );
    assert_eq!(acc, 0.0);
    for l in [Loss::MeanSquaredError, Loss::CrossEntropy] {
        assert!(evaluate(&net, &data, l).unwrap().0.is_nan(), "{l:?}");
    }
    assert!(cnn::metrics::evaluate(&net, &data).is_err());
    assert_eq!(cnn::train::argmax(&[f32::NAN, 0.0]), None);
}

// ----------------------------------------------- panics and hangs, errors

#[test]
fn bad_step_arguments_are_errors_not_panics() {
    for threads in [1, 2] {
        let mut net = Tiny::new(Init::He, 4);
        let before = bits(net.weights());
        let mut session = Trainer::new(config().threads(threads))
            .session::<Tiny>(4)
            .unwrap();
        let x = vec![0.5f32; 4 * 36];
        let labels = [0, 1, 2, 0];
        let mut step = |x: &[f32], labels: &[usize], n: usize| {
            session
                .step(&mut net, x, TargetRef::Classes(labels), n)
                .unwrap_err()
                .to_string()
        };
        let m = step(&x, &[0, 1, 3, 0], 4);
        assert!(
            m.contains("label 3 of sample 2") && m.contains("0..3"),
            "{threads} threads: {m}"
        );
        let m = step(&x[..3 * 36], &labels, 4);
        assert!(
            m.contains("input of length 108") && m.contains("144"),
            "{m}"
        );
        let m = step(&x, &labels, 0);
        assert!(m.contains("must be in [1, 4]"), "{m}");
        let m = step(&x, &labels, 5);
        assert!(m.contains("a step of 5 samples"), "{m}");
        let m = step(&x, &labels[..3], 4);
        assert!(m.contains("labels of length 3"), "{m}");
        assert_eq!(bits(net.weights()), before, "nothing was trained");
        let sum = session
            .step(&mut net, &x, TargetRef::Classes(&labels), 4)
            .unwrap();
        assert!(sum.loss.is_finite());
    }
}

#[test]
fn too_many_classes_and_threads_are_errors() {
    let e = Dataset::classification(vec![0.0; 2], &[1], vec![0, 1], usize::MAX).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("must be in [1, 16777216], found 18446744073709551615"),
        "{m}"
    );
    let m = config_error(
        Trainer::new(config().threads(4000))
            .session::<Tiny>(8)
            .err()
            .unwrap(),
    );
    let max = cnn::parallel::max_threads();
    assert!(
        m.contains(&format!("must be in [0, {max}], found 4000")),
        "{m}"
    );
    let m = config_error(cnn::set_threads(10_000).unwrap_err());
    assert!(m.contains("found 10000"), "{m}");
    cnn::set_threads(0).unwrap();
}

#[test]
fn curves_with_huge_losses_are_drawn() {
    let stats = |epoch, loss| EpochStats {
        epoch,
        train_loss: loss,
        train_accuracy: Some(0.5),
        val_loss: Some(loss),
        val_accuracy: None,
        lr: 0.1,
        seconds: 0.0,
    };
    let h = History {
        epochs: vec![stats(1, 3.3e38), stats(2, 1e300), stats(3, 2.0)],
        ..History::default()
    };
    let dir = tempfile::tempdir().unwrap();
    h.write_svg(dir.path().join("curves.svg")).unwrap();
}

#[test]
#[cfg(unix)]
fn loading_from_a_fifo_is_an_error_not_a_wait() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("weights.safetensors");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("mkfifo is not available: skipped");
        return;
    }
    let check = |e: Error| {
        let m = e.to_string();
        assert!(m.contains("not a regular file (a FIFO)"), "{m}");
        assert!(m.contains("weights.safetensors"), "{m}");
    };
    check(Tiny::from_safetensors(&fifo).unwrap_err());
    check(Tiny::zeros().load_safetensors(&fifo).unwrap_err());
    check(cnn::data::read_idx(&fifo).unwrap_err());
    check(cnn::data::image::load(&fifo, &[1, 28, 28]).unwrap_err());
    check(cnn::data::Whitening::load(&fifo).unwrap_err());
    let train = blobs(12, 5);
    check(
        Trainer::new(config().resume(&fifo))
            .fit(&mut Tiny::zeros(), &train, None)
            .unwrap_err(),
    );
}

// ------------------------------------------------------------- settings

#[test]
fn settings_that_break_training_silently_are_refused_up_front() {
    let train = blobs(24, 6);
    let fit = |c: TrainConfig| {
        let mut net = Tiny::new(Init::He, 6);
        let before = bits(net.weights());
        let e = Trainer::new(c).fit(&mut net, &train, None).unwrap_err();
        assert_eq!(bits(net.weights()), before, "refused before the first step");
        config_error(e)
    };
    let adam_eps = Optimizer::Adam {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: f32::INFINITY,
        weight_decay: 0.0,
    };
    let dampening = Optimizer::Sgd {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 0.0,
        dampening: f32::NAN,
        nesterov: false,
    };
    let cases = [
        (
            config().optimizer(adam_eps),
            "Adam's eps must be in (0, inf), found inf",
        ),
        (
            config().early_stopping(2, f64::NAN),
            "early stopping's min_delta must be in [0, inf), found NaN",
        ),
        (
            config().optimizer(Optimizer::sgd(0.1, 0.9).with_weight_decay(f32::INFINITY)),
            "the SGD weight decay must be in [0, inf), found inf",
        ),
        (
            config().optimizer(dampening),
            "the SGD dampening must be in [0, 1], found NaN",
        ),
        (
            config().schedule(Schedule::StepDecay {
                every: 1,
                gamma: 1e30,
            }),
            "the step decay's gamma must be in (0, 1], found 1000000000000000000000000000000",
        ),
        (
            config().validation_split(0.0),
            "the validation fraction must be in (0, 1), found 0",
        ),
        (
            config().epochs(0),
            "the number of epochs must be in [1, inf), found 0",
        ),
    ];
    for (c, expected) in cases {
        let m = fit(c);
        assert!(m.starts_with(expected), "{m}");
    }
    // Gaussian initialisation with a std that would leave every weight 0.
    for std in [f32::NAN, -0.1, 0.0] {
        let m = config_error(Tiny::try_new(Init::Gaussian { std }, 1).unwrap_err());
        assert_eq!(
            m,
            format!("Init::Gaussian's std must be in (0, inf), found {std}")
        );
        let m = config_error(
            Tiny::zeros()
                .reinitialize_layer("fc1", Init::Gaussian { std }, 1)
                .unwrap_err(),
        );
        assert!(m.contains("Init::Gaussian's std"), "{m}");
    }
    assert!(Tiny::try_new(Init::Gaussian { std: 0.01 }, 1).is_ok());
}

#[test]
#[should_panic(expected = "Tiny::new: Init::Gaussian's std must be in (0, inf), found -0.1")]
fn new_with_a_bad_init_panics_with_the_setting() {
    let _ = Tiny::new(Init::Gaussian { std: -0.1 }, 1);
}

#[test]
fn an_unwritable_checkpoint_is_reported_before_the_first_epoch() {
    let train = blobs(24, 7);
    let dir = tempfile::tempdir().unwrap();
    let epochs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = epochs.clone();
    let c = config()
        .checkpoint(dir.path().join("no/such/dir/w.safetensors"))
        .on_epoch(move |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::ops::ControlFlow::Continue(())
        });
    let mut net = Tiny::new(Init::He, 7);
    let before = bits(net.weights());
    let m = Trainer::new(c)
        .fit(&mut net, &train, None)
        .unwrap_err()
        .to_string();
    assert!(m.contains("no/such/dir/w.safetensors"), "{m}");
    assert_eq!(epochs.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(bits(net.weights()), before);
    // A directory in the checkpoint's place.
    let m = Trainer::new(config().checkpoint(dir.path()))
        .fit(&mut net, &train, None)
        .unwrap_err()
        .to_string();
    assert!(m.contains("is a directory"), "{m}");
}

// ---------------------------------------------------------- atomic saves

#[test]
#[cfg(unix)]
fn checkpoints_keep_their_mode_follow_symlinks_and_clean_up_after_a_crash() {
    use std::os::unix::fs::PermissionsExt;
    let train = blobs(24, 8);
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    std::fs::create_dir(&runs).unwrap();
    let real = runs.join("run1.safetensors");
    std::fs::write(&real, b"an older checkpoint").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = dir.path().join("latest.safetensors");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    // What a save killed before its rename leaves beside the target.
    let stale = runs.join(".run1.safetensors.cnn-tmp-x1Y2z3");
    std::fs::write(&stale, b"half").unwrap();
    let mut net = Tiny::new(Init::He, 8);
    Trainer::new(config().checkpoint(&link))
        .fit(&mut net, &train, None)
        .unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    let saved = Tiny::from_safetensors(&real).unwrap();
    assert_eq!(bits(saved.weights()), bits(net.weights()));
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
    let names: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["run1.safetensors"], "the stale temporary is gone");
}

// -------------------------------------------------- shape mismatch errors

#[test]
fn a_dense_input_size_mismatch_names_the_upstream_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("padded.safetensors");
    LeNetPadded::new(Init::He, 1).save_safetensors(&p).unwrap();
    let mut net = LeNet28::new(Init::He, 2);
    let before = bits(net.weights());
    let err = net.load_safetensors(&p).unwrap_err();
    let m = err.to_string();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{m}");
    let expected = "padded.safetensors: tensor `fc1.weight` has shape [120, 400], the network \
                    expects [120, 256]: fc1 reads the 256 values of flatten1, which flattens \
                    max_pool2's 16x4x4 output; the file's tensor implies 400 input values, \
                    16x5x5 with the same 16 channels: a 1x32x32 input, or padding 2 on conv1, \
                    or padding 1 on conv2 would give that";
    assert!(m.contains(expected), "{m}");
    assert_eq!(bits(net.weights()), before, "a failed load changes nothing");
}
