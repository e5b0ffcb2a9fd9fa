//! Resumable training: a checkpoint holds the weights and everything the
//! run needs to go on (optimizer moments, steps, the schedule, the
//! shuffling order, early stopping's best, the curves), and a run
//! interrupted and resumed from it ends bit-identical to one never
//! stopped, with one thread and with two. The interruption is simulated
//! deterministically: the per-epoch callback ends the first run after an
//! epoch (as a kill after that epoch's save would), everything of it is
//! dropped, and a fresh network and trainer resume from the file.

use std::ops::ControlFlow;
use std::path::Path;

use cnn::train::{History, Optimizer, Schedule, TrainConfig, Trainer};
use cnn::{Dataset, Error, Init};

cnn::network! {
    /// A small conv net with dropout, for 1x6x6 images of three classes.
    struct Tiny {
        input: [1, 6, 6],
        conv1: conv(4, kernel = 3, pad = 1), relu, max_pool(2),
        flatten,
        fc1: dense(12), relu,
        dropout(0.25),
        fc2: dense(3),
        softmax,
    }

    /// Another network, to resume a checkpoint into by mistake.
    struct Other {
        input: [1, 6, 6],
        flatten,
        fc: dense(3),
        softmax,
    }
}

/// `n` 1x6x6 images of three classes; `flip` labels every `flip`-th
/// sample wrongly (for a validation loss that rises).
fn data(n: usize, seed: u64, flip: usize) -> Dataset {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut inputs = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let class = i % 3;
        let mut img = [0.0f32; 36];
        for v in &mut img {
            *v = 0.4 * next();
        }
        let (r, c) = [(0, 0), (0, 3), (3, 0)][class];
        for d in 0..4 {
            img[(r + d / 2 + 1) * 6 + c + d % 2 + 1] = 1.0;
        }
        inputs.extend_from_slice(&img);
        labels.push(if flip > 0 && i % flip == 0 {
            (class + 1) % 3
        } else {
            class
        });
    }
    Dataset::classification(inputs, &[1, 6, 6], labels, 3).unwrap()
}

fn bits(w: &[f32]) -> Vec<u32> {
    w.iter().map(|v| v.to_bits()).collect()
}

/// Every figure of the curves but the seconds, as bits.
fn figures(h: &History) -> Vec<[u64; 6]> {
    let b = |v: Option<f64>| v.map_or(u64::MAX, f64::to_bits);
    h.epochs
        .iter()
        .map(|e| {
            [
                e.epoch as u64,
                e.train_loss.to_bits(),
                b(e.train_accuracy),
                b(e.val_loss),
                b(e.val_accuracy),
                u64::from(e.lr.to_bits()),
            ]
        })
        .collect()
}

