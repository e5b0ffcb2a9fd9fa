//! Direct convolution and dense kernels on the vector abstraction.
//!
//! Convolutions are vectorised along output columns (horizontal stride 1)
//! and register-blocked over `KB` output channels and `J` vectors of
//! columns, so each input vector loaded feeds `KB` fused multiply-adds.
//! Zero padding is handled by masked loads ([`Window`]); no padded copy of
//! the input is made, so the kernels need no scratch memory.
//!
//! Every output value is accumulated in the order `kx, c, ky` starting
//! from its bias, by the same routine ([`accumulate_rows`]) in the unfused
//! and fused kernels, so both give bit-identical convolution values. The
//! channel-vectorised kernels further down (for layers with at least a
//! vector of output channels) sum in the order `c, ky, kx`, again the same
//! fused and unfused.

use super::vector::{Simd, Window};
use crate::ops::fused::INACTIVE;
use crate::ops::{Act, ConvGeom, PoolGeom};

/// The packed weights of a channel-vectorised layer: on the stack when
/// they fit, in `scratch` otherwise.
macro_rules! packed_taps {
    ($g:expr, $w:expr, $kpad:expr, $scratch:expr, $buf:ident, $wt:ident) => {
        let mut $buf: PackBuf = [const { core::mem::MaybeUninit::uninit() }; CV_MAX_WEIGHTS];
        let $wt: &[f32] = if $g.patch_len() * $kpad <= CV_MAX_WEIGHTS {
            pack_taps($g, $w, $kpad, &mut $buf)
        } else {
            pack_taps_into($g, $w, $kpad, $scratch)
        };
    };
}

