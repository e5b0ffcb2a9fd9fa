//! `gradients`: the loss's gradient with respect to the input (checked
//! by finite differences), to named layers' outputs (checked against the
//! loss's own gradient and against the parameter gradients the chain rule
//! ties them to) and to named parameters (the training step's numbers).

use cnn::network::Network;
use cnn::train::{GradientOptions, Gradients, Loss, TargetRef, TrainConfig, Trainer};
use cnn::Error;

mod common;
use common::random_vec;

cnn::network! {
    /// Smooth everywhere (tanh, average pooling): central differences are
    /// exact up to rounding.
    struct Smooth {
        input: [2, 8, 8],
        conv1: conv(3, kernel = 3, pad = 1), tanh, avg_pool(2),
        conv2: conv(4, kernel = 3), tanh,
        flatten,
        fc: dense(5),
        softmax,
    }

    /// LeNet-style: a fused conv→ReLU→max-pool step, then dense layers.
    struct Fused {
        input: [1, 10, 10],
        conv1: conv(4, kernel = 3, pad = 1), relu, pool1: max_pool(2),
        conv2: conv(6, kernel = 3), relu,
        flatten,
        fc1: dense(8), relu,
        fc2: dense(3),
        softmax,
    }

    #[cnn(fuse = false)]
    struct Unfused {
        input: [1, 10, 10],
        conv1: conv(4, kernel = 3, pad = 1), relu, pool1: max_pool(2),
        conv2: conv(6, kernel = 3), relu,
        flatten,
        fc1: dense(8), relu,
        fc2: dense(3),
        softmax,
    }

    /// Branches on the input: a concatenation of two conv branches and a
    /// residual sum with an identity shortcut.
    struct Branchy {
        input: [2, 6, 6],
        cat: concat(
            [conv(2, kernel = 1), tanh],
            [conv(3, kernel = 3, pad = 1), tanh],
        ),
        res: add([conv(5, kernel = 3, pad = 1), tanh], identity),
        avg_pool(2),
        flatten,
        fc: dense(4),
        softmax,
    }
}

/// The mean loss of `net` on `x` through the same training forward pass.
fn loss_of<N: Network>(net: &N, x: &[f32], labels: &[usize]) -> f64 {
    net_gradients(net, x, labels, &GradientOptions::default()).loss()
}

fn net_gradients<N: Network>(
    net: &N,
    x: &[f32],
    labels: &[usize],
    options: &GradientOptions,
) -> Gradients {
    cnn::train::gradients(net, x, TargetRef::Classes(labels), options).expect("gradients")
}

/// Checks every `stride`-th input value's gradient against differences of
/// the loss with the value moved by ±h. Returns the largest error found
/// against the central difference, relative to `max(|analytic|, 1e-3)`.
///
/// The forward pass runs in f32: the loss (about 1) carries a rounding
/// error of a few ulp (1e-7 each), so with h = 1e-2 a difference is off by
/// about 8 * 1.2e-7 / 1e-2 ≈ 1e-4 from rounding, and by O(h²) ≈ 1e-4 of the
/// third derivative from truncation: a tolerance of 2e-4 absolute plus 1%
/// relative covers both with margin. Where a ReLU or max-pool kink lies
/// within ±h, one of the one-sided differences still sees a straight line,
/// so any of the three estimates may match (`kinks`); a smooth network
/// must match the central one.
fn check_input<N: Network>(
    net: &N,
    x: &[f32],
    labels: &[usize],
    stride: usize,
    kinks: bool,
) -> f64 {
    let g = net_gradients(net, x, labels, &GradientOptions::default());
    assert_eq!(g.input().shape[0], labels.len());
    assert_eq!(&g.input().shape[1..], N::INPUT_SHAPE);
    let mid = g.loss();
    let mut worst: f64 = 0.0;
    let mut worst_abs: f64 = 0.0;
    let mut xs = x.to_vec();
    for i in (0..x.len()).step_by(stride) {
        let h = 1e-2f32;
        let orig = xs[i];
        xs[i] = orig + h;
        let up = loss_of(net, &xs, labels);
        xs[i] = orig - h;
        let down = loss_of(net, &xs, labels);
        xs[i] = orig;
        let h = h as f64;
        let central = (up - down) / (2.0 * h);
        let estimates = [central, (up - mid) / h, (mid - down) / h];
        let analytic = g.input().data[i] as f64;
        let close = |e: f64| (e - analytic).abs() <= 2e-4 + 1e-2 * e.abs().max(analytic.abs());
        let ok = if kinks {
            estimates.iter().any(|&e| close(e))
        } else {
            close(central)
        };
        assert!(
            ok,
            "{}: input [{i}]: analytic {analytic:.6e}, numeric (central, forward, backward) {estimates:?}",
            N::NAME
        );
        if close(central) {
            worst = worst.max((central - analytic).abs() / analytic.abs().max(1e-3));
            worst_abs = worst_abs.max((central - analytic).abs());
        }
    }
    eprintln!(
        "{}: largest absolute error against central differences: {worst_abs:.2e}",
        N::NAME
    );
    worst
}

