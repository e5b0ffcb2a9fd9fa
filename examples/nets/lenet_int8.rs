// LeNet-5 in int8, composed by hand from the int8 kernels, and the f32
// LeNet-5 unfused from the f32 kernels (to observe its activations for
// calibration): shared by the example `lenet_int8`, the tests and the
// benchmarks (`#[path = "../examples/nets/lenet_int8.rs"] mod lenet_int8;`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use cnn::ops::int8::{self, QForward};
use cnn::ops::{self, Act, Conv, ConvGeom, Dense, Forward, Params, PoolGeom};
use cnn::quant::{
    quantize_network, Calibrator, LayerPlan, LayerShape, Method, QLayer, QNetwork, QuantizedModel,
    INPUT,
};
use cnn::ParamInfo;

/// The training set's pixel mean and standard deviation (pixels in [0, 1]),
/// as in `examples/firmware/src/lib.rs`.
pub const MEAN: f32 = 0.131_074_28;
/// See [`MEAN`].
pub const STD: f32 = 0.308_688_52;

/// Digits of the training split used for calibration (the first ones).
pub const CALIBRATION_DIGITS: usize = 512;

pub const CONV1: ConvGeom = ConvGeom::new(1, 28, 28, 6, (5, 5), (1, 1), (2, 2));
pub const POOL1: PoolGeom = PoolGeom::new(6, 28, 28, (2, 2), (2, 2), (0, 0));
pub const CONV2: ConvGeom = ConvGeom::new(6, 14, 14, 16, (5, 5), (1, 1), (0, 0));
pub const POOL2: PoolGeom = PoolGeom::new(16, 10, 10, (2, 2), (2, 2), (0, 0));

/// The weighted layers of LeNet-5, in order.
pub const PLAN: [LayerPlan<'static>; 5] = [
    LayerPlan {
        name: "conv1",
        shape: LayerShape::Conv {
            geom: CONV1,
            pool: Some(POOL1),
            relu: true,
            bias: true,
        },
    },
    LayerPlan {
        name: "conv2",
        shape: LayerShape::Conv {
            geom: CONV2,
            pool: Some(POOL2),
            relu: true,
            bias: true,
        },
    },
    dense("fc1", 400, 120, true),
    dense("fc2", 120, 84, true),
    dense("fc3", 84, 10, false),
];

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

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Standardises pixels in [0, 1] as in training.
pub fn standardize(x: &mut [f32]) {
    for v in x {
        *v = (*v - MEAN) / (STD + 1e-8);
    }
}

/// The held-out digits (standardised) and their labels.
pub fn test_digits() -> (Vec<f32>, Vec<usize>) {
    let test = cnn::data::mnist::load(&root().join("data/mnist"), "t2k").expect("MNIST t2k");
    let mut x = test.inputs().to_vec();
    standardize(&mut x);
    (x, test.labels().expect("labels").to_vec())
}

/// The first `n` training digits (standardised): the calibration set.
pub fn calibration_digits(n: usize) -> Vec<f32> {
    let train = cnn::data::mnist::load(&root().join("data/mnist"), "train").expect("MNIST train");
    let mut x = train.inputs()[..n * 784].to_vec();
    standardize(&mut x);
    x
}

/// The f32 LeNet-5 trained by `lenet_mnist` (`examples/firmware/lenet5.safetensors`).
pub struct F32Lenet {
    pub params: &'static [ParamInfo],
    pub weights: Vec<f32>,
    /// The preprocessing saved with it (the training set's standardisation).
    pub preprocessing: Option<cnn::data::Preprocessing>,
}

impl F32Lenet {
    pub fn load() -> Self {
        let path = root().join("examples/firmware/lenet5.safetensors");
        let model = cnn::Model::<crate::classic::LeNet5>::load(&path).expect("lenet5.safetensors");
        F32Lenet {
            params: crate::classic::LeNet5::PARAMS,
            weights: model.network.weights().to_vec(),
            preprocessing: model.preprocessing,
        }
    }

