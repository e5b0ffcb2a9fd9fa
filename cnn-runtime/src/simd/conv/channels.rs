//! Direct convolution vectorised over output channels, for layers with at
//! least a vector of them (`cnn_spec::variants::use_channel_vectors`): the
//! weights are packed tap-major once per call, and a block of output
//! pixels keeps one accumulator vector per pixel and vector of channels.
//! Each output is summed from its bias in the order `c, ky, kx`, by
//! [`cv_block`] in the unfused kernel here and the fused one
//! (`super::pool`), so both give bit-identical convolution values.

use cnn_spec::tuning::{channel_vector_pixels, CHANNEL_VECTORS_PER_BLOCK};

use super::ctx::ConvCtx;
use crate::simd::vector::Simd;

/// The conv outputs of an `R x C` block of pixels (rows `oy0..`, columns
/// `ox0..`; columns past the output's width repeat its last one), channels
/// `k0..k0 + KV*LANES`, as vectors over channels: `acc[r * C + c]`. Each is
/// summed from its bias in the order `c, ky, kx`. `cx.w` is packed
/// tap-major.
#[inline(always)]
pub fn cv_block<S: Simd, const R: usize, const C: usize, const P: usize, const KV: usize>(
    s: S,
    cx: &ConvCtx,
    bias: &[S::V; KV],
    oy0: usize,
    ox0: usize,
    k0: usize,
) -> [[S::V; KV]; P] {
    let (g, xs, wt, kpad) = (cx.g, cx.xs, cx.w, cx.kpad);
    let l = S::LANES;
    let last = g.ow - 1;
    let col = |c: usize| (ox0 + c).min(last);
    // Top-left input cell of the block's first window.
    let y0 = (oy0 * g.sh) as isize - g.ph as isize;
    let x0 = (ox0 * g.sw) as isize - g.pw as isize;
    let full_width = ox0 + C <= g.ow;
    let interior = full_width
        && y0 >= 0
        && x0 >= 0
        && (oy0 + R - 1) * g.sh + g.kh <= g.h + g.ph
        && (ox0 + C - 1) * g.sw + g.kw <= g.w + g.pw;
    let plane_len = g.h * g.w;
    if interior {
        let at = (y0 as usize, x0 as usize);
        return if g.sw == 1 {
            cv_interior::<S, R, C, P, KV, true>(s, cx, bias, at, k0)
        } else {
            cv_interior::<S, R, C, P, KV, false>(s, cx, bias, at, k0)
        };
    }
    let mut acc = [*bias; P];
    let mut t = 0;
    for c in 0..g.c {
        let plane = &xs[c * plane_len..(c + 1) * plane_len];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let wrow = &wt[t * kpad + k0..t * kpad + k0 + KV * l];
                let wv: [S::V; KV] = core::array::from_fn(|v| s.load(&wrow[v * l..]));
                t += 1;
                for (p, a) in acc.iter_mut().enumerate() {
                    let iy = ((oy0 + p / C) * g.sh + ky) as isize - g.ph as isize;
                    let ix = (col(p % C) * g.sw + kx) as isize - g.pw as isize;
                    if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                        let xb = s.splat(plane[iy as usize * g.w + ix as usize]);
                        for v in 0..KV {
                            a[v] = s.mul_add(xb, wv[v], a[v]);
                        }
                    }
                }
            }
        }
    }
    acc
}

/// [`cv_block`] for a block whose every window lies inside the input
/// (top-left input cell `(y0, x0)`), without bounds checks in the tap loop.
/// `SW1`: horizontal stride 1, so the pixels' offsets are constants.
#[inline(always)]
fn cv_interior<
    S: Simd,
    const R: usize,
    const C: usize,
    const P: usize,
    const KV: usize,
    const SW1: bool,
>(
    s: S,
    cx: &ConvCtx,
    bias: &[S::V; KV],
    (y0, x0): (usize, usize),
    k0: usize,
) -> [[S::V; KV]; P] {
    let (g, wt, kpad) = (cx.g, cx.w, cx.kpad);
    let l = S::LANES;
    let sw = if SW1 { 1 } else { g.sw };
    // Its own accumulators, only ever indexed by constants once the loops
    // over the block unroll, so they stay in registers.
    let mut acc = [*bias; P];
    let plane_len = g.h * g.w;
    let xs = &cx.xs[..g.c * plane_len];
    // The largest input index the block reads; checked once here.
    let last =
        (g.c - 1) * plane_len + (y0 + (R - 1) * g.sh + g.kh - 1) * g.w + x0 + (C - 1) * sw + g.kw
            - 1;
    assert!(last < xs.len() && (g.patch_len() - 1) * kpad + k0 + KV * l <= wt.len());
    // One loop over the taps `t = (c, ky, kx)` in order (the packed
    // weights' order), so the accumulators stay in registers across all of
    // them; `off` is the tap's offset in the input from a window's corner.
    let rows: [usize; R] = core::array::from_fn(|r| (y0 + r * g.sh) * g.w + x0);
    let (row_step, plane_step) = (g.w - g.kw, plane_len - g.kh * g.w);
    let (mut off, mut kx, mut ky) = (0, 0, 0);
    for t in 0..g.patch_len() {
        let wv: [S::V; KV] = core::array::from_fn(|v| s.load(&wt[t * kpad + k0 + v * l..]));
        for r in 0..R {
            for cc in 0..C {
                let i = rows[r] + off + cc * sw;
                // SAFETY: i <= `last`, checked against xs.len() above:
                // r < R, cc < C, and `off` is the offset of a tap
                // (c < g.c, ky < kh, kx < kw).
                let xb = s.splat(unsafe { *xs.get_unchecked(i) });
                for v in 0..KV {
                    acc[r * C + cc][v] = s.mul_add(xb, wv[v], acc[r * C + cc][v]);
                }
            }
        }
        (off, kx) = (off + 1, kx + 1);
        if kx == g.kw {
            (off, kx, ky) = (off + row_step, 0, ky + 1);
            if ky == g.kh {
                (off, ky) = (off + plane_step, 0);
            }
        }
    }
    acc
}