#[test]
fn input_gradient_of_a_smooth_network_matches_central_differences() {
    let net = Smooth::new(cnn::Init::He, 3);
    let x = random_vec(3 * Smooth::INPUT_LEN, 11);
    let worst = check_input(&net, &x, &[0, 4, 2], 1, false);
    eprintln!("Smooth: largest relative error of dL/dx against central differences: {worst:.2e}");
    assert!(worst < 1e-2);
}

#[test]
fn input_gradient_through_fused_relu_and_max_pool_matches_differences() {
    let x = random_vec(2 * Fused::INPUT_LEN, 5);
    let fused = Fused::new(cnn::Init::He, 8);
    let worst = check_input(&fused, &x, &[1, 2], 1, true);
    eprintln!("Fused: largest relative error (central difference, away from kinks): {worst:.2e}");
    // The unfused network with the same weights gives the same gradient.
    let unfused = Unfused::from_weights(fused.weights().to_vec()).expect("same parameters");
    let a = net_gradients(&fused, &x, &[1, 2], &GradientOptions::default());
    let b = net_gradients(&unfused, &x, &[1, 2], &GradientOptions::default());
    for (i, (p, q)) in a.input().data.iter().zip(b.input().data).enumerate() {
        assert!(
            (p - q).abs() <= 1e-5 * (1.0 + p.abs()),
            "input [{i}]: fused {p}, unfused {q}"
        );
    }
}

#[test]
fn input_gradient_through_concat_and_add_matches_central_differences() {
    let net = Branchy::new(cnn::Init::He, 21);
    let x = random_vec(2 * Branchy::INPUT_LEN, 4);
    let worst = check_input(&net, &x, &[3, 0], 1, false);
    eprintln!("Branchy: largest relative error of dL/dx against central differences: {worst:.2e}");
    assert!(worst < 1e-2);
    // Merges' outputs are stored: their gradients can be asked for.
    let options = GradientOptions::default().layer("cat").layer("res");
    let g = net_gradients(&net, &x, &[3, 0], &options);
    assert_eq!(g.layer("cat").unwrap().shape, [2, 5, 6, 6]);
    assert_eq!(g.layer("res").unwrap().shape, [2, 5, 6, 6]);
}

