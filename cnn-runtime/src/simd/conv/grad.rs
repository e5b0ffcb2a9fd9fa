//! Dense gradients of the direct convolution of one sample, from the
//! gradient `dz` of the whole conv output (`[k, oh, ow]`): the weight
//! gradient `dw += dz (*) xs` and the input gradient `dx = w^T (*) dz`,
//! vectorised along columns (horizontal stride 1, and 2 for the weight
//! gradient; other strides run the scalar level's kernels).

use core::mem::MaybeUninit;

use cnn_spec::tuning::{column_dx_channel_blocks, dw_channel_blocks};
use cnn_spec::variants::dw_channel_vectors;
use cnn_spec::{valid_range, ConvGeom, MAX_LANES};

use super::ctx::block_for;
use super::pack::pack_buf;
use crate::simd::scalar;
use crate::simd::vector::{Simd, Window};

/// `dw += dz (*) xs` for one sample: `xs` is `[c, h, w]`, `dw`
/// `[k, c, kh, kw]`.
#[inline(always)]
pub fn conv_dw<S: Simd>(s: S, g: &ConvGeom, xs: &[f32], dz: &[f32], dw: &mut [f32]) {
    if g.sw == 2 && S::LANES > 1 {
        // Stride 2 (ResNet's and GoogLeNet's 7x7 stems): the even lanes of
        // two vectors of the input row, one tap at a time.
        return dw_blocks::<S, 2>(s, g, xs, dz, dw);
    }
    if g.sw != 1 {
        return scalar::conv::weight_grad(g, xs, dz, dw);
    }
    // One vector of output channels: the gradient of each output pixel is
    // one vector, multiplied by every tap's input value.
    if dw_channel_vectors(g, S::LANES) {
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
    dw_blocks::<S, 1>(s, g, xs, dz, dw)
}

/// [`conv_dw`] in blocks of output channels, one tap at a time, for a
/// horizontal stride `SW` of 1 or 2.
#[inline(always)]
fn dw_blocks<S: Simd, const SW: usize>(s: S, g: &ConvGeom, xs: &[f32], dz: &[f32], dw: &mut [f32]) {
    debug_assert_eq!(g.sw, SW);
    let mut k0 = 0;
    while k0 < g.k {
        let kb = block_for(dw_channel_blocks(S::LANES), g.k - k0);
        match kb {
            4 => dw_block::<S, 4, SW>(s, g, xs, dz, dw, k0),
            1 => dw_block::<S, 1, SW>(s, g, xs, dz, dw, k0),
            _ => unreachable!("a block of {kb} channels"),
        }
        k0 += kb;
    }
}

/// [`conv_dw`] for channels `k0..k0 + KB`, one tap at a time, horizontal
/// stride `SW` (1, or 2: the input vector is the even lanes of the two at
/// `SW * ox0 + kx - pw`).
#[inline(always)]
fn dw_block<S: Simd, const KB: usize, const SW: usize>(
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
            let (oy0, oy1) = valid_range(g.h, g.oh, g.sh, ky, g.ph);
            for kx in 0..g.kw {
                let mut acc = [s.zero(); KB];
                let mut ox0 = 0;
                while ox0 < g.ow {
                    let valid = (g.ow - ox0).min(l);
                    let start = (SW * ox0 + kx) as isize - g.pw as isize;
                    let win = Window::new(start, g.w, l);
                    let win2 = Window::new(start + l as isize, g.w, l);
                    for oy in oy0..oy1 {
                        let iy = oy * g.sh + ky - g.ph;
                        let row = &xs[(c * g.h + iy) * g.w..][..g.w];
                        let xv = if SW == 1 {
                            s.load_window(row, win)
                        } else {
                            let (even, _) =
                                s.deinterleave(s.load_window(row, win), s.load_window(row, win2));
                            even
                        };
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
    let l = S::LANES;
    let pixels = g.oh * g.ow;
    // dzt[p * l + k] = dz[k, p], zero for k >= g.k.
    let mut buf = pack_buf();
    let dzt: &mut [MaybeUninit<f32>] = &mut buf[..pixels * l];
    for (p, row) in dzt.chunks_exact_mut(l).enumerate() {
        for (k, v) in row.iter_mut().enumerate() {
            v.write(if k < g.k { dz[k * pixels + p] } else { 0.0 });
        }
    }
    // SAFETY: every element of `buf[..pixels * l]` was written just above,
    // and `MaybeUninit<f32>` has the layout of `f32`.
    let dzt = unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<f32>(), pixels * l) };
    let patch = g.c * T;
    let mut lanes = [0.0f32; MAX_LANES];
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

/// `dx = w^T (*) dz` for one sample (`w` `[k, c, kh, kw]`, `dx` `[c, h, w]`,
/// written): each input cell gathers the gradients of the outputs it fed.
#[inline(always)]
pub fn conv_dx<S: Simd>(s: S, g: &ConvGeom, w: &[f32], dz: &[f32], dx: &mut [f32]) {
    if g.sw != 1 {
        return scalar::conv::input_grad(g, w, dz, dx);
    }
    let mut c0 = 0;
    while c0 < g.c {
        let cb = block_for(column_dx_channel_blocks(S::LANES), g.c - c0);
        match cb {
            8 => dx_block::<S, 8>(s, g, w, dz, dx, c0),
            6 => dx_block::<S, 6>(s, g, w, dz, dx, c0),
            4 => dx_block::<S, 4>(s, g, w, dz, dx, c0),
            2 => dx_block::<S, 2>(s, g, w, dz, dx, c0),
            1 => dx_block::<S, 1>(s, g, w, dz, dx, c0),
            _ => unreachable!("a block of {cb} channels"),
        }
        c0 += cb;
    }
}

/// [`conv_dx`] for input channels `c0..c0 + CB`, a vector of input columns
/// at a time.
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
