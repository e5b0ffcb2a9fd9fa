//! From a trained f32 network to an int8 one: [`quantize_network`] makes
//! the quantized tensors (the weights file), [`QNetwork::build`] the
//! descriptors and the parameter blob the kernels read.

use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use cnn_spec::quant::file::{self, read_layer};
use cnn_spec::quant::{
    blob_region_start, pack_conv, pack_dense, quantize_bias, quantize_weight, weight_scale, QConv,
    QDense, QParams,
};
use cnn_spec::{ConvGeom, PoolGeom};

use super::calibrate::Ranges;
use super::model::{QTensor, QuantizedModel};
use crate::error::Error;
use crate::summary::ParamInfo;

/// The calibration name of the network's input tensor.
pub const INPUT: &str = "input";

/// A weighted layer of a network to quantize, as its f32 declaration says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerShape {
    /// A convolution, then optionally ReLU and a max-pool.
    Conv {
        /// Its geometry.
        geom: ConvGeom,
        /// The max-pool after it, if any (fused in the int8 kernel).
        pool: Option<PoolGeom>,
        /// Whether a ReLU follows.
        relu: bool,
        /// Whether it has a bias.
        bias: bool,
    },
    /// A dense layer, then optionally ReLU.
    Dense {
        /// Inputs.
        inputs: usize,
        /// Outputs.
        outputs: usize,
        /// Whether a ReLU follows.
        relu: bool,
        /// Whether it has a bias.
        bias: bool,
    },
}

impl LayerShape {
    /// The PyTorch shape of the weights.
    pub fn weight_shape(&self) -> Vec<usize> {
        match *self {
            LayerShape::Conv { geom: g, .. } => vec![g.k, g.c, g.kh, g.kw],
            LayerShape::Dense {
                inputs, outputs, ..
            } => vec![outputs, inputs],
        }
    }

    fn has_bias(&self) -> bool {
        match *self {
            LayerShape::Conv { bias, .. } | LayerShape::Dense { bias, .. } => bias,
        }
    }
}

/// A named weighted layer. In a chain, each layer reads the output of the
/// one before it (max-pools, flatten and ReLU between them keep the int8
/// parameters), the first one the network's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerPlan<'a> {
    /// Its name: the prefix of its tensors (`conv1` for `conv1.weight`)
    /// and the calibration name of its output (after its ReLU and pool).
    pub name: &'a str,
    /// What it is.
    pub shape: LayerShape,
}

/// Quantizes a chain of weighted layers: per output channel, symmetric
/// int8 weights with `scale = max|w| / 127`; int32 biases with scale `s_in *
/// s_w[k]`; activations with the calibrated `ranges` (tensor [`INPUT`]
/// for the network's input, each layer's name for its output). `params`
/// and `weights` are the f32 network's tensors (its `PARAMS` table and
/// parameter buffer); only the layers of `plan` are read.
///
/// The result is what the weights file holds (see
/// `cnn_spec::quant::file`); [`QNetwork::build`] turns it into kernels'
/// parameters.
pub fn quantize_network(
    plan: &[LayerPlan],
    params: &[ParamInfo],
    weights: &[f32],
    ranges: &Ranges,
) -> Result<QuantizedModel, Error> {
    let config = |message: String| Error::Config { message };
    let tensor = |name: String, shape: &[usize]| -> Result<&[f32], Error> {
        let p = params
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| config(format!("the network has no tensor `{name}`")))?;
        if p.shape != shape {
            return Err(config(format!(
                "tensor `{name}` is {:?}, the layer needs {shape:?}",
                p.shape
            )));
        }
        weights
            .get(p.range())
            .ok_or_else(|| config(format!("the weights end before tensor `{name}`")))
    };
    let activation = |name: &str| {
        ranges
            .get(name)
            .ok_or_else(|| config(format!("no calibrated range for tensor `{name}`")))
    };
    let mut model = QuantizedModel::default();
    let mut input = activation(INPUT)?;
    push_qparams(&mut model, file::INPUT_PREFIX, input);
    for layer in plan {
        let shape = layer.shape.weight_shape();
        let w = tensor(format!("{}.weight", layer.name), &shape)?;
        let channels = shape[0];
        let patch = w.len() / channels;
        let mut scales = Vec::with_capacity(channels);
        let mut q = Vec::with_capacity(w.len());
        for row in w.chunks_exact(patch) {
            let absmax = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let s = weight_scale(absmax);
            scales.push(s);
            q.extend(row.iter().map(|&v| quantize_weight(v, s)));
        }
        let name = layer.name;
        model
            .tensors
            .push(QTensor::i8(&format!("{name}.weight"), &shape, &q));
        model.tensors.push(QTensor::f32(
            &format!("{name}.weight_scale"),
            &[channels],
            &scales,
        ));
        if layer.shape.has_bias() {
            let b = tensor(format!("{name}.bias"), &[channels])?;
            let qb: Vec<i32> = b
                .iter()
                .zip(&scales)
                .map(|(&b, &s)| quantize_bias(b, input.scale, s))
                .collect();
            model
                .tensors
                .push(QTensor::i32(&format!("{name}.bias"), &[channels], &qb));
        }
        let output = activation(name)?;
        push_qparams(&mut model, name, output);
        input = output;
    }
    model.metadata.push((
        "scheme".into(),
        "TFLite int8: symmetric per-channel int8 weights, asymmetric per-tensor int8 activations, int32 biases".into(),
    ));
    Ok(model)
}

