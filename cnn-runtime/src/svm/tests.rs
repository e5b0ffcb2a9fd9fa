//! The solver against the optimality conditions of the primal problem,
//! a hard-margin case with a known answer, and every bad input.

use super::*;

/// Points of `classes` classes in `dim` dimensions around well-separated
/// centres, with deterministic jitter.
fn blobs(n: usize, dim: usize, classes: usize, spread: f32) -> (Vec<f32>, Vec<usize>) {
    let mut x = Vec::with_capacity(n * dim);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        for j in 0..dim {
            let centre = if j % classes == c { 3.0 } else { 0.0 };
            let jitter = ((i * 31 + j * 17) as f32 * 0.618).sin() * spread;
            x.push(centre + jitter);
        }
        labels.push(c);
    }
    (x, labels)
}

/// The gradient of the squared-hinge primal `½‖w‖² + C Σ max(0, 1 - y(w·x + b))²`
/// (the bias regularised as a feature of value one), in f64.
fn primal_gradient(x: &[f32], dim: usize, y: &[f64], w: &[f64], c: f64) -> Vec<f64> {
    let mut g = w.to_vec();
    for (row, &yi) in x.chunks_exact(dim).zip(y) {
        let margin = yi * (row.iter().zip(w).map(|(&a, &b)| a as f64 * b).sum::<f64>() + w[dim]);
        let t = (1.0 - margin).max(0.0);
        for (gj, &xj) in g.iter_mut().zip(row) {
            *gj -= 2.0 * c * t * yi * xj as f64;
        }
        g[dim] -= 2.0 * c * t * yi;
    }
    g
}

#[test]
fn squared_hinge_reaches_the_primal_optimum() {
    // Overlapping classes, so many margins are violated and the gradient's
    // loss part is far from zero at any non-optimal point.
    let (x, labels) = blobs(300, 4, 3, 2.5);
    let config = LinearSvm::config()
        .c(0.5)
        .tolerance(1e-6)
        .standardize(Standardize::No);
    let svm = config.fit(&x, 4, &labels, 3).unwrap();
    for k in 0..3 {
        let y: Vec<f64> = labels
            .iter()
            .map(|&l| if l == k { 1.0 } else { -1.0 })
            .collect();
        let (w, b) = svm.weights();
        let mut wk: Vec<f64> = w[k * 4..(k + 1) * 4].iter().map(|&v| v as f64).collect();
        wk.push(b[k] as f64);
        let g = primal_gradient(&x, 4, &y, &wk, 0.5);
        let norm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        let scale = wk.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(
            norm < 1e-3 * scale.max(1.0),
            "class {k}: |∇P| = {norm}, |w| = {scale}"
        );
        // The check can fail: a perturbed w is not optimal.
        wk[0] += 0.05;
        let g = primal_gradient(&x, 4, &y, &wk, 0.5);
        assert!(g.iter().map(|v| v * v).sum::<f64>().sqrt() > 1e-2);
    }
    assert!(svm.passes().iter().all(|&p| p < 1000), "{:?}", svm.passes());
}

#[test]
fn hinge_with_large_c_is_the_hard_margin_machine() {
    // Class 0 at x ≤ -1, class 1 at x ≥ 1: the maximum-margin separator
    // with a regularised bias is w = 1, b = 0 (margins of exactly one at ±1).
    let x = [-1.0, -2.0, -3.0, 1.0, 2.0, 3.5];
    let labels = [0, 0, 0, 1, 1, 1];
    let svm = LinearSvm::config()
        .loss(SvmLoss::Hinge)
        .c(1e3)
        .tolerance(1e-8)
        .standardize(Standardize::No)
        .fit(&x, 1, &labels, 2)
        .unwrap();
    let (w, b) = svm.weights();
    assert!(
        (w[1] - 1.0).abs() < 1e-3 && b[1].abs() < 1e-3,
        "w {w:?}, b {b:?}"
    );
    assert!(
        (w[0] + 1.0).abs() < 1e-3 && b[0].abs() < 1e-3,
        "w {w:?}, b {b:?}"
    );
    assert_eq!(svm.predict(&[-0.1, 0.1]).unwrap(), vec![0, 1]);
}

