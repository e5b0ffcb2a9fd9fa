//! The layers the original AlexNet adds to the chain canon, declared with
//! `network!`: local response normalisation (`lrn`) and grouped
//! convolution (`conv(.., groups = 2)`). Outputs against PyTorch's
//! reference vectors, gradients of the generated backward pass against
//! PyTorch's and against central differences, fused against unfused.

mod common;

use cnn::network::{Network, StepContext, TrainBuffers};
use cnn::train::Loss;
use common::{grad, random_vec, Case};

cnn::network! {
    /// AlexNet's first LRN (`size = 5, alpha = 1e-4, beta = 0.75, k = 2`),
    /// alone, on the reference case's shape.
    struct Lrn5 { input: [7, 5, 5], lrn(5, alpha = 1e-4, beta = 0.75, k = 2.0) }

    /// An even window and the other arguments by name.
    struct Lrn4 { input: [6, 3, 4], norm: lrn(size = 4, alpha = 0.01, beta = 0.5, k = 1.0) }

    /// The defaults (`alpha = 1e-4, beta = 0.75, k = 1`).
    struct Lrn3 { input: [4, 2, 2], lrn(3) }

    /// A flat input, and the same values as channels of a 1x1 image.
    struct LrnFlat { input: [12], lrn(3) }
    struct LrnPixels { input: [12, 1, 1], lrn(3) }

    /// PyTorch's `conv2d(groups = 2)` reference case, then nothing.
    struct Grouped { input: [4, 7, 7], conv(6, kernel = 3, pad = 1, groups = 2) }

    /// The strided grouped reference case.
    struct GroupedS2 { input: [8, 9, 9], conv(4, kernel = 5, stride = 2, pad = 2, groups = 2) }

    /// A small AlexNet-shaped chain: conv → ReLU → LRN → pool, a grouped
    /// conv fused with ReLU and max-pool, a grouped 1x1 conv, dense layers.
    #[cnn(fuse_overlapping = true)]
    struct MiniAlex {
        input: [3, 15, 15],
        conv1: conv(8, kernel = 3, stride = 2, pad = 1), relu,
        norm1: lrn(3, alpha = 0.5, beta = 0.75, k = 2.0),
        max_pool(3, stride = 2),
        conv2: conv(8, kernel = 3, pad = 1, groups = 2), relu, max_pool(2, stride = 1),
        conv3: conv(4, kernel = 1, groups = 4), relu,
        flatten,
        fc: dense(5),
        softmax,
    }

    #[cnn(fuse = false)]
    struct MiniAlexUnfused {
        input: [3, 15, 15],
        conv1: conv(8, kernel = 3, stride = 2, pad = 1), relu,
        norm1: lrn(3, alpha = 0.5, beta = 0.75, k = 2.0),
        max_pool(3, stride = 2),
        conv2: conv(8, kernel = 3, pad = 1, groups = 2), relu, max_pool(2, stride = 1),
        conv3: conv(4, kernel = 1, groups = 4), relu,
        flatten,
        fc: dense(5),
        softmax,
    }
}

/// The network's outputs for the reference case's input `x`.
fn outputs<N: Network>(net: &N, case: &Case) -> Vec<f32> {
    cnn::batch::predict(net, case.get("x")).unwrap()
}

#[test]
fn lrn_layers_match_pytorch() {
    let case = Case::load("lrn_size5_alexnet");
    case.check("y", &outputs(&Lrn5::zeros(), &case));
    let case = Case::load("lrn_size4_even");
    case.check("y", &outputs(&Lrn4::zeros(), &case));
    let case = Case::load("lrn_size3_default");
    case.check("y", &outputs(&Lrn3::zeros(), &case));
    // A flat input is `N` channels of one pixel.
    let x = random_vec(12, 4)
        .iter()
        .map(|v| v * 50.0)
        .collect::<Vec<f32>>();
    let flat = LrnFlat::zeros().predict(&x.clone().try_into().unwrap());
    let image = LrnPixels::zeros().predict(&x.try_into().unwrap());
    assert_eq!(flat, image);
    assert_eq!(LrnFlat::OUTPUT_SHAPE, [12]);
    assert_eq!(Lrn5::PARAM_COUNT, 0);
    assert_eq!(Lrn5::LAYERS[0].type_name, "LocalResponseNorm");
}

/// The parameter gradient of `sum(y * dy)`, through the generated training
/// passes of a network without a loss head.
fn gradient_of_sum<N: Network>(net: &N, x: &[f32], dy: &[f32], n: usize) -> Vec<f32> {
    let len = N::logits_len();
    let mut buffers = TrainBuffers::new::<N>(n);
    let trainable = vec![true; N::LAYERS.len()];
    let ctx = StepContext::new(&trainable, N::LAYERS, 1);
    let mut logits = vec![0.0; n * len];
    N::forward_train(
        net.weights(),
        x,
        &mut logits,
        n,
        buffers.arena::<N>(n),
        &ctx,
    );
    let mut dlogits = dy.to_vec();
    let mut grads = vec![0.0; N::PARAM_COUNT];
    N::backward(
        net.weights(),
        x,
        &mut dlogits,
        n,
        buffers.arena::<N>(n),
        &mut grads,
        &ctx,
    );
    grads
}

