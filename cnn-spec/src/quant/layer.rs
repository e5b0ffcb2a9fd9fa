//! Descriptors of int8 layers, the layout of their parameters in a
//! network's blob, and their scratch sizes.
//!
//! # The parameter blob
//!
//! A quantized network's parameters are one contiguous byte blob, its
//! start aligned to 64 bytes; each layer owns a region that starts at a
//! multiple of [`BLOB_ALIGN`] (see [`blob_region_start`]), laid out as
//! [`QConv::layout`] / [`QDense::layout`] give:
//!
//! | at | what | type |
//! | --- | --- | --- |
//! | `weight` | the int8 weights, packed for the kernels (below) | `i8` |
//! | `bias` (a multiple of 4) | per output channel, the int32 bias with the input zero point folded in: `B[k] = b[k] - (zp_in + 128) * sum(w[k, ..])` | `i32` LE |
//! | `multiplier` | per channel, the fixed-point multiplier `q` of `s_in * s_w[k] / s_out` ([`super::quantize_multiplier`]) | `i32` LE |
//! | `shift` | per channel, its exponent (positive: left) | `i32` LE |
//!
//! The kernels compute `acc[k] = B[k] + sum (x + 128) * w[k]` over `u8`
//! inputs `x + 128` (the form `vpdpbusd` multiplies), which equals TFLite's
//! `b[k] + sum (x - zp_in) * w[k]` exactly; zero padding reads the input
//! zero point. Then `y = clamp(zp_out + MultiplyByQuantizedMultiplier(acc,
//! q, shift), lo, hi)` with `lo = zp_out` after a ReLU (the real 0), else
//! -128, and `hi = 127`.
//!
//! Packed weight layouts (level-independent: every SIMD level and the
//! scalar reference read the same bytes):
//!
//! - convolution, [`QConvKernel::ChannelSpans`]: `[kh][G][K][4]` with
//!   `G = ceil(kw * C / 4)`: for each kernel row, the `kw * C` taps in the
//!   order `(kx, c)` (the order of a channels-last input row), in groups of
//!   four, zero-filled at the end; output channels innermost, so a vector
//!   of channels loads contiguous bytes ([`QConv::weight_index`]);
//! - dense: `[ceil(I / 4)][O][4]`: inputs in groups of four, outputs
//!   innermost ([`QDense::weight_index`]).

use super::params::QParams;
use crate::geom::{ConvGeom, PoolGeom};

/// Alignment, in bytes, of every layer's region in a parameter blob (and of
/// the blob itself): a cache line and an AVX-512 vector.
pub const BLOB_ALIGN: usize = 64;

/// The most multiply-accumulates a single output may sum: with `u8` inputs
/// up to 255 and weights up to 127 in magnitude, `255 * 127 * 66_000` plus
/// a bias stays below `2^31` (checked per channel when a blob is packed).
pub const MAX_PATCH: usize = 66_000;

/// The offset of a layer region that follows a region ending at `end`.
#[inline]
pub const fn blob_region_start(end: usize) -> usize {
    end.div_ceil(BLOB_ALIGN) * BLOB_ALIGN
}

/// Where a layer's tensors sit in its blob region (byte offsets from the
/// region's start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobLayout {
    /// Packed int8 weights, `weight_len` bytes, at offset 0.
    pub weight_len: usize,
    /// Folded int32 biases, `[K]`.
    pub bias: usize,
    /// Fixed-point multipliers, `[K]` int32.
    pub multiplier: usize,
    /// Shifts, `[K]` int32.
    pub shift: usize,
    /// Bytes in the region.
    pub len: usize,
    /// Output channels (entries of each table).
    pub channels: usize,
}

impl BlobLayout {
    /// The layout of `weight_len` weight bytes and `channels` table entries.
    #[inline]
    pub const fn new(weight_len: usize, channels: usize) -> Self {
        let bias = weight_len.div_ceil(4) * 4;
        BlobLayout {
            weight_len,
            bias,
            multiplier: bias + 4 * channels,
            shift: bias + 8 * channels,
            len: bias + 12 * channels,
            channels,
        }
    }
}

