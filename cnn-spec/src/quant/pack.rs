//! Packing a layer's quantized tensors (as a weights file holds them, in
//! PyTorch's layouts) into its region of a parameter blob: weights in the
//! kernel's order, the input zero point folded into the biases, and the
//! per-channel requantization multipliers. Plain `no_std` code without
//! allocation, so `network!` can run it at expansion time and the runtime
//! at run time, with identical results.

use core::fmt;

use super::fixed::quantize_multiplier;
use super::layer::{BlobLayout, QConv, QDense};
use super::params::{QParams, WEIGHT_QMAX};

/// One layer's quantized tensors, little-endian bytes as in a safetensors
/// file.
#[derive(Clone, Copy, Debug)]
pub struct RawLayer<'a> {
    /// Int8 weights in PyTorch's layout: `[K, C, kh, kw]` or `[O, I]`.
    pub weight: &'a [u8],
    /// Int32 biases `[K]` (scale `s_in * s_w[k]`, zero point 0), if the
    /// layer has them.
    pub bias: Option<&'a [u8]>,
    /// The weights' per-channel f32 scales `[K]`.
    pub weight_scale: &'a [u8],
}

/// Why a layer's tensors cannot be packed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PackError {
    /// A tensor has the wrong number of bytes.
    Length {
        /// `weight`, `bias`, `weight_scale` or `blob region`.
        what: &'static str,
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// The descriptor has a bias and the tensors do not, or the reverse.
    Bias {
        /// Whether the descriptor expects one.
        expected: bool,
    },
    /// A weight of -128 (symmetric weights use `[-127, 127]`).
    Weight {
        /// Output channel.
        channel: usize,
    },
    /// A scale that is not positive and finite.
    Scale {
        /// `input`, `output` or `weight`.
        what: &'static str,
        /// Output channel (0 for per-tensor scales).
        channel: usize,
        /// The value.
        value: f32,
    },
    /// `s_in * s_w[k] / s_out` is too large for a fixed-point multiplier
    /// (`2^30` or more).
    Multiplier {
        /// Output channel.
        channel: usize,
        /// The real multiplier.
        value: f64,
    },
    /// The folded bias plus the largest possible sum of products does not
    /// fit an int32 accumulator.
    Overflow {
        /// Output channel.
        channel: usize,
    },
    /// The descriptor itself is invalid (see `QConv::check`).
    Descriptor(&'static str),
}

impl fmt::Display for PackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PackError::Length {
                what,
                expected,
                found,
            } => write!(f, "{what} holds {found} bytes, the layer needs {expected}"),
            PackError::Bias { expected: true } => {
                write!(f, "the layer has a bias and the tensors have none")
            }
            PackError::Bias { expected: false } => {
                write!(f, "the tensors have a bias and the layer has none")
            }
            PackError::Weight { channel } => write!(
                f,
                "output channel {channel} has a weight of -128 (symmetric int8 weights lie in [-127, 127])"
            ),
            PackError::Scale {
                what,
                channel,
                value,
            } => write!(
                f,
                "the {what} scale of channel {channel} is {value} (scales are positive and finite)"
            ),
            PackError::Multiplier { channel, value } => write!(
                f,
                "channel {channel}: the requantization multiplier s_in * s_w / s_out = {value} is not below 2^30"
            ),
            PackError::Overflow { channel } => write!(
                f,
                "channel {channel}: the folded bias and the products may overflow an int32 accumulator"
            ),
            PackError::Descriptor(why) => f.write_str(why),
        }
    }
}

/// Packs an int8 convolution's tensors into its blob region `out`
/// (`l.layout().len` bytes; see [`super::layer`] for the layout).
pub fn pack_conv(l: &QConv, raw: RawLayer, out: &mut [u8]) -> Result<(), PackError> {
    l.check().map_err(PackError::Descriptor)?;
    let g = &l.geom;
    let patch = g.c * g.kh * g.kw;
    check_lengths(raw, l.bias, g.k, g.weight_len(), l.layout(), out)?;
    let layout = l.layout();
    out[..layout.len].fill(0);
    for k in 0..g.k {
        for c in 0..g.c {
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let w = raw.weight[((k * g.c + c) * g.kh + ky) * g.kw + kx];
                    out[l.weight_index(k, c, ky, kx)] = w;
                }
            }
        }
    }
    tables(l.input, l.output, raw, patch, layout, out)
}

