//! Fused vs unfused conv → ReLU → max-pool blocks, one thread.
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
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(4));
    targets = blocks
}
criterion_main!(benches);
