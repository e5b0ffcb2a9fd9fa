//! LeNet-5: forward at batch 1 (1 thread) and 64 (2 threads), and the
//! training step at batch 32 and 64 (2 threads).
//!
//! ```text
//! cargo bench --bench lenet
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

#[path = "../examples/nets/classic.rs"]
mod classic;

use classic::LeNet5;
use cnn::train::{TargetRef, TrainConfig, Trainer};

cnn::network! {
    #[cnn(fuse = false)]
    struct LeNet5Unfused {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }
}

fn digits(n: usize) -> Vec<f32> {
    (0..n * 784)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect()
}

fn forward(c: &mut Criterion) {
    let net = LeNet5::new(cnn::Init::PyTorch, 1);
    let unfused = LeNet5Unfused::from_weights(net.weights().to_vec()).unwrap();
    let mut g = c.benchmark_group("lenet5_forward");
    let x1: [f32; 784] = digits(1).try_into().unwrap();
    let mut arena = classic::LeNet5Arena::new();
    g.throughput(Throughput::Elements(1));
    g.bench_function(BenchmarkId::new("fused_1thread", 1), |b| {
        b.iter(|| net.infer(black_box(&x1), &mut arena))
    });
    let mut arena_u = LeNet5UnfusedArena::new();
    g.bench_function(BenchmarkId::new("unfused_1thread", 1), |b| {
        b.iter(|| unfused.infer(black_box(&x1), &mut arena_u))
    });
    let x64 = digits(64);
    let mut y = vec![0.0; 64 * 10];
    g.throughput(Throughput::Elements(64));
    for threads in [1, 2] {
        cnn::set_threads(threads).unwrap();
        g.bench_function(
            BenchmarkId::new(format!("fused_{threads}threads"), 64),
            |b| b.iter(|| net.forward_batch(black_box(&x64), &mut y).unwrap()),
        );
    }
    g.finish();
}

fn train_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("lenet5_train_step");
    for batch in [32usize, 64] {
        let x = digits(batch);
        let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
        g.throughput(Throughput::Elements(batch as u64));
        for threads in [1usize, 2] {
            let mut net = LeNet5::new(cnn::Init::PyTorch, 1);
            let config = TrainConfig::default().threads(threads).quiet();
            let mut session = Trainer::new(config).session::<LeNet5>(batch).unwrap();
            g.bench_function(BenchmarkId::new(format!("{threads}threads"), batch), |b| {
                b.iter(|| {
                    session
                        .step(&mut net, black_box(&x), TargetRef::Classes(&labels), batch)
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(40).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(4));
    targets = forward, train_step
}
criterion_main!(benches);