/// Adds the convolution of output rows `oy0..oy0+R`, channels
/// `k0..k0+KB`, columns `ox0..ox0 + J*LANES` into `acc[r][kb][j]`. The rows
/// share each input row's loads. Weights are `[k, c, kh, kw]`, or with
/// `PACKED` tap-major (`w[t * kpad + k]`, see [`pack_taps`]).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn accumulate_rows<S: Simd, const R: usize, const KB: usize, const J: usize, const PACKED: bool>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    w: &[f32],
    kpad: usize,
    oy0: usize,
    k0: usize,
    ox0: usize,
    acc: &mut [[[S::V; J]; KB]; R],
) {
    let l = S::LANES;
    let patch = g.c * g.kh * g.kw;
    // Input rows the R output rows read, clipped to the image.
    let top = oy0 * g.sh;
    let iy0 = top.saturating_sub(g.ph);
    let iy1 = ((oy0 + R - 1) * g.sh + g.kh).saturating_sub(g.ph).min(g.h);
    for kx in 0..g.kw {
        let wins: [Window; J] = core::array::from_fn(|j| {
            Window::new((ox0 + j * l + kx) as isize - g.pw as isize, g.w, l)
        });
        for c in 0..g.c {
            for iy in iy0..iy1 {
                let row = &xs[(c * g.h + iy) * g.w..][..g.w];
                let xv: [S::V; J] = core::array::from_fn(|j| s.load_window(row, wins[j]));
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    // Row r reads input row iy through kernel row ky.
                    let base = (oy0 + r) * g.sh;
                    let t = iy + g.ph;
                    if t < base || t - base >= g.kh {
                        continue;
                    }
                    let widx = (c * g.kh + (t - base)) * g.kw + kx;
                    if PACKED {
                        // The KB channels' weights of this tap are adjacent.
                        let wk = &w[widx * kpad + k0..widx * kpad + k0 + KB];
                        for (kb, a) in acc_r.iter_mut().enumerate() {
                            let wv = s.splat(wk[kb]);
                            for j in 0..J {
                                a[j] = s.mul_add(wv, xv[j], a[j]);
                            }
                        }
                    } else {
                        for (kb, a) in acc_r.iter_mut().enumerate() {
                            let wv = s.splat(w[(k0 + kb) * patch + widx]);
                            for j in 0..J {
                                a[j] = s.mul_add(wv, xv[j], a[j]);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `y = conv(x) + b` for `n` samples, on the kernel that suits the layer:
/// channel-vectorised when the output channels fill vectors (weights
/// packed once for the batch), column-vectorised otherwise.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn direct_forward<S: Simd>(
    s: S,
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    scratch: &mut [f32],
    n: usize,
) {
    let (il, ol) = (g.in_len(), g.out_len());
    let (x, y) = (&x[..n * il], &mut y[..n * ol]);
    if use_channel_vectors(g, S::LANES) {
        let kpad = g.k.next_multiple_of(S::LANES);
        packed_taps!(g, w, kpad, scratch, buf, wt);
        for (xs, ys) in x.chunks_exact(il).zip(y.chunks_exact_mut(ol)) {
            cv_forward(s, g, xs, wt, kpad, b, ys);
        }
    } else {
        for (xs, ys) in x.chunks_exact(il).zip(y.chunks_exact_mut(ol)) {
            if g.sw != 1 {
                let pixels = g.oh * g.ow;
                for k in 0..g.k {
                    ys[k * pixels..][..pixels].fill(b.map_or(0.0, |b| b[k]));
                }
                crate::ops::conv::direct_scalar(g, xs, w, ys);
            } else {
                conv_forward(s, g, xs, w, b, ys);
            }
        }
    }
}

/// Fused conv → act → max-pool of `n` samples with disjoint windows, on
/// the kernel that suits the layer.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn direct_pool<S: Simd>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    act: Act,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    argmax: Option<&mut [u8]>,
    scratch: &mut [f32],
    n: usize,
) {
    let (il, ol) = (g.in_len(), p.out_len());
    let (x, y) = (&x[..n * il], &mut y[..n * ol]);
    let mut argmax = argmax.map(|a| &mut a[..n * ol]);
    let two_by_two = p.kh == 2 && p.kw == 2 && p.sh == 2 && p.sw == 2 && p.ph == 0 && p.pw == 0;
    if two_by_two && use_channel_vectors(g, S::LANES) {
        let kpad = g.k.next_multiple_of(S::LANES);
        packed_taps!(g, w, kpad, scratch, buf, wt);
        for (i, (xs, ys)) in x.chunks_exact(il).zip(y.chunks_exact_mut(ol)).enumerate() {
            let am = argmax.as_deref_mut().map(|a| &mut a[i * ol..(i + 1) * ol]);
            cv_relu_pool_2x2(s, g, p, act, xs, wt, kpad, b, ys, am);
        }
        return;
    }
    for (i, (xs, ys)) in x.chunks_exact(il).zip(y.chunks_exact_mut(ol)).enumerate() {
        let am = argmax.as_deref_mut().map(|a| &mut a[i * ol..(i + 1) * ol]);
        if two_by_two && g.sw == 1 {
            conv_relu_pool_2x2(s, g, p, act, xs, w, b, ys, am)
        } else {
            crate::ops::fused::direct_disjoint_scalar(g, p, act, xs, w, b, ys, am)
        }
    }
}

/// `ys = conv(xs) + b`, column-vectorised (stride 1 along rows). With
/// SIMD, the weights are first packed tap-major on the stack so a tap's
/// weights for all channels of a block sit together.
#[inline(always)]
fn conv_forward<S: Simd>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    ys: &mut [f32],
) {
    if S::LANES > 1 && g.patch_len() * g.k <= CV_MAX_WEIGHTS {
        let mut buf: PackBuf = [const { core::mem::MaybeUninit::uninit() }; CV_MAX_WEIGHTS];
        let wt = pack_taps(g, w, g.k, &mut buf);
        conv_forward_with::<S, true>(s, g, xs, wt, g.k, b, ys)
    } else {
        conv_forward_with::<S, false>(s, g, xs, w, g.k, b, ys)
    }
}

#[inline(always)]
fn conv_forward_with<S: Simd, const PACKED: bool>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    w: &[f32],
    kpad: usize,
    b: Option<&[f32]>,
    ys: &mut [f32],
) {
    let two = g.ow > S::LANES;
    let mut k0 = 0;
    while k0 < g.k {
        let left = g.k - k0;
        // Channels per block: as many as the registers hold (the match on
        // LANES is resolved at compile time).
        let kb = match S::LANES {
            16 => [8, 6, 4, 2, 1]
                .into_iter()
                .find(|&b| b <= left)
                .unwrap_or(1),
            8 => [4, 2, 1].into_iter().find(|&b| b <= left).unwrap_or(1),
            _ => [4, 1].into_iter().find(|&b| b <= left).unwrap_or(1),
        };
        for oy in 0..g.oh {
            match (kb, two) {
                (8, true) => forward_rows::<S, 8, 2, PACKED>(s, g, xs, w, kpad, b, ys, oy, k0),
                (8, false) => forward_rows::<S, 8, 1, PACKED>(s, g, xs, w, kpad, b, ys, oy, k0),
                (6, true) => forward_rows::<S, 6, 2, PACKED>(s, g, xs, w, kpad, b, ys, oy, k0),
                (6, false) => forward_rows::<S, 6, 1, PACKED>(s, g, xs, w, kpad, b, ys, oy, k0),
                (4, true) => forward_rows::<S, 4, 2, PACKED>(s, g, xs, w, kpad, b, ys, oy, k0),
                (4, false) => forward_rows::<S, 4, 1, PACKED>(s, g, xs, w, kpad, b, ys, oy, k0),
                (2, true) => forward_rows::<S, 2, 2, PACKED>(s, g, xs, w, kpad, b, ys, oy, k0),
                (2, false) => forward_rows::<S, 2, 1, PACKED>(s, g, xs, w, kpad, b, ys, oy, k0),
                (_, true) => forward_rows::<S, 1, 2, PACKED>(s, g, xs, w, kpad, b, ys, oy, k0),
                (_, false) => forward_rows::<S, 1, 1, PACKED>(s, g, xs, w, kpad, b, ys, oy, k0),
            }
        }
        k0 += kb;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn forward_rows<S: Simd, const KB: usize, const J: usize, const PACKED: bool>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    w: &[f32],
    kpad: usize,
    b: Option<&[f32]>,
    ys: &mut [f32],
    oy: usize,
    k0: usize,
) {
    let l = S::LANES;
    let pixels = g.oh * g.ow;
    let mut ox0 = 0;
    while ox0 < g.ow {
        let valid = (g.ow - ox0).min(J * l);
        let mut acc: [[[S::V; J]; KB]; 1] = [core::array::from_fn(|kb| {
            [s.splat(b.map_or(0.0, |b| b[k0 + kb])); J]
        })];
        accumulate_rows::<S, 1, KB, J, PACKED>(s, g, xs, w, kpad, oy, k0, ox0, &mut acc);
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

/// Fused conv → act → 2x2 stride-2 max-pool of one sample: two conv rows
/// in registers, pooled vertically, then horizontally by splitting even
/// and odd columns. `argmax` (training) gets the winning cell of each
/// window or [`INACTIVE`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn conv_relu_pool_2x2<S: Simd>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    act: Act,
    xs: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    ys: &mut [f32],
    argmax: Option<&mut [u8]>,
) {
    if S::LANES > 1 && g.patch_len() * g.k <= CV_MAX_WEIGHTS {
        let mut buf: PackBuf = [const { core::mem::MaybeUninit::uninit() }; CV_MAX_WEIGHTS];
        let wt = pack_taps(g, w, g.k, &mut buf);
        conv_relu_pool_2x2_with::<S, true>(s, g, p, act, xs, wt, b, ys, argmax)
    } else {
        conv_relu_pool_2x2_with::<S, false>(s, g, p, act, xs, w, b, ys, argmax)
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn conv_relu_pool_2x2_with<S: Simd, const PACKED: bool>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    act: Act,
    xs: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    ys: &mut [f32],
    argmax: Option<&mut [u8]>,
) {
    let mut argmax = argmax;
    let mut k0 = 0;
    while k0 < g.k {
        let left = g.k - k0;
        // 2 rows x KB channels x 2 vectors of accumulators in registers,
        // with room for the input vectors and weights: with AVX-512, blocks
        // of 6 channels (24 accumulators) spill and run 1.4x slower than
        // blocks of 3.
        let kb = match S::LANES {
            16 => [3, 2, 1].into_iter().find(|&b| b <= left).unwrap_or(1),
            8 => [2, 1].into_iter().find(|&b| b <= left).unwrap_or(1),
            _ => [4, 2, 1].into_iter().find(|&b| b <= left).unwrap_or(1),
        };
        for py in 0..p.oh {
            let am = argmax.as_deref_mut();
            match kb {
                4 => pool_rows::<S, 4, PACKED>(s, g, p, act, xs, w, b, ys, am, py, k0),
                3 => pool_rows::<S, 3, PACKED>(s, g, p, act, xs, w, b, ys, am, py, k0),
                2 => pool_rows::<S, 2, PACKED>(s, g, p, act, xs, w, b, ys, am, py, k0),
                1 => pool_rows::<S, 1, PACKED>(s, g, p, act, xs, w, b, ys, am, py, k0),
                _ => unreachable!("a block of {kb} channels"),
            }
        }
        k0 += kb;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn pool_rows<S: Simd, const KB: usize, const PACKED: bool>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    act: Act,
    xs: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    ys: &mut [f32],
    argmax: Option<&mut [u8]>,
    py: usize,
    k0: usize,
) {
    let l = S::LANES;
    let mut argmax = argmax;
    let mut px0 = 0;
    while px0 < p.ow {
        let valid = (p.ow - px0).min(l);
        let bias: [S::V; KB] = core::array::from_fn(|kb| s.splat(b.map_or(0.0, |b| b[k0 + kb])));
        // rows[0] and rows[1]: the window's top and bottom conv rows.
        let mut rows: [[[S::V; 2]; KB]; 2] = [core::array::from_fn(|kb| [bias[kb]; 2]); 2];
        accumulate_rows::<S, 2, KB, 2, PACKED>(s, g, xs, w, g.k, 2 * py, k0, 2 * px0, &mut rows);
        for (kb, (top, bottom)) in rows[0].iter().zip(&rows[1]).enumerate() {
            let (e0, o0) = s.deinterleave(top[0], top[1]);
            let (e1, o1) = s.deinterleave(bottom[0], bottom[1]);
            let at = ((k0 + kb) * p.oh + py) * p.ow + px0;
            match argmax.as_deref_mut() {
                None => {
                    let m = s.max_nan(s.max_nan(e0, o0), s.max_nan(e1, o1));
                    let m = if act == Act::Relu { s.relu(m) } else { m };
                    s.store_part(&mut ys[at..], valid, m);
                }
                Some(am) => {
                    let (mut best, mut arg) = (e0, s.zero());
                    (best, arg) = s.max_arg(best, arg, o0, s.splat(1.0));
                    (best, arg) = s.max_arg(best, arg, e1, s.splat(2.0));
                    (best, arg) = s.max_arg(best, arg, o1, s.splat(3.0));
                    let m = if act == Act::Relu { s.relu(best) } else { best };
                    s.store_part(&mut ys[at..], valid, m);
                    let mut args = [0.0f32; 16];
                    s.store(&mut args, arg);
                    for (j, a) in args[..valid].iter().enumerate() {
                        let v = ys[at + j];
                        am[at + j] = arg_byte(act, v, *a);
                    }
                }
            }
        }
        px0 += l;
    }
}

/// `dw += dz (*) xs` for one sample (stride 1 along rows).
#[inline(always)]
pub fn conv_dw<S: Simd>(s: S, g: &ConvGeom, xs: &[f32], dz: &[f32], dw: &mut [f32]) {
    if g.sw != 1 {
        return crate::ops::conv::direct_dw_scalar(g, xs, dz, dw);
    }
    // One vector of output channels: the gradient of each output pixel is
    // one vector, multiplied by every tap's input value.
    if S::LANES > 1
        && g.k > S::LANES / 2
        && g.k <= S::LANES
        && g.out_pixels() * S::LANES <= CV_MAX_WEIGHTS
    {
        match (g.kh, g.kw) {
            (5, 5) => return dw_channels::<S, 5, 5, 25>(s, g, xs, dz, dw),
            (3, 3) => return dw_channels::<S, 3, 3, 9>(s, g, xs, dz, dw),
            _ => {}
        }
    }
    // Every tap of a 3x3 or 5x5 kernel in registers: each gradient vector
    // is loaded once for all of them.
    if S::LANES > 1 {
        match (g.kh, g.kw) {
            (5, 5) => return dw_taps::<S, 5, 5, 25>(s, g, xs, dz, dw),
            (3, 3) => return dw_taps::<S, 3, 3, 9>(s, g, xs, dz, dw),
            _ => {}
        }
    }
    let mut k0 = 0;
    while k0 < g.k {
        if g.k - k0 >= 4 {
            dw_block::<S, 4>(s, g, xs, dz, dw, k0);
            k0 += 4;
        } else {
            dw_block::<S, 1>(s, g, xs, dz, dw, k0);
            k0 += 1;
        }
    }
}

#[inline(always)]
fn dw_block<S: Simd, const KB: usize>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    dz: &[f32],
    dw: &mut [f32],
    k0: usize,
) {
    let l = S::LANES;
    let pixels = g.oh * g.ow;
    let patch = g.c * g.kh * g.kw;
    for c in 0..g.c {
        for ky in 0..g.kh {
            let (oy0, oy1) = crate::ops::conv::valid_range(g.h, g.oh, g.sh, ky, g.ph);
            for kx in 0..g.kw {
                let mut acc = [s.zero(); KB];
                let mut ox0 = 0;
                while ox0 < g.ow {
                    let valid = (g.ow - ox0).min(l);
                    let win = Window::new((ox0 + kx) as isize - g.pw as isize, g.w, l);
                    for oy in oy0..oy1 {
                        let iy = oy * g.sh + ky - g.ph;
                        let xv = s.load_window(&xs[(c * g.h + iy) * g.w..][..g.w], win);
                        for (kb, a) in acc.iter_mut().enumerate() {
                            let d = s.load_part(&dz[(k0 + kb) * pixels + oy * g.ow + ox0..], valid);
                            *a = s.mul_add(d, xv, *a);
                        }
                    }
                    ox0 += l;
                }
                for (kb, a) in acc.iter().enumerate() {
                    dw[(k0 + kb) * patch + (c * g.kh + ky) * g.kw + kx] += s.sum(*a);
                }
            }
        }
    }
}

/// [`conv_dw`] vectorised over output channels (at most one vector of
/// them): the gradient is transposed to one vector per output pixel, and
/// each input channel's `T = KH * KW` tap accumulators stay in registers.
#[inline(always)]
fn dw_channels<S: Simd, const KH: usize, const KW: usize, const T: usize>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    dz: &[f32],
    dw: &mut [f32],
) {
    use core::mem::MaybeUninit;
    let l = S::LANES;
    let pixels = g.oh * g.ow;
    // dzt[p * l + k] = dz[k, p], zero for k >= g.k.
    let mut buf: PackBuf = [const { MaybeUninit::uninit() }; CV_MAX_WEIGHTS];
    let dzt = &mut buf[..pixels * l];
    for (p, row) in dzt.chunks_exact_mut(l).enumerate() {
        for (k, v) in row.iter_mut().enumerate() {
            v.write(if k < g.k { dz[k * pixels + p] } else { 0.0 });
        }
    }
    // SAFETY: every element of `buf[..pixels * l]` was written just above,
    // and `MaybeUninit<f32>` has the layout of `f32`.
    let dzt = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<f32>(), pixels * l) };
    let patch = g.c * T;
    let mut lanes = [0.0f32; 16];
    for c in 0..g.c {
        let plane = &xs[c * g.h * g.w..(c + 1) * g.h * g.w];
        let mut acc = [s.zero(); T];
        for oy in 0..g.oh {
            let y0 = (oy * g.sh) as isize - g.ph as isize;
            let rows_inside = y0 >= 0 && y0 as usize + KH <= g.h;
            for ox in 0..g.ow {
                let d = s.load(&dzt[(oy * g.ow + ox) * l..]);
                let x0 = (ox * g.sw) as isize - g.pw as isize;
                if rows_inside && x0 >= 0 && x0 as usize + KW <= g.w {
                    let base = y0 as usize * g.w + x0 as usize;
                    for ky in 0..KH {
                        let row = &plane[base + ky * g.w..base + ky * g.w + KW];
                        for kx in 0..KW {
                            acc[ky * KW + kx] = s.mul_add(s.splat(row[kx]), d, acc[ky * KW + kx]);
                        }
                    }
                } else {
                    for ky in 0..KH {
                        for kx in 0..KW {
                            let (iy, ix) = (y0 + ky as isize, x0 + kx as isize);
                            if iy >= 0 && ix >= 0 && (iy as usize) < g.h && (ix as usize) < g.w {
                                let x = plane[iy as usize * g.w + ix as usize];
                                acc[ky * KW + kx] = s.mul_add(s.splat(x), d, acc[ky * KW + kx]);
                            }
                        }
                    }
                }
            }
        }
        for (t, a) in acc.iter().enumerate() {
            s.store(&mut lanes, *a);
            for (k, &v) in lanes[..g.k].iter().enumerate() {
                dw[k * patch + c * T + t] += v;
            }
        }
    }
}

/// [`conv_dw`] for a `KH x KW` kernel with its `T = KH * KW` taps'
/// accumulators in registers, one (output channel, input channel) pair at a
/// time.
#[inline(always)]
fn dw_taps<S: Simd, const KH: usize, const KW: usize, const T: usize>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    dz: &[f32],
    dw: &mut [f32],
) {
    let l = S::LANES;
    let pixels = g.oh * g.ow;
    let patch = g.c * T;
    for k in 0..g.k {
        let dzk = &dz[k * pixels..(k + 1) * pixels];
        for c in 0..g.c {
            let plane = &xs[c * g.h * g.w..(c + 1) * g.h * g.w];
            let mut acc = [s.zero(); T];
            let mut ox0 = 0;
            while ox0 < g.ow {
                let valid = (g.ow - ox0).min(l);
                let wins: [Window; KW] = core::array::from_fn(|kx| {
                    Window::new((ox0 + kx) as isize - g.pw as isize, g.w, l)
                });
                for oy in 0..g.oh {
                    let d = s.load_part(&dzk[oy * g.ow + ox0..], valid);
                    for ky in 0..KH {
                        let iy = (oy * g.sh + ky) as isize - g.ph as isize;
                        if iy < 0 || iy as usize >= g.h {
                            continue;
                        }
                        let row = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                        for kx in 0..KW {
                            let xv = s.load_window(row, wins[kx]);
                            acc[ky * KW + kx] = s.mul_add(d, xv, acc[ky * KW + kx]);
                        }
                    }
                }
                ox0 += l;
            }
            let out = &mut dw[k * patch + c * T..k * patch + (c + 1) * T];
            for (o, a) in out.iter_mut().zip(acc) {
                *o += s.sum(a);
            }
        }
    }
}

/// `dx = w^T (*) dz` for one sample (stride 1 along rows): each input
/// cell gathers the gradients of the outputs it fed.
#[inline(always)]
pub fn conv_dx<S: Simd>(s: S, g: &ConvGeom, w: &[f32], dz: &[f32], dx: &mut [f32]) {
    if g.sw != 1 {
        return crate::ops::conv::direct_dx_scalar(g, w, dz, dx);
    }
    let mut c0 = 0;
    while c0 < g.c {
        let left = g.c - c0;
        let cb = match S::LANES {
            16 => [8, 6, 4, 2, 1]
                .into_iter()
                .find(|&b| b <= left)
                .unwrap_or(1),
            8 => [6, 4, 2, 1].into_iter().find(|&b| b <= left).unwrap_or(1),
            _ => [4, 1].into_iter().find(|&b| b <= left).unwrap_or(1),
        };
        match cb {
            8 => dx_block::<S, 8>(s, g, w, dz, dx, c0),
            6 => dx_block::<S, 6>(s, g, w, dz, dx, c0),
            4 => dx_block::<S, 4>(s, g, w, dz, dx, c0),
            2 => dx_block::<S, 2>(s, g, w, dz, dx, c0),
            _ => dx_block::<S, 1>(s, g, w, dz, dx, c0),
        }
        c0 += cb;
    }
}

#[inline(always)]
fn dx_block<S: Simd, const CB: usize>(
    s: S,
    g: &ConvGeom,
    w: &[f32],
    dz: &[f32],
    dx: &mut [f32],
    c0: usize,
) {
    let l = S::LANES;
    let pixels = g.oh * g.ow;
    for iy in 0..g.h {
        let mut ix0 = 0;
        while ix0 < g.w {
            let valid = (g.w - ix0).min(l);
            let mut acc = [s.zero(); CB];
            for ky in 0..g.kh {
                // Output row oy with oy*sh + ky - ph == iy.
                let t = iy + g.ph;
                if t < ky || !(t - ky).is_multiple_of(g.sh) {
                    continue;
                }
                let oy = (t - ky) / g.sh;
                if oy >= g.oh {
                    continue;
                }
                for kx in 0..g.kw {
                    let win = Window::new((ix0 + g.pw) as isize - kx as isize, g.ow, l);
                    if win.lo >= win.hi {
                        continue;
                    }
                    let wbase = (c0 * g.kh + ky) * g.kw + kx;
                    let cstride = g.kh * g.kw;
                    for k in 0..g.k {
                        let dv = s.load_window(&dz[k * pixels + oy * g.ow..][..g.ow], win);
                        let wk = &w[k * g.c * cstride + wbase..];
                        for (cb, a) in acc.iter_mut().enumerate() {
                            let wv = s.splat(wk[cb * cstride]);
                            *a = s.mul_add(wv, dv, *a);
                        }
                    }
                }
            }
            for (cb, a) in acc.iter().enumerate() {
                s.store_part(&mut dx[((c0 + cb) * g.h + iy) * g.w + ix0..], valid, *a);
            }
            ix0 += l;
        }
    }
}

/// `y[s, o] = b[o] + dot(w[o], x[s])` for every sample; each dot product
/// is accumulated the same way whatever the batch size.
#[inline(always)]
pub fn dense_forward<S: Simd>(
    s: S,
    inputs: usize,
    outputs: usize,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
) {
    let n = match x.len().checked_div(inputs) {
        Some(n) => n,
        None => y.len() / outputs.max(1),
    };
    let mut i = 0;
    while i < n {
        // Several samples share each weight load; every dot product is
        // still summed alone, in the same order whatever the grouping.
        let sb = match n - i {
            r if r >= 4 && S::LANES > 1 => 4,
            r if r >= 2 => 2,
            _ => 1,
        };
        let mut o = 0;
        while o < outputs {
            let ob = match (outputs - o, sb) {
                (r, 4) if r >= 4 => 4,
                (r, 1 | 2) if r >= 8 => 8,
                (r, _) if r >= 4 => 4,
                _ => 1,
            };
            match (sb, ob) {
                (4, 4) => dense_block::<S, 4, 4>(s, inputs, outputs, x, w, b, y, i, o),
                (4, _) => dense_block::<S, 4, 1>(s, inputs, outputs, x, w, b, y, i, o),
                (2, 8) => dense_block::<S, 2, 8>(s, inputs, outputs, x, w, b, y, i, o),
                (2, 4) => dense_block::<S, 2, 4>(s, inputs, outputs, x, w, b, y, i, o),
                (2, _) => dense_block::<S, 2, 1>(s, inputs, outputs, x, w, b, y, i, o),
                (_, 8) => dense_block::<S, 1, 8>(s, inputs, outputs, x, w, b, y, i, o),
                (_, 4) => dense_block::<S, 1, 4>(s, inputs, outputs, x, w, b, y, i, o),
                _ => dense_block::<S, 1, 1>(s, inputs, outputs, x, w, b, y, i, o),
            }
            o += ob;
        }
        i += sb;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dense_block<S: Simd, const SB: usize, const OB: usize>(
    s: S,
    inputs: usize,
    outputs: usize,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    i: usize,
    o: usize,
) {
    let l = S::LANES;
    let xs: [&[f32]; SB] = core::array::from_fn(|sb| &x[(i + sb) * inputs..(i + sb + 1) * inputs]);
    let ws: [&[f32]; OB] = core::array::from_fn(|ob| &w[(o + ob) * inputs..(o + ob + 1) * inputs]);
    let mut acc = [[s.zero(); OB]; SB];
    let full = inputs / l * l;
    let mut k = 0;
    while k < full {
        let xv: [S::V; SB] = core::array::from_fn(|sb| s.load(&xs[sb][k..]));
        for ob in 0..OB {
            let wv = s.load(&ws[ob][k..]);
            for sb in 0..SB {
                acc[sb][ob] = s.mul_add(wv, xv[sb], acc[sb][ob]);
            }
        }
        k += l;
    }
    if k < inputs {
        let n = inputs - k;
        let xv: [S::V; SB] = core::array::from_fn(|sb| s.load_part(&xs[sb][k..], n));
        for ob in 0..OB {
            let wv = s.load_part(&ws[ob][k..], n);
            for sb in 0..SB {
                acc[sb][ob] = s.mul_add(wv, xv[sb], acc[sb][ob]);
            }
        }
    }
    for sb in 0..SB {
        for ob in 0..OB {
            y[(i + sb) * outputs + o + ob] = b.map_or(0.0, |b| b[o + ob]) + s.sum(acc[sb][ob]);
        }
    }
}

/// The input gradient of a fused conv → ReLU → max-pool layer from the
/// pooled gradient `dy` and the argmax bytes: only each active window's
/// winner carries a gradient, so each adds `dy * w[k, :, ky, kx]` to the
/// `kh x kw` input cells it read, as vectors over input channels. `wc` is
/// [`pack_channels_last`]'s layout; the gradient is accumulated
/// channels-last in `dxc` (`h * w * cpad` floats) and then transposed.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn sparse_dx<S: Simd>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    wc: &[f32],
    argmax: &[u8],
    dy: &[f32],
    dx: &mut [f32],
    dxc: &mut [f32],
) {
    let l = S::LANES;
    let cpad = g.c.next_multiple_of(l);
    let taps = g.kh * g.kw;
    let dxc = &mut dxc[..g.h * g.w * cpad];
    dxc.fill(0.0);
    // LeNet-style layers (stride-1 5x5 or 3x3 kernel, 2x2 pool, input
    // channels in one vector): the winners of one pooled position, across
    // all output channels, touch only a (KH+1)x(KW+1) block of cells, which
    // is accumulated in registers and written once.
    let banded = g.sh == 1
        && g.sw == 1
        && cpad == l
        && g.k <= MAX_BANDED_K
        && (p.kh, p.kw, p.sh, p.sw, p.ph, p.pw) == (2, 2, 2, 2, 0, 0);
    if banded && (g.kh, g.kw) == (5, 5) {
        if l >= 16 {
            sparse_dx_banded::<S, 5, 5, 3>(s, g, p, wc, argmax, dy, dxc, &[0, 3]);
        } else {
            sparse_dx_banded::<S, 5, 5, 2>(s, g, p, wc, argmax, dy, dxc, &[0, 2, 4]);
        }
        return channels_last_to_planes(g, cpad, dxc, dx);
    }
    if banded && (g.kh, g.kw) == (3, 3) {
        sparse_dx_banded::<S, 3, 3, 2>(s, g, p, wc, argmax, dy, dxc, &[0, 2]);
        return channels_last_to_planes(g, cpad, dxc, dx);
    }
    // The winner's offset in its window, by index (no division in the loop).
    let cell = window_cells(p);
    for k in 0..g.k {
        for py in 0..p.oh {
            for px in 0..p.ow {
                let i = (k * p.oh + py) * p.ow + px;
                let a = argmax[i];
                if a == INACTIVE {
                    continue;
                }
                let gv = s.splat(dy[i]);
                let (dy0, dx0) = cell[a as usize];
                let (oy, ox) = (py * p.sh + dy0 - p.ph, px * p.sw + dx0 - p.pw);
                let (ky0, ky1) = crate::ops::fused::kernel_range(g.h, oy * g.sh, g.ph, g.kh);
                let (kx0, kx1) = crate::ops::fused::kernel_range(g.w, ox * g.sw, g.pw, g.kw);
                // The cells a kernel row touches are adjacent, channels-last.
                let len = (kx1 - kx0) * cpad;
                for ky in ky0..ky1 {
                    let iy = oy * g.sh + ky - g.ph;
                    let at = (iy * g.w + ox * g.sw + kx0 - g.pw) * cpad;
                    let cells = &mut dxc[at..at + len];
                    let wrow = &wc[(k * taps + ky * g.kw + kx0) * cpad..][..len];
                    for (c, wv) in cells.chunks_exact_mut(l).zip(wrow.chunks_exact(l)) {
                        let acc = s.mul_add(gv, s.load(wv), s.load(c));
                        s.store(c, acc);
                    }
                }
            }
        }
    }
    channels_last_to_planes(g, cpad, dxc, dx);
}

/// `dx[c][j] = dxc[j * cpad + c]`.
#[inline(always)]
fn channels_last_to_planes(g: &ConvGeom, cpad: usize, dxc: &[f32], dx: &mut [f32]) {
    for c in 0..g.c {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for (j, d) in plane.iter_mut().enumerate() {
            *d = dxc[j * cpad + c];
        }
    }
}

/// Accumulators of one band of the register block in [`sparse_dx_banded`]
/// (at most `RB * (KW + 1)` are used).
const BAND_CELLS: usize = 24;

/// [`sparse_dx`] for a stride-1 `KH x KW` kernel under a 2x2 stride-2 pool
/// with the input channels in one vector (`cpad == LANES`). For each pooled
/// position, the winners of every output channel fall in its 2x2 window, so
/// their kernels cover a `(KH+1) x (KW+1)` block of input cells. The block
/// is accumulated in registers, `RB` rows at a time (the bands start at
/// `bands`), and then added to `dxc`, so each winner costs `KH * KW`
/// register FMAs and no memory round trip.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn sparse_dx_banded<S: Simd, const KH: usize, const KW: usize, const RB: usize>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    wc: &[f32],
    argmax: &[u8],
    dy: &[f32],
    dxc: &mut [f32],
    bands: &[usize],
) {
    debug_assert!(RB * (KW + 1) <= BAND_CELLS);
    let plane = p.oh * p.ow;
    // The output channels whose winner sits in each cell of the window (and
    // a fifth list for inactive outputs), filled without branches so that a
    // random winner does not cost a mispredicted jump.
    let mut ks = [[0u16; MAX_BANDED_K]; 5];
    let mut gs = [[0f32; MAX_BANDED_K]; 5];
    for py in 0..p.oh {
        for px in 0..p.ow {
            let iy0 = (2 * py) as isize - g.ph as isize;
            let ix0 = (2 * px) as isize - g.pw as isize;
            let i0 = py * p.ow + px;
            let mut n = [0usize; 5];
            for k in 0..g.k {
                let i = k * plane + i0;
                let q = usize::from(argmax[i]).min(4);
                ks[q][n[q]] = k as u16;
                gs[q][n[q]] = dy[i];
                n[q] += 1;
            }
            let win = Winners {
                ks: &ks,
                gs: &gs,
                n,
            };
            for &r0 in bands {
                match r0 {
                    0 => dx_band::<S, KH, KW, RB, 0>(s, g, wc, &win, dxc, iy0, ix0),
                    2 => dx_band::<S, KH, KW, RB, 2>(s, g, wc, &win, dxc, iy0, ix0),
                    3 => dx_band::<S, KH, KW, RB, 3>(s, g, wc, &win, dxc, iy0, ix0),
                    4 => dx_band::<S, KH, KW, RB, 4>(s, g, wc, &win, dxc, iy0, ix0),
                    _ => unreachable!("band start {r0}"),
                }
            }
        }
    }
}

/// The most output channels [`sparse_dx_banded`] takes.
const MAX_BANDED_K: usize = 256;

/// One pooled position's winners: `ks[q][..n[q]]` are the output channels
/// whose winner is cell `q` of the 2x2 window, `gs` their gradients.
struct Winners<'a> {
    ks: &'a [[u16; MAX_BANDED_K]; 5],
    gs: &'a [[f32; MAX_BANDED_K]; 5],
    n: [usize; 5],
}

/// Rows `R0..R0 + RB` of [`sparse_dx_banded`]'s block; `(iy0, ix0)` is the
/// block's top-left input cell (possibly in the padding, whose cells are
/// dropped).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dx_band<S: Simd, const KH: usize, const KW: usize, const RB: usize, const R0: usize>(
    s: S,
    g: &ConvGeom,
    wc: &[f32],
    win: &Winners,
    dxc: &mut [f32],
    iy0: isize,
    ix0: isize,
) {
    let l = S::LANES;
    let mut acc = [s.zero(); BAND_CELLS];
    dx_cell::<S, KH, KW, RB, R0, 0, 0>(s, &mut acc, win, 0, wc);
    dx_cell::<S, KH, KW, RB, R0, 0, 1>(s, &mut acc, win, 1, wc);
    dx_cell::<S, KH, KW, RB, R0, 1, 0>(s, &mut acc, win, 2, wc);
    dx_cell::<S, KH, KW, RB, R0, 1, 1>(s, &mut acc, win, 3, wc);
    for r in 0..RB {
        let iy = iy0 + (R0 + r) as isize;
        if R0 + r > KH || iy < 0 || iy >= g.h as isize {
            continue;
        }
        for c in 0..=KW {
            let ix = ix0 + c as isize;
            if ix < 0 || ix >= g.w as isize {
                continue;
            }
            let cell = &mut dxc[(iy as usize * g.w + ix as usize) * l..][..l];
            let v = s.add(s.load(cell), acc[r * (KW + 1) + c]);
            s.store(cell, v);
        }
    }
}

