//! 3x3 stride-1 convolutions by im2col and GEMM against Winograd's
//! F(4x4, 3x3), on VGG-16's and ResNet-18's layer shapes, batch 1, on one
//! thread and on two (the layer split between the threads of a pool, as
//! batched inference runs it). Throughput is the direct convolution's
//! FLOPs (2 per multiply-accumulate), whatever the algorithm.
//!
//! ```text
//! cargo bench --bench winograd
//! ```

use cnn::ops::{conv, winograd, Act, Conv, ConvAlgo, ConvGeom, Forward, Params};
use cnn_spec::choose_algo;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

/// A convolution's forward entry point.
type Entry<'a> = &'a (dyn Fn(&Conv, Params, Forward, &mut [f32]) + Sync);

fn values(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0)
        .collect()
}

fn layers(c: &mut Criterion) {
    for threads in [1usize, 2] {
        let pool = cnn::parallel::pool(threads).unwrap();
        let mut group = c.benchmark_group(format!("conv3x3_{threads}threads"));
        for &(ch, hw, k, name) in &[
            (64usize, 224usize, 64usize, "vgg_conv1_2"),
            (128, 112, 128, "vgg_conv2_2"),
            (256, 56, 256, "vgg_conv3_2"),
            (512, 28, 512, "vgg_conv4_2"),
            (512, 14, 512, "vgg_conv5_2"),
            (64, 56, 64, "resnet_layer1"),
            (128, 28, 128, "resnet_layer2"),
            (256, 14, 256, "resnet_layer3"),
            (512, 7, 512, "resnet_layer4"),
        ] {
            let geom = ConvGeom::new(ch, hw, hw, k, (3, 3), (1, 1), (1, 1));
            let layer = Conv {
                geom,
                algo: ConvAlgo::Im2col,
                act: Act::Identity,
                pool: None,
                bias: true,
                groups: 1,
            };
            let (w, b, x) = (values(geom.weight_len()), values(k), values(geom.in_len()));
            let mut y = vec![0.0f32; geom.out_len()];
            group.throughput(Throughput::Elements(
                2 * (geom.weight_len() * geom.out_pixels()) as u64,
            ));
            let p = Params {
                weight: &w,
                bias: Some(&b),
            };
            // One forward call of `entry` on `layer`, batch 1, in the pool.
            let mut run = |id: &str, layer: &Conv, entry: Entry, scratch_len: usize| {
                let mut scratch = vec![0.0f32; scratch_len];
                group.bench_function(BenchmarkId::new(id, name), |bch| {
                    bch.iter(|| {
                        pool.install(|| {
                            let io = Forward {
                                x: black_box(&x),
                                y: &mut y,
                                aux: None,
                                n: 1,
                            };
                            entry(layer, p, io, &mut scratch)
                        })
                    })
                });
            };
            run(
                "im2col",
                &layer,
                &conv::forward_im2col,
                conv::forward_scratch(&layer),
            );
            if choose_algo(&geom) == ConvAlgo::Direct {
                let direct = Conv {
                    algo: ConvAlgo::Direct,
                    ..layer
                };
                run(
                    "direct",
                    &direct,
                    &conv::forward_direct,
                    conv::forward_scratch(&direct),
                );
            }
            let wino = Conv {
                algo: ConvAlgo::Winograd,
                ..layer
            };
            // Weights transformed on every call (training's path) ...
            run(
                "winograd",
                &wino,
                &conv::forward_winograd,
                winograd::scratch_len(&geom),
            );
            // ... and once, as inference reads them.
            let mut u = vec![0.0f32; cnn_spec::winograd::weights_len(&geom)];
            cnn_spec::winograd::transform_weights(&w, &mut u);
            let prepared = |l: &Conv, p: Params, io: Forward, scratch: &mut [f32]| {
                conv::forward_winograd_prepared(l, p, &u, io, scratch)
            };
            run(
                "winograd_prepared",
                &wino,
                &prepared,
                winograd::prepared_scratch_len(&geom),
            );
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(2));
    targets = layers
}
criterion_main!(benches);
