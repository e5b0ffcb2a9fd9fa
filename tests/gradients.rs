//! Finite-difference gradient checks of the generated backward passes:
//! every layer kind, fused and unfused, and whole networks.

mod common;

use cnn::train::Loss;
use common::grad;
use common::random_vec;

cnn::network! {
    /// Direct conv fused with ReLU and a 2x2 pool, im2col conv with tanh,
    /// 1x1 conv with sigmoid, average and global average pooling.
    struct Convs {
        input: [2, 10, 9],
        conv1: conv(4, kernel = 3, pad = 1), relu, max_pool(2),
        conv2: conv(9, kernel = (2, 3), pad = (1, 0)), tanh,
        conv3: conv(5, kernel = 1), sigmoid,
        avg_pool(2, pad = 1),
        conv4: conv(6, kernel = 2, stride = 1), relu,
        global_avg_pool, flatten,
        fc: dense(3),
        softmax,
    }

    #[cnn(fuse = false)]
    struct ConvsUnfused {
        input: [2, 10, 9],
        conv1: conv(4, kernel = 3, pad = 1), relu, max_pool(2),
        conv2: conv(9, kernel = (2, 3), pad = (1, 0)), tanh,
        conv3: conv(5, kernel = 1), sigmoid,
        avg_pool(2, pad = 1),
        conv4: conv(6, kernel = 2, stride = 1), relu,
        global_avg_pool, flatten,
        fc: dense(3),
        softmax,
    }

    /// Overlapping, padded pooling fused with a strided direct conv and an
    /// im2col conv.
    #[cnn(fuse_overlapping = true)]
    struct Overlap {
        input: [3, 13, 11],
        conv1: conv(4, kernel = 3, stride = 2, pad = 1), relu, max_pool(3, stride = 2, pad = 1),
        conv2: conv(9, kernel = 1), relu,
        conv3: conv(4, kernel = 2), relu, max_pool(3, stride = 1, pad = 1),
        flatten, fc: dense(4),
    }

    /// Direct convolutions vectorised over output channels (more than
    /// eight input channels, few weights): the unfused one takes its
    /// gradients by im2col, the one fused with a pool from the winners.
    struct WideDirect {
        input: [3, 6, 5],
        conv0: conv(10, kernel = 3, pad = 1), tanh,
        conv1: conv(16, kernel = 3, pad = 1), relu,
        conv2: conv(16, kernel = 3, pad = 1), relu, max_pool(2),
        flatten, fc: dense(3),
    }
    /// A fused channel-vectorised direct layer with more input channels
    /// than a vector holds: with SIMD its weight gradient goes through
    /// im2col and the GEMM, its input gradient through the pool's winners.
    struct WidePooled {
        input: [3, 6, 5],
        conv0: conv(20, kernel = 3, pad = 1), relu,
        conv1: conv(16, kernel = 3, pad = 1), relu, max_pool(2),
        flatten, fc: dense(3),
    }
    /// Direct layers with few input channels and many outputs (as in
    /// ResNet's stem and VGG's first layer), strided and not.
    struct FewToMany {
        input: [3, 10, 10],
        conv0: conv(4, kernel = 3, pad = 1), tanh,
        conv1: conv(32, kernel = 5, stride = 2, pad = 2), tanh,
        flatten, fc: dense(3),
    }
    /// As [`FewToMany`], under a fused pool.
    struct FewToManyPooled {
        input: [3, 8, 8],
        conv0: conv(4, kernel = 3, pad = 1), tanh,
        conv1: conv(32, kernel = 3, pad = 1), relu, max_pool(2),
        flatten, fc: dense(3),
    }
    /// A multilayer perceptron of sigmoid and tanh units, dropout, a softmax
    /// in the middle.
    struct Mlp {
        input: [6],
        fc1: dense(7), sigmoid,
        dropout(0.3),
        fc2: dense(5), tanh,
        fc3: dense(4), softmax,
        fc4: dense(3, bias = false), relu,
        fc5: dense(3),
    }

    #[cnn(fuse = false)]
    struct MlpUnfused {
        input: [6],
        fc1: dense(7), sigmoid,
        dropout(0.3),
        fc2: dense(5), tanh,
        fc3: dense(4), softmax,
        fc4: dense(3, bias = false), relu,
        fc5: dense(3),
    }

    /// LeNet-5 as LeCun et al. built it in 1998: tanh units and average
    /// pooling ("subsampling"). Smooth everywhere, so central differences
    /// are exact up to rounding; the ReLU/max-pool LeNet-5's gradients are
    /// checked against PyTorch's in `lenet_reference.rs`, where finite
    /// differences would keep crossing kinks.
    struct LeNet5 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), tanh, avg_pool(2),
        conv2: conv(16, kernel = 5), tanh, avg_pool(2),
        flatten,
        fc1: dense(120), tanh,
        fc2: dense(84), tanh,
        fc3: dense(10),
        softmax,
    }
}

/// Small steps where ReLU and max-pool kinks lie close by, larger ones on
/// smooth networks (less rounding noise).
fn run<N: cnn::Network>(net: &N, n: usize, loss: Loss) {
    run_with_step(net, n, loss, 3e-3)
}

fn run_with_step<N: cnn::Network>(net: &N, n: usize, loss: Loss, rel_step: f32) {
    let x = random_vec(n * N::INPUT_LEN, 3);
    let labels: Vec<usize> = (0..n).map(|i| i % N::OUTPUT_LEN).collect();
    let checked = grad::check(net, &x, &labels, loss, 12, rel_step);
    assert!(checked >= N::PARAMS.len(), "{checked}");
}

#[test]
fn conv_layers() {
    run(&Convs::new(cnn::Init::He, 1), 3, Loss::CrossEntropy);
    run(&ConvsUnfused::new(cnn::Init::He, 1), 3, Loss::CrossEntropy);
}

#[test]
fn channel_vectorised_direct_convs() {
    run(&WideDirect::new(cnn::Init::He, 4), 2, Loss::CrossEntropy);
    run(&WidePooled::new(cnn::Init::He, 5), 2, Loss::CrossEntropy);
}

#[test]
fn few_input_channels_many_outputs() {
    run(&FewToMany::new(cnn::Init::He, 6), 2, Loss::CrossEntropy);
    run(
        &FewToManyPooled::new(cnn::Init::He, 7),
        2,
        Loss::CrossEntropy,
    );
}

#[test]
fn overlapping_pools() {
    run(&Overlap::new(cnn::Init::He, 2), 2, Loss::CrossEntropy);
    run(&Overlap::new(cnn::Init::He, 2), 2, Loss::MeanSquaredError);
}

#[test]
fn mlp_with_sigmoid_tanh_dropout_and_softmax() {
    run(&Mlp::new(cnn::Init::Xavier, 3), 4, Loss::CrossEntropy);
    run(
        &MlpUnfused::new(cnn::Init::Xavier, 3),
        4,
        Loss::MeanSquaredError,
    );
    run(&Mlp::new(cnn::Init::Xavier, 3), 4, Loss::BinaryCrossEntropy);
}

#[test]
fn lenet5_classic() {
    run_with_step(
        &LeNet5::new(cnn::Init::Xavier, 4),
        2,
        Loss::CrossEntropy,
        3e-2,
    );
}
