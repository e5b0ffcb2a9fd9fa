//! The pixel-row int8 convolution (`QConvKernel::PixelRows`): output
//! columns in the lanes, for layers with few input and output channels
//! (LeNet-5's first layer), where the channel-span kernel would leave most
//! lanes empty.
//!
//! Each input channel is written as a zero-padded `u8` plane (`x + 128`,
//! padding `zp_in + 128`). A kernel row's taps `kx..kx + 4` for a vector of
//! output columns are one byte shuffle of the plane row (lane `j` = bytes
//! `j..j + 4`, [`QSimd::hquad`]); the columns left over (`kw mod 4`) take
//! four kernel rows at once ([`QSimd::vquad`]). Each such vector of groups
//! meets one broadcast group of four weights per output channel in a
//! `vpdpbusd`. With a 2x2 max-pool, a block holds two conv rows by two
//! vectors of columns: the rows' maximum, then the maximum of
//! neighbouring lanes ([`QSimd::max_pairs`]), then one requantization per
//! pooled output, stored as contiguous bytes of the NCHW output.

use cnn_spec::quant::tuning::pixel_rows_channels;
use cnn_spec::quant::{BlobLayout, QConv};

use super::scalar::table;
use super::vector::{narrow, QSimd};

/// What a block reads.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    l: &'a QConv,
    blob: &'a [u8],
    t: BlobLayout,
    /// The planes, `[C][plane_rows][plane_width]`.
    planes: &'a [i8],
    k0: usize,
}

/// Writes sample `xs` (`[C, H, W]`) as zero-padded `u8` planes into
/// `planes` (`l.scratch_len()` bytes).
#[inline(always)]
pub fn pad_planes(l: &QConv, xs: &[i8], planes: &mut [i8]) {
    let g = &l.geom;
    let (pw_, rows) = (l.plane_width(), l.plane_rows());
    // The planes in `i8` first (padding = the input zero point), then
    // every byte flipped to `u8` in one pass over the whole buffer: one
    // fill, row copies and a contiguous XOR all run on whole vectors,
    // where flipping each row's bytes as it is copied left a scalar tail
    // per row (12 of LeNet-5's 28 columns).
    let planes = &mut planes[..g.c * rows * pw_];
    planes.fill(l.input.zero_point as u8 as i8);
    for c in 0..g.c {
        let plane = &mut planes[c * rows * pw_..(c + 1) * rows * pw_];
        for (iy, src) in xs[c * g.h * g.w..(c + 1) * g.h * g.w]
            .chunks_exact(g.w)
            .enumerate()
        {
            plane[(iy + g.ph) * pw_ + g.pw..][..g.w].copy_from_slice(src);
        }
    }
    let mut blocks = planes.chunks_exact_mut(64);
    for block in &mut blocks {
        for b in block {
            *b ^= i8::MIN;
        }
    }
    for b in blocks.into_remainder() {
        *b ^= i8::MIN;
    }
}

/// The pixel-row convolution of the samples of `x` into `y`; `scratch`
/// holds `l.scratch_len()` bytes.
#[inline(always)]
pub fn conv_rows<S: QSimd>(
    s: S,
    l: &QConv,
    blob: &[u8],
    x: &[i8],
    y: &mut [i8],
    scratch: &mut [i8],
) {
    let g = &l.geom;
    let n = x.len() / g.in_len();
    let planes = &mut scratch[..l.scratch_len()];
    let pooled = l.pool.is_some();
    let block = pixel_rows_channels(S::LANES, pooled);
    for i in 0..n {
        let xs = &x[i * g.in_len()..][..g.in_len()];
        let ys = &mut y[i * l.out_len()..][..l.out_len()];
        pad_planes(l, xs, planes);
        let mut k0 = 0;
        while k0 < g.k {
            let kb = [8, 6, 4, 3, 2, 1]
                .into_iter()
                .find(|&b| b <= block && b <= g.k - k0)
                .unwrap_or(1);
            let cx = Ctx {
                l,
                blob,
                t: l.layout(),
                planes,
                k0,
            };
            match (pooled, kb) {
                (true, 6) => pooled_rows::<S, 6>(s, &cx, ys),
                (true, 4) => pooled_rows::<S, 4>(s, &cx, ys),
                (true, 3) => pooled_rows::<S, 3>(s, &cx, ys),
                (true, 2) => pooled_rows::<S, 2>(s, &cx, ys),
                (true, 1) => pooled_rows::<S, 1>(s, &cx, ys),
                (false, 8) => plain_rows::<S, 8>(s, &cx, ys),
                (false, 6) => plain_rows::<S, 6>(s, &cx, ys),
                (false, 4) => plain_rows::<S, 4>(s, &cx, ys),
                (false, 3) => plain_rows::<S, 3>(s, &cx, ys),
                (false, 2) => plain_rows::<S, 2>(s, &cx, ys),
                (false, 1) => plain_rows::<S, 1>(s, &cx, ys),
                (p, kb) => unreachable!("a block of {kb} channels (pooled: {p})"),
            }
            k0 += kb;
        }
    }
}

