//! The scalar int8 level: plain loops written from TFLite's formulas, the
//! reference every vector level must match bit for bit. They read the
//! same packed blob as the vector kernels, through the descriptors' index
//! functions, and share no code with them.
//!
//! Convolution, for each output channel `k` and conv pixel `(oy, ox)`:
//!
//! ```text
//! acc = B[k] + sum_{c, ky, kx} (x[c, iy, ix] + 128) * w[k, c, ky, kx]
//!       (iy = oy sh + ky - ph, ix = ox sw + kx - pw; outside the input x = zp_in)
//!     = b[k] + sum (x - zp_in) * w             (B = b - (zp_in + 128) sum w, see cnn_spec::quant::layer)
//! z = clamp(zp_out + MultiplyByQuantizedMultiplier(acc, q[k], shift[k]), lo, hi)
//! ```
//!
//! then, with a pool, `y = max` of `z` over each window's cells inside the
//! conv output: the unfused order (requantize every cell, then pool), which
//! the vector kernels reproduce by pooling the accumulators first.

use cnn_spec::quant::{multiply_by_quantized_multiplier, BlobLayout, QConv, QDense, Requant};
use cnn_spec::{ConvGeom, PoolGeom};

/// Int32 entry `i` of the table at byte offset `at` of a blob region.
#[inline(always)]
pub fn table(blob: &[u8], at: usize, i: usize) -> i32 {
    let b = &blob[at + 4 * i..at + 4 * i + 4];
    i32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// `clamp(zp + MultiplyByQuantizedMultiplier(acc, q[k], shift[k]))` for
/// channel `k` of a layer whose tables are laid out as `t`.
#[inline(always)]
pub fn requant_channel(blob: &[u8], t: &BlobLayout, r: Requant, k: usize, acc: i32) -> i8 {
    let q = table(blob, t.multiplier, k);
    let shift = table(blob, t.shift, k);
    let v = r.zero_point + multiply_by_quantized_multiplier(acc, q, shift);
    v.clamp(r.min, r.max) as i8
}

/// One conv output's accumulator (bias included), see the module docs.
fn conv_acc(l: &QConv, blob: &[u8], xs: &[i8], k: usize, oy: usize, ox: usize) -> i32 {
    let g: &ConvGeom = &l.geom;
    let pad = l.input.zero_point as i32 + 128;
    let mut acc = table(blob, l.layout().bias, k);
    for c in 0..g.c {
        for ky in 0..g.kh {
            let iy = (oy * g.sh + ky).wrapping_sub(g.ph);
            for kx in 0..g.kw {
                let ix = (ox * g.sw + kx).wrapping_sub(g.pw);
                let u = if iy < g.h && ix < g.w {
                    xs[(c * g.h + iy) * g.w + ix] as i32 + 128
                } else {
                    pad
                };
                acc += u * blob[l.weight_index(k, c, ky, kx)] as i8 as i32;
            }
        }
    }
    acc
}

/// Int8 convolution (→ ReLU → max-pool) of the samples of `x` (`[n, C, H,
/// W]`) into `y` (`[n, K, OH, OW]` or the pooled shape).
pub fn conv(l: &QConv, blob: &[u8], x: &[i8], y: &mut [i8]) {
    let g = &l.geom;
    let (t, r) = (l.layout(), l.requant());
    let n = x.len() / g.in_len();
    for s in 0..n {
        let xs = &x[s * g.in_len()..][..g.in_len()];
        let ys = &mut y[s * l.out_len()..][..l.out_len()];
        for k in 0..g.k {
            let z = |oy, ox| requant_channel(blob, &t, r, k, conv_acc(l, blob, xs, k, oy, ox));
            match &l.pool {
                None => {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            ys[(k * g.oh + oy) * g.ow + ox] = z(oy, ox);
                        }
                    }
                }
                Some(p) => {
                    for py in 0..p.oh {
                        for px in 0..p.ow {
                            ys[(k * p.oh + py) * p.ow + px] = window_max(p, py, px, z);
                        }
                    }
                }
            }
        }
    }
}

/// The maximum of window `(py, px)` over the cells inside the input
/// (`at(iy, ix)` reads one); padded cells do not count.
#[inline(always)]
fn window_max(p: &PoolGeom, py: usize, px: usize, at: impl Fn(usize, usize) -> i8) -> i8 {
    let mut best = i8::MIN;
    for dy in 0..p.kh {
        let iy = (py * p.sh + dy).wrapping_sub(p.ph);
        if iy >= p.h {
            continue;
        }
        for dx in 0..p.kw {
            let ix = (px * p.sw + dx).wrapping_sub(p.pw);
            if ix < p.w {
                best = best.max(at(iy, ix));
            }
        }
    }
    best
}