    fn tensor(&self, name: &str) -> &[f32] {
        let p = self.params.iter().find(|p| p.name == name).expect(name);
        &self.weights[p.range()]
    }

    fn params(&self, layer: &str) -> Params<'_> {
        Params {
            weight: self.tensor(&format!("{layer}.weight")),
            bias: Some(self.tensor(&format!("{layer}.bias"))),
        }
    }

    /// The unfused f32 forward pass of `n` samples, keeping every value
    /// the int8 network quantizes: `input`, then each weighted layer's
    /// output after its ReLU and pool (named as the layer).
    pub fn forward(&self, x: &[f32], n: usize) -> Vec<(&'static str, Vec<f32>)> {
        let conv = |geom: ConvGeom| Conv {
            geom,
            algo: cnn::ops::ConvAlgo::Direct,
            act: Act::Relu,
            pool: None,
            bias: true,
            groups: 1,
        };
        let mut out = vec![("input", x[..n * 784].to_vec())];
        let mut h = x[..n * 784].to_vec();
        for (name, geom, pool) in [("conv1", CONV1, POOL1), ("conv2", CONV2, POOL2)] {
            let l = conv(geom);
            let mut z = vec![0.0; n * geom.out_len()];
            let mut scratch = vec![0.0; ops::conv::forward_scratch(&l)];
            let io = Forward {
                x: &h,
                y: &mut z,
                aux: None,
                n,
            };
            ops::conv::forward(&l, self.params(name), io, &mut scratch);
            let mut p = vec![0.0; n * pool.out_len()];
            ops::pool::max_forward(&pool, &z, &mut p, None, n);
            out.push((name, p.clone()));
            h = p;
        }
        for (name, inputs, outputs, act) in [
            ("fc1", 400, 120, Act::Relu),
            ("fc2", 120, 84, Act::Relu),
            ("fc3", 84, 10, Act::Identity),
        ] {
            let l = Dense {
                inputs,
                outputs,
                act,
                bias: true,
            };
            let mut y = vec![0.0; n * outputs];
            let io = Forward {
                x: &h,
                y: &mut y,
                aux: None,
                n,
            };
            ops::dense::forward(&l, self.params(name), io);
            out.push((name, y.clone()));
            h = y;
        }
        out
    }

    /// Calibrates on `x` (`n` samples, in batches of 64) and quantizes;
    /// the quantized model carries the f32 model's preprocessing.
    pub fn quantize(&self, x: &[f32], n: usize, method: Method) -> QuantizedModel {
        let mut cal = Calibrator::new();
        for start in (0..n).step_by(64) {
            let b = (n - start).min(64);
            for (name, values) in self.forward(&x[start * 784..], b) {
                cal.observe(if name == "input" { INPUT } else { name }, &values);
            }
        }
        let ranges = cal.finish(method).expect("calibration");
        let mut model =
            quantize_network(&PLAN, self.params, &self.weights, &ranges).expect("quantize");
        model
            .set_preprocessing(self.preprocessing.as_ref(), &[1, 28, 28])
            .expect("the f32 model's preprocessing fits");
        model
    }
}

/// The int8 LeNet-5: descriptors and blob, and the arena layout of one
/// sample (bytes): input 784, conv1 out 1,176, conv2 out 400, fc1 120, fc2
/// 84, fc3 10, then the conv scratch.
pub struct Int8Lenet {
    pub net: QNetwork,
}

/// Arena regions per sample (the two activations alive at once sit apart).
pub const A_INPUT: (usize, usize) = (0, 784);
pub const A_CONV1: (usize, usize) = (784, 784 + 1176);
pub const A_CONV2: (usize, usize) = (0, 400);
pub const A_FC1: (usize, usize) = (400, 520);
pub const A_FC2: (usize, usize) = (0, 84);
pub const A_FC3: (usize, usize) = (84, 94);
/// Bytes of activations per sample.
pub const ACTIVATION_BYTES: usize = 784 + 1176;

