//! Int8 layer kernels: the entry points generated code calls for an int8
//! network (inference only, `no_std`, no allocation).
//!
//! # The scheme
//!
//! TensorFlow Lite's int8 specification (`cnn_spec::quant`): symmetric
//! per-output-channel int8 weights, asymmetric per-tensor int8
//! activations, int32 biases of scale `s_in * s_w[k]`, requantization by a
//! fixed-point multiplier and shift with TFLite's rounding, ReLU folded
//! into the output clamp, max-pool taken on the int32 accumulators.
//!
//! # The API for generated code
//!
//! - **Activations** are `i8`, one byte per value, in a caller-provided
//!   arena: NCHW (or `[n, F]`), the `n` samples of a value back to back,
//!   as in f32. Kernels take them in a [`QForward`] (`x`, `y`, `n`).
//! - **Descriptors** with literal sizes and parameters, emitted as
//!   `const`s: [`QConv`] (with `ConvGeom`, an optional fused max-pool
//!   `PoolGeom`, `relu`, and the input and output [`QParams`]), [`QDense`],
//!   and a plain `PoolGeom` for a separate max- or average pool (int8
//!   pooling keeps the scale). `QConv::check()` / `QDense::check()` are
//!   `const fn`s for a `const` assertion.
//! - **Parameters** live in one byte blob (a `static Aligned<[u8; N]>`):
//!   each layer owns a region at a multiple of 64 bytes
//!   (`cnn_spec::quant::blob_region_start`), `QConv::layout().len` /
//!   `QDense::layout().len` bytes long, holding its packed int8 weights
//!   and three per-channel int32 tables: the bias with the input zero point
//!   folded in, the multiplier and the shift. **Every per-channel integer
//!   lives in the blob, none in the descriptor**; the descriptor's only
//!   integers are the zero points (and the clamp derived from them). Each
//!   kernel takes its layer's region as `params: &[u8]`.
//! - **Scratch**: `QConv::scratch_len()` bytes (`i8`), reused by every
//!   layer in turn; dense layers and pools need none.
//! - **Boundaries**: [`quantize`] (f32 input → int8 arena, with the
//!   input's `QParams`) and [`dequantize`] (int8 logits → f32, with the last
//!   layer's output `QParams`); the softmax stays f32.
//!
//! Every kernel runs at the int8 SIMD level (`crate::simd::int8::level`);
//! all levels give bit-identical results.

pub use cnn_spec::quant::{BlobLayout, QConv, QConvKernel, QDense, QParams, Requant};
pub use cnn_spec::PoolGeom;

use super::args::check_len;
use crate::simd::int8 as kernels;

/// Scratch bytes [`conv_forward`] needs for `l` on this target:
/// `l.scratch_len()` where an int8 SIMD level may run (x86-64, aarch64),
/// 0 elsewhere (the scalar reference reads its input in place), so a
/// microcontroller's arena holds no scratch.
#[inline]
pub const fn conv_scratch_len(l: &QConv) -> usize {
    if cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        l.scratch_len()
    } else {
        0
    }
}

/// Buffers of one int8 forward call on `n` samples.
#[derive(Debug)]
pub struct QForward<'a> {
    /// Input, `[n, in]`.
    pub x: &'a [i8],
    /// Output, `[n, out]` (written).
    pub y: &'a mut [i8],
    /// Samples.
    pub n: usize,
}

/// Int8 convolution (→ ReLU → max-pool, as `l` says) of `n` samples:
/// `io.x` is `[n, C, H, W]`, `io.y` `[n, K, OH, OW]` or the pooled shape;
/// `params` is the layer's blob region, `scratch` at least
/// `l.scratch_len()` bytes.
///
/// Per output channel `k` and conv pixel: `acc = b[k] + sum (x - zp_in) *
/// w[k]` (zero padding reads `zp_in`), `z = clamp(zp_out +
/// MultiplyByQuantizedMultiplier(acc, q[k], shift[k]), lo, 127)` with `lo =
/// zp_out` after a ReLU, else -128; with a pool, `y` = the maximum of `z`
/// over each window's cells inside the conv output.
pub fn conv_forward(l: &QConv, params: &[u8], io: QForward, scratch: &mut [i8]) {
    let n = io.n;
    check_len("int8 conv parameters", params.len(), l.layout().len);
    check_len("int8 conv input", io.x.len(), n * l.in_len());
    check_len("int8 conv output", io.y.len(), n * l.out_len());
    check_len("int8 conv scratch", scratch.len(), conv_scratch_len(l));
    let x = &io.x[..n * l.in_len()];
    let y = &mut io.y[..n * l.out_len()];
    kernels::conv(l, &params[..l.layout().len], x, y, scratch);
}