/// A grouped convolution with the reference case's weights.
fn grouped_case<N: Network>(name: &str) {
    let case = Case::load(name);
    let weights = [case.get("weight"), case.get("bias")].concat();
    let net = N::from_weight_vec(weights);
    assert_eq!(N::PARAMS[0].shape, case.shape("weight"));
    case.check("y", &outputs(&net, &case));
    let n = case.shape("x")[0];
    let grads = gradient_of_sum(&net, case.get("x"), case.get("dy"), n);
    let split = N::PARAMS[1].offset;
    case.check("dweight", &grads[..split]);
    case.check("dbias", &grads[split..]);
}

#[test]
fn grouped_convolutions_match_pytorch() {
    grouped_case::<Grouped>("conv2d_groups2");
    grouped_case::<GroupedS2>("conv2d_groups2_alexnet_s2");
}

#[test]
fn grouped_layers_describe_themselves() {
    assert_eq!(Grouped::PARAMS[0].shape, [6, 2, 3, 3]);
    assert_eq!(Grouped::PARAM_COUNT, 6 * 2 * 9 + 6);
    assert_eq!(Grouped::MACS, 6 * 49 * 2 * 9);
    assert!(
        Grouped::PLAN[0].kernel.ends_with("2 groups)"),
        "{}",
        Grouped::PLAN[0].kernel
    );
    let kernels: Vec<&str> = MiniAlex::PLAN.iter().map(|s| s.kernel).collect();
    assert!(kernels.contains(&"LRN"), "{kernels:?}");
    assert!(
        kernels
            .iter()
            .any(|k| k.starts_with("conv→ReLU→max-pool") && k.ends_with("2 groups)")),
        "{kernels:?}"
    );
}

#[test]
fn fused_grouped_and_lrn_chain_equals_unfused() {
    let fused = MiniAlex::new(cnn::Init::He, 3);
    let unfused = MiniAlexUnfused::from_weights(fused.weights().to_vec()).unwrap();
    let x = random_vec(4 * MiniAlex::INPUT_LEN, 5);
    let a = fused.predict_batch(&x).unwrap();
    let b = unfused.predict_batch(&x).unwrap();
    common::assert_close("fused vs unfused", &a, &b, 1e-5, 1e-5);
    let labels = [0, 3, 1, 4];
    let (la, ga) = grad::analytic(&fused, &x, &labels, Loss::CrossEntropy, 1);
    let (lb, gb) = grad::analytic(&unfused, &x, &labels, Loss::CrossEntropy, 1);
    assert!((la - lb).abs() < 1e-5, "{la} vs {lb}");
    common::assert_close("fused vs unfused gradients", &ga, &gb, 1e-5, 1e-4);
}

#[test]
fn gradients_through_lrn_and_grouped_convs_match_finite_differences() {
    let net = MiniAlexUnfused::new(cnn::Init::He, 11);
    let x = random_vec(3 * MiniAlexUnfused::INPUT_LEN, 12);
    let checked = grad::check(&net, &x, &[1, 2, 0], Loss::CrossEntropy, 12, 1e-2);
    assert!(checked >= 40, "{checked}");
    let net = MiniAlex::new(cnn::Init::He, 11);
    grad::check(&net, &x, &[1, 2, 0], Loss::CrossEntropy, 12, 1e-2);
}

cnn::network! {
    /// The original two-tower AlexNet (Krizhevsky et al. 2012) at 227x227:
    /// LRN after the first two convolutions, conv2, conv4 and conv5 in two
    /// groups.
    struct AlexNet2012 {
        input: [3, 227, 227],
        conv1: conv(96, kernel = 11, stride = 4), relu, lrn(5, alpha = 1e-4, beta = 0.75, k = 2.0),
        max_pool(3, stride = 2),
        conv2: conv(256, kernel = 5, pad = 2, groups = 2), relu,
        lrn(5, alpha = 1e-4, beta = 0.75, k = 2.0), max_pool(3, stride = 2),
        conv3: conv(384, kernel = 3, pad = 1), relu,
        conv4: conv(384, kernel = 3, pad = 1, groups = 2), relu,
        conv5: conv(256, kernel = 3, pad = 1, groups = 2), relu, max_pool(3, stride = 2),
        flatten,
        fc6: dense(4096), relu, dropout(0.5),
        fc7: dense(4096), relu, dropout(0.5),
        fc8: dense(1000),
        softmax,
    }
}

// The paper's 60,965,224 parameters (its 60 million).
const _: () = assert!(AlexNet2012::PARAM_COUNT == 60_965_224);

#[test]
fn original_alexnet_counts() {
    // Multiply-accumulates per layer: output values times (input channels
    // per group) times kernel taps.
    let conv =
        |out: u64, side: u64, cin_per_group: u64, k: u64| out * side * side * cin_per_group * k * k;
    let macs = conv(96, 55, 3, 11)
        + conv(256, 27, 48, 5)
        + conv(384, 13, 256, 3)
        + conv(384, 13, 192, 3)
        + conv(256, 13, 192, 3)
        + 9216 * 4096
        + 4096 * 4096
        + 4096 * 1000;
    assert_eq!(AlexNet2012::MACS, macs);
    assert_eq!(AlexNet2012::PARAMS[2].shape, [256, 48, 5, 5]);
    assert_eq!(AlexNet2012::LAYERS[2].type_name, "LocalResponseNorm");
}
