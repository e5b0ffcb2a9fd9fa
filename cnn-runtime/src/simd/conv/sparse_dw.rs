//! The weight and bias gradients of a fused conv → ReLU → max-pool layer
//! from each pooling window's winner only, for layers where
//! `cnn_spec::variants::sparse_dw_suits`: one accumulator per tap, a vector
//! over input channels, fed from the input zero-padded channels-last.

use cnn_spec::tuning::{sparse_dw_band_rows, WINNER_CHUNK};
use cnn_spec::{ConvGeom, INACTIVE};

use super::ctx::window_cells;
use crate::simd::args::PooledGrad;
use crate::simd::vector::Simd;

/// Adds one sample's weight gradient channels-last to `dwc`
/// (`k * kh * kw * lanes`, see [`add_channels_last_dw`]) and its bias
/// gradient to `db`. `xs` is the sample's input `[c, h, w]`; `xpad` is
/// scratch for it padded channels-last (`(h + 2 ph) * (w + 2 pw) * lanes`).
#[inline(always)]
pub fn sparse_dw<S: Simd>(
    s: S,
    g: &ConvGeom,
    pg: PooledGrad,
    xs: &[f32],
    dwc: &mut [f32],
    db: Option<&mut [f32]>,
    xpad: &mut [f32],
) {
    if let Some(db) = db {
        let plane = pg.p.oh * pg.p.ow;
        for (k, d) in db.iter_mut().enumerate().take(g.k) {
            let am = &pg.argmax[k * plane..][..plane];
            let dk = &pg.dy[k * plane..][..plane];
            *d += am
                .iter()
                .zip(dk)
                .filter(|(&a, _)| a != INACTIVE)
                .map(|(_, &v)| v)
                .sum::<f32>();
        }
    }
    pad_channels_last(g, S::LANES, xs, xpad);
    match (g.kh, sparse_dw_band_rows(S::LANES, g.kh)) {
        (5, 5) => taps_by_winner::<S, 5, 5, 5>(s, g, pg, dwc, xpad),
        (5, 2) => taps_by_winner::<S, 5, 5, 2>(s, g, pg, dwc, xpad),
        (3, 3) => taps_by_winner::<S, 3, 3, 3>(s, g, pg, dwc, xpad),
        (kh, rows) => unreachable!("bands of {rows} rows of a {kh}-row kernel"),
    }
}

/// Copies `xs` (`[c, h, w]`) to `xpad`, channels-last and zero-padded:
/// `xpad[((y + ph) * (w + 2 pw) + x + pw) * cpad + c] = xs[c][y][x]`.
#[inline(always)]
fn pad_channels_last(g: &ConvGeom, cpad: usize, xs: &[f32], xpad: &mut [f32]) {
    let wp = g.w + 2 * g.pw;
    let xpad = &mut xpad[..(g.h + 2 * g.ph) * wp * cpad];
    xpad.fill(0.0);
    for c in 0..g.c {
        for y in 0..g.h {
            let src = &xs[(c * g.h + y) * g.w..][..g.w];
            let dst = &mut xpad[((y + g.ph) * wp + g.pw) * cpad..];
            for (x, &v) in src.iter().enumerate() {
                dst[x * cpad + c] = v;
            }
        }
    }
}