#[test]
fn named_parameter_gradients_are_the_training_steps() {
    let net = Fused::new(cnn::Init::He, 2);
    let n = 4;
    let x = random_vec(n * Fused::INPUT_LEN, 9);
    let labels = [0, 1, 2, 1];
    let g = net_gradients(&net, &x, &labels, &GradientOptions::default());
    let trainer = Trainer::new(TrainConfig::default().threads(1).batch_size(n));
    let mut session = trainer.session::<Fused>(n).expect("session");
    let sum = session
        .compute_gradients(&net, &x, TargetRef::Classes(&labels), n)
        .expect("step");
    assert_eq!(
        g.flat(),
        session.gradients(),
        "the same numbers as a training step"
    );
    assert!((g.loss() - sum.loss / n as f64).abs() < 1e-12);
    let names: Vec<&str> = g.params().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "conv1.weight",
            "conv1.bias",
            "conv2.weight",
            "conv2.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias"
        ]
    );
    for p in Fused::PARAMS {
        let t = g.param(p.name).expect("every tensor has a gradient");
        assert_eq!(t.shape, p.shape, "{}", p.name);
        assert_eq!(t.data, &session.gradients()[p.range()], "{}", p.name);
    }
    assert_eq!(g.param("conv1.weight").unwrap().shape, [4, 1, 3, 3]);
    assert!(g.param("conv9.weight").is_none());
}

#[test]
fn last_layer_gradient_is_softmax_minus_one_hot_over_n() {
    let net = Fused::new(cnn::Init::He, 4);
    let labels = [2, 0, 1];
    let n = labels.len();
    let x = random_vec(n * Fused::INPUT_LEN, 6);
    let g = net_gradients(&net, &x, &labels, &GradientOptions::default().layer("fc2"));
    let fc2 = g.layer("fc2").expect("asked for");
    assert_eq!(fc2.shape, [3, 3]);
    let probs = net.predict_batch(&x).expect("predict");
    for s in 0..n {
        for j in 0..3 {
            let want = (probs[s * 3 + j] - f32::from(u8::from(labels[s] == j))) / n as f32;
            let got = fc2.sample(s).unwrap()[j];
            assert!(
                (got - want).abs() < 1e-6,
                "sample {s} output {j}: {got} vs {want}"
            );
        }
    }
}

/// A layer's output gradient and its parameters' gradients: the bias
/// gradient is the output gradient summed over samples (and positions),
/// the dense weight gradient its outer product with the layer's input.
#[test]
fn layer_output_gradients_agree_with_the_parameter_gradients() {
    let net = Unfused::new(cnn::Init::He, 12);
    let labels = [0, 2];
    let n = labels.len();
    let x = random_vec(n * Unfused::INPUT_LEN, 13);
    let options = GradientOptions::default()
        .layer("conv2")
        .layer("fc1")
        .layer("pool1");
    let g = net_gradients(&net, &x, &labels, &options);
    let conv2 = g.layer("conv2").unwrap();
    assert_eq!(conv2.shape, [2, 6, 3, 3]);
    let bias = g.param("conv2.bias").unwrap();
    for c in 0..6 {
        let sum: f32 = (0..n)
            .map(|s| conv2.sample(s).unwrap()[c * 9..][..9].iter().sum::<f32>())
            .sum();
        assert!(
            (sum - bias.data[c]).abs() <= 1e-5 + 1e-4 * sum.abs(),
            "conv2.bias[{c}]"
        );
    }
    let fc1 = g.layer("fc1").unwrap();
    let h = net.activations("flatten1", &x).expect("stored"); // fc1's input
    let (w, b) = (g.param("fc1.weight").unwrap(), g.param("fc1.bias").unwrap());
    assert_eq!(w.shape, [8, 54]);
    for o in 0..8 {
        let db: f32 = (0..n).map(|s| fc1.sample(s).unwrap()[o]).sum();
        assert!(
            (db - b.data[o]).abs() <= 1e-6 + 1e-4 * db.abs(),
            "fc1.bias[{o}]"
        );
        for i in 0..54 {
            let dw: f32 = (0..n)
                .map(|s| fc1.sample(s).unwrap()[o] * h[s * 54 + i])
                .sum();
            let got = w.data[o * 54 + i];
            assert!(
                (dw - got).abs() <= 1e-6 + 1e-4 * dw.abs(),
                "fc1.weight[{o}, {i}]: {dw} vs {got}"
            );
        }
    }
    assert_eq!(g.layer("pool1").unwrap().shape, [2, 4, 5, 5]);
    // The fused network's pool1 ends a fused step: the same gradient.
    let fused = Fused::from_weights(net.weights().to_vec()).unwrap();
    let gf = net_gradients(
        &fused,
        &x,
        &labels,
        &GradientOptions::default().layer("pool1"),
    );
    let (a, b) = (gf.layer("pool1").unwrap(), g.layer("pool1").unwrap());
    for (p, q) in a.data.iter().zip(b.data) {
        assert!((p - q).abs() <= 1e-6 + 1e-5 * p.abs());
    }
}

