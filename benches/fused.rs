//! Fused vs unfused conv → ReLU → max-pool blocks on one thread (AlexNet's
//! overlapping pools fused with `fuse_overlapping`, which is not the
//! default); large layers on one and two threads.
//!
//! ```text
//! cargo bench --bench fused
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

cnn::network! {
    /// LeNet-5's first block: 1 -> 6 channels, 5x5, padding 2, 28x28, 2x2 pool.
    struct Conv1Block { input: [1, 28, 28], conv(6, kernel = 5, pad = 2), relu, max_pool(2) }
    #[cnn(fuse = false)]
    struct Conv1BlockUnfused { input: [1, 28, 28], conv(6, kernel = 5, pad = 2), relu, max_pool(2) }

    /// LeNet-5's second block: 6 -> 16 channels, 5x5, 14x14, 2x2 pool.
    struct Conv2Block { input: [6, 14, 14], conv(16, kernel = 5), relu, max_pool(2) }
    #[cnn(fuse = false)]
    struct Conv2BlockUnfused { input: [6, 14, 14], conv(16, kernel = 5), relu, max_pool(2) }

    /// A VGG block: 64 -> 64 channels, 3x3, padding 1, 56x56, 2x2 pool.
    struct VggBlock { input: [64, 56, 56], conv(64, kernel = 3, pad = 1), relu, max_pool(2) }
    #[cnn(fuse = false)]
    struct VggBlockUnfused { input: [64, 56, 56], conv(64, kernel = 3, pad = 1), relu, max_pool(2) }
    /// AlexNet's first block (torchvision's: 64 channels, 224x224 input).
    #[cnn(fuse_overlapping = true)]
    struct AlexBlock { input: [3, 224, 224], conv(64, kernel = 11, stride = 4, pad = 2), relu, max_pool(3, stride = 2) }
    #[cnn(fuse = false)]
    struct AlexBlockUnfused { input: [3, 224, 224], conv(64, kernel = 11, stride = 4, pad = 2), relu, max_pool(3, stride = 2) }
    /// AlexNet's second block (im2col and GEMM, 64 -> 192, 5x5, 27x27).
    #[cnn(fuse_overlapping = true)]
    struct AlexBlock2 { input: [64, 27, 27], conv(192, kernel = 5, pad = 2), relu, max_pool(3, stride = 2) }
    #[cnn(fuse = false)]
    struct AlexBlock2Unfused { input: [64, 27, 27], conv(192, kernel = 5, pad = 2), relu, max_pool(3, stride = 2) }
    /// AlexNet's last block (im2col and GEMM, 256 -> 256, 3x3, 13x13).
    #[cnn(fuse_overlapping = true)]
    struct AlexBlock5 { input: [256, 13, 13], conv(256, kernel = 3, pad = 1), relu, max_pool(3, stride = 2) }
    #[cnn(fuse = false)]
    struct AlexBlock5Unfused { input: [256, 13, 13], conv(256, kernel = 3, pad = 1), relu, max_pool(3, stride = 2) }
    /// VGG-16's conv3 layers' shape at 28x28 (im2col and GEMM).
    struct Vgg128 { input: [128, 28, 28], conv(128, kernel = 3, pad = 1), relu }
}

fn input(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect()
}

macro_rules! pair {
    ($c:expr, $group:literal, $batch:expr, $fused:ty, $unfused:ty) => {{
        let mut g = $c.benchmark_group($group);
        let x = input($batch * <$fused>::INPUT_LEN);
        let flops = 2 * <$fused>::MACS * $batch as u64;
        g.throughput(Throughput::Elements(flops));
        let fused = <$fused>::new(cnn::Init::He, 1);
        let unfused = <$unfused>::from_weights(fused.weights().to_vec()).unwrap();
        let mut y = vec![0.0; $batch * <$fused>::OUTPUT_LEN];
        g.bench_function(BenchmarkId::new("fused", $batch), |b| {
            b.iter(|| fused.forward_batch(black_box(&x), &mut y).unwrap())
        });
        g.bench_function(BenchmarkId::new("unfused", $batch), |b| {
            b.iter(|| unfused.forward_batch(black_box(&x), &mut y).unwrap())
        });
        g.finish();
    }};
}

fn blocks(c: &mut Criterion) {
    cnn::set_threads(1).unwrap();
    pair!(c, "lenet_conv1_block", 1, Conv1Block, Conv1BlockUnfused);
    pair!(c, "lenet_conv1_block", 32, Conv1Block, Conv1BlockUnfused);
    pair!(c, "lenet_conv2_block", 1, Conv2Block, Conv2BlockUnfused);
    pair!(c, "lenet_conv2_block", 32, Conv2Block, Conv2BlockUnfused);
    pair!(c, "vgg_block", 8, VggBlock, VggBlockUnfused);
    pair!(c, "alexnet_block", 1, AlexBlock, AlexBlockUnfused);
    pair!(c, "alexnet_block2", 1, AlexBlock2, AlexBlock2Unfused);
    pair!(c, "alexnet_block5", 1, AlexBlock5, AlexBlock5Unfused);
}

/// One sample through a large layer on 1 and 2 threads: the layer splits
/// its output channels between the threads (`ops::threads`).
fn layer_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("layer_threads");
    let vgg = VggBlock::new(cnn::Init::He, 1);
    let vgg128 = Vgg128::new(cnn::Init::He, 1);
    for threads in [1, 2] {
        cnn::set_threads(threads).unwrap();
        let x = input(VggBlock::INPUT_LEN);
        let mut y = vec![0.0; VggBlock::OUTPUT_LEN];
        g.throughput(Throughput::Elements(2 * VggBlock::MACS));
        g.bench_function(
            BenchmarkId::new("vgg_block", format!("{threads}threads")),
            |b| b.iter(|| vgg.forward_batch(black_box(&x), &mut y).unwrap()),
        );
        let x = input(Vgg128::INPUT_LEN);
        let mut y = vec![0.0; Vgg128::OUTPUT_LEN];
        g.throughput(Throughput::Elements(2 * Vgg128::MACS));
        g.bench_function(
            BenchmarkId::new("vgg_conv128", format!("{threads}threads")),
            |b| b.iter(|| vgg128.forward_batch(black_box(&x), &mut y).unwrap()),
        );
    }
    cnn::set_threads(1).unwrap();
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(4));
    targets = blocks, layer_threads
}
criterion_main!(benches);