#[test]
fn separable_classes_are_learnt_and_standardisation_is_kept() {
    let (x, labels) = blobs(200, 6, 4, 0.5);
    // Features of very different scales: standardisation makes it easy.
    let scaled: Vec<f32> = x
        .chunks_exact(6)
        .flat_map(|r| {
            r.iter()
                .enumerate()
                .map(|(j, &v)| v * 10f32.powi(j as i32 - 3))
                .collect::<Vec<_>>()
        })
        .collect();
    let svm = LinearSvm::config().fit(&scaled, 6, &labels, 4).unwrap();
    assert_eq!(svm.accuracy(&scaled, &labels).unwrap(), 1.0);
    assert_eq!((svm.dim(), svm.classes()), (6, 4));
    let scores = svm.decision_function(&scaled[..12]).unwrap();
    assert_eq!(scores.len(), 8);
}

#[test]
fn same_seed_same_machine_and_empty_class_never_predicted() {
    let (x, labels) = blobs(60, 3, 3, 1.0);
    let a = LinearSvm::config().seed(3).fit(&x, 3, &labels, 4).unwrap();
    let b = LinearSvm::config().seed(3).fit(&x, 3, &labels, 4).unwrap();
    assert_eq!(a, b);
    assert!(a.predict(&x).unwrap().iter().all(|&p| p < 3));
}

#[test]
fn bad_inputs_are_errors_naming_the_value() {
    let cfg = LinearSvm::config();
    let msg = |r: Result<LinearSvm, Error>| r.unwrap_err().to_string();
    let x = [0.0, 1.0, 2.0, 3.0];
    assert!(
        msg(cfg.fit(&x, 3, &[0], 2)).contains("features of 4 values are not whole samples of 3")
    );
    assert!(msg(cfg.fit(&[], 2, &[], 2)).contains("no training samples"));
    assert!(msg(cfg.fit(&x, 0, &[], 2)).contains("dimension of at least 1"));
    assert!(msg(cfg.fit(&x, 2, &[0], 2)).contains("1 labels for 2 samples of 2 features"));
    assert!(msg(cfg.fit(&x, 2, &[0, 5], 2))
        .contains("label 5 of sample 1 is out of range for 2 classes"));
    assert!(msg(cfg.fit(&x, 2, &[0, 0], 1)).contains("at least 2 classes, found 1"));
    let nan = [0.0, 1.0, f32::NAN, 3.0];
    assert!(msg(cfg.fit(&nan, 2, &[0, 1], 2)).contains("training feature 0 of sample 1 is NaN"));
    for c in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let m = msg(cfg.clone().c(c).fit(&x, 2, &[0, 1], 2));
        assert!(m.contains("the SVM's C must be in (0, inf), found"), "{m}");
    }
    assert!(msg(cfg.clone().tolerance(-1.0).fit(&x, 2, &[0, 1], 2)).contains("tolerance"));
    assert!(msg(cfg.clone().max_passes(0).fit(&x, 2, &[0, 1], 2)).contains("max_passes"));
    let svm = cfg.fit(&x, 2, &[0, 1], 2).unwrap();
    let e = svm.predict(&[1.0, 2.0, 3.0]).unwrap_err().to_string();
    assert!(
        e.contains("input features of 3 values are not whole samples of 2"),
        "{e}"
    );
    let e = svm.predict(&[1.0, f32::INFINITY]).unwrap_err().to_string();
    assert!(e.contains("input feature 1 of sample 0 is inf"), "{e}");
    let e = svm.accuracy(&x, &[0]).unwrap_err().to_string();
    assert!(e.contains("1 labels for 2 samples"), "{e}");
}
