//! The quantized weights file: safetensors with PyTorch-style names, and
//! the checks that read one layer's tensors from it.
//!
//! | tensor | dtype | shape | what |
//! | --- | --- | --- | --- |
//! | `quant.scale` | F32 | `[]` | scale of the network's input (PyTorch's `QuantStub` named `quant`) |
//! | `quant.zero_point` | I8 | `[]` | zero point of the network's input |
//! | `<layer>.weight` | I8 | `[K, C, kh, kw]` or `[O, I]` | symmetric int8 weights, in `[-127, 127]` |
//! | `<layer>.weight_scale` | F32 | `[K]` | per-output-channel weight scales (zero points are 0) |
//! | `<layer>.bias` | I32 | `[K]` | int32 bias, scale `s_in * weight_scale[k]`, zero point 0 (layers with a bias) |
//! | `<layer>.scale` | F32 | `[]` | scale of the layer's output (after its ReLU) |
//! | `<layer>.zero_point` | I8 | `[]` | zero point of the layer's output |
//!
//! The file's metadata holds `"format": "cnn-int8"` and `"version": "1"`.
//! A layer's input parameters are those of the tensor it reads: the
//! network's input (`quant.*`) for the first layer, else the output of the
//! layer before it (max-pool, flatten and ReLU keep the parameters).
//!
//! This module does not parse files: the caller (the runtime with `std`,
//! or `network!` at expansion time, both through the `safetensors` crate)
//! looks tensors up and hands them over as [`TensorInfo`]s.

use core::fmt;

use super::layer::{QConv, QDense};
use super::pack::RawLayer;
use super::params::QParams;

/// The `format` metadata value of a quantized weights file.
pub const FORMAT: &str = "cnn-int8";
/// The `version` metadata value this crate writes and reads.
pub const VERSION: &str = "1";
/// The prefix of the network input's parameters (`quant.scale`, `quant.zero_point`).
pub const INPUT_PREFIX: &str = "quant";

/// Suffixes of a layer's tensors.
pub mod suffix {
    /// The int8 weights.
    pub const WEIGHT: &str = "weight";
    /// The per-channel weight scales.
    pub const WEIGHT_SCALE: &str = "weight_scale";
    /// The int32 bias.
    pub const BIAS: &str = "bias";
    /// The output scale.
    pub const SCALE: &str = "scale";
    /// The output zero point.
    pub const ZERO_POINT: &str = "zero_point";
}

/// The element types a quantized weights file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileDtype {
    /// `I8`.
    I8,
    /// `I32`.
    I32,
    /// `F32`.
    F32,
    /// `F64` (the statistics of a whitening the file carries as its
    /// preprocessing).
    F64,
    /// Any other type (named by the file).
    Other,
}

impl FileDtype {
    /// The safetensors name.
    pub const fn name(self) -> &'static str {
        match self {
            FileDtype::I8 => "I8",
            FileDtype::I32 => "I32",
            FileDtype::F32 => "F32",
            FileDtype::F64 => "F64",
            FileDtype::Other => "another type",
        }
    }
}

/// A tensor as a file holds it.
#[derive(Clone, Copy, Debug)]
pub struct TensorInfo<'a> {
    /// Its element type.
    pub dtype: FileDtype,
    /// Its shape.
    pub shape: &'a [usize],
    /// Its little-endian bytes.
    pub data: &'a [u8],
}

/// What is wrong with a tensor of the file (the caller adds the file's
/// name when it reports it).
#[derive(Clone, Copy, Debug)]
pub struct FileError<'a> {
    /// The prefix: a layer's name or `quant`.
    pub prefix: &'a str,
    /// The tensor's suffix, e.g. `weight_scale`.
    pub suffix: &'static str,
    /// What was wrong.
    pub problem: Problem<'a>,
}

/// What was wrong with a tensor.
#[derive(Clone, Copy, Debug)]
pub enum Problem<'a> {
    /// The file does not have it.
    Missing,
    /// It has another element type or shape.
    Mismatch {
        /// The dtype expected.
        dtype: FileDtype,
        /// The shape expected.
        shape: &'a [usize],
        /// What the file holds.
        found: TensorInfo<'a>,
    },
    /// Its bytes do not match its shape.
    Truncated,
    /// A scale that is not positive and finite.
    BadScale(f32),
}

