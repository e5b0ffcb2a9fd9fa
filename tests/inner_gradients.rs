//! `gradients` of layers inside fused steps (conv → ReLU → max-pool,
//! conv → ReLU, dense → activation), whose outputs the steps never store:
//! the same numbers as the unfused network's (`#[cnn(fuse = false)]`,
//! same weights, same inputs), and the conv and dense outputs' gradients
//! against finite differences of their biases.

use cnn::network::Network;
use cnn::train::{GradientOptions, Gradients, Loss, TargetRef};

mod common;
use common::random_vec;

/// A network as declared (overlapping pools fused too), and its unfused
/// twin.
macro_rules! twins {
    ($fused:ident, $unfused:ident { $($body:tt)* }) => {
        cnn::network! {
            #[cnn(fuse_overlapping = true)]
            struct $fused { $($body)* }
            #[cnn(fuse = false)]
            struct $unfused { $($body)* }
        }
    };
}

twins!(
    Pools,
    PoolsUnfused {
        input: [2, 10, 10],
        conv1: conv(4, kernel = 3, pad = 1),
        relu1: relu,
        pool1: max_pool(2),
        // Overlapping windows, padded: an inactive window's gradient goes to
        // its first cell inside the input.
        conv2: conv(5, kernel = 3, pad = 1),
        relu2: relu,
        pool2: max_pool(3, stride = 2, pad = 1),
        flatten,
        fc1: dense(6),
        act1: relu,
        fc2: dense(3),
        softmax,
    }
);

twins!(
    Wide,
    WideUnfused {
        input: [16, 8, 8],
        // im2col, grouped, pointwise; sigmoid and tanh after dense layers.
        conv1: conv(16, kernel = 3, pad = 1),
        relu1: relu,
        pool1: max_pool(2),
        conv2: conv(8, kernel = 3, pad = 1, groups = 2),
        relu2: relu,
        pool2: max_pool(2),
        conv3: conv(6, kernel = 1),
        relu3: relu,
        flatten,
        fc1: dense(5),
        sig: sigmoid,
        fc2: dense(4),
        th: tanh,
        fc3: dense(3),
        softmax,
    }
);

twins!(Branches, BranchesUnfused {
    input: [2, 6, 6],
    // Fused steps writing into the slots of a concatenation.
    cat: concat(
        [a: conv(2, kernel = 1), ra: relu],
        [b: conv(3, kernel = 3, pad = 1), rb: relu, pb: max_pool(3, stride = 1, pad = 1)],
    ),
    flatten,
    fc: dense(3),
    softmax,
});

twins!(
    ReluOut,
    ReluOutUnfused {
        // The last fused step writes the caller's output.
        input: [6],
        fc1: dense(5),
        r1: relu,
        fc2: dense(3),
        r2: relu,
    }
);

/// The gradients of `layers` in `net`, and in its unfused twin `U` with
/// the same weights.
fn both<F: Network, U: Network>(
    net: &F,
    x: &[f32],
    targets: TargetRef<'_>,
    loss: Loss,
    layers: &[&str],
) -> (Gradients, Gradients) {
    let options = layers
        .iter()
        .fold(GradientOptions::default().loss(loss), |o, l| o.layer(l));
    let unfused = U::from_weight_vec(net.weights().to_vec());
    let a = cnn::train::gradients(net, x, targets, &options).expect("fused");
    let b = cnn::train::gradients(&unfused, x, targets, &options).expect("unfused");
    (a, b)
}

