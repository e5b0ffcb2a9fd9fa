//! Fused and unfused networks agree, forward and backward, on every SIMD
//! level this machine runs: odd sizes that leave remainders, padding,
//! overlapping pools, ties inside pooling windows, all-negative windows,
//! and every convolution algorithm. NaN in the input stays NaN.

mod common;

use cnn::simd;
use cnn::train::Loss;
use common::{assert_close, grad, random_vec};
use std::sync::Mutex;

static LEVEL: Mutex<()> = Mutex::new(());

macro_rules! pair {
    ($fused:ident, $unfused:ident, { $($body:tt)* }) => {
        cnn::network! {
            // Overlapping pools fused too (not the default, which leaves
            // them to the pool after the conv).
            #[cnn(fuse_overlapping = true)]
            struct $fused { $($body)* }
            #[cnn(fuse = false)]
            struct $unfused { $($body)* }
        }
    };
}

// Column-vectorised direct conv, odd sizes, 2x2 pool with a remainder.
pair!(OddFused, OddUnfused, {
    input: [3, 9, 11],
    conv1: conv(5, kernel = 3, pad = 1), relu, max_pool(2),
    flatten, fc: dense(4),
});
// Channel-vectorised direct conv (16 and 20 output channels).
pair!(WideFused, WideUnfused, {
    input: [4, 12, 10],
    conv1: conv(16, kernel = 3), relu, max_pool(2),
    conv2: conv(20, kernel = 2, pad = 1), relu, max_pool(2),
    flatten, fc: dense(3),
});
// Overlapping, padded pool after a strided, rectangular conv.
pair!(OverlapFused, OverlapUnfused, {
    input: [2, 15, 13],
    conv1: conv(8, kernel = (3, 2), stride = (2, 1), pad = (1, 0)), relu,
    max_pool(3, stride = 2, pad = 1),
    flatten, fc: dense(5),
});
// AlexNet's first block in small: three input channels, an 11x11
// stride-4 conv with more output channels than one block of planes holds
// (64, their packed weights in the scratch, then 8), an overlapping 3x3
// stride-2 pool.
pair!(StridedOverlapFused, StridedOverlapUnfused, {
    input: [3, 31, 31],
    conv1: conv(72, kernel = 11, stride = 4, pad = 2), relu,
    max_pool(3, stride = 2),
    flatten, fc: dense(4),
});
// im2col and 1x1 convolutions, disjoint 3x3 and 2x2 pools.
pair!(GemmFused, GemmUnfused, {
    input: [12, 13, 14],
    conv1: conv(10, kernel = 3, pad = 1), relu, max_pool(3, stride = 3),
    conv2: conv(7, kernel = 1), relu, max_pool(2),
    flatten, fc: dense(3), softmax,
});
// im2col whose columns span two GEMM k blocks (32 * 9 = 288 rows), bands
// of conv rows wider than a GEMM panel, an overlapping padded pool.
pair!(DeepIm2colFused, DeepIm2colUnfused, {
    input: [32, 9, 30],
    conv1: conv(10, kernel = 3, pad = 1), relu, max_pool(3, stride = 2, pad = 1),
    flatten, fc: dense(3),
});
// A 1x1 conv whose GEMM packs its input (40 output channels), over two k
// blocks (300 input channels), 55 pixels (a whole panel and a partial one).
pair!(WidePointwiseFused, WidePointwiseUnfused, {
    input: [300, 5, 11],
    conv1: conv(40, kernel = 1), relu, max_pool(2),
    flatten, fc: dense(3),
});
// Many input channels, packed weights too large for the kernel's stack
// buffer (they go to the arena's scratch): direct, channel-vectorised.
pair!(ScratchPackedFused, ScratchPackedUnfused, {
    input: [40, 10, 12],
    conv1: conv(24, kernel = 3, pad = 1), relu, max_pool(2),
    flatten, fc: dense(3),
});
// A 5x5 direct conv with 17x21 input, like LeNet's first layer.
pair!(LeNetLikeFused, LeNetLikeUnfused, {
    input: [1, 17, 21],
    conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
    flatten, fc: dense(84), relu, fc2: dense(10), softmax,
});

#[derive(Clone, Copy, Debug)]
enum Case {
    Random,
    /// Zero conv weights, equal biases: every window is a tie.
    Ties,
    /// Negative biases and tiny weights: every window is negative.
    AllNegative,
}

fn weights_for<F: cnn::Network>(net: &F, case: Case) -> Vec<f32> {
    let mut w = net.weights().to_vec();
    for p in F::PARAMS {
        let layer = F::LAYERS[p.layer];
        if layer.kind != "conv" {
            continue;
        }
        for v in &mut w[p.range()] {
            match (case, p.is_bias()) {
                (Case::Random, _) => {}
                (Case::Ties, false) => *v = 0.0,
                (Case::Ties, true) => *v = 0.25,
                (Case::AllNegative, false) => *v *= 1e-3,
                (Case::AllNegative, true) => *v = -5.0,
            }
        }
    }
    w
}