/// Conv rows one at a time, a vector of columns at a time.
#[inline(always)]
fn plain_rows<S: QSimd, const KB: usize>(s: S, cx: &Ctx, ys: &mut [i8]) {
    let g = &cx.l.geom;
    for oy in 0..g.oh {
        let mut ox = 0;
        while ox < g.ow {
            let acc = accumulate::<S, 1, 1, KB>(s, cx, oy, ox);
            let nb = (g.ow - ox).min(S::LANES);
            for (kb, &a) in acc[0][0].iter().enumerate() {
                let k = cx.k0 + kb;
                let row = &mut ys[(k * g.oh + oy) * g.ow + ox..][..nb];
                finish(s, cx, k, a, nb, row);
            }
            ox += S::LANES;
        }
    }
}

/// Two conv rows by two vectors of columns per pooled row and vector of
/// pooled columns (2x2 stride-2 pool).
#[inline(always)]
fn pooled_rows<S: QSimd, const KB: usize>(s: S, cx: &Ctx, ys: &mut [i8]) {
    let p = match &cx.l.pool {
        Some(p) => *p,
        None => unreachable!("a pooled block needs a pool"),
    };
    for py in 0..p.oh {
        let mut px = 0;
        while px < p.ow {
            let acc = accumulate::<S, 2, 2, KB>(s, cx, 2 * py, 2 * px);
            let nb = (p.ow - px).min(S::LANES);
            let [[a00, a01], [a10, a11]] = &acc;
            for kb in 0..KB {
                let left = s.max(a00[kb], a10[kb]);
                let right = s.max(a01[kb], a11[kb]);
                let k = cx.k0 + kb;
                let row = &mut ys[(k * p.oh + py) * p.ow + px..][..nb];
                finish(s, cx, k, s.max_pairs(left, right), nb, row);
            }
            px += S::LANES;
        }
    }
}

/// Adds channel `k`'s bias, requantizes and stores the first `n` lanes.
#[inline(always)]
fn finish<S: QSimd>(s: S, cx: &Ctx, k: usize, acc: S::V, n: usize, out: &mut [i8]) {
    let t = &cx.t;
    let bias = s.splat(table(cx.blob, t.bias, k));
    let q = s.splat(table(cx.blob, t.multiplier, k));
    let shift = s.splat(table(cx.blob, t.shift, k));
    let v = narrow(s, s.add(acc, bias), q, shift, cx.l.requant());
    s.store_i8(v, out, n);
}

/// The accumulators (bias excluded) of conv rows `oy0..oy0 + R` by `H`
/// vectors of columns from `ox0`, channels `k0..k0 + KB`.
#[inline(always)]
fn accumulate<S: QSimd, const R: usize, const H: usize, const KB: usize>(
    s: S,
    cx: &Ctx,
    oy0: usize,
    ox0: usize,
) -> [[[S::V; KB]; H]; R] {
    let (l, g) = (cx.l, &cx.l.geom);
    let (width, rows) = (l.plane_width(), l.plane_rows());
    let groups = l.tap_groups();
    let (along, chunks) = (g.kw / 4, g.kh.div_ceil(4));
    let w = &cx.blob[..cx.t.weight_len];
    // The reads below stay inside each plane: rows up to (oy0 + R - 1) *
    // sh + kh - 1 + 3, the 32 bytes of a shuffle from a column up to ox0 +
    // (H - 1) * LANES + kw - 4, and the LANES bytes of a column read from
    // up to ox0 + (H - 1) * LANES + kw - 1 (see `QConv::plane_width`).
    assert!((oy0 + R - 1) * g.sh + g.kh + 3 <= rows);
    let last = ox0 + (H - 1) * S::LANES;
    assert!(last + g.kw.saturating_sub(4) + 32 <= width && last + g.kw + S::LANES <= width);
    assert!(cx.planes.len() >= g.c * rows * width);
    assert!((cx.k0 + KB) * g.c * groups * 4 <= w.len());
    let mut acc = [[[s.zero(); KB]; H]; R];
    for c in 0..g.c {
        let plane = cx.planes[c * rows * width..].as_ptr();
        for gi in 0..groups {
            // Channel kb's group: four bytes at `weights + kb * stride`.
            let weights = w[((cx.k0 * g.c + c) * groups + gi) * 4..].as_ptr() as *const i8;
            let stride = g.c * groups * 4;
            // Group `gi`: four taps along kernel row `ky` from column
            // `kx`, or down column `kx` from kernel row `ky`.
            let (ky, kx, down) = if gi < g.kh * along {
                (gi / along, 4 * (gi % along), false)
            } else {
                let j = gi - g.kh * along;
                (4 * (j % chunks), 4 * along + j / chunks, true)
            };
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let row = (oy0 + r) * g.sh + ky;
                for (h, acc_rh) in acc_r.iter_mut().enumerate() {
                    let at = row * width + ox0 + h * S::LANES + kx;
                    // SAFETY: `at` and the rows and bytes read from it lie
                    // inside plane `c` (the assertions above).
                    let xq = unsafe {
                        if down {
                            s.vquad(plane.add(at), width)
                        } else {
                            s.hquad(plane.add(at))
                        }
                    };
                    for (kb, a) in acc_rh.iter_mut().enumerate() {
                        // SAFETY: inside the packed weights (the assertion
                        // above). Broadcast from memory at every use, which
                        // keeps the registers for the accumulators.
                        let wq = unsafe { s.splat_quad(weights.add(kb * stride)) };
                        *a = s.dpbusd(*a, xq, wq);
                    }
                }
            }
        }
    }
    acc
}