#[test]
fn sigmoid_networks_and_value_targets() {
    cnn::network! {
        struct Multi { input: [4], fc: dense(3), sigmoid }
    }
    let net = Multi::new(cnn::Init::He, 1);
    let x = [0.1, -0.4, 0.8, 0.3];
    let t = [1.0, 0.0, 1.0];
    let g = net
        .gradients(&x, TargetRef::Values(&t))
        .expect("binary cross-entropy by default");
    // Binary cross-entropy is the mean over the outputs, as PyTorch's:
    // d/dx of BCE(sigmoid(Wx + b)) = W^T (p - t) / 3.
    let p = net.predict_batch(&x).unwrap();
    let w = &net.weights()[..12];
    for i in 0..4 {
        let want: f32 = (0..3).map(|o| w[o * 4 + i] * (p[o] - t[o])).sum::<f32>() / 3.0;
        assert!((g.input().data[i] - want).abs() < 1e-6);
    }
    let mse = GradientOptions::default().loss(Loss::MeanSquaredError);
    assert!(net.gradients_with(&x, TargetRef::Values(&t), &mse).is_ok());
    let ce = GradientOptions::default().loss(Loss::CrossEntropy);
    let err = net
        .gradients_with(&x, TargetRef::Classes(&[1]), &ce)
        .unwrap_err();
    assert!(err.to_string().contains("sigmoid"), "{err}");
}

fn message(r: Result<Gradients, Error>) -> String {
    r.expect_err("an error").to_string()
}

#[test]
fn bad_inputs_are_clear_errors() {
    let net = Fused::new(cnn::Init::He, 1);
    let x = vec![0.0; 2 * Fused::INPUT_LEN];
    let labels = TargetRef::Classes(&[0, 1]);
    let msg = message(net.gradients(&x[..150], labels));
    assert!(msg.contains("input") && msg.contains("100"), "{msg}");
    let mut nan = x.clone();
    nan[107] = f32::NAN;
    let msg = message(net.gradients(&nan, labels));
    assert!(msg.contains("NaN") && msg.contains("sample 1"), "{msg}");
    let msg = message(net.gradients(&x, TargetRef::Classes(&[0, 3])));
    assert!(msg.contains("label 3"), "{msg}");
    let msg = message(net.gradients(&[], TargetRef::Classes(&[])));
    assert!(msg.contains("empty"), "{msg}");
    let msg = message(net.gradients_with(&x, labels, &GradientOptions::default().layer("fc9")));
    assert!(msg.contains("fc9") && msg.contains("fc1"), "{msg}");
    // Layers inside fused steps are computed too (see inner_gradients.rs).
    let g = net.gradients_with(&x, labels, &GradientOptions::default().layer("conv1"));
    assert_eq!(g.unwrap().layer("conv1").unwrap().shape, [2, 4, 10, 10]);
    let msg =
        message(net.gradients_with(&x, labels, &GradientOptions::default().layer("softmax1")));
    assert!(msg.contains("absorbs") && msg.contains("softmax1"), "{msg}");
    let g = net.gradients(&x, labels).unwrap();
    let msg = g.layer("fc1").unwrap_err().to_string();
    assert!(msg.contains("GradientOptions::layer"), "{msg}");
}