/// Asserts every layer gradient and the input's agree: zero in the same
/// places (the same windows won, the same ReLU masks) and equal within
/// `TOLERANCE` of the tensor's largest magnitude; the same bits for the
/// layers `exact`. The fused kernels sum in other orders than the unfused
/// ones (the input gradient of a fused step comes from its winners
/// only), so below a fused conv step the output gradients the inner
/// layers' are computed from differ in the last bits already; from the
/// same output gradient, a fused step's inner gradients are the unfused
/// layers' bits (`exact`).
fn assert_same(name: &str, a: &Gradients, b: &Gradients, layers: &[&str], exact: &[&str]) {
    let views = layers
        .iter()
        .map(|l| (*l, a.layer(l).unwrap(), b.layer(l).unwrap()))
        .chain([("input", a.input(), b.input())]);
    for (l, p, q) in views {
        assert_eq!(p.shape, q.shape, "{name}: {l}");
        let scale = q.data.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{name}: {l} all zero");
        let mut worst = 0.0f32;
        for (i, (u, v)) in p.data.iter().zip(q.data).enumerate() {
            assert_eq!(
                *u == 0.0,
                *v == 0.0,
                "{name}: {l} [{i}]: fused {u}, unfused {v}"
            );
            worst = worst.max((u - v).abs() / scale);
        }
        eprintln!("{name}: {l}: largest difference {worst:.1e} of the largest value");
        assert!(worst <= TOLERANCE, "{name}: {l}: {worst:e}");
        if exact.contains(&l) {
            assert_eq!(p.data, q.data, "{name}: {l}: not the same bits");
        }
    }
}

/// Differences allowed between the fused and unfused gradients, relative
/// to the tensor's largest magnitude: a few f32 roundings.
const TOLERANCE: f32 = 1e-6;

/// The step of `N`'s plan computing `layers` (`conv1 + relu1 + pool1`).
fn fused<N: Network>(layers: &str) -> bool {
    N::PLAN.iter().any(|s| s.layers == layers)
}

#[test]
fn conv_relu_and_pool_inside_fused_steps_match_the_unfused_network() {
    assert!(fused::<Pools>("conv1 + relu1 + pool1"));
    assert!(fused::<Pools>("conv2 + relu2 + pool2"));
    assert!(fused::<Pools>("fc1 + act1"));
    let net = Pools::new(cnn::Init::He, 3);
    let labels = [0, 2, 1];
    let x = random_vec(labels.len() * Pools::INPUT_LEN, 7);
    let layers = [
        "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "act1",
    ];
    let targets = TargetRef::Classes(&labels);
    let (a, b) = both::<_, PoolsUnfused>(&net, &x, targets, Loss::CrossEntropy, &layers);
    assert_same("Pools", &a, &b, &layers, &layers[3..]);
    assert_eq!(a.layer("conv2").unwrap().shape, [3, 5, 5, 5]);
    assert_eq!(a.layer("relu2").unwrap().shape, [3, 5, 5, 5]);
    // Inactive windows (ReLU outputs all 0) pass their gradient to the
    // ReLU's output but not to the conv's.
    for l in ["1", "2"] {
        let conv = a.layer(&format!("conv{l}")).unwrap().data;
        let relu = a.layer(&format!("relu{l}")).unwrap().data;
        let inactive = conv
            .iter()
            .zip(relu)
            .filter(|&(&c, &r)| c == 0.0 && r != 0.0)
            .count();
        assert!(inactive > 0, "conv{l}: no inactive window was checked");
    }
}

#[test]
fn im2col_grouped_pointwise_and_dense_activations_match_the_unfused_network() {
    for (layers, fused_step) in [
        ("conv1 + relu1 + pool1", true),
        ("conv2 + relu2 + pool2", true),
        ("conv3 + relu3", true),
        ("fc1 + sig", true),
        ("fc2 + th", true),
    ] {
        assert_eq!(fused::<Wide>(layers), fused_step, "{layers}");
    }
    let net = Wide::new(cnn::Init::He, 5);
    let labels = [2, 1];
    let x = random_vec(labels.len() * Wide::INPUT_LEN, 9);
    let layers = [
        "conv1", "relu1", "conv2", "relu2", "pool2", "conv3", "relu3", "fc1", "sig", "fc2", "th",
    ];
    let targets = TargetRef::Classes(&labels);
    let (a, b) = both::<_, WideUnfused>(&net, &x, targets, Loss::CrossEntropy, &layers);
    assert_same("Wide", &a, &b, &layers, &layers[2..]);
}

