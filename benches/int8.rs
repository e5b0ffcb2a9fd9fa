//! Int8 LeNet-5 against the f32 one, batch 1 and 64 on one thread, and
//! the int8 layers on their own.
//!
//! ```text
//! cargo bench --bench int8
//! /tmp/ort-venv/bin/python benches/lenet_int8_ort.py --bench 1   # ONNX Runtime's quantized model
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

#[path = "../examples/nets/classic.rs"]
mod classic;
#[path = "../examples/nets/lenet_int8.rs"]
mod lenet_int8;

use cnn::ops::int8::{self, QForward};
use cnn::quant::{Method, QLayer};
use lenet_int8::{F32Lenet, Int8Lenet, CALIBRATION_DIGITS};

fn lenet(c: &mut Criterion) {
    let f32_net = F32Lenet::load();
    let cal = lenet_int8::calibration_digits(CALIBRATION_DIGITS);
    let net = Int8Lenet::new(&f32_net.quantize(&cal, CALIBRATION_DIGITS, Method::MinMax));
    let fused = classic::LeNet5::from_weights(f32_net.weights.clone()).unwrap();
    let (x, _) = lenet_int8::test_digits();
    cnn::set_threads(1).expect("one thread");
    let mut g = c.benchmark_group("lenet5_int8");
    for n in [1usize, 64] {
        g.throughput(Throughput::Elements(n as u64));
        let mut arena = net.arena(n);
        let mut logits = vec![0.0; n * 10];
        g.bench_function(BenchmarkId::new("int8", n), |b| {
            b.iter(|| net.infer(black_box(&x), &mut arena, &mut logits, n))
        });
        let mut y = vec![0.0; n * 10];
        if n == 1 {
            // As `benches/lenet.rs` measures batch 1: `infer` in an arena.
            let x1: [f32; 784] = x[..784].try_into().unwrap();
            let mut arena = classic::LeNet5Arena::new();
            g.bench_function(BenchmarkId::new("f32", n), |b| {
                b.iter(|| fused.infer(black_box(&x1), &mut arena))
            });
        } else {
            g.bench_function(BenchmarkId::new("f32", n), |b| {
                b.iter(|| {
                    fused
                        .forward_batch(black_box(&x[..n * 784]), &mut y)
                        .unwrap()
                })
            });
        }
    }
    g.finish();

    // The int8 layers alone, batch 1.
    let mut g = c.benchmark_group("int8_layers");
    let mut arena = net.arena(1);
    net.infer(&x, &mut arena, &mut [0.0; 10], 1);
    let mut scratch = vec![0i8; net.scratch_len()];
    let input = arena[..784].to_vec();
    let mut out = vec![0i8; 1176];
    for (i, e) in net.net.layers.iter().enumerate() {
        let params = net.net.params(i);
        match &e.layer {
            QLayer::Conv(l) => {
                let xin = if i == 0 {
                    input.clone()
                } else {
                    vec![3i8; l.in_len()]
                };
                g.bench_function(e.name.as_str(), |b| {
                    b.iter(|| {
                        let io = QForward {
                            x: black_box(&xin),
                            y: &mut out,
                            n: 1,
                        };
                        int8::conv_forward(l, params, io, &mut scratch)
                    })
                });
            }
            QLayer::Dense(l) => {
                let xin = vec![3i8; l.inputs];
                g.bench_function(e.name.as_str(), |b| {
                    b.iter(|| {
                        let io = QForward {
                            x: black_box(&xin),
                            y: &mut out,
                            n: 1,
                        };
                        int8::dense_forward(l, params, io)
                    })
                });
            }
        }
    }
    let mut q = vec![0i8; 784];
    g.bench_function("quantize", |b| {
        b.iter(|| int8::quantize(net.net.input, black_box(&x[..784]), &mut q))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = lenet
}
criterion_main!(benches);