/// The winners in cell `q = DY * 2 + DX` of the window, into the band.
#[inline(always)]
fn dx_cell<
    S: Simd,
    const KH: usize,
    const KW: usize,
    const RB: usize,
    const R0: usize,
    const DY: usize,
    const DX: usize,
>(
    s: S,
    acc: &mut [S::V; BAND_CELLS],
    win: &Winners,
    q: usize,
    wc: &[f32],
) {
    // Kernel rows DY + ky outside this band contribute nothing here.
    if DY + KH <= R0 || DY >= R0 + RB {
        return;
    }
    let l = S::LANES;
    let n = win.n[q];
    for (&k, &gv) in win.ks[q][..n].iter().zip(&win.gs[q][..n]) {
        let wk = &wc[usize::from(k) * KH * KW * l..][..KH * KW * l];
        band_taps::<S, KH, KW, RB, R0, DY, DX>(s, acc, s.splat(gv), wk);
    }
}

/// Adds one winner's kernel taps (`wk`, channels-last) times `gv` to the
/// band's accumulators; the winner sits at `(DY, DX)` in its 2x2 window.
#[inline(always)]
fn band_taps<
    S: Simd,
    const KH: usize,
    const KW: usize,
    const RB: usize,
    const R0: usize,
    const DY: usize,
    const DX: usize,