/// Packs an int8 dense layer's tensors into its blob region `out`.
pub fn pack_dense(l: &QDense, raw: RawLayer, out: &mut [u8]) -> Result<(), PackError> {
    l.check().map_err(PackError::Descriptor)?;
    let layout = l.layout();
    check_lengths(raw, l.bias, l.outputs, l.inputs * l.outputs, layout, out)?;
    out[..layout.len].fill(0);
    for o in 0..l.outputs {
        for i in 0..l.inputs {
            out[l.weight_index(o, i)] = raw.weight[o * l.inputs + i];
        }
    }
    tables(l.input, l.output, raw, l.inputs, layout, out)
}

fn check_lengths(
    raw: RawLayer,
    has_bias: bool,
    channels: usize,
    weights: usize,
    layout: BlobLayout,
    out: &[u8],
) -> Result<(), PackError> {
    let len = |what, expected, found| {
        if expected == found {
            Ok(())
        } else {
            Err(PackError::Length {
                what,
                expected,
                found,
            })
        }
    };
    len("weight", weights, raw.weight.len())?;
    len("weight_scale", 4 * channels, raw.weight_scale.len())?;
    match (has_bias, raw.bias) {
        (true, Some(b)) => len("bias", 4 * channels, b.len())?,
        (false, None) => {}
        (expected, _) => return Err(PackError::Bias { expected }),
    }
    if out.len() < layout.len {
        return Err(PackError::Length {
            what: "blob region",
            expected: layout.len,
            found: out.len(),
        });
    }
    Ok(())
}

/// Little-endian value `i` of a tensor of 4-byte values.
#[inline]
fn word(bytes: &[u8], i: usize) -> [u8; 4] {
    [
        bytes[4 * i],
        bytes[4 * i + 1],
        bytes[4 * i + 2],
        bytes[4 * i + 3],
    ]
}

/// Writes the bias, multiplier and shift tables (the weights are packed).
fn tables(
    input: QParams,
    output: QParams,
    raw: RawLayer,
    patch: usize,
    layout: BlobLayout,
    out: &mut [u8],
) -> Result<(), PackError> {
    for (what, q) in [("input", input), ("output", output)] {
        if !q.is_valid() {
            return Err(PackError::Scale {
                what,
                channel: 0,
                value: q.scale,
            });
        }
    }
    let zp_u8 = input.zero_point as i64 + 128;
    for k in 0..layout.channels {
        let s_w = f32::from_le_bytes(word(raw.weight_scale, k));
        if !(s_w > 0.0 && s_w.is_finite()) {
            return Err(PackError::Scale {
                what: "weight",
                channel: k,
                value: s_w,
            });
        }
        // TFLite: effective_output_scale = (double)s_in * (double)s_w / (double)s_out.
        let m = input.scale as f64 * s_w as f64 / output.scale as f64;
        let (q, shift) = match quantize_multiplier(m) {
            Some((q, s)) if s <= 30 => (q, s),
            _ => {
                return Err(PackError::Multiplier {
                    channel: k,
                    value: m,
                })
            }
        };
        let row = &raw.weight[k * patch..(k + 1) * patch];
        if row.iter().any(|&w| w as i8 as i32 == -WEIGHT_QMAX - 1) {
            return Err(PackError::Weight { channel: k });
        }
        let sum: i64 = row.iter().map(|&w| w as i8 as i64).sum();
        let b = raw
            .bias
            .map_or(0, |b| i32::from_le_bytes(word(b, k)) as i64);
        // acc = b + sum (x - zp) w = (b - (zp + 128) sum w) + sum (x + 128) w
        let folded = b - zp_u8 * sum;
        let bound = folded.abs() + 255 * WEIGHT_QMAX as i64 * patch as i64;
        if bound > i32::MAX as i64 {
            return Err(PackError::Overflow { channel: k });
        }
        let put = |out: &mut [u8], at: usize, v: i32| {
            out[at + 4 * k..at + 4 * k + 4].copy_from_slice(&v.to_le_bytes())
        };
        put(out, layout.bias, folded as i32);
        put(out, layout.multiplier, q);
        put(out, layout.shift, shift);
    }
    Ok(())
}