/// Int8 dense layer (→ ReLU) of `n` samples: `io.x` is `[n, I]`, `io.y`
/// `[n, O]`; `params` the layer's blob region. `acc = b[o] + sum_i (x[i] -
/// zp_in) w[o, i]`, requantized and clamped as in [`conv_forward`].
pub fn dense_forward(l: &QDense, params: &[u8], io: QForward) {
    let n = io.n;
    check_len("int8 dense parameters", params.len(), l.layout().len);
    check_len("int8 dense input", io.x.len(), n * l.inputs);
    check_len("int8 dense output", io.y.len(), n * l.outputs);
    let x = &io.x[..n * l.inputs];
    let y = &mut io.y[..n * l.outputs];
    kernels::dense(l, &params[..l.layout().len], x, y);
}

/// Int8 max-pool of `n` samples, `[n, c, h, w] -> [n, c, oh, ow]`: the
/// maximum of each window's cells inside the input (scale and zero point
/// unchanged).
pub fn max_pool_forward(g: &PoolGeom, io: QForward) {
    let n = io.n;
    check_len("int8 max_pool input", io.x.len(), n * g.in_len());
    check_len("int8 max_pool output", io.y.len(), n * g.out_len());
    kernels::max_pool(g, &io.x[..n * g.in_len()], &mut io.y[..n * g.out_len()]);
}

/// Int8 average pool of `n` samples (scale unchanged; `zero_point` is the
/// tensor's, which padded cells read): the window's sum divided by its
/// size with TFLite's rounding (see `simd::int8::scalar::avg_pool`).
pub fn avg_pool_forward(g: &PoolGeom, zero_point: i8, io: QForward) {
    let n = io.n;
    check_len("int8 avg_pool input", io.x.len(), n * g.in_len());
    check_len("int8 avg_pool output", io.y.len(), n * g.out_len());
    kernels::avg_pool(
        g,
        zero_point,
        &io.x[..n * g.in_len()],
        &mut io.y[..n * g.out_len()],
    );
}

/// `y[i] = clamp(round(x[i] / scale) + zp, -128, 127)` (TFLite's
/// `Quantize`: f32 division, ties away from zero; NaN gives the zero
/// point) for every `x[i]`.
pub fn quantize(q: QParams, x: &[f32], y: &mut [i8]) {
    check_len("quantize output", y.len(), x.len());
    kernels::quantize(q, x, &mut y[..x.len()]);
}

/// `y[i] = scale * (x[i] - zp)` for every `x[i]`.
pub fn dequantize(q: QParams, x: &[i8], y: &mut [f32]) {
    check_len("dequantize output", y.len(), x.len());
    kernels::dequantize(q, x, &mut y[..x.len()]);
}

/// TFLite's int8 → int8 `Requantize` from `from`'s parameters to `to`'s
/// (`y = clamp(to.zp + MultiplyByQuantizedMultiplier(x - from.zp,
/// from.scale / to.scale), -128, 127)`), for joining tensors of different
/// scales. Panics if the ratio of the scales is `2^30` or more.
pub fn rescale(from: QParams, to: QParams, x: &[i8], y: &mut [i8]) {
    check_len("rescale output", y.len(), x.len());
    assert!(
        kernels::rescale(from, to, x, &mut y[..x.len()]),
        "cnn-runtime: rescaling from scale {} to {} needs a multiplier below 2^30",
        from.scale,
        to.scale
    );
}

/// Requantizes int32 accumulators `acc` (`[n, K, pixels]`, bias included)
/// with per-channel fixed-point multipliers `q` and `shift` (`[K]`) and
/// the output clamp `r` into `y`.
pub fn requantize(acc: &[i32], q: &[i32], shift: &[i32], r: Requant, pixels: usize, y: &mut [i8]) {
    check_len("requantize output", y.len(), acc.len());
    assert_eq!(
        q.len(),
        shift.len(),
        "one multiplier and one shift per channel"
    );
    assert!(pixels > 0 && acc.len().is_multiple_of(pixels * q.len().max(1)));
    kernels::requantize(acc, (q, shift), r, pixels, &mut y[..acc.len()]);
}