>(
    s: S,
    acc: &mut [S::V; BAND_CELLS],
    gv: S::V,
    wk: &[f32],
) {
    let l = S::LANES;
    for ky in 0..KH {
        let r = DY + ky;
        if r < R0 || r >= R0 + RB {
            continue;
        }
        for kx in 0..KW {
            let j = (r - R0) * (KW + 1) + DX + kx;
            acc[j] = s.mul_add(gv, s.load(&wk[(ky * KW + kx) * l..]), acc[j]);
        }
    }
}

/// Packs `w` (`[k, c, kh, kw]`) as `wc[((k * kh + ky) * kw + kx) * cpad + c]`,
/// zero-padded to `cpad` input channels, for [`sparse_dx`](super::sparse_dx).
pub fn pack_channels_last(g: &ConvGeom, w: &[f32], cpad: usize, wc: &mut [f32]) {
    let taps = g.kh * g.kw;
    let wc = &mut wc[..g.k * taps * cpad];
    wc.fill(0.0);
    for k in 0..g.k {
        for c in 0..g.c {
            let src = &w[(k * g.c + c) * taps..(k * g.c + c + 1) * taps];
            for (t, &v) in src.iter().enumerate() {
                wc[(k * taps + t) * cpad + c] = v;
            }
        }
    }
}

