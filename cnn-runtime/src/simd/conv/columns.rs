//! Direct convolution vectorised along output columns (horizontal stride
//! 1), register-blocked over `KB` output channels and `J` vectors of
//! columns, so each input vector loaded feeds `KB` fused multiply-adds.
//! Zero padding is handled by masked loads ([`Window`]); no padded copy of
//! the input is made.
//!
//! Every output value is accumulated in the order `kx, c, ky` starting
//! from its bias, by the same routine ([`accumulate_rows`]) in the unfused
//! kernel here and the fused kernel (`super::pool`), so both give
//! bit-identical convolution values.

use cnn_spec::tuning::column_channel_blocks;
use cnn_spec::variants::pack_column_weights;

use super::ctx::{block_for, ConvCtx};
use super::pack::{pack_buf, pack_taps};
use crate::simd::args::Filter;
use crate::simd::vector::{Simd, Window};

/// Adds the convolution of output rows `oy0..oy0+R`, channels
/// `k0..k0+KB`, columns `ox0..ox0 + J*LANES` into `acc[r][kb][j]`. The rows
/// share each input row's loads. Weights are `[k, c, kh, kw]`, or with
/// `PACKED` tap-major (see [`ConvCtx::w`]).
#[inline(always)]
pub fn accumulate_rows<
    S: Simd,
    const R: usize,
    const KB: usize,
    const J: usize,
    const PACKED: bool,
>(
    s: S,
    cx: &ConvCtx,
    oy0: usize,
    k0: usize,
    ox0: usize,
    acc: &mut [[[S::V; J]; KB]; R],
) {
    let ConvCtx { g, xs, w, kpad, .. } = *cx;
    let (h, width, kh, kw, sh, ph) = (g.h, g.w, g.kh, g.kw, g.sh, g.ph);
    let l = S::LANES;
    let taps = g.c * kh * kw;
    // Tap `t`'s weight for channel `k0 + kb` is
    // `w[first + t * step + kb * across]`.
    let (step, across, first) = if PACKED {
        (kpad, 1, k0)
    } else {
        (1, taps, k0 * taps)
    };
    // Input rows the R output rows read, clipped to the image.
    let top = oy0 * sh;
    let iy0 = top.saturating_sub(ph);
    let iy1 = ((oy0 + R - 1) * sh + kh).saturating_sub(ph).min(h);
    for kx in 0..kw {
        let wins: [Window; J] = core::array::from_fn(|j| {
            Window::new((ox0 + j * l + kx) as isize - g.pw as isize, width, l)
        });
        for c in 0..g.c {
            let tap_c = c * kh * kw + kx;
            for iy in iy0..iy1 {
                let row = &xs[(c * h + iy) * width..][..width];
                // A loop, not `array::from_fn`: a closure that is not
                // inlined loses the level's target features, and every
                // intrinsic in it becomes a call.
                let mut xv = [s.zero(); J];
                for (x, &win) in xv.iter_mut().zip(&wins) {
                    *x = s.load_window(row, win);
                }
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    // Row r reads input row iy through kernel row ky.
                    let ky = (iy + ph).wrapping_sub(top + r * sh);
                    if ky >= kh {
                        continue;
                    }
                    let at = first + (tap_c + ky * kw) * step;
                    for (kb, a) in acc_r.iter_mut().enumerate() {
                        let wv = s.splat(w[at + kb * across]);
                        for j in 0..J {
                            a[j] = s.mul_add(wv, xv[j], a[j]);
                        }
                    }
                }
            }
        }
    }
}

/// `ys = conv(xs) + b` for one sample, column-vectorised (stride 1 along
/// rows). With SIMD, the weights are first packed tap-major on the stack
/// so a tap's weights for all channels of a block sit together.
#[inline(always)]
pub fn conv_forward<S: Simd>(s: S, f: Filter, xs: &[f32], ys: &mut [f32]) {
    let g = f.g;
    if pack_column_weights(g, S::LANES) {
        let mut buf = pack_buf();
        let wt = pack_taps(g, f.w, g.k, &mut buf);
        let cx = ConvCtx {
            g,
            xs,
            w: wt,
            kpad: g.k,
            b: f.b,
        };
        conv_forward_with::<S, true>(s, &cx, ys)
    } else {
        let cx = ConvCtx {
            g,
            xs,
            w: f.w,
            kpad: g.k,
            b: f.b,
        };
        conv_forward_with::<S, false>(s, &cx, ys)
    }
}

#[inline(always)]
fn conv_forward_with<S: Simd, const PACKED: bool>(s: S, cx: &ConvCtx, ys: &mut [f32]) {
    let g = cx.g;
    let two = g.ow > S::LANES;
    let mut k0 = 0;
    while k0 < g.k {
        // Channels per block: as many as the registers hold (the table is
        // resolved at compile time).
        let kb = block_for(column_channel_blocks(S::LANES), g.k - k0);
        for oy in 0..g.oh {
            match (kb, two) {
                (8, true) => forward_rows::<S, 8, 2, PACKED>(s, cx, ys, oy, k0),
                (8, false) => forward_rows::<S, 8, 1, PACKED>(s, cx, ys, oy, k0),
                (6, true) => forward_rows::<S, 6, 2, PACKED>(s, cx, ys, oy, k0),
                (6, false) => forward_rows::<S, 6, 1, PACKED>(s, cx, ys, oy, k0),
                (4, true) => forward_rows::<S, 4, 2, PACKED>(s, cx, ys, oy, k0),
                (4, false) => forward_rows::<S, 4, 1, PACKED>(s, cx, ys, oy, k0),
                (2, true) => forward_rows::<S, 2, 2, PACKED>(s, cx, ys, oy, k0),
                (2, false) => forward_rows::<S, 2, 1, PACKED>(s, cx, ys, oy, k0),
                (1, true) => forward_rows::<S, 1, 2, PACKED>(s, cx, ys, oy, k0),
                (1, false) => forward_rows::<S, 1, 1, PACKED>(s, cx, ys, oy, k0),
                _ => unreachable!("a block of {kb} channels"),
            }
        }
        k0 += kb;
    }
}

/// Output row `oy` of channels `k0..k0 + KB`, `J` vectors of columns at a
/// time.
#[inline(always)]
fn forward_rows<S: Simd, const KB: usize, const J: usize, const PACKED: bool>(
    s: S,
    cx: &ConvCtx,
    ys: &mut [f32],
    oy: usize,
    k0: usize,
) {
    let g = cx.g;
    let l = S::LANES;
    let pixels = g.oh * g.ow;
    let mut ox0 = 0;
    while ox0 < g.ow {
        let valid = (g.ow - ox0).min(J * l);
        let mut acc: [[[S::V; J]; KB]; 1] =
            [core::array::from_fn(|kb| [s.splat(cx.bias(k0 + kb)); J])];
        accumulate_rows::<S, 1, KB, J, PACKED>(s, cx, oy, k0, ox0, &mut acc);
        for (kb, a) in acc[0].iter().enumerate() {
            let row = &mut ys[(k0 + kb) * pixels + oy * g.ow + ox0..];
            for (j, v) in a.iter().enumerate() {
                if j * l < valid {
                    s.store_part(&mut row[j * l..], valid - j * l, *v);
                }
            }
        }
        ox0 += J * l;
    }
}