impl fmt::Display for FileError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (p, s) = (self.prefix, self.suffix);
        match self.problem {
            Problem::Missing => write!(f, "tensor `{p}.{s}` is missing"),
            Problem::Mismatch {
                dtype,
                shape,
                found,
            } => write!(
                f,
                "tensor `{p}.{s}` is {} {:?}, expected {} {:?}",
                found.dtype.name(),
                found.shape,
                dtype.name(),
                shape
            ),
            Problem::Truncated => {
                write!(f, "tensor `{p}.{s}` has fewer bytes than its shape needs")
            }
            Problem::BadScale(v) => {
                write!(
                    f,
                    "tensor `{p}.{s}` is {v} (scales are positive and finite)"
                )
            }
        }
    }
}

/// Looks a tensor up by prefix and suffix (`("conv1", "weight")` for
/// `conv1.weight`).
pub trait Lookup<'a> {
    /// The tensor, if the file has it.
    fn tensor(&self, prefix: &str, suffix: &str) -> Option<TensorInfo<'a>>;
}

impl<'a, F: Fn(&str, &str) -> Option<TensorInfo<'a>>> Lookup<'a> for F {
    fn tensor(&self, prefix: &str, suffix: &str) -> Option<TensorInfo<'a>> {
        self(prefix, suffix)
    }
}

fn expect<'a>(
    file: &impl Lookup<'a>,
    prefix: &'a str,
    suffix: &'static str,
    dtype: FileDtype,
    shape: &'a [usize],
) -> Result<&'a [u8], FileError<'a>> {
    let err = |problem| FileError {
        prefix,
        suffix,
        problem,
    };
    let t = file.tensor(prefix, suffix).ok_or(err(Problem::Missing))?;
    if t.dtype != dtype || t.shape != shape {
        return Err(err(Problem::Mismatch {
            dtype,
            shape,
            found: t,
        }));
    }
    let width = match dtype {
        FileDtype::I8 => 1,
        FileDtype::F64 => 8,
        _ => 4,
    };
    let len = shape.iter().product::<usize>() * width;
    if t.data.len() != len {
        return Err(err(Problem::Truncated));
    }
    Ok(t.data)
}

/// Reads `<prefix>.scale` and `<prefix>.zero_point` (0-dimensional).
pub fn read_qparams<'a>(file: &impl Lookup<'a>, prefix: &'a str) -> Result<QParams, FileError<'a>> {
    let s = expect(file, prefix, suffix::SCALE, FileDtype::F32, &[])?;
    let scale = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(FileError {
            prefix,
            suffix: suffix::SCALE,
            problem: Problem::BadScale(scale),
        });
    }
    let z = expect(file, prefix, suffix::ZERO_POINT, FileDtype::I8, &[])?;
    Ok(QParams::new(scale, z[0] as i8))
}

/// One layer's tensors, checked, and its output parameters.
#[derive(Clone, Copy, Debug)]
pub struct LayerTensors<'a> {
    /// The tensors to pack (`pack_conv`, `pack_dense`).
    pub raw: RawLayer<'a>,
    /// The output's quantization (`<layer>.scale`, `<layer>.zero_point`).
    pub output: QParams,
}

/// Reads and checks layer `name`'s tensors for weights of PyTorch shape
/// `shape` (`[K, C, kh, kw]` or `[O, I]`; `shape[0]` output channels);
/// `bias`: whether the layer has one.
pub fn read_layer<'a>(
    file: &impl Lookup<'a>,
    name: &'a str,
    shape: &'a [usize],
    bias: bool,
) -> Result<LayerTensors<'a>, FileError<'a>> {
    let channels = &shape[..1];
    let weight = expect(file, name, suffix::WEIGHT, FileDtype::I8, shape)?;
    let weight_scale = expect(file, name, suffix::WEIGHT_SCALE, FileDtype::F32, channels)?;
    for c in weight_scale.chunks_exact(4) {
        let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        if !(v > 0.0 && v.is_finite()) {
            return Err(FileError {
                prefix: name,
                suffix: suffix::WEIGHT_SCALE,
                problem: Problem::BadScale(v),
            });
        }
    }
    let bias = if bias {
        Some(expect(file, name, suffix::BIAS, FileDtype::I32, channels)?)
    } else {
        None
    };
    Ok(LayerTensors {
        raw: RawLayer {
            weight,
            bias,
            weight_scale,
        },
        output: read_qparams(file, name)?,
    })
}

/// The PyTorch shape of a convolution's weights, `[K, C, kh, kw]`.
pub const fn conv_shape(l: &QConv) -> [usize; 4] {
    [l.geom.k, l.geom.c, l.geom.kh, l.geom.kw]
}

/// The PyTorch shape of a dense layer's weights, `[O, I]`.
pub const fn dense_shape(l: &QDense) -> [usize; 2] {
    [l.outputs, l.inputs]
}