/// Bias vectors for channels `k0..` of the `k` channels (zero past them).
#[inline(always)]
pub fn bias_vectors<S: Simd, const KV: usize>(
    s: S,
    b: Option<&[f32]>,
    k: usize,
    k0: usize,
) -> [S::V; KV] {
    let l = S::LANES;
    core::array::from_fn(|v| match b {
        Some(b) => {
            let start = k0 + v * l;
            if start >= k {
                s.zero()
            } else {
                s.load_part(&b[start..], k - start)
            }
        }
        None => s.zero(),
    })
}

/// `ys = conv(xs) + b` for one sample (`cx.w` packed tap-major).
#[inline(always)]
pub fn cv_forward<S: Simd>(s: S, cx: &ConvCtx, ys: &mut [f32]) {
    let g = cx.g;
    let l = S::LANES;
    let mut k0 = 0;
    while k0 < g.k {
        let kv = ((g.k - k0).div_ceil(l)).min(CHANNEL_VECTORS_PER_BLOCK);
        match (kv, channel_vector_pixels(l, kv)) {
            (1, 12) => cv_rows::<S, 12, 1>(s, cx, ys, k0),
            (1, 8) => cv_rows::<S, 8, 1>(s, cx, ys, k0),
            (2, 6) => cv_rows::<S, 6, 2>(s, cx, ys, k0),
            (2, 4) => cv_rows::<S, 4, 2>(s, cx, ys, k0),
            (3, 4) => cv_rows::<S, 4, 3>(s, cx, ys, k0),
            (4, 4) => cv_rows::<S, 4, 4>(s, cx, ys, k0),
            (4, 2) => cv_rows::<S, 2, 4>(s, cx, ys, k0),
            (kv, p) => unreachable!("a block of {p} pixels by {kv} vectors"),
        }
        k0 += kv * l;
    }
}

/// Every output row for channels `k0..k0 + KV*LANES`, `P` pixels at a time.
#[inline(always)]
fn cv_rows<S: Simd, const P: usize, const KV: usize>(
    s: S,
    cx: &ConvCtx,
    ys: &mut [f32],
    k0: usize,
) {
    let g = cx.g;
    let bias = bias_vectors::<S, KV>(s, cx.b, g.k, k0);
    for oy in 0..g.oh {
        let mut ox0 = 0;
        // Blocks of P pixels, then of 4, 2 and 1 for the rest of the row,
        // so every block lies inside the row.
        while ox0 + P <= g.ow {
            cv_store::<S, P, KV>(s, cx, &bias, ys, (oy, ox0), k0);
            ox0 += P;
        }
        while ox0 + 4 <= g.ow && P > 4 {
            cv_store::<S, 4, KV>(s, cx, &bias, ys, (oy, ox0), k0);
            ox0 += 4;
        }
        while ox0 + 2 <= g.ow && P > 2 {
            cv_store::<S, 2, KV>(s, cx, &bias, ys, (oy, ox0), k0);
            ox0 += 2;
        }
        while ox0 < g.ow {
            cv_store::<S, 1, KV>(s, cx, &bias, ys, (oy, ox0), k0);
            ox0 += 1;
        }
    }
}

/// Computes and stores the `P` pixels of row `oy` from column `ox0`.
#[inline(always)]
fn cv_store<S: Simd, const P: usize, const KV: usize>(
    s: S,
    cx: &ConvCtx,
    bias: &[S::V; KV],
    ys: &mut [f32],
    (oy, ox0): (usize, usize),
    k0: usize,
) {
    let g = cx.g;
    let l = S::LANES;
    let pixels = g.oh * g.ow;
    let acc = cv_block::<S, 1, P, P, KV>(s, cx, bias, oy, ox0, k0);
    let mut lanes = [0.0f32; CHANNEL_VECTORS_PER_BLOCK * cnn_spec::MAX_LANES];
    let kn = (KV * l).min(g.k - k0);
    for (p, a) in acc.iter().enumerate() {
        for (v, &av) in a.iter().enumerate() {
            s.store(&mut lanes[v * l..], av);
        }
        let at = oy * g.ow + ox0 + p;
        for (j, &val) in lanes[..kn].iter().enumerate() {
            ys[(k0 + j) * pixels + at] = val;
        }
    }
}