/// The convolution kernel of an int8 layer ([`QConv::kernel`]); each packs
/// its weights its own way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QConvKernel {
    /// Output channels in the lanes of a vector: for each output pixel and
    /// kernel row, four consecutive bytes of a channels-last input row are
    /// broadcast and multiplied by a vector of channels' weights. Any
    /// stride, padding and kernel; any max-pool fused.
    ChannelSpans,
    /// Output columns in the lanes (for few output channels and input
    /// channels, such as LeNet's first layer): each input channel is a
    /// zero-padded `u8` plane; four taps of a kernel row (or, for the
    /// columns left over, of a kernel column) are gathered for a vector of
    /// output columns by byte shuffles and multiplied by one broadcast
    /// group of four weights of each output channel. Horizontal stride 1,
    /// no pool or a 2x2 stride-2 pool.
    PixelRows,
}

/// The clamp and zero point of a layer's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requant {
    /// Output zero point.
    pub zero_point: i32,
    /// Smallest output: the zero point after a ReLU (ReLU folded into the
    /// clamp, exactly as TFLite fuses it), else -128.
    pub min: i32,
    /// Largest output, 127.
    pub max: i32,
}

impl Requant {
    /// The clamp of an output with parameters `output`, after a ReLU or not.
    #[inline]
    pub const fn new(output: QParams, relu: bool) -> Self {
        let zp = output.zero_point as i32;
        Requant {
            zero_point: zp,
            min: if relu { zp } else { super::params::QMIN },
            max: super::params::QMAX,
        }
    }
}

/// An int8 convolution, optionally followed by ReLU and a max-pool, as
/// generated code describes it (one group; grouped int8 convolutions are
/// not supported).
///
/// Input `[C, H, W]` int8 with [`QConv::input`]'s parameters; output
/// `[K, OH, OW]` (or the pooled shape) with [`QConv::output`]'s. ReLU
/// folds into the clamp; a max-pool takes the maximum of the int32
/// accumulators of each window before requantizing, which equals pooling
/// the requantized outputs because requantization is monotone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QConv {
    /// The convolution's geometry.
    pub geom: ConvGeom,
    /// A max-pool over the convolution's output (`c = geom.k`), if fused.
    pub pool: Option<PoolGeom>,
    /// Whether a ReLU follows the convolution.
    pub relu: bool,
    /// Whether the layer has a bias (the blob always holds the folded one).
    pub bias: bool,
    /// Quantization of the input.
    pub input: QParams,
    /// Quantization of the output.
    pub output: QParams,
}

impl QConv {
    /// The kernel that runs the layer (the blob's weight layout depends
    /// on it): [`QConvKernel::PixelRows`] where its shape allows and
    /// [`super::tuning::pixel_rows_suits`] says it is faster, else
    /// [`QConvKernel::ChannelSpans`].
    #[inline]
    pub const fn kernel(&self) -> QConvKernel {
        let g = &self.geom;
        let pool = match self.pool {
            None => true,
            Some(p) => p.is_2x2_stride_2(),
        };
        if g.sw == 1 && pool && super::tuning::pixel_rows_suits(g) {
            QConvKernel::PixelRows
        } else {
            QConvKernel::ChannelSpans
        }
    }

    /// Groups of four taps per input channel of [`QConvKernel::PixelRows`]:
    /// `kh * floor(kw / 4)` along kernel rows, then `(kw mod 4) *
    /// ceil(kh / 4)` down the columns left over.
    #[inline]
    pub const fn tap_groups(&self) -> usize {
        let g = &self.geom;
        g.kh * (g.kw / 4) + (g.kw % 4) * g.kh.div_ceil(4)
    }

    /// Bytes of one row of a [`QConvKernel::PixelRows`] input plane: the
    /// padded row, with room for whole vectors of output columns (pairs of
    /// 16-lane vectors) and the 32 bytes a shuffle reads.
    #[inline]
    pub const fn plane_width(&self) -> usize {
        let g = &self.geom;
        g.ow.div_ceil(32) * 32 + g.kw + 32
    }

    /// Rows of a [`QConvKernel::PixelRows`] input plane: the padded rows
    /// and 3 more (a group down a column may reach 3 rows past the kernel).
    #[inline]
    pub const fn plane_rows(&self) -> usize {
        self.geom.h + 2 * self.geom.ph + 3
    }

    /// Groups of four taps per kernel row: `ceil(kw * C / 4)`.
    #[inline]
    pub const fn row_groups(&self) -> usize {
        (self.geom.kw * self.geom.c).div_ceil(4)
    }