#[test]
fn the_loss_is_the_training_loss() {
    let net = Smooth::new(cnn::Init::He, 7);
    let x = random_vec(2 * Smooth::INPUT_LEN, 1);
    let g = net_gradients(&net, &x, &[1, 3], &GradientOptions::default());
    let logits = net.predict_batch(&x).unwrap();
    let want: f64 = [1usize, 3]
        .iter()
        .enumerate()
        .map(|(s, &l)| -f64::from(logits[s * 5 + l]).ln())
        .sum::<f64>()
        / 2.0;
    assert!((g.loss() - want).abs() < 1e-5, "{} vs {want}", g.loss());
}

cnn::network! {
    /// The single convolution of the PyTorch reference
    /// `conv2d_5x5_s1_p2_lenet.json`.
    struct RefConv { input: [1, 12, 12], conv1: conv(6, kernel = 5, pad = 2) }
}

/// The input gradient against PyTorch's: the reference gives `dx` of
/// `sum(y * dy)` for a given `dy`. With the mean squared error over `n`
/// samples of `len` outputs, `dL/dy = 2 (y - t) / (n len)`, so the target
/// `t = y - dy n len / 2` makes the loss's output gradient `dy`.
#[test]
fn input_gradient_of_a_convolution_matches_pytorch() {
    let case = common::Case::load("conv2d_5x5_s1_p2_lenet");
    let mut weights = case.get("weight").to_vec();
    weights.extend_from_slice(case.get("bias"));
    let net = RefConv::from_weights(weights).expect("the reference's parameters");
    let x = case.get("x");
    let n = case.shape("x")[0];
    let y = net.predict_batch(x).unwrap();
    case.check("y", &y);
    let c = (n * RefConv::OUTPUT_LEN) as f32 / 2.0;
    let t: Vec<f32> = y
        .iter()
        .zip(case.get("dy"))
        .map(|(&y, &d)| y - d * c)
        .collect();
    let options = GradientOptions::default()
        .loss(Loss::MeanSquaredError)
        .layer("conv1");
    let g = net
        .gradients_with(x, TargetRef::Values(&t), &options)
        .unwrap();
    common::assert_close(
        "dy",
        g.layer("conv1").unwrap().data,
        case.get("dy"),
        1e-4,
        1e-4,
    );
    case.check("dx", g.input().data);
    case.check("dweight", g.param("conv1.weight").unwrap().data);
    case.check("dbias", g.param("conv1.bias").unwrap().data);
}

cnn::network! {
    /// Batch normalisation and dropout: gradients in training mode.
    struct Normed {
        input: [2, 6, 6],
        conv1: conv(3, kernel = 3), relu,
        flatten,
        fc1: dense(6), bn1: batch_norm, relu,
        dropout(0.5),
        fc: dense(3),
        softmax,
    }
}

/// Training mode: batch normalisation on the batch's statistics (one
/// sample, one value per feature, is refused, as by a training step),
/// dropout seeded; buffers
/// (running statistics) have no gradient.
#[test]
fn batch_norm_and_dropout_train_mode() {
    let net = Normed::new(cnn::Init::He, 5);
    let x = random_vec(3 * Normed::INPUT_LEN, 8);
    let msg = message(net.gradients(&x[..Normed::INPUT_LEN], TargetRef::Classes(&[1])));
    assert!(msg.contains("batch norm") && msg.contains("bn1"), "{msg}");
    let labels = TargetRef::Classes(&[0, 1, 2]);
    let seeded = |seed| {
        net.gradients_with(&x, labels, &GradientOptions::default().seed(seed))
            .unwrap()
    };
    let (a, b, c) = (seeded(1), seeded(1), seeded(2));
    assert_eq!(a.flat(), b.flat(), "the same seed, the same masks");
    assert_ne!(a.input().data, c.input().data, "another seed, other masks");
    assert!(a.param("bn1.weight").is_some() && a.param("bn1.bias").is_some());
    assert!(
        a.param("bn1.running_mean").is_none(),
        "a buffer is not trained"
    );
    assert!(a.input().data.iter().all(|v| v.is_finite()));
    assert!(a.input().data.iter().any(|&v| v != 0.0));
}
