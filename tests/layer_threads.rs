//! Threads inside a layer: batched inference of a network whose layers are
//! large enough to split their output channels between threads gives the
//! same bits on 1, 2 and 3 threads, at batch 1 and 3, fused and unfused,
//! and the same bits as a generated `predict` (which runs every layer on
//! the calling thread).
//!
//! One test function: the thread count is global to the process.

use cnn::network::Network;

cnn::network! {
    /// Every kernel that splits its output channels between threads: a
    /// direct layer (8 → 64, 5x5), a Winograd layer (64 → 32, 3x3, 26x26
    /// output: 49 tiles), an im2col layer (32 → 128, 3x3), a 1x1
    /// layer whose channel count is not a multiple of the split's
    /// alignment (200), an im2col layer fused with a 2x2 max-pool
    /// (200 → 72, 3x3), a direct one fused with a 2x2 max-pool
    /// (72 → 64, 3x3) and a dense layer whose outputs (2,050, not a
    /// multiple of the split's alignment) split at batch 1.
    struct Wide {
        input: [8, 24, 24],
        conv_d: conv(64, kernel = 5, pad = 2), relu,
        conv_w: conv(32, kernel = 3, pad = 2), relu,
        conv_a: conv(128, kernel = 3), relu,
        conv_b: conv(200, kernel = 1), relu,
        conv_c: conv(72, kernel = 3, pad = 1), relu, max_pool(2),
        conv_e: conv(64, kernel = 3, pad = 1), relu, max_pool(2),
        flatten,
        fc1: dense(2050), relu,
        fc: dense(10),
    }

    #[cnn(fuse = false)]
    struct WideUnfused {
        input: [8, 24, 24],
        conv_d: conv(64, kernel = 5, pad = 2), relu,
        conv_w: conv(32, kernel = 3, pad = 2), relu,
        conv_a: conv(128, kernel = 3), relu,
        conv_b: conv(200, kernel = 1), relu,
        conv_c: conv(72, kernel = 3, pad = 1), relu, max_pool(2),
        conv_e: conv(64, kernel = 3, pad = 1), relu, max_pool(2),
        flatten,
        fc1: dense(2050), relu,
        fc: dense(10),
    }
}

fn input(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect()
}

fn outputs<N: Network>(net: &N, x: &[f32]) -> Vec<Vec<f32>> {
    [1usize, 2, 3]
        .iter()
        .map(|&t| {
            cnn::set_threads(t).unwrap();
            cnn::batch::predict(net, x).unwrap()
        })
        .collect()
}

#[test]
fn layer_threads_give_the_same_bits_as_one_thread() {
    // Multiply-accumulates per sample (conv_c's per band of two conv
    // rows): 7.4 M, 12.5 M, 21 M, 14.7 M, 6.2 M, 6.0 M and fc1's 4.7 M, at
    // least two parts of `LAYER_MACS_PER_THREAD` (2 M) each.
    let kernels: Vec<&str> = Wide::PLAN.iter().map(|s| s.kernel).collect();
    assert!(kernels[1].contains("Winograd"), "{kernels:?}");
    let fused = Wide::new(cnn::Init::He, 5);
    let mut unfused = WideUnfused::new(cnn::Init::He, 5);
    unfused.weights_mut().copy_from_slice(fused.weights());
    for n in [1, 3] {
        let x = input(n * Wide::INPUT_LEN);
        for outs in [outputs(&fused, &x), outputs(&unfused, &x)] {
            for (t, out) in outs.iter().enumerate() {
                assert_eq!(
                    out.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    outs[0].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "batch {n}, {} threads against 1",
                    t + 1
                );
            }
        }
        let one = fused.predict(x[..Wide::INPUT_LEN].try_into().unwrap());
        assert_eq!(&outputs(&fused, &x)[1][..10], &one[..]);
    }
    cnn::set_threads(0).unwrap();
}
