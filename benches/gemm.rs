//! The crate's GEMM on square and convolution-shaped problems, one thread.
//!
//! ```text
//! cargo bench --bench gemm
//! ```

use cnn::ops::gemm::{sgemm, Layout};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

fn gemm(c: &mut Criterion) {
    let mut g = c.benchmark_group("sgemm");
    for &(m, k, n, name) in &[
        (1024usize, 1024usize, 1024usize, "square_1024"),
        (64, 576, 3136, "vgg_block_conv"),
        (16, 150, 100, "lenet_conv2"),
        (120, 400, 64, "lenet_fc1_batch64"),
        (512, 4608, 49, "resnet18_layer4_conv"),
    ] {
        let a: Vec<f32> = (0..m * k).map(|i| (i % 17) as f32 * 0.01).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i % 13) as f32 * 0.01).collect();
        let mut out = vec![0.0f32; m * n];
        g.throughput(Throughput::Elements(2 * (m * k * n) as u64));
        g.bench_function(BenchmarkId::new(name, format!("{m}x{k}x{n}")), |bch| {
            bch.iter(|| {
                sgemm(
                    black_box(&a),
                    Layout::row_major(m, k),
                    black_box(&b),
                    Layout::row_major(k, n),
                    0.0,
                    &mut out,
                    Layout::row_major(m, n),
                )
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = gemm
}
criterion_main!(benches);