    /// Bytes of packed weights: `kh * G * K * 4` ([`QConvKernel::ChannelSpans`])
    /// or `K * C * tap_groups * 4` ([`QConvKernel::PixelRows`]).
    #[inline]
    pub const fn packed_weight_len(&self) -> usize {
        let g = &self.geom;
        match self.kernel() {
            QConvKernel::ChannelSpans => g.kh * self.row_groups() * g.k * 4,
            QConvKernel::PixelRows => g.k * g.c * self.tap_groups() * 4,
        }
    }

    /// Where the weight `w[k, c, ky, kx]` (PyTorch's indices) sits in the
    /// packed weights.
    #[inline]
    pub const fn weight_index(&self, k: usize, c: usize, ky: usize, kx: usize) -> usize {
        let g = &self.geom;
        match self.kernel() {
            QConvKernel::ChannelSpans => {
                let j = kx * g.c + c;
                ((ky * self.row_groups() + j / 4) * g.k + k) * 4 + j % 4
            }
            QConvKernel::PixelRows => {
                let along = g.kw / 4;
                let (group, t) = if kx < 4 * along {
                    (ky * along + kx / 4, kx % 4)
                } else {
                    let chunks = g.kh.div_ceil(4);
                    (g.kh * along + (kx - 4 * along) * chunks + ky / 4, ky % 4)
                };
                ((k * g.c + c) * self.tap_groups() + group) * 4 + t
            }
        }
    }

    /// The layer's region in the parameter blob.
    #[inline]
    pub const fn layout(&self) -> BlobLayout {
        BlobLayout::new(self.packed_weight_len(), self.geom.k)
    }

    /// Values in one input sample.
    #[inline]
    pub const fn in_len(&self) -> usize {
        self.geom.in_len()
    }

    /// Values in one output sample (after the pool, if any).
    #[inline]
    pub const fn out_len(&self) -> usize {
        match self.pool {
            Some(p) => p.out_len(),
            None => self.geom.out_len(),
        }
    }

    /// Width in bytes of one row of the zero-padded channels-last input.
    #[inline]
    pub const fn padded_row(&self) -> usize {
        (self.geom.w + 2 * self.geom.pw) * self.geom.c
    }

    /// Scratch bytes one call needs: for [`QConvKernel::ChannelSpans`] the
    /// zero-padded channels-last input, `(H + 2 ph) * (W + 2 pw) * C` bytes
    /// plus 4 (the last group of four may read past a row's taps); for
    /// [`QConvKernel::PixelRows`] one padded plane per input channel,
    /// `C * plane_rows * plane_width`.
    #[inline]
    pub const fn scratch_len(&self) -> usize {
        match self.kernel() {
            QConvKernel::ChannelSpans => (self.geom.h + 2 * self.geom.ph) * self.padded_row() + 4,
            QConvKernel::PixelRows => self.geom.c * self.plane_rows() * self.plane_width(),
        }
    }

    /// The output clamp.
    #[inline]
    pub const fn requant(&self) -> Requant {
        Requant::new(self.output, self.relu)
    }

    /// Checks the descriptor: a pool over the convolution's output, sizes
    /// the kernels support. Generated code asserts this in a `const`.
    pub const fn check(&self) -> Result<(), &'static str> {
        let g = &self.geom;
        if g.c == 0 || g.k == 0 || g.kh == 0 || g.kw == 0 || g.sh == 0 || g.sw == 0 {
            return Err("an int8 convolution needs non-zero channels, kernel and strides");
        }
        if g.c * g.kh * g.kw > MAX_PATCH {
            return Err("an int8 convolution sums at most 66,000 products per output");
        }
        if let Some(p) = self.pool {
            if p.c != g.k || p.h != g.oh || p.w != g.ow {
                return Err("the fused max-pool must read the convolution's output");
            }
            if p.kh == 0 || p.kw == 0 || p.sh == 0 || p.sw == 0 {
                return Err("a max-pool needs a non-empty window and non-zero strides");
            }
            if 2 * p.ph > p.kh || 2 * p.pw > p.kw {
                return Err("a max-pool's padding is at most half its window");
            }
        }
        Ok(())
    }
}

/// An int8 fully connected layer, optionally followed by ReLU: `y =
/// requant(b + W (x - zp_in))`, `W` `[outputs, inputs]` as PyTorch stores it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QDense {
    /// Inputs per sample.
    pub inputs: usize,
    /// Outputs per sample.
    pub outputs: usize,
    /// Whether a ReLU follows.
    pub relu: bool,
    /// Whether the layer has a bias.
    pub bias: bool,
    /// Quantization of the input.
    pub input: QParams,
    /// Quantization of the output.
    pub output: QParams,
}