fn compare<F: cnn::Network, U: cnn::Network>(seed: u64) {
    let _guard = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    let n = 3;
    let x = random_vec(n * F::INPUT_LEN, seed);
    let labels: Vec<usize> = (0..n).map(|i| i % F::OUTPUT_LEN).collect();
    for level in simd::available_levels() {
        simd::force(level).unwrap();
        for case in [Case::Random, Case::Ties, Case::AllNegative] {
            let base = F::from_weight_vec(
                random_vec(F::PARAM_COUNT, seed + 1)
                    .iter()
                    .map(|v| v * 0.3)
                    .collect(),
            );
            let w = weights_for(&base, case);
            let fused = F::from_weight_vec(w.clone());
            let unfused = U::from_weight_vec(w);
            let what = format!("{} vs {} at {level:?}, {case:?}", F::NAME, U::NAME);
            let yf = cnn::batch::predict(&fused, &x).unwrap();
            let yu = cnn::batch::predict(&unfused, &x).unwrap();
            assert_close(&format!("{what}: outputs"), &yf, &yu, 1e-6, 1e-5);
            let (lf, gf) = grad::analytic(&fused, &x, &labels, Loss::CrossEntropy, 1);
            let (lu, gu) = grad::analytic(&unfused, &x, &labels, Loss::CrossEntropy, 1);
            assert!(
                (lf - lu).abs() <= 1e-5 * lu.abs().max(1.0),
                "{what}: loss {lf} vs {lu}"
            );
            assert_close(&format!("{what}: gradients"), &gf, &gu, 1e-5, 1e-4);
            if matches!(case, Case::AllNegative) {
                // Every ReLU is off: no gradient reaches the first conv.
                let conv1 = F::PARAMS.iter().find(|p| p.name == "conv1.weight").unwrap();
                assert!(gf[conv1.range()].iter().all(|&g| g == 0.0), "{what}");
            }
        }
    }
    simd::force(simd::best_available()).unwrap();
}

#[test]
fn odd_sizes() {
    compare::<OddFused, OddUnfused>(1);
}

#[test]
fn channel_vectorised() {
    compare::<WideFused, WideUnfused>(2);
}

#[test]
fn overlapping_padded_pool() {
    compare::<OverlapFused, OverlapUnfused>(3);
}

#[test]
fn strided_conv_overlapping_pool() {
    assert!(StridedOverlapFused::PLAN[0].kernel.contains("direct"));
    compare::<StridedOverlapFused, StridedOverlapUnfused>(7);
}

#[test]
fn gemm_algorithms() {
    compare::<GemmFused, GemmUnfused>(4);
}

#[test]
fn im2col_bands_over_k_blocks() {
    assert!(DeepIm2colFused::PLAN[0].kernel.contains("im2col"));
    compare::<DeepIm2colFused, DeepIm2colUnfused>(8);
}

#[test]
fn pointwise_over_k_blocks() {
    compare::<WidePointwiseFused, WidePointwiseUnfused>(9);
}

#[test]
fn weights_packed_in_scratch() {
    assert!(ScratchPackedFused::PLAN[0].kernel.contains("direct"));
    const { assert!(ScratchPackedFused::SCRATCH_LEN >= 360 * 32) };
    compare::<ScratchPackedFused, ScratchPackedUnfused>(6);
}

#[test]
fn lenet_like() {
    compare::<LeNetLikeFused, LeNetLikeUnfused>(5);
}

#[test]
fn fused_plans_really_fuse() {
    assert!(WideFused::PLAN[0].kernel.starts_with("conv→ReLU→max-pool"));
    assert!(WideUnfused::PLAN[0].kernel.starts_with("conv ("));
    const { assert!(WideFused::ARENA_LEN < WideUnfused::ARENA_LEN) };
}

#[test]
fn nan_propagates_through_fused_kernels() {
    let _guard = LEVEL.lock().unwrap_or_else(|e| e.into_inner());
    for level in simd::available_levels() {
        simd::force(level).unwrap();
        let mut x = random_vec(WideFused::INPUT_LEN, 9);
        x[5] = f32::NAN;
        let net = WideFused::new(cnn::Init::He, 3);
        let y = net.predict(&x.clone().try_into().unwrap());
        assert!(y.iter().all(|v| v.is_nan()), "{level:?}: {y:?}");
        let unfused = WideUnfused::from_weights(net.weights().to_vec()).unwrap();
        let y = unfused.predict(&x.try_into().unwrap());
        assert!(y.iter().all(|v| v.is_nan()), "{level:?}: {y:?}");
    }
    simd::force(simd::best_available()).unwrap();
}