/// The sum of `v`, in vector-wide partial sums.
#[inline(always)]
pub fn sum<S: Simd>(s: S, v: &[f32]) -> f32 {
    let l = S::LANES;
    let mut acc = [s.zero(); 4];
    let mut chunks = v.chunks_exact(4 * l);
    for c in &mut chunks {
        for (j, a) in acc.iter_mut().enumerate() {
            *a = s.add(*a, s.load(&c[j * l..]));
        }
    }
    let mut rest = chunks.remainder();
    let mut tail = s.zero();
    while !rest.is_empty() {
        let n = rest.len().min(l);
        tail = s.add(tail, s.load_part(rest, n));
        rest = &rest[n..];
    }
    s.sum(s.add(s.add(acc[0], acc[1]), s.add(s.add(acc[2], acc[3]), tail)))
}

/// `y = relu(y)`, NaN kept.
#[inline(always)]
pub fn relu_in_place<S: Simd>(s: S, y: &mut [f32]) {
    let l = S::LANES;
    let mut i = 0;
    while i < y.len() {
        let n = (y.len() - i).min(l);
        let v = s.load_part(&y[i..], n);
        s.store_part(&mut y[i..], n, s.relu(v));
        i += l;
    }
}

// ---- channel-vectorised direct convolution ---------------------------------

