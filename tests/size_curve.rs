//! The learning curve against the training-set size: nested subsets,
//! the epoch budget, errors that move the way bias and variance say,
//! the files, and bad sizes.

use cnn::train::{size_curve, Budget, Optimizer, TrainConfig};
use cnn::{Dataset, Init};

cnn::network! {
    /// A wide MLP that can memorise a few dozen noisy points.
    struct Wide { input: [2], dense(64), relu, dense(64), relu, dense(2), softmax }
}

/// Two overlapping clusters: labels are flipped on a fixed fifth of the
/// points, so no classifier gets under about 20% held-out error.
fn noisy(n: usize, offset: usize) -> Dataset {
    let mut x = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in offset..offset + n {
        let class = i % 2;
        let s = if class == 0 { 1.0 } else { -1.0 };
        let a = (i as f32 * 0.754).sin() * 1.2;
        let b = (i as f32 * 1.913).cos() * 1.2;
        x.extend([s * 0.8 + a, s * 0.8 + b]);
        labels.push(if i % 5 == 0 { 1 - class } else { class });
    }
    Dataset::classification(x, &[2], labels, 2).unwrap()
}

fn config() -> TrainConfig {
    TrainConfig::default()
        .epochs(20)
        .batch_size(8)
        .optimizer(Optimizer::adam(0.01))
        .threads(1)
        .seed(3)
        .quiet()
}

#[test]
fn small_sets_are_memorised_and_more_data_generalises() {
    let (train, heldout) = (noisy(400, 0), noisy(400, 10_000));
    let curve = size_curve::<Wide>(
        &config(),
        Budget::EqualSteps,
        (Init::He, 1),
        &train,
        &heldout,
        &[400, 10, 40],
    )
    .unwrap();
    let sizes: Vec<usize> = curve.points.iter().map(|p| p.size).collect();
    assert_eq!(sizes, [10, 40, 400]);
    let epochs: Vec<usize> = curve.points.iter().map(|p| p.epochs).collect();
    assert_eq!(epochs, [800, 200, 20], "equal steps: ceil(20 * 400 / n)");
    let (small, large) = (&curve.points[0], &curve.points[2]);
    // Variance: ten points are fitted exactly, yet generalise worse.
    assert_eq!(small.train_error, 0.0, "{curve:?}");
    assert!(
        small.heldout_error > large.heldout_error + 0.05,
        "{curve:?}"
    );
    // With 400 the flipped labels cannot all be fitted; the gap narrows.
    assert!(large.train_error > 0.05, "{curve:?}");
    assert!(
        large.heldout_error - large.train_error < small.heldout_error - small.train_error,
        "{curve:?}"
    );
    assert!(large.heldout_error < 0.35, "{curve:?}");

    let csv = curve.to_csv();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("size,epochs,train_error,heldout_error,train_loss,heldout_loss")
    );
    assert_eq!(lines.count(), 3);
    assert!(csv.contains("\n10,800,0.000000,"), "{csv}");
    let dir = tempfile::tempdir().unwrap();
    curve.write_csv(dir.path().join("c.csv")).unwrap();
    curve.write_svg(dir.path().join("c.svg")).unwrap();
    let svg = std::fs::read_to_string(dir.path().join("c.svg")).unwrap();
    assert!(svg.contains("held-out") && svg.trim_end().ends_with("</svg>"));
}

#[test]
fn equal_epochs_and_reproducibility() {
    let (train, heldout) = (noisy(60, 0), noisy(60, 500));
    let run = || {
        size_curve::<Wide>(
            &config().epochs(2),
            Budget::EqualEpochs,
            (Init::He, 5),
            &train,
            &heldout,
            &[20, 60],
        )
        .unwrap()
    };
    let a = run();
    assert_eq!(
        a.points.iter().map(|p| p.epochs).collect::<Vec<_>>(),
        [2, 2]
    );
    assert_eq!(a, run());
}

#[test]
fn bad_sizes_and_data_are_errors() {
    let (train, heldout) = (noisy(30, 0), noisy(30, 100));
    let run = |sizes: &[usize], heldout: &Dataset| {
        size_curve::<Wide>(
            &config(),
            Budget::EqualSteps,
            (Init::He, 1),
            &train,
            heldout,
            sizes,
        )
        .unwrap_err()
        .to_string()
    };
    assert!(run(&[], &heldout).contains("at least one training-set size"));
    assert!(run(&[10, 0], &heldout).contains("training-set size 0 is not in [1, 30]"));
    assert!(run(&[31], &heldout).contains("training-set size 31 is not in [1, 30]"));
    let values = Dataset::regression(vec![0.0; 4], &[2], vec![0.0; 4], 2).unwrap();
    assert!(run(&[10], &values).contains("the held-out set needs class labels"));
    let e = size_curve::<Wide>(
        &config(),
        Budget::EqualSteps,
        (Init::Gaussian { std: -1.0 }, 1),
        &train,
        &heldout,
        &[10],
    )
    .unwrap_err();
    assert!(e.to_string().contains("found -1"));
}