impl Int8Lenet {
    pub fn new(model: &QuantizedModel) -> Self {
        let net = QNetwork::build(&PLAN, model, Path::new("<memory>")).expect("int8 LeNet-5");
        Int8Lenet { net }
    }

    pub fn load(path: &Path) -> Self {
        let model = QuantizedModel::load(path).expect("quantized model");
        let net = QNetwork::build(&PLAN, &model, path).expect("int8 LeNet-5");
        Int8Lenet { net }
    }

    fn conv(&self, i: usize) -> &int8::QConv {
        match &self.net.layers[i].layer {
            QLayer::Conv(l) => l,
            QLayer::Dense(_) => unreachable!(),
        }
    }

    fn dense(&self, i: usize) -> &int8::QDense {
        match &self.net.layers[i].layer {
            QLayer::Dense(l) => l,
            QLayer::Conv(_) => unreachable!(),
        }
    }

    /// Bytes of scratch one call needs (shared by both convolutions).
    pub fn scratch_len(&self) -> usize {
        self.conv(0).scratch_len().max(self.conv(1).scratch_len())
    }

    /// An arena for `n` samples.
    pub fn arena(&self, n: usize) -> Vec<i8> {
        vec![0; n * ACTIVATION_BYTES + self.scratch_len()]
    }

    /// The int8 logits of `n` samples whose int8 input is already in the
    /// arena's input region.
    pub fn forward_int8(&self, arena: &mut [i8], n: usize) {
        let (acts, scratch) = arena.split_at_mut(n * ACTIVATION_BYTES);
        let r = |a: (usize, usize)| n * a.0..n * a.1;
        let (input, rest) = acts.split_at_mut(r(A_CONV1).start);
        let io = QForward {
            x: &input[r(A_INPUT)],
            y: &mut rest[..n * 1176],
            n,
        };
        int8::conv_forward(self.conv(0), self.net.params(0), io, scratch);
        let (low, high) = acts.split_at_mut(r(A_CONV1).start);
        let io = QForward {
            x: &high[..n * 1176],
            y: &mut low[r(A_CONV2)],
            n,
        };
        int8::conv_forward(self.conv(1), self.net.params(1), io, scratch);
        for (i, from, to) in [(2, A_CONV2, A_FC1), (3, A_FC1, A_FC2), (4, A_FC2, A_FC3)] {
            let (a, b) = (r(from), r(to));
            let (x, y) = if a.end <= b.start {
                let (lo, hi) = acts.split_at_mut(b.start);
                (&lo[a.clone()], &mut hi[..b.len()])
            } else {
                let (lo, hi) = acts.split_at_mut(a.start);
                (&hi[..a.len()], &mut lo[b.clone()])
            };
            let io = QForward { x, y, n };
            int8::dense_forward(self.dense(i), self.net.params(i), io);
        }
    }

    /// f32 logits of `n` standardised samples `x`.
    pub fn infer(&self, x: &[f32], arena: &mut [i8], logits: &mut [f32], n: usize) {
        int8::quantize(self.net.input, &x[..n * 784], &mut arena[..n * 784]);
        self.forward_int8(arena, n);
        let out = &arena[n * A_FC3.0..n * A_FC3.1];
        int8::dequantize(self.net.output(), out, &mut logits[..n * 10]);
    }

    /// The int8 logits of `n` samples (after `forward_int8`).
    pub fn logits_int8<'a>(&self, arena: &'a [i8], n: usize) -> &'a [i8] {
        &arena[n * A_FC3.0..n * A_FC3.1]
    }
}

/// The index of the largest of each row of 10.
pub fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b })
}

/// Correct classifications of f32 logits `[n, 10]`.
pub fn correct(logits: &[f32], labels: &[usize]) -> usize {
    labels
        .iter()
        .enumerate()
        .filter(|(i, &l)| argmax(&logits[i * 10..(i + 1) * 10]) == l)
        .count()
}
