//! `gradients` in inference mode (`GradientOptions::inference_mode`):
//! dropout off, batch normalisation on its running statistics. The loss is
//! that of `predict`'s outputs, and the input and parameter gradients
//! match central differences of it.

use cnn::train::{GradientOptions, Gradients, TargetRef};

mod common;
use common::random_vec;

cnn::network! {
    /// Batch norms over image channels and over features, and dropout.
    struct Deployed {
        input: [2, 6, 6],
        conv1: conv(3, kernel = 3, pad = 1), bn1: batch_norm, relu, max_pool(2),
        flatten,
        fc1: dense(8), bn2: batch_norm, tanh,
        dropout(0.5),
        fc2: dense(4),
        softmax,
    }
}

/// The network with running statistics and batch-norm parameters away
/// from their initial values (mean 0, variance 1, scale 1, shift 0).
fn deployed() -> Deployed {
    let mut net = Deployed::new(cnn::Init::He, 3);
    for (k, p) in Deployed::PARAMS.iter().enumerate() {
        let r = random_vec(p.len, 40 + k as u64);
        let w = &mut net.weights_mut()[p.range()];
        match p.name.rsplit('.').next() {
            Some("running_mean") => w.copy_from_slice(&r),
            Some("running_var") => w.iter_mut().zip(&r).for_each(|(v, r)| *v = 0.5 + r.abs()),
            Some("weight") if p.name.starts_with("bn") => {
                w.iter_mut().zip(&r).for_each(|(v, r)| *v = 1.0 + 0.5 * r)
            }
            Some("bias") if p.name.starts_with("bn") => w.copy_from_slice(&r),
            _ => {}
        }
    }
    net
}

fn options() -> GradientOptions {
    GradientOptions::default().inference_mode(true)
}

fn grads(net: &Deployed, x: &[f32], labels: &[usize], options: &GradientOptions) -> Gradients {
    net.gradients_with(x, TargetRef::Classes(labels), options)
        .expect("gradients")
}

#[test]
fn the_loss_is_that_of_predict() {
    let net = deployed();
    let labels = [3, 0, 1];
    let x = random_vec(labels.len() * Deployed::INPUT_LEN, 5);
    let g = grads(&net, &x, &labels, &options());
    let p = net.predict_batch(&x).unwrap();
    let want = labels
        .iter()
        .enumerate()
        .map(|(s, &l)| -f64::from(p[s * 4 + l]).ln())
        .sum::<f64>()
        / labels.len() as f64;
    assert!((g.loss() - want).abs() < 1e-5, "{} vs {want}", g.loss());
    // Training mode normalises with the batch's statistics: another loss.
    let train = grads(&net, &x, &labels, &GradientOptions::default());
    assert!((train.loss() - want).abs() > 1e-3);
    // No dropout masks: the seed changes nothing.
    let other = grads(&net, &x, &labels, &options().seed(9));
    assert_eq!(g.flat(), other.flat());
    assert_eq!(g.input().data, other.input().data);
}

#[test]
fn input_gradient_matches_central_differences() {
    let net = deployed();
    let labels = [2, 1];
    let x = random_vec(labels.len() * Deployed::INPUT_LEN, 6);
    let g = grads(&net, &x, &labels, &options());
    let mut nonzero = 0;
    for i in 0..x.len() {
        let loss = |h: f32| {
            let mut moved = x.clone();
            moved[i] += h;
            grads(&net, &moved, &labels, &options()).loss()
        };
        let what = format!("input [{i}]");
        nonzero += usize::from(common::grad::check_difference(
            &what,
            g.input().data[i],
            g.loss(),
            loss,
        ));
    }
    assert!(nonzero > x.len() / 2, "only {nonzero} non-zero gradients");
}

#[test]
fn parameter_gradients_match_central_differences() {
    let net = deployed();
    let labels = [0, 3, 2];
    let x = random_vec(labels.len() * Deployed::INPUT_LEN, 7);
    let g = grads(&net, &x, &labels, &options());
    let mut nonzero = 0;
    for name in [
        "bn1.weight",
        "bn1.bias",
        "bn2.weight",
        "bn2.bias",
        "conv1.weight",
        "fc1.bias",
    ] {
        let p = Deployed::PARAMS.iter().find(|p| p.name == name).unwrap();
        let analytic = g.param(name).unwrap().data;
        for j in (0..p.len).step_by(p.len.div_ceil(6)) {
            let loss = |h: f32| {
                let mut w = net.weights().to_vec();
                w[p.range().start + j] += h;
                let moved = Deployed::from_weights(w).unwrap();
                grads(&moved, &x, &labels, &options()).loss()
            };
            let what = format!("{name} [{j}]");
            nonzero += usize::from(common::grad::check_difference(
                &what,
                analytic[j],
                g.loss(),
                loss,
            ));
        }
    }
    assert!(nonzero >= 10, "only {nonzero} non-zero gradients");
}

#[test]
fn one_sample_and_inner_layers() {
    let net = deployed();
    let x = random_vec(Deployed::INPUT_LEN, 8);
    let labels = TargetRef::Classes(&[1]);
    // Training mode refuses a batch norm over one value per feature.
    assert!(net.gradients(&x, labels).is_err());
    let options = options().layer("conv1").layer("bn1").layer("fc1");
    let g = net.gradients_with(&x, labels, &options).unwrap();
    assert_eq!(g.layer("conv1").unwrap().shape, [1, 3, 6, 6]);
    assert_eq!(g.layer("bn1").unwrap().shape, [1, 3, 6, 6]);
    assert_eq!(g.layer("fc1").unwrap().shape, [1, 8]);
    // In inference mode a batch norm is the affine map x scale + shift:
    // its input's gradient (conv1's output) is its output's times scale.
    let w = net.weights();
    let range = |name: &str| {
        let p = Deployed::PARAMS.iter().find(|p| p.name == name).unwrap();
        &w[p.range()]
    };
    let (gamma, var) = (range("bn1.weight"), range("bn1.running_var"));
    let (conv1, bn1) = (g.layer("conv1").unwrap(), g.layer("bn1").unwrap());
    for c in 0..3 {
        let scale = gamma[c] / (var[c] + 1e-5).sqrt();
        for i in c * 36..(c + 1) * 36 {
            let want = bn1.data[i] * scale;
            assert!(
                (conv1.data[i] - want).abs() <= 1e-6 * (1.0 + want.abs()),
                "conv1 [{i}]"
            );
        }
    }
}