/// Largest packed weight block (floats) the channel-vectorised kernels keep
/// on the stack; larger blocks go to the layer's scratch (see
/// [`crate::ops::conv::direct_pack_len`]).
pub const CV_MAX_WEIGHTS: usize = 8192;

/// Whether a layer runs on the channel-vectorised kernels at `lanes`: at
/// least one full vector of output channels, and packed weights small
/// enough to stay in cache. (Otherwise the column-vectorised kernels above
/// run.)
pub fn use_channel_vectors(g: &ConvGeom, lanes: usize) -> bool {
    lanes > 1
        && g.k >= lanes
        && g.patch_len() * g.k.next_multiple_of(lanes) <= crate::ops::conv::CV_MAX_PACKED
}

/// As [`pack_taps`], into (initialised) scratch memory.
#[inline(always)]
fn pack_taps_into<'b>(g: &ConvGeom, w: &[f32], kpad: usize, scratch: &'b mut [f32]) -> &'b [f32] {
    let patch = g.patch_len();
    let wt = &mut scratch[..patch * kpad];
    wt.fill(0.0);
    for (k, taps) in w[..g.k * patch].chunks_exact(patch).enumerate() {
        for (dst, &v) in wt[k..].iter_mut().step_by(kpad).zip(taps) {
            *dst = v;
        }
    }
    wt
}

/// A stack buffer for packed weights, not cleared on every call.
type PackBuf = [core::mem::MaybeUninit<f32>; CV_MAX_WEIGHTS];

/// Packs `w` (`[k, c, kh, kw]`) into `buf` as `wt[t * kpad + k]`, `t` the
/// tap `(c, ky, kx)`, writing only the packed part; returns that part.
#[inline(always)]
fn pack_taps<'b>(g: &ConvGeom, w: &[f32], kpad: usize, buf: &'b mut PackBuf) -> &'b [f32] {
    let patch = g.patch_len();
    let len = patch * kpad;
    assert!(len <= CV_MAX_WEIGHTS);
    let wt = &mut buf[..len];
    for v in wt.iter_mut() {
        v.write(0.0);
    }
    for (k, taps) in w[..g.k * patch].chunks_exact(patch).enumerate() {
        for (dst, &v) in wt[k..].iter_mut().step_by(kpad).zip(taps) {
            dst.write(v);
        }
    }
    // SAFETY: every element of `buf[..len]` was written just above, and
    // `MaybeUninit<f32>` has the layout of `f32`.
    unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<f32>(), len) }
}

