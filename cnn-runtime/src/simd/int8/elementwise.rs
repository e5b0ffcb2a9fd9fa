//! The int8 kernels that work along rows: max-pool, quantize, dequantize,
//! requantize and rescale, `LANES` values at a time.

use cnn_spec::quant::{QParams, Requant};
use cnn_spec::PoolGeom;

use super::vector::{narrow, QSimd};

/// Int8 max-pool of the samples of `x` (`[n, C, H, W]`) into `y`: windows
/// inside the input (horizontally) a vector of outputs at a time, the
/// others one at a time; padded cells do not count.
#[inline(always)]
pub fn max_pool<S: QSimd>(s: S, g: &PoolGeom, x: &[i8], y: &mut [i8]) {
    let n = x.len() / g.in_len();
    // Outputs px in [lo, hi) have every column of their window inside.
    let lo = g.pw.div_ceil(g.sw).min(g.ow);
    let hi = if g.w + g.pw >= g.kw {
        ((g.w + g.pw - g.kw) / g.sw + 1).clamp(lo, g.ow)
    } else {
        lo
    };
    for plane in 0..n * g.c {
        let xs = &x[plane * g.h * g.w..][..g.h * g.w];
        let ys = &mut y[plane * g.oh * g.ow..][..g.oh * g.ow];
        for py in 0..g.oh {
            let row = &mut ys[py * g.ow..][..g.ow];
            let rows = || {
                (0..g.kh)
                    .map(move |dy| (py * g.sh + dy).wrapping_sub(g.ph))
                    .filter(|&iy| iy < g.h)
            };
            for px in (0..lo).chain(hi..g.ow) {
                let mut best = i8::MIN;
                for iy in rows() {
                    for dx in 0..g.kw {
                        let ix = (px * g.sw + dx).wrapping_sub(g.pw);
                        if ix < g.w {
                            best = best.max(xs[iy * g.w + ix]);
                        }
                    }
                }
                row[px] = best;
            }
            let mut px = lo;
            while px < hi {
                let nb = (hi - px).min(S::LANES);
                let mut best = s.splat(i8::MIN as i32);
                for iy in rows() {
                    for dx in 0..g.kw {
                        let ix = px * g.sw + dx - g.pw;
                        let v = s.load_i8_strided(&xs[iy * g.w + ix..], g.sw, nb);
                        best = s.max(best, v);
                    }
                }
                s.store_i8(best, &mut row[px..], nb);
                px += nb;
            }
        }
    }
}

/// `y = quantize(x)` with `q` (see `QParams::quantize`).
#[inline(always)]
pub fn quantize<S: QSimd>(s: S, q: QParams, x: &[f32], y: &mut [i8]) {
    let len = x.len().min(y.len());
    let zp = q.zero_point as i32;
    let mut i = 0;
    while i < len {
        let nb = (len - i).min(S::LANES);
        let v = s.quantize(&x[i..], nb, q.scale, zp);
        s.store_i8(v, &mut y[i..], nb);
        i += nb;
    }
}

/// `y = dequantize(x)` with `q` (see `QParams::dequantize`).
#[inline(always)]
pub fn dequantize<S: QSimd>(s: S, q: QParams, x: &[i8], y: &mut [f32]) {
    let len = x.len().min(y.len());
    let mut i = 0;
    while i < len {
        let nb = (len - i).min(S::LANES);
        let v = s.load_i8(&x[i..], nb);
        s.dequantize(v, q.scale, q.zero_point as i32, &mut y[i..], nb);
        i += nb;
    }
}

/// `y = clamp(to_zp + MultiplyByQuantizedMultiplier(x - from_zp, q,
/// shift), -128, 127)` (see `scalar::rescale`).
#[inline(always)]
pub fn rescale<S: QSimd>(s: S, x: &[i8], from_zp: i32, m: (i32, i32), to_zp: i32, y: &mut [i8]) {
    let len = x.len().min(y.len());
    let r = Requant {
        zero_point: to_zp,
        min: -128,
        max: 127,
    };
    let (q, shift) = (s.splat(m.0), s.splat(m.1));
    let mut i = 0;
    while i < len {
        let nb = (len - i).min(S::LANES);
        let v = s.sub(s.load_i8(&x[i..], nb), s.splat(from_zp));
        s.store_i8(narrow(s, v, q, shift, r), &mut y[i..], nb);
        i += nb;
    }
}

/// Requantizes int32 accumulators `[n, K, pixels]` (see
/// `scalar::requantize`), a vector of pixels of one channel at a time.
#[inline(always)]
pub fn requantize<S: QSimd>(
    s: S,
    acc: &[i32],
    table: (&[i32], &[i32]),
    r: Requant,
    pixels: usize,
    y: &mut [i8],
) {
    let (qs, shifts) = table;
    let k = qs.len();
    let len = acc.len().min(y.len());
    for (plane, (a, out)) in acc[..len]
        .chunks(pixels)
        .zip(y[..len].chunks_mut(pixels))
        .enumerate()
    {
        let ch = plane % k;
        let (q, shift) = (s.splat(qs[ch]), s.splat(shifts[ch]));
        let mut i = 0;
        while i < a.len() {
            let nb = (a.len() - i).min(S::LANES);
            let mut bytes = [0u8; 64];
            for (j, v) in a[i..i + nb].iter().enumerate() {
                bytes[4 * j..4 * j + 4].copy_from_slice(&v.to_le_bytes());
            }
            let v = s.load_part(&bytes, nb);
            s.store_i8(narrow(s, v, q, shift, r), &mut out[i..], nb);
            i += nb;
        }
    }
}