/// Int8 dense layer (→ ReLU) of the samples of `x` (`[n, I]`) into `y`
/// (`[n, O]`): `acc = B[o] + sum_i (x[i] + 128) w[o, i]`, requantized.
pub fn dense(l: &QDense, blob: &[u8], x: &[i8], y: &mut [i8]) {
    let (t, r) = (l.layout(), l.requant());
    let n = x.len() / l.inputs;
    for s in 0..n {
        let xs = &x[s * l.inputs..][..l.inputs];
        for o in 0..l.outputs {
            let mut acc = table(blob, t.bias, o);
            for (i, &v) in xs.iter().enumerate() {
                acc += (v as i32 + 128) * blob[l.weight_index(o, i)] as i8 as i32;
            }
            y[s * l.outputs + o] = requant_channel(blob, &t, r, o, acc);
        }
    }
}

/// Int8 max-pool of the samples of `x` (`[n, C, H, W]`) into `y`: the
/// maximum of each window's cells inside the input (scales unchanged).
pub fn max_pool(g: &PoolGeom, x: &[i8], y: &mut [i8]) {
    let n = x.len() / g.in_len();
    for plane in 0..n * g.c {
        let xs = &x[plane * g.h * g.w..][..g.h * g.w];
        for py in 0..g.oh {
            for px in 0..g.ow {
                y[(plane * g.oh + py) * g.ow + px] =
                    window_max(g, py, px, |iy, ix| xs[iy * g.w + ix]);
            }
        }
    }
}

/// Int8 average pool (scales unchanged): padded cells count as the zero
/// point (real 0) and the divisor is the whole window, as the f32 layer
/// does (PyTorch's `count_include_pad`); the sum is divided with TFLite's
/// rounding, `acc > 0 ? (acc + n/2) / n : (acc - n/2) / n` (truncating).
/// Without padding this is TFLite's `AveragePool` exactly.
pub fn avg_pool(g: &PoolGeom, zero_point: i8, x: &[i8], y: &mut [i8]) {
    let n = x.len() / g.in_len();
    let count = (g.kh * g.kw) as i32;
    for plane in 0..n * g.c {
        let xs = &x[plane * g.h * g.w..][..g.h * g.w];
        for py in 0..g.oh {
            for px in 0..g.ow {
                let mut acc = 0i32;
                for dy in 0..g.kh {
                    let iy = (py * g.sh + dy).wrapping_sub(g.ph);
                    for dx in 0..g.kw {
                        let ix = (px * g.sw + dx).wrapping_sub(g.pw);
                        acc += if iy < g.h && ix < g.w {
                            xs[iy * g.w + ix] as i32
                        } else {
                            zero_point as i32
                        };
                    }
                }
                let v = if acc > 0 {
                    (acc + count / 2) / count
                } else {
                    (acc - count / 2) / count
                };
                y[(plane * g.oh + py) * g.ow + px] = v.clamp(-128, 127) as i8;
            }
        }
    }
}

/// `y = clamp(zp + MultiplyByQuantizedMultiplier(acc, q[k], shift[k]))`
/// for int32 accumulators `acc` laid out `[n, K, pixels]` (bias already
/// added), `K = q.len()`.
pub fn requantize(acc: &[i32], q: &[i32], shift: &[i32], r: Requant, pixels: usize, y: &mut [i8]) {
    let k = q.len();
    for (i, (&a, out)) in acc.iter().zip(y.iter_mut()).enumerate() {
        let ch = (i / pixels) % k;
        let v = r.zero_point + multiply_by_quantized_multiplier(a, q[ch], shift[ch]);
        *out = v.clamp(r.min, r.max) as i8;
    }
}

/// `y = clamp(zp_to + MultiplyByQuantizedMultiplier(x - zp_from, q,
/// shift), -128, 127)`: TFLite's int8 → int8 `Requantize`.
pub fn rescale(x: &[i8], from_zp: i32, q: i32, shift: i32, to_zp: i32, y: &mut [i8]) {
    for (&v, out) in x.iter().zip(y.iter_mut()) {
        let r = to_zp + multiply_by_quantized_multiplier(v as i32 - from_zp, q, shift);
        *out = r.clamp(-128, 127) as i8;
    }
}