/// The conv outputs of an `R x C` block of pixels (rows `oy0..`, columns
/// `ox0..`; columns past the output's width repeat its last one), channels
/// `k0..k0 + KV*LANES`, as vectors over channels: `acc[r * C + c]`. Each is
/// summed from its bias in the order `c, ky, kx`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn cv_block<S: Simd, const R: usize, const C: usize, const P: usize, const KV: usize>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    wt: &[f32],
    kpad: usize,
    bias: &[S::V; KV],
    oy0: usize,
    ox0: usize,
    k0: usize,
) -> [[S::V; KV]; P] {
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
        return if g.sw == 1 {
            cv_interior::<S, R, C, P, KV, true>(
                s,
                g,
                xs,
                wt,
                kpad,
                bias,
                y0 as usize,
                x0 as usize,
                k0,
            )
        } else {
            cv_interior::<S, R, C, P, KV, false>(
                s,
                g,
                xs,
                wt,
                kpad,
                bias,
                y0 as usize,
                x0 as usize,
                k0,
            )
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
#[allow(clippy::too_many_arguments)]
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
    g: &ConvGeom,
    xs: &[f32],
    wt: &[f32],
    kpad: usize,
    bias: &[S::V; KV],
    y0: usize,
    x0: usize,
    k0: usize,
) -> [[S::V; KV]; P] {
    let l = S::LANES;
    let sw = if SW1 { 1 } else { g.sw };
    // Its own accumulators, only ever indexed by constants once the loops
    // over the block unroll, so they stay in registers.
    let mut acc = [*bias; P];
    let plane_len = g.h * g.w;
    let xs = &xs[..g.c * plane_len];
    // The largest input index the block reads; checked once here.
    let last =
        (g.c - 1) * plane_len + (y0 + (R - 1) * g.sh + g.kh - 1) * g.w + x0 + (C - 1) * sw + g.kw
            - 1;
    assert!(last < xs.len() && (g.patch_len() - 1) * kpad + k0 + KV * l <= wt.len());
    for c in 0..g.c {
        for ky in 0..g.kh {
            let rows: [usize; R] =
                core::array::from_fn(|r| c * plane_len + (y0 + r * g.sh + ky) * g.w + x0);
            for kx in 0..g.kw {
                let t = (c * g.kh + ky) * g.kw + kx;
                let wv: [S::V; KV] = core::array::from_fn(|v| s.load(&wt[t * kpad + k0 + v * l..]));
                for r in 0..R {
                    for cc in 0..C {
                        let i = rows[r] + kx + cc * sw;
                        // SAFETY: i <= `last`, checked against xs.len()
                        // above: r < R, ky < kh, kx < kw, cc < C.
                        let xb = s.splat(unsafe { *xs.get_unchecked(i) });
                        for v in 0..KV {
                            acc[r * C + cc][v] = s.mul_add(xb, wv[v], acc[r * C + cc][v]);
                        }
                    }
                }
            }
        }
    }
    acc
}

/// Bias vectors for channels `k0..`.
#[inline(always)]
fn bias_vectors<S: Simd, const KV: usize>(
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

/// `ys = conv(xs) + b`, channel-vectorised (see [`use_channel_vectors`]).
#[inline(always)]
fn cv_forward<S: Simd>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    wt: &[f32],
    kpad: usize,
    b: Option<&[f32]>,
    ys: &mut [f32],
) {
    let l = S::LANES;
    let mut k0 = 0;
    while k0 < g.k {
        let kv = ((g.k - k0).div_ceil(l)).min(4);
        match (kv, l) {
            (1, 16) => cv_rows::<S, 12, 1>(s, g, xs, wt, kpad, b, ys, k0),
            (1, _) => cv_rows::<S, 8, 1>(s, g, xs, wt, kpad, b, ys, k0),
            (2, 16) => cv_rows::<S, 6, 2>(s, g, xs, wt, kpad, b, ys, k0),
            (2, _) => cv_rows::<S, 4, 2>(s, g, xs, wt, kpad, b, ys, k0),
            (3, _) => cv_rows::<S, 4, 3>(s, g, xs, wt, kpad, b, ys, k0),
            (_, 16) => cv_rows::<S, 4, 4>(s, g, xs, wt, kpad, b, ys, k0),
            _ => cv_rows::<S, 2, 4>(s, g, xs, wt, kpad, b, ys, k0),
        }
        k0 += kv * l;
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn cv_rows<S: Simd, const P: usize, const KV: usize>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    wt: &[f32],
    kpad: usize,
    b: Option<&[f32]>,
    ys: &mut [f32],
    k0: usize,
) {
    let bias = bias_vectors::<S, KV>(s, b, g.k, k0);
    for oy in 0..g.oh {
        let mut ox0 = 0;
        // Blocks of P pixels, then of 4, 2 and 1 for the rest of the row,
        // so every block lies inside the row.
        while ox0 + P <= g.ow {
            cv_store::<S, P, KV>(s, g, xs, wt, kpad, &bias, ys, oy, ox0, k0);
            ox0 += P;
        }
        while ox0 + 4 <= g.ow && P > 4 {
            cv_store::<S, 4, KV>(s, g, xs, wt, kpad, &bias, ys, oy, ox0, k0);
            ox0 += 4;
        }
        while ox0 + 2 <= g.ow && P > 2 {
            cv_store::<S, 2, KV>(s, g, xs, wt, kpad, &bias, ys, oy, ox0, k0);
            ox0 += 2;
        }
        while ox0 < g.ow {
            cv_store::<S, 1, KV>(s, g, xs, wt, kpad, &bias, ys, oy, ox0, k0);
            ox0 += 1;
        }
    }
}

/// Computes and stores the `P` pixels of row `oy` from column `ox0`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn cv_store<S: Simd, const P: usize, const KV: usize>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    wt: &[f32],
    kpad: usize,
    bias: &[S::V; KV],
    ys: &mut [f32],
    oy: usize,
    ox0: usize,
    k0: usize,
) {
    let l = S::LANES;
    let pixels = g.oh * g.ow;
    let acc = cv_block::<S, 1, P, P, KV>(s, g, xs, wt, kpad, bias, oy, ox0, k0);
    let mut lanes = [0.0f32; 64];
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

/// Fused conv → act → 2x2 stride-2 max-pool, channel-vectorised: the four
/// conv outputs of each window are vectors over channels, pooled with
/// vector maxima.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn cv_relu_pool_2x2<S: Simd>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    act: Act,
    xs: &[f32],
    wt: &[f32],
    kpad: usize,
    b: Option<&[f32]>,
    ys: &mut [f32],
    argmax: Option<&mut [u8]>,
) {
    let l = S::LANES;
    let mut argmax = argmax;
    let mut k0 = 0;
    while k0 < g.k {
        let kv = ((g.k - k0).div_ceil(l)).min(4);
        let am = argmax.as_deref_mut();
        match (kv, l) {
            (1, 16) => cv_pool_rows::<S, 5, 10, 20, 1>(s, g, p, act, xs, wt, kpad, b, ys, am, k0),
            (1, _) => cv_pool_rows::<S, 2, 4, 8, 1>(s, g, p, act, xs, wt, kpad, b, ys, am, k0),
            (2, 16) => cv_pool_rows::<S, 3, 6, 12, 2>(s, g, p, act, xs, wt, kpad, b, ys, am, k0),
            (2, _) => cv_pool_rows::<S, 1, 2, 4, 2>(s, g, p, act, xs, wt, kpad, b, ys, am, k0),
            (3, _) => cv_pool_rows::<S, 1, 2, 4, 3>(s, g, p, act, xs, wt, kpad, b, ys, am, k0),
            _ => cv_pool_rows::<S, 1, 2, 4, 4>(s, g, p, act, xs, wt, kpad, b, ys, am, k0),
        }
        k0 += kv * l;
    }
}

/// `Q` pooled outputs along a row at a time (`P = 4 Q` conv pixels).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn cv_pool_rows<S: Simd, const Q: usize, const C: usize, const P: usize, const KV: usize>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    act: Act,
    xs: &[f32],
    wt: &[f32],
    kpad: usize,
    b: Option<&[f32]>,
    ys: &mut [f32],
    argmax: Option<&mut [u8]>,
    k0: usize,
) {
    let l = S::LANES;
    let out_pixels = p.oh * p.ow;
    let bias = bias_vectors::<S, KV>(s, b, g.k, k0);
    let mut argmax = argmax;
    let mut lanes = [0.0f32; 64];
    let mut args = [0.0f32; 64];
    let kn = (KV * l).min(g.k - k0);
    for py in 0..p.oh {
        let mut px0 = 0;
        while px0 < p.ow {
            let n = (p.ow - px0).min(Q);
            // Two conv rows, 2Q columns: window q's cells are at columns
            // 2q and 2q + 1 of each row.
            let acc = cv_block::<S, 2, C, P, KV>(s, g, xs, wt, kpad, &bias, 2 * py, 2 * px0, k0);
            for q in 0..n {
                let at = py * p.ow + px0 + q;
                let cells = [
                    acc[2 * q],
                    acc[2 * q + 1],
                    acc[C + 2 * q],
                    acc[C + 2 * q + 1],
                ];
                match argmax.as_deref_mut() {
                    None => {
                        for v in 0..KV {
                            let m = s.max_nan(
                                s.max_nan(cells[0][v], cells[1][v]),
                                s.max_nan(cells[2][v], cells[3][v]),
                            );
                            let m = if act == Act::Relu { s.relu(m) } else { m };
                            s.store(&mut lanes[v * l..], m);
                        }
                        for (j, &val) in lanes[..kn].iter().enumerate() {
                            ys[(k0 + j) * out_pixels + at] = val;
                        }
                    }
                    Some(am) => {
                        for v in 0..KV {
                            let (mut best, mut arg) = (cells[0][v], s.zero());
                            (best, arg) = s.max_arg(best, arg, cells[1][v], s.splat(1.0));
                            (best, arg) = s.max_arg(best, arg, cells[2][v], s.splat(2.0));
                            (best, arg) = s.max_arg(best, arg, cells[3][v], s.splat(3.0));
                            let m = if act == Act::Relu { s.relu(best) } else { best };
                            s.store(&mut lanes[v * l..], m);
                            s.store(&mut args[v * l..], arg);
                        }
                        for j in 0..kn {
                            let i = (k0 + j) * out_pixels + at;
                            let val = lanes[j];
                            ys[i] = val;
                            am[i] = arg_byte(act, val, args[j]);
                        }
                    }
                }
            }
            px0 += Q;
        }
    }
}