fn push_qparams(model: &mut QuantizedModel, prefix: &str, q: QParams) {
    model
        .tensors
        .push(QTensor::f32(&format!("{prefix}.scale"), &[], &[q.scale]));
    model.tensors.push(QTensor::i8(
        &format!("{prefix}.zero_point"),
        &[],
        &[q.zero_point],
    ));
}

/// An int8 layer's descriptor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QLayer {
    /// A convolution (→ ReLU → max-pool).
    Conv(QConv),
    /// A dense layer (→ ReLU).
    Dense(QDense),
}

impl QLayer {
    /// Bytes of the layer's blob region.
    pub fn blob_len(&self) -> usize {
        match self {
            QLayer::Conv(l) => l.layout().len,
            QLayer::Dense(l) => l.layout().len,
        }
    }

    /// The output's parameters.
    pub fn output(&self) -> QParams {
        match self {
            QLayer::Conv(l) => l.output,
            QLayer::Dense(l) => l.output,
        }
    }
}

/// One layer of a [`QNetwork`].
#[derive(Clone, Debug, PartialEq)]
pub struct QLayerEntry {
    /// Its name.
    pub name: String,
    /// Its descriptor.
    pub layer: QLayer,
    /// Its region's offset in the blob.
    pub offset: usize,
}

/// An int8 chain network ready to run: descriptors and the parameter blob.
#[derive(Clone, Debug, PartialEq)]
pub struct QNetwork {
    /// The network input's parameters.
    pub input: QParams,
    /// The layers, in order.
    pub layers: Vec<QLayerEntry>,
    /// The parameter blob (layer regions at multiples of 64 bytes).
    pub blob: Vec<u8>,
}

impl QNetwork {
    /// Checks `model`'s tensors against `plan` (names, dtypes, shapes,
    /// scales) and packs the blob. `path` names the model's file in errors.
    pub fn build(plan: &[LayerPlan], model: &QuantizedModel, path: &Path) -> Result<Self, Error> {
        let bad = |message: String| Error::Data {
            path: Some(path.into()),
            message,
        };
        let shapes: Vec<Vec<usize>> = plan.iter().map(|l| l.shape.weight_shape()).collect();
        let lookup = model.lookup();
        let input =
            file::read_qparams(&lookup, file::INPUT_PREFIX).map_err(|e| bad(e.to_string()))?;
        let mut current = input;
        let mut layers = Vec::new();
        let mut end = 0;
        for (l, shape) in plan.iter().zip(&shapes) {
            let t = read_layer(&lookup, l.name, shape, l.shape.has_bias())
                .map_err(|e| bad(e.to_string()))?;
            let layer = match l.shape {
                LayerShape::Conv {
                    geom,
                    pool,
                    relu,
                    bias,
                } => QLayer::Conv(QConv {
                    geom,
                    pool,
                    relu,
                    bias,
                    input: current,
                    output: t.output,
                }),
                LayerShape::Dense {
                    inputs,
                    outputs,
                    relu,
                    bias,
                } => QLayer::Dense(QDense {
                    inputs,
                    outputs,
                    relu,
                    bias,
                    input: current,
                    output: t.output,
                }),
            };
            let offset = blob_region_start(end);
            end = offset + layer.blob_len();
            layers.push((l.name, layer, offset, t.raw));
            current = t.output;
        }
        let mut blob = vec![0u8; blob_region_start(end)];
        let mut entries = Vec::new();
        for (name, layer, offset, raw) in layers {
            let region = &mut blob[offset..offset + layer.blob_len()];
            match &layer {
                QLayer::Conv(l) => pack_conv(l, raw, region),
                QLayer::Dense(l) => pack_dense(l, raw, region),
            }
            .map_err(|e| bad(format!("layer `{name}`: {e}")))?;
            entries.push(QLayerEntry {
                name: name.to_string(),
                layer,
                offset,
            });
        }
        Ok(QNetwork {
            input,
            layers: entries,
            blob,
        })
    }

    /// Layer `i`'s region of the blob.
    pub fn params(&self, i: usize) -> &[u8] {
        let e = &self.layers[i];
        &self.blob[e.offset..e.offset + e.layer.blob_len()]
    }

    /// The last layer's output parameters (the logits').
    pub fn output(&self) -> QParams {
        self.layers.last().map_or(self.input, |e| e.layer.output())
    }
}