#[test]
fn fused_steps_in_a_concatenation_and_at_the_output_match_the_unfused_network() {
    assert!(fused::<Branches>("cat.a + cat.ra"));
    assert!(fused::<Branches>("cat.b + cat.rb + cat.pb"));
    let net = Branches::new(cnn::Init::He, 2);
    let labels = [1, 0];
    let x = random_vec(labels.len() * Branches::INPUT_LEN, 4);
    let layers = ["cat.a", "cat.ra", "cat.b", "cat.rb", "cat.pb", "cat"];
    let targets = TargetRef::Classes(&labels);
    let (a, b) = both::<_, BranchesUnfused>(&net, &x, targets, Loss::CrossEntropy, &layers);
    assert_same("Branches", &a, &b, &layers, &layers);

    assert!(fused::<ReluOut>("fc2 + r2"));
    let net = ReluOut::new(cnn::Init::He, 1);
    let x = random_vec(3 * ReluOut::INPUT_LEN, 2);
    let t = random_vec(3 * 3, 3);
    let layers = ["fc1", "r1", "fc2", "r2"];
    let targets = TargetRef::Values(&t);
    let (a, b) = both::<_, ReluOutUnfused>(&net, &x, targets, Loss::MeanSquaredError, &layers);
    assert_same("ReluOut", &a, &b, &layers, &layers);
}

/// The loss of `net` with parameter `index` moved by `h`.
fn loss_with<N: Network>(net: &N, x: &[f32], labels: &[usize], index: usize, h: f32) -> f64 {
    let mut w = net.weights().to_vec();
    w[index] += h;
    let moved = N::from_weight_vec(w);
    cnn::train::gradients(
        &moved,
        x,
        TargetRef::Classes(labels),
        &GradientOptions::default(),
    )
    .expect("gradients")
    .loss()
}

/// A layer's bias moves each of its outputs by the same amount: with one
/// sample, the derivative of the loss by the dense bias `fc1.bias[j]` is
/// the gradient of output `j` of `fc1`, and by the conv bias
/// `conv2.bias[k]` the sum of channel `k`'s output gradient. Central
/// differences of the f32 loss with h = 1e-2 (see `input_gradients.rs`
/// for the error budget), one-sided ones where a kink lies within ±h.
#[test]
fn conv_and_dense_outputs_inside_fused_steps_match_finite_differences() {
    let net = Pools::new(cnn::Init::He, 11);
    let labels = [1];
    let x = random_vec(Pools::INPUT_LEN, 12);
    let options = GradientOptions::default().layer("conv2").layer("fc1");
    let g = net
        .gradients_with(&x, TargetRef::Classes(&labels), &options)
        .unwrap();
    let mid = g.loss();
    let param = |name: &str| {
        Pools::PARAMS
            .iter()
            .find(|p| p.name == name)
            .expect("a tensor")
            .range()
    };
    let conv2 = g.layer("conv2").unwrap().data;
    let per_channel = conv2.len() / 5;
    let fc1 = g.layer("fc1").unwrap().data;
    let checks = (0..5)
        .map(|k| {
            let sum: f32 = conv2[k * per_channel..][..per_channel].iter().sum();
            (
                param("conv2.bias").start + k,
                sum,
                format!("conv2 channel {k}"),
            )
        })
        .chain((0..6).map(|j| (param("fc1.bias").start + j, fc1[j], format!("fc1 [{j}]"))));
    let mut nonzero = 0;
    for (index, analytic, what) in checks {
        let loss = |h| loss_with(&net, &x, &labels, index, h);
        nonzero += usize::from(common::grad::check_difference(&what, analytic, mid, loss));
    }
    assert!(
        nonzero >= 5,
        "too few non-zero gradients checked: {nonzero}"
    );
}

#[test]
fn unknown_layer_names_stay_clear_errors() {
    let net = Pools::new(cnn::Init::He, 1);
    let x = vec![0.5; 2 * Pools::INPUT_LEN];
    let options = GradientOptions::default().layer("conv1").layer("conv9");
    let msg = net
        .gradients_with(&x, TargetRef::Classes(&[0, 1]), &options)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("conv9") && msg.contains("conv1") && msg.contains("fc2"),
        "{msg}"
    );
}
