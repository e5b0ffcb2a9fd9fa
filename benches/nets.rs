//! Whole ImageNet-sized networks in torchvision's layout, 224x224x3 input,
//! 2 threads: forward at batch 1 and 8 (ResNet-18, GoogLeNet, AlexNet,
//! VGG-16) and a training step at batch 8 for ResNet-18 and VGG-16
//! (softmax log-loss, SGD with momentum 0.9, batch norm and dropout in
//! training mode).
//!
//! ```text
//! cargo bench --bench nets                      # everything (about 5 minutes)
//! cargo bench --bench nets -- resnet18          # one network
//! ```
//!
//! The peers on the same work, in the same session:
//! `python ../shared/peers/nets_peers.py resnet18 --train 8` (PyTorch eager
//! and ONNX Runtime, the same shapes and thread count). Weights are He
//! initialised; the time of a forward pass does not depend on their values.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

#[path = "../examples/nets/torchvision.rs"]
#[allow(dead_code)]
mod torchvision;

use cnn::train::{Optimizer, TargetRef, TrainConfig, Trainer};
use torchvision::{AlexNetTv, GoogLeNetTv, ResNet18, Vgg16Tv};

const THREADS: usize = 2;

fn images(n: usize) -> Vec<f32> {
    (0..n * 3 * 224 * 224)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect()
}

macro_rules! forward {
    ($c:expr, $group:literal, $net:ty) => {{
        let mut g = $c.benchmark_group($group);
        let net = <$net>::new(cnn::Init::He, 1);
        for batch in [1usize, 8] {
            let x = images(batch);
            let mut y = vec![0.0; batch * <$net>::OUTPUT_LEN];
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_function(BenchmarkId::new("forward_2threads", batch), |b| {
                b.iter(|| net.forward_batch(black_box(&x), &mut y).unwrap())
            });
        }
        g.finish();
    }};
}

fn forward(c: &mut Criterion) {
    cnn::set_threads(THREADS).unwrap();
    forward!(c, "resnet18", ResNet18);
    forward!(c, "googlenet", GoogLeNetTv);
    forward!(c, "alexnet", AlexNetTv);
    forward!(c, "vgg16", Vgg16Tv);
}

macro_rules! train_step {
    ($c:expr, $group:literal, $net:ty, $lr:expr) => {{
        let mut g = $c.benchmark_group($group);
        let batch = 8;
        let x = images(batch);
        let labels: Vec<usize> = (0..batch).map(|i| i * 127 % 1000).collect();
        let mut net = <$net>::new(cnn::Init::He, 1);
        let config = TrainConfig::default()
            .threads(THREADS)
            .optimizer(Optimizer::sgd($lr, 0.9))
            .quiet();
        let mut session = Trainer::new(config).session::<$net>(batch).unwrap();
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(BenchmarkId::new("train_step_2threads", batch), |b| {
            b.iter(|| {
                session
                    .step(&mut net, black_box(&x), TargetRef::Classes(&labels), batch)
                    .unwrap()
            })
        });
        g.finish();
    }};
}

fn train_step(c: &mut Criterion) {
    train_step!(c, "resnet18", ResNet18, 0.01);
    // He-initialised VGG-16 (no batch norm) diverges on one repeated batch
    // at 0.01; the step's work does not depend on the rate.
    train_step!(c, "vgg16", Vgg16Tv, 0.001);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = forward, train_step
}
criterion_main!(benches);