/// The argmax byte of a pooled output `v` whose window cell `arg` won:
/// [`INACTIVE`] unless the ReLU passes it (positive; NaN is inactive).
/// Computed with a mask rather than a branch, which would mispredict on
/// every random sign.
#[inline(always)]
fn arg_byte(act: Act, v: f32, arg: f32) -> u8 {
    const _: () = assert!(INACTIVE == u8::MAX);
    let inactive = act == Act::Relu && (v.is_nan() || v <= 0.0);
    (arg as u8) | u8::from(inactive).wrapping_neg()
}

/// Whether [`sparse_dw`](super::sparse_dw) suits a fused direct layer at `lanes` lanes: a
/// 5x5 or 3x3 kernel and the input channels in one vector, filling more
/// than a quarter of it (with fewer channels most lanes of each FMA would
/// be empty; such layers use the dense kernels over the scattered gradient).
pub const fn sparse_dw_suits(g: &ConvGeom, lanes: usize) -> bool {
    let taps_fit = matches!((g.kh, g.kw), (5, 5) | (3, 3));
    lanes > 1 && taps_fit && g.c * 4 > lanes && g.c <= lanes
}

/// Weight and bias gradients of one sample of a fused direct conv → ReLU →
/// max-pool layer from the winners alone: only the winning conv output of
/// each active window has a gradient, so the others are never visited.
/// For layers where [`sparse_dw_suits`] at this level's lanes: one
/// accumulator per tap, a vector over input channels, fed from `xpad`, the
/// input zero-padded channels-last (`(h + 2 ph) * (w + 2 pw) * lanes`).
/// The weight gradient is added channels-last to `dwc`
/// (`k * kh * kw * lanes`, see [`add_channels_last_dw`]); `db` directly.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn sparse_dw<S: Simd>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    xs: &[f32],
    argmax: &[u8],
    dy: &[f32],
    dwc: &mut [f32],
    db: Option<&mut [f32]>,
    xpad: &mut [f32],
) {
    if let Some(db) = db {
        let plane = p.oh * p.ow;
        for (k, d) in db.iter_mut().enumerate().take(g.k) {
            let am = &argmax[k * plane..][..plane];
            let dk = &dy[k * plane..][..plane];
            *d += am
                .iter()
                .zip(dk)
                .filter(|(&a, _)| a != INACTIVE)
                .map(|(_, &v)| v)
                .sum::<f32>();
        }
    }
    pad_channels_last(g, S::LANES, xs, xpad);
    // All taps in registers where there are enough of them (32 with
    // AVX-512), else two kernel rows at a time.
    match (g.kh, S::LANES >= 16) {
        (5, true) => dw_taps_cl::<S, 5, 5, 5>(s, g, p, argmax, dy, dwc, xpad, &[0]),
        (5, false) => dw_taps_cl::<S, 5, 5, 2>(s, g, p, argmax, dy, dwc, xpad, &[0, 2, 4]),
        _ => dw_taps_cl::<S, 3, 3, 3>(s, g, p, argmax, dy, dwc, xpad, &[0]),
    }
}

/// The conv output cell each in-window index `a` of `p` points at, relative
/// to the window's top-left corner.
#[inline(always)]
fn window_cells(p: &PoolGeom) -> [(usize, usize); 256] {
    let mut cell = [(0usize, 0usize); 256];
    for (a, c) in cell.iter_mut().enumerate().take(p.kh * p.kw) {
        *c = (a / p.kw, a % p.kw);
    }
    cell
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

/// [`sparse_dw`]'s kernel: for each winner, one FMA per tap, the taps
/// of `RB` kernel rows (starting at each of `bands`) in registers.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dw_taps_cl<S: Simd, const KH: usize, const KW: usize, const RB: usize>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    argmax: &[u8],
    dy: &[f32],
    dwc: &mut [f32],
    xpad: &[f32],
    bands: &[usize],
) {
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
                let a = argmax[i];
                let (dy0, dx0) = cell[usize::from(a)];
                // Wrapping: an inactive output's (meaningless) cell may lie
                // in the pool's padding; it is overwritten, never read.
                let oy = (py * p.sh + dy0).wrapping_sub(p.ph);
                let ox = (px * p.sw + dx0).wrapping_sub(p.pw);
                at[n] = oy
                    .wrapping_mul(g.sh * wp)
                    .wrapping_add(ox.wrapping_mul(g.sw))
                    .wrapping_mul(l);
                gs[n] = dy[i];
                n += usize::from(a != INACTIVE);
                px += 1;
                if px == p.ow {
                    (py, px) = (py + 1, 0);
                }
            }
            for &r0 in bands {
                match r0 {
                    0 => dw_band_cl::<S, KH, KW, RB, 0>(s, wp, k, &at[..n], &gs[..n], dwc, xpad),
                    2 => dw_band_cl::<S, KH, KW, RB, 2>(s, wp, k, &at[..n], &gs[..n], dwc, xpad),
                    4 => dw_band_cl::<S, KH, KW, RB, 4>(s, wp, k, &at[..n], &gs[..n], dwc, xpad),
                    _ => unreachable!("band start {r0}"),
                }
            }
            start = end;
        }
    }
}

/// Winners [`dw_taps_cl`] lists at a time.
const WINNER_CHUNK: usize = 256;

/// Kernel rows `R0..min(R0 + RB, KH)` of [`dw_taps_cl`] for output channel
/// `k`: the winners' patches start at offsets `at` of `xpad`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn dw_band_cl<S: Simd, const KH: usize, const KW: usize, const RB: usize, const R0: usize>(
    s: S,
    wp: usize,
    k: usize,
    at: &[usize],
    gs: &[f32],
    dwc: &mut [f32],
    xpad: &[f32],
) {
    let l = S::LANES;
    let mut acc = [s.zero(); 25];
    for (&at, &gv) in at.iter().zip(gs) {
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

/// `dw[k][c][t] += dwc[(k * taps + t) * cpad + c]`: [`sparse_dw`](super::sparse_dw)'s
/// channels-last weight gradient in PyTorch's layout.
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