/// [`sparse_dw`]'s kernel: for each winner, one FMA per tap, the taps of
/// `RB` kernel rows at a time in registers.
#[inline(always)]
fn taps_by_winner<S: Simd, const KH: usize, const KW: usize, const RB: usize>(
    s: S,
    g: &ConvGeom,
    pg: PooledGrad,
    dwc: &mut [f32],
    xpad: &[f32],
) {
    let p = pg.p;
    let l = S::LANES;
    let wp = g.w + 2 * g.pw;
    let cell = window_cells(p);
    let plane = p.oh * p.ow;
    // Each output channel's active winners, as patch offsets into `xpad`
    // and gradients, listed without branches (`WINNER_CHUNK` at a time).
    let mut at = [0usize; WINNER_CHUNK];
    let mut gs = [0f32; WINNER_CHUNK];
    for k in 0..g.k {
        let mut start = 0;
        while start < plane {
            let end = (start + WINNER_CHUNK).min(plane);
            let mut n = 0;
            let (mut py, mut px) = (start / p.ow, start % p.ow);
            for j in start..end {
                let i = k * plane + j;
                let a = pg.argmax[i];
                let (dy0, dx0) = cell[usize::from(a)];
                // Wrapping: an inactive output's (meaningless) cell may lie
                // in the pool's padding; it is overwritten, never read.
                let oy = (py * p.sh + dy0).wrapping_sub(p.ph);
                let ox = (px * p.sw + dx0).wrapping_sub(p.pw);
                at[n] = oy
                    .wrapping_mul(g.sh * wp)
                    .wrapping_add(ox.wrapping_mul(g.sw))
                    .wrapping_mul(l);
                gs[n] = pg.dy[i];
                n += usize::from(a != INACTIVE);
                px += 1;
                if px == p.ow {
                    (py, px) = (py + 1, 0);
                }
            }
            let winners = Listed {
                at: &at[..n],
                gs: &gs[..n],
                wp,
                k,
            };
            // Bands of RB kernel rows cover the KH rows.
            let mut r0 = 0;
            while r0 < KH {
                match r0 {
                    0 => winner_band::<S, KH, KW, RB, 0>(s, &winners, dwc, xpad),
                    2 => winner_band::<S, KH, KW, RB, 2>(s, &winners, dwc, xpad),
                    4 => winner_band::<S, KH, KW, RB, 4>(s, &winners, dwc, xpad),
                    _ => unreachable!("band start {r0}"),
                }
                r0 += RB;
            }
            start = end;
        }
    }
}

/// Winners of output channel `k` listed by [`taps_by_winner`]: their
/// patches start at offsets `at` of the padded input (rows of `wp` cells),
/// `gs` their gradients.
struct Listed<'a> {
    at: &'a [usize],
    gs: &'a [f32],
    wp: usize,
    k: usize,
}

/// Kernel rows `R0..min(R0 + RB, KH)` of [`taps_by_winner`].
#[inline(always)]
fn winner_band<S: Simd, const KH: usize, const KW: usize, const RB: usize, const R0: usize>(
    s: S,
    winners: &Listed,
    dwc: &mut [f32],
    xpad: &[f32],
) {
    let (wp, k) = (winners.wp, winners.k);
    let l = S::LANES;
    // Room for every tap of a 5x5 kernel.
    const { assert!(RB * KW <= 25) };
    let mut acc = [s.zero(); 25];
    for (&at, &gv) in winners.at.iter().zip(winners.gs) {
        let gv = s.splat(gv);
        let patch = &xpad[at..];
        for ky in R0..(R0 + RB).min(KH) {
            for kx in 0..KW {
                let j = (ky - R0) * KW + kx;
                let xv = s.load(&patch[(ky * wp + kx) * l..]);
                acc[j] = s.mul_add(gv, xv, acc[j]);
            }
        }
    }
    for ky in R0..(R0 + RB).min(KH) {
        for kx in 0..KW {
            let cell = &mut dwc[((k * KH + ky) * KW + kx) * l..][..l];
            let v = s.add(s.load(cell), acc[(ky - R0) * KW + kx]);
            s.store(cell, v);
        }
    }
}

/// `dw[k][c][t] += dwc[(k * taps + t) * cpad + c]`: [`sparse_dw`](crate::simd::sparse_dw)'s
/// channels-last weight gradient added in PyTorch's layout.
pub fn add_channels_last_dw(g: &ConvGeom, cpad: usize, dwc: &[f32], dw: &mut [f32]) {
    let taps = g.kh * g.kw;
    for k in 0..g.k {
        for c in 0..g.c {
            let row = &mut dw[(k * g.c + c) * taps..][..taps];
            for (t, d) in row.iter_mut().enumerate() {
                *d += dwc[(k * taps + t) * cpad + c];
            }
        }
    }
}