/// Stops the run after epoch `k`.
fn stop_after(k: usize) -> impl FnMut(&cnn::train::EpochStats) -> ControlFlow<()> + Send {
    move |s| {
        if s.epoch == k {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// The same run three ways: never stopped; stopped after epoch `k` and
/// resumed; and the resumed run's file and network.
fn check_resume(config: TrainConfig, k: usize, what: &str) -> History {
    let train = data(70, 1, 0);
    let val = data(30, 2, 4);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("run.safetensors");

    let mut whole = Tiny::new(Init::He, 5);
    let h_whole = Trainer::new(config.clone())
        .fit(&mut whole, &train, Some(&val))
        .unwrap();

    {
        let mut first = Tiny::new(Init::He, 5);
        let h = Trainer::new(config.clone().checkpoint(&p).on_epoch(stop_after(k)))
            .fit(&mut first, &train, Some(&val))
            .unwrap();
        assert!(h.interrupted, "{what}");
        assert_eq!(h.epochs.len(), k, "{what}");
        // Everything of the first run is dropped here, as a killed
        // process's memory would be; a save it had begun would leave its
        // temporary file behind.
    }
    std::fs::write(dir.path().join(".run.safetensors.cnn-tmp-K1LL3D"), b"torn").unwrap();

    let mut resumed = Tiny::zeros();
    let h_resumed = Trainer::new(config.checkpoint(&p).resume(&p))
        .fit(&mut resumed, &train, Some(&val))
        .unwrap();
    assert_eq!(
        bits(resumed.weights()),
        bits(whole.weights()),
        "{what}: the resumed run ends where the whole run does"
    );
    assert_eq!(figures(&h_resumed), figures(&h_whole), "{what}");
    assert_eq!(h_resumed.stopped_early, h_whole.stopped_early, "{what}");
    assert_eq!(h_resumed.restored_epoch, h_whole.restored_epoch, "{what}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["run.safetensors"],
        "{what}: the torn temporary is gone"
    );
    h_whole
}

fn config(threads: usize) -> TrainConfig {
    TrainConfig::default()
        .epochs(6)
        .batch_size(16)
        .seed(9)
        .threads(threads)
        .quiet()
}

#[test]
fn an_interrupted_run_resumes_bit_identical_sgd() {
    for threads in [1, 2] {
        let c = config(threads)
            .optimizer(Optimizer::sgd(0.05, 0.9).with_weight_decay(1e-3))
            .schedule(Schedule::StepDecay {
                every: 2,
                gamma: 0.5,
            });
        check_resume(c, 3, &format!("SGD, {threads} threads"));
    }
}

#[test]
fn an_interrupted_run_resumes_bit_identical_adam_and_plateau() {
    for threads in [1, 2] {
        let c = config(threads)
            .optimizer(Optimizer::adam(0.01))
            .schedule(Schedule::reduce_on_plateau(0.5, 0));
        check_resume(c, 2, &format!("Adam, {threads} threads"));
    }
}

#[test]
fn an_interrupted_run_with_early_stopping_resumes_bit_identical() {
    let mut stopped = false;
    for threads in [1, 2] {
        let c = config(threads)
            .epochs(12)
            .optimizer(Optimizer::sgd(0.2, 0.9))
            .early_stopping(2, 0.0);
        let h = check_resume(c, 2, &format!("early stopping, {threads} threads"));
        assert!(
            h.epochs.len() > 2,
            "epochs after the interruption ran: {h:?}"
        );
        stopped |= h.stopped_early;
    }
    assert!(
        stopped,
        "the validation loss rose, and early stopping acted"
    );
}

#[test]
fn a_finished_run_can_be_extended() {
    let train = data(48, 3, 0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("run.safetensors");
    let c = config(1).optimizer(Optimizer::adam(0.01));
    let mut whole = Tiny::new(Init::He, 6);
    Trainer::new(c.clone().epochs(5))
        .fit(&mut whole, &train, None)
        .unwrap();
    let mut net = Tiny::new(Init::He, 6);
    Trainer::new(c.clone().epochs(3).checkpoint(&p))
        .fit(&mut net, &train, None)
        .unwrap();
    // Resuming a run that has done its epochs does nothing more.
    let mut again = Tiny::zeros();
    let h = Trainer::new(c.clone().epochs(3).resume(&p))
        .fit(&mut again, &train, None)
        .unwrap();
    assert_eq!(h.epochs.len(), 3);
    assert_eq!(bits(again.weights()), bits(net.weights()));
    // Asking for more epochs goes on.
    let mut more = Tiny::zeros();
    let h = Trainer::new(c.epochs(5).resume(&p))
        .fit(&mut more, &train, None)
        .unwrap();
    assert_eq!(h.epochs.len(), 5);
    assert_eq!(bits(more.weights()), bits(whole.weights()));
}

#[test]
fn a_checkpoint_is_a_weights_file_and_weights_files_are_not_checkpoints() {
    let train = data(32, 4, 0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ckpt.safetensors");
    let mut net = Tiny::new(Init::He, 7);
    Trainer::new(config(1).epochs(2).checkpoint(&p).early_stopping(5, 0.0))
        .fit(&mut net, &train, None)
        .unwrap();
    // It loads as weights, training state skipped, without ignore_unknown.
    let loaded = Tiny::from_safetensors(&p).unwrap();
    assert_eq!(bits(loaded.weights()), bits(net.weights()));
    // Every tensor has a dtype PyTorch reads, the metadata says "pt", and
    // the state is under its reserved prefix.
    let bytes = std::fs::read(&p).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let m = meta.metadata().as_ref().unwrap();
    assert_eq!(m["format"], "pt");
    assert_eq!(m["cnn.training"], "1");
    let mut state: Vec<_> = file
        .names()
        .into_iter()
        .filter(|n| n.starts_with("__training__."))
        .map(|n| (n.to_string(), file.tensor(n).unwrap().dtype()))
        .collect();
    state.sort();
    use safetensors::Dtype::{F32, F64, I64};
    assert_eq!(
        state,
        [
            ("__training__.best_weights".to_string(), F32),
            ("__training__.history".to_string(), F64),
            ("__training__.optimizer.m".to_string(), F32),
            ("__training__.order".to_string(), I64),
        ]
    );
    // An old weights-only file still loads, and cannot be resumed.
    let old = dir.path().join("weights.safetensors");
    net.save_safetensors(&old).unwrap();
    Tiny::zeros().load_safetensors(&old).unwrap();
    let mut fresh = Tiny::zeros();
    let m = Trainer::new(config(1).resume(&old))
        .fit(&mut fresh, &train, None)
        .unwrap_err()
        .to_string();
    assert!(
        m.contains("weights.safetensors") && m.contains("no training state"),
        "{m}"
    );
    assert!(fresh.weights().iter().all(|&w| w == 0.0), "nothing loaded");
}

#[test]
fn resuming_a_different_run_is_an_error_that_changes_nothing() {
    let train = data(32, 5, 0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("ckpt.safetensors");
    let c = config(1).epochs(2).optimizer(Optimizer::sgd(0.05, 0.9));
    Trainer::new(c.clone().checkpoint(&p))
        .fit(&mut Tiny::new(Init::He, 8), &train, None)
        .unwrap();
    let cases: [(TrainConfig, Dataset, &str); 2] = [
        (
            c.clone().optimizer(Optimizer::adam(0.01)),
            train.clone(),
            "the run used SGD; it cannot go on with Adam",
        ),
        (
            c.clone(),
            data(33, 5, 0),
            "the run was on 32 training samples, this training set has 33",
        ),
    ];
    for (config, set, expected) in cases {
        let mut net = Tiny::new(Init::He, 9);
        let before = bits(net.weights());
        let e = Trainer::new(config.resume(&p))
            .fit(&mut net, &set, None)
            .unwrap_err();
        assert!(matches!(e, Error::Data { .. }), "{e:?}");
        assert!(e.to_string().contains(expected), "{e}");
        assert_eq!(bits(net.weights()), before);
    }
    let m = Trainer::new(c.resume(&p))
        .fit(&mut Other::zeros(), &train, None)
        .unwrap_err()
        .to_string();
    assert!(m.contains("a checkpoint of Tiny"), "{m}");
    assert!(Path::new(&p).is_file());
}