impl QDense {
    /// Groups of four inputs: `ceil(inputs / 4)`.
    #[inline]
    pub const fn input_groups(&self) -> usize {
        self.inputs.div_ceil(4)
    }

    /// Bytes of packed weights: `ceil(I / 4) * O * 4`.
    #[inline]
    pub const fn packed_weight_len(&self) -> usize {
        self.input_groups() * self.outputs * 4
    }

    /// Where the weight `w[o, i]` sits in the packed weights.
    #[inline]
    pub const fn weight_index(&self, o: usize, i: usize) -> usize {
        ((i / 4) * self.outputs + o) * 4 + i % 4
    }

    /// The layer's region in the parameter blob.
    #[inline]
    pub const fn layout(&self) -> BlobLayout {
        BlobLayout::new(self.packed_weight_len(), self.outputs)
    }

    /// The output clamp.
    #[inline]
    pub const fn requant(&self) -> Requant {
        Requant::new(self.output, self.relu)
    }

    /// Checks the descriptor (see [`QConv::check`]).
    pub const fn check(&self) -> Result<(), &'static str> {
        if self.inputs == 0 || self.outputs == 0 {
            return Err("an int8 dense layer needs inputs and outputs");
        }
        if self.inputs > MAX_PATCH {
            return Err("an int8 dense layer sums at most 66,000 products per output");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Q: QParams = QParams::new(0.1, -3);

    #[test]
    fn lenet_blob_fits_64_kib() {
        let g1 = ConvGeom::new(1, 28, 28, 6, (5, 5), (1, 1), (2, 2));
        let g2 = ConvGeom::new(6, 14, 14, 16, (5, 5), (1, 1), (0, 0));
        let conv = |geom: ConvGeom, pool| QConv {
            geom,
            pool: Some(pool),
            relu: true,
            bias: true,
            input: Q,
            output: Q,
        };
        let c1 = conv(g1, PoolGeom::new(6, 28, 28, (2, 2), (2, 2), (0, 0)));
        let c2 = conv(g2, PoolGeom::new(16, 10, 10, (2, 2), (2, 2), (0, 0)));
        assert!(c1.check().is_ok() && c2.check().is_ok());
        let dense = |inputs, outputs| QDense {
            inputs,
            outputs,
            relu: true,
            bias: true,
            input: Q,
            output: Q,
        };
        let mut end = 0;
        for len in [
            c1.layout().len,
            c2.layout().len,
            dense(400, 120).layout().len,
            dense(120, 84).layout().len,
            dense(84, 10).layout().len,
        ] {
            end = blob_region_start(end) + len;
        }
        assert!(end <= 64 * 1024, "{end}");
    }

    #[test]
    fn packed_indices_cover_every_byte_once() {
        let g = ConvGeom::new(3, 7, 6, 5, (3, 2), (2, 1), (1, 0));
        let l = QConv {
            geom: g,
            pool: None,
            relu: false,
            bias: false,
            input: Q,
            output: Q,
        };
        let mut seen = [0u8; 4096];
        for k in 0..5 {
            for c in 0..3 {
                for ky in 0..3 {
                    for kx in 0..2 {
                        seen[l.weight_index(k, c, ky, kx)] += 1;
                    }
                }
            }
        }
        assert!(seen[..l.packed_weight_len()].iter().all(|&s| s <= 1));
        assert_eq!(
            seen.iter().map(|&s| s as usize).sum::<usize>(),
            g.weight_len()
        );
        let d = QDense {
            inputs: 10,
            outputs: 3,
            relu: false,
            bias: true,
            input: Q,
            output: Q,
        };
        let mut seen = [0u8; 64];
        for o in 0..3 {
            for i in 0..10 {
                seen[d.weight_index(o, i)] += 1;
            }
        }
        assert_eq!(d.packed_weight_len(), 36);
        assert!(seen[..36].iter().all(|&s| s <= 1));
    }

    #[test]
    fn relu_folds_into_the_clamp() {
        assert_eq!(
            Requant::new(QParams::new(0.1, -100), true),
            Requant {
                zero_point: -100,
                min: -100,
                max: 127
            }
        );
        assert_eq!(Requant::new(QParams::new(0.1, 5), false).min, -128);
    }
}
