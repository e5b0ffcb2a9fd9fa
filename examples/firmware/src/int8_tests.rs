//! The int8 firmware path against the host's int8 path on every held-out
//! digit: the runtime's `QNetwork` built from the same file at run time,
//! its kernels run on all 2,000 digits as one batch (at the host's best
//! int8 SIMD level), from the same 8-bit pixels; the firmware's path at
//! the scalar level, as on the microcontroller.

use std::path::Path;

use cnn::ops::int8::{self, QForward};
use cnn::ops::{ConvGeom, PoolGeom};
use cnn::quant::{LayerPlan, LayerShape, QLayer, QNetwork, QuantizedModel};

use super::*;

const fn dense(
    name: &'static str,
    inputs: usize,
    outputs: usize,
    relu: bool,
) -> LayerPlan<'static> {
    LayerPlan {
        name,
        shape: LayerShape::Dense {
            inputs,
            outputs,
            relu,
            bias: true,
        },
    }
}

fn conv(name: &'static str, geom: ConvGeom) -> LayerPlan<'static> {
    LayerPlan {
        name,
        shape: LayerShape::Conv {
            geom,
            pool: Some(PoolGeom::new(
                geom.k,
                geom.oh,
                geom.ow,
                (2, 2),
                (2, 2),
                (0, 0),
            )),
            relu: true,
            bias: true,
        },
    }
}

/// The host's int8 logits of `n` quantized inputs `x`, layer by layer.
fn host_logits(net: &QNetwork, x: &[i8], n: usize) -> Vec<i8> {
    let mut h = x.to_vec();
    for (i, e) in net.layers.iter().enumerate() {
        let params = net.params(i);
        let (out, y) = match &e.layer {
            QLayer::Conv(l) => {
                let mut y = vec![0; n * l.out_len()];
                let mut scratch = vec![0; l.scratch_len()];
                let io = QForward {
                    x: &h,
                    y: &mut y,
                    n,
                };
                int8::conv_forward(l, params, io, &mut scratch);
                (l.out_len(), y)
            }
            QLayer::Dense(l) => {
                let mut y = vec![0; n * l.outputs];
                int8::dense_forward(
                    l,
                    params,
                    QForward {
                        x: &h,
                        y: &mut y,
                        n,
                    },
                );
                (l.outputs, y)
            }
        };
        assert_eq!(y.len(), n * out);
        h = y;
    }
    h
}

#[test]
fn int8_firmware_scores_as_the_host_int8_path_on_all_held_out_digits() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("lenet5_int8.safetensors");
    let model = QuantizedModel::load(&file).unwrap();
    let plan = [
        conv("conv1", ConvGeom::new(1, 28, 28, 6, (5, 5), (1, 1), (2, 2))),
        conv(
            "conv2",
            ConvGeom::new(6, 14, 14, 16, (5, 5), (1, 1), (0, 0)),
        ),
        dense("fc1", 400, 120, true),
        dense("fc2", 120, 84, true),
        dense("fc3", 84, 10, false),
    ];
    let host = QNetwork::build(&plan, &model, &file).unwrap();
    assert_eq!(host.input, LeNet5Int8::INPUT_QUANT);
    assert_eq!(host.output(), LeNet5Int8::OUTPUT_QUANT);

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist");
    let test = cnn::data::mnist::load(Path::new(dir), "t2k").unwrap();
    let labels = test.labels().unwrap();
    let n = labels.len();
    assert_eq!(n, 2000);
    let mut pixels = vec![[0u8; 784]; n];
    let mut x = vec![0i8; n * 784];
    for (i, p) in pixels.iter_mut().enumerate() {
        for (p, &v) in p.iter_mut().zip(test.input(i)) {
            *p = (v * 255.0).round() as u8;
        }
        // The host quantizes the f32 standardised pixels with the runtime's
        // batch kernel.
        let mut f = [0.0f32; 784];
        standardize(p, &mut f);
        int8::quantize(host.input, &f, &mut x[i * 784..(i + 1) * 784]);
    }
    let expected = host_logits(&host, &x, n);

    // The firmware path at the scalar level, as on the microcontroller.
    assert!(cnn::simd::int8::force(cnn::simd::int8::QLevel::Scalar));
    let mut arena = LeNet5Int8Arena::new();
    let (mut ours, mut theirs) = (0, 0);
    for (i, p) in pixels.iter().enumerate() {
        let (class, prob, logits) = classify_int8(p, &mut arena);
        let row = &expected[i * 10..(i + 1) * 10];
        assert_eq!(logits[..], row[..], "digit {i}: int8 logits");
        assert!(prob > 0.0 && prob <= 1.0);
        let best = (0..10).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        assert_eq!(class, best, "digit {i}");
        ours += usize::from(class == labels[i]);
        theirs += usize::from(best == labels[i]);
    }
    cnn::simd::int8::unforce();
    assert_eq!(ours, theirs);
    // The f32 network gets 1,964 of them (BENCHMARKS.md).
    assert!(ours >= 1950, "{ours}/{n}");
}

#[test]
fn int8_classifies_the_bundled_digits_as_the_f32_network() {
    let mut arena = LeNet5Int8Arena::new();
    let mut f32_arena = LeNet5Arena::new();
    for d in &DIGITS {
        assert_eq!(
            classify_int8(d, &mut arena).0,
            classify(d, &mut f32_arena).0
        );
    }
}
