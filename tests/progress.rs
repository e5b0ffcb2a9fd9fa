//! What a run shows: one plain line per epoch on standard output when it is
//! not a terminal (a CI log), and the per-epoch callback.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use cnn::train::{EpochStats, Optimizer, TrainConfig, Trainer};
use cnn::{Dataset, Init};

cnn::network! {
    struct Mlp {
        input: [4],
        fc1: dense(8), relu,
        fc2: dense(2),
        softmax,
    }
}

fn data() -> Dataset {
    let inputs: Vec<f32> = (0..64 * 4).map(|i| ((i * 7 % 13) as f32) / 13.0).collect();
    let labels = (0..64).map(|i| usize::from(inputs[i * 4] > 0.5)).collect();
    Dataset::classification(inputs, &[4], labels, 2).unwrap()
}

fn config() -> TrainConfig {
    TrainConfig::default()
        .epochs(3)
        .batch_size(8)
        .optimizer(Optimizer::sgd(0.1, 0.9))
        .threads(1)
}

/// Not a test of its own: the run [`a_log_gets_one_line_per_epoch`]
/// starts in a child process whose standard output is a pipe.
#[test]
fn child_run_with_progress() {
    if std::env::var_os("CNN_PROGRESS_CHILD").is_none() {
        return;
    }
    let mut net = Mlp::new(Init::He, 1);
    let (train, val) = data().split(0.25, 1).unwrap();
    Trainer::new(config())
        .fit(&mut net, &train, Some(&val))
        .unwrap();
}

#[test]
fn a_log_gets_one_line_per_epoch() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_run_with_progress", "--nocapture"])
        .env("CNN_PROGRESS_CHILD", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with(&format!("epoch {}/3: loss ", i + 1)),
            "{line}"
        );
        for part in [", accuracy ", ", validation loss ", ", lr 0.1, ", " s"] {
            assert!(line.contains(part), "{line}");
        }
    }
    // No progress bar where there is no terminal.
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("[==="), "{stderr}");
}

#[test]
fn quiet_runs_print_nothing_and_callbacks_see_every_epoch() {
    let seen: Arc<Mutex<Vec<EpochStats>>> = Arc::default();
    let log = seen.clone();
    let mut net = Mlp::new(Init::He, 2);
    let h = Trainer::new(config().quiet().on_epoch(move |s| {
        log.lock().unwrap().push(s.clone());
        ControlFlow::Continue(())
    }))
    .fit(&mut net, &data(), None)
    .unwrap();
    assert_eq!(*seen.lock().unwrap(), h.epochs);
    assert!(!h.interrupted);

    // `Break` ends the run after that epoch, with its weights.
    let mut net = Mlp::new(Init::He, 2);
    let h = Trainer::new(config().quiet().epochs(10).on_epoch(|s| {
        if s.epoch == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }))
    .fit(&mut net, &data(), None)
    .unwrap();
    assert_eq!(h.epochs.len(), 2);
    assert!(h.interrupted && !h.stopped_early);
    let mut two = Mlp::new(Init::He, 2);
    Trainer::new(config().quiet().epochs(2))
        .fit(&mut two, &data(), None)
        .unwrap();
    assert_eq!(net.weights(), two.weights());
}
