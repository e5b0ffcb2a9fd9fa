//! 2-D convolution, forward and backward, by three algorithms.
//!
//! Forward, for each sample: `z[k, oy, ox] = b[k] + sum_{c, ky, kx}
//! w[k, c, ky, kx] x[c, oy*sh + ky - ph, ox*sw + kx - pw]` (zero outside the
//! input), then `y = act(z)`.
//!
//! Backward, with `dz = dy * act'(y)`: `db[k] += sum dz[k, ..]`,
//! `dw[k, c, ky, kx] += sum_{oy, ox} dz[k, oy, ox] x[c, iy, ix]` and
//! `dx[c, iy, ix] = sum w[k, c, ky, kx] dz[k, oy, ox]`.
//!
//! | algorithm | forward scratch | backward scratch |
//! | --- | --- | --- |
//! | [`ConvAlgo::Direct`] | 0 | 0 |
//! | [`ConvAlgo::Im2col`] | `c*kh*kw * oh*ow` | `c*kh*kw * oh*ow` |
//! | [`ConvAlgo::Pointwise`] | 0 | 0 |
//!
//! A fused max-pool ([`Conv::pool`]) is handled by [`super::fused`].

use super::gemm::{sgemm, Layout};
use super::{check_len, Conv, ConvAlgo, ConvGeom};
use crate::simd;

/// Largest packed weight block (floats) of a channel-vectorised direct
/// convolution; larger layers use im2col.
pub const CV_MAX_PACKED: usize = 65536;

/// Scratch floats a direct convolution needs for its packed weights when
/// they do not fit the kernel's stack buffer (0 for small layers such as
/// LeNet's, so heap-free arenas stay small).
pub const fn direct_pack_len(g: &ConvGeom) -> usize {
    let kpad = g.k.div_ceil(16) * 16;
    let len = g.patch_len() * kpad;
    if len > crate::simd::CV_MAX_WEIGHTS && len <= CV_MAX_PACKED {
        len
    } else {
        0
    }
}

/// Scratch floats [`forward`] needs for one call (independent of `n`).
pub const fn forward_scratch(l: &Conv) -> usize {
    if l.pool.is_some() {
        return super::fused::forward_scratch(l);
    }
    match l.algo {
        ConvAlgo::Im2col => l.geom.patch_len() * l.geom.out_pixels(),
        ConvAlgo::Direct => direct_pack_len(&l.geom),
        ConvAlgo::Pointwise => 0,
    }
}

/// Scratch floats [`backward`] needs for one call (independent of `n`).
pub const fn backward_scratch(l: &Conv) -> usize {
    if l.pool.is_some() {
        return super::fused::backward_scratch(l);
    }
    match l.algo {
        ConvAlgo::Im2col => l.geom.patch_len() * l.geom.out_pixels(),
        ConvAlgo::Direct | ConvAlgo::Pointwise => 0,
    }
}

/// Forward pass of `n` samples: `x` is `[n, c, h, w]`, `w` is `[k, c, kh, kw]`,
/// `b` is `[k]`, `y` is `[n, k, oh, ow]` (or the pooled shape when
/// `l.pool` is set). `aux` receives what the backward pass needs besides
/// the input: a ReLU mask (one byte per output), or with a fused pool the
/// argmax of each window. Pass `None` for inference.
///
/// Dispatches on the layer's algorithm; generated code calls the
/// algorithm's own function ([`forward_direct`], [`forward_im2col`],
/// [`forward_pointwise`], [`super::fused`]'s) so that a binary links only
/// the kernels its network uses.
#[allow(clippy::too_many_arguments)]
pub fn forward(
    l: &Conv,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    aux: Option<&mut [u8]>,
    scratch: &mut [f32],
    n: usize,
) {
    if l.pool.is_some() {
        return super::fused::conv_max_pool_forward(l, x, w, b, y, aux, scratch, n);
    }
    match l.algo {
        ConvAlgo::Direct => forward_direct(l, x, w, b, y, aux, scratch, n),
        ConvAlgo::Im2col => forward_im2col(l, x, w, b, y, aux, scratch, n),
        ConvAlgo::Pointwise => forward_pointwise(l, x, w, b, y, aux, scratch, n),
    }
}

macro_rules! forward_by {
    ($(#[$doc:meta])* $name:ident, $algo:expr) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name(
            l: &Conv,
            x: &[f32],
            w: &[f32],
            b: Option<&[f32]>,
            y: &mut [f32],
            aux: Option<&mut [u8]>,
            scratch: &mut [f32],
            n: usize,
        ) {
            let g = &l.geom;
            check_len("conv input", x.len(), n * g.in_len());
            check_len("conv output", y.len(), n * g.out_len());
            check_len("conv weight", w.len(), g.weight_len());
            check_len("conv scratch", scratch.len(), forward_scratch(l));
            if $algo == ConvAlgo::Direct {
                // The direct kernels take the whole batch (packing once).
                simd::conv_direct(g, x, w, b, y, scratch, n);
            } else {
                for s in 0..n {
                    let xs = &x[s * g.in_len()..][..g.in_len()];
                    let ys = &mut y[s * g.out_len()..][..g.out_len()];
                    conv_sample(g, $algo, xs, w, b, ys, scratch);
                }
            }
            let y = &mut y[..n * g.out_len()];
            match aux {
                Some(mask) => super::activation::forward_in_place(l.act, y, Some(&mut mask[..y.len()])),
                None => super::activation::forward_in_place(l.act, y, None),
            }
        }
    };
}

forward_by!(
    /// [`forward`] by direct convolution (no pool).
    forward_direct,
    ConvAlgo::Direct
);
forward_by!(
    /// [`forward`] by im2col and GEMM (no pool).
    forward_im2col,
    ConvAlgo::Im2col
);
forward_by!(
    /// [`forward`] by 1x1 GEMM (no pool).
    forward_pointwise,
    ConvAlgo::Pointwise
);

/// The convolution of one sample, without activation: `ys = conv(xs) + b`.
pub(crate) fn conv_sample(
    g: &ConvGeom,
    algo: ConvAlgo,
    xs: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    ys: &mut [f32],
    scratch: &mut [f32],
) {
    let pixels = g.out_pixels();
    if algo == ConvAlgo::Direct {
        return simd::conv_direct(g, xs, w, b, ys, scratch, 1);
    }
    for k in 0..g.k {
        let bias = b.map_or(0.0, |b| b[k]);
        ys[k * pixels..][..pixels].fill(bias);
    }
    match algo {
        ConvAlgo::Direct => {}
        ConvAlgo::Im2col => {
            let cols = &mut scratch[..g.patch_len() * pixels];
            im2col(g, xs, cols);
            sgemm(
                w,
                Layout::row_major(g.k, g.patch_len()),
                cols,
                Layout::row_major(g.patch_len(), pixels),
                1.0,
                ys,
                Layout::row_major(g.k, pixels),
            );
        }
        ConvAlgo::Pointwise => sgemm(
            w,
            Layout::row_major(g.k, g.c),
            xs,
            Layout::row_major(g.c, pixels),
            1.0,
            ys,
            Layout::row_major(g.k, pixels),
        ),
    }
}

/// Backward pass of `n` samples. `x` is the forward input; `y` the forward
/// output (needed only for sigmoid and tanh), `aux` the ReLU mask from
/// [`forward`]. `dy` is `[n, k, oh, ow]` and is overwritten with the
/// gradient before the activation. Adds into `dw` and `db`; writes `dx`.
/// Any of `dx`, `dw`, `db` may be `None` to skip it (a frozen layer, or the
/// first layer, whose input needs no gradient).
#[allow(clippy::too_many_arguments)]
pub fn backward(
    l: &Conv,
    x: &[f32],
    w: &[f32],
    y: Option<&[f32]>,
    aux: Option<&[u8]>,
    dy: &mut [f32],
    dx: Option<&mut [f32]>,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
    scratch: &mut [f32],
    n: usize,
) {
    if l.pool.is_some() {
        return super::fused::conv_max_pool_backward(l, x, w, aux, dy, dx, dw, db, scratch, n);
    }
    let g = &l.geom;
    check_len("conv input", x.len(), n * g.in_len());
    check_len("conv output gradient", dy.len(), n * g.out_len());
    check_len("conv scratch", scratch.len(), backward_scratch(l));
    let dy = &mut dy[..n * g.out_len()];
    super::activation::backward_in_place(l.act, y, aux, dy);
    let mut dx = dx;
    let mut dw = dw;
    let mut db = db;
    for s in 0..n {
        let xs = &x[s * g.in_len()..][..g.in_len()];
        let dz = &dy[s * g.out_len()..][..g.out_len()];
        let dxs = dx
            .as_deref_mut()
            .map(|d| &mut d[s * g.in_len()..][..g.in_len()]);
        backward_sample(
            g,
            l.algo,
            xs,
            w,
            dz,
            dxs,
            dw.as_deref_mut(),
            db.as_deref_mut(),
            scratch,
        );
    }
}

/// Backward of one sample given `dz`, the gradient before the activation.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_sample(
    g: &ConvGeom,
    algo: ConvAlgo,
    xs: &[f32],
    w: &[f32],
    dz: &[f32],
    dx: Option<&mut [f32]>,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
    scratch: &mut [f32],
) {
    let pixels = g.out_pixels();
    if let Some(db) = db {
        for k in 0..g.k {
            db[k] += simd::sum(&dz[k * pixels..][..pixels]);
        }
    }
    match algo {
        ConvAlgo::Direct => {
            if let Some(dw) = dw {
                simd::conv_direct_dw(g, xs, dz, dw);
            }
            if let Some(dx) = dx {
                simd::conv_direct_dx(g, w, dz, dx);
            }
        }
        ConvAlgo::Im2col => {
            let cols = &mut scratch[..g.patch_len() * pixels];
            if let Some(dw) = dw {
                im2col(g, xs, cols);
                sgemm(
                    dz,
                    Layout::row_major(g.k, pixels),
                    cols,
                    Layout::transposed(pixels, g.patch_len()),
                    1.0,
                    dw,
                    Layout::row_major(g.k, g.patch_len()),
                );
            }
            if let Some(dx) = dx {
                // dcols = W^T dz, then scatter the columns back.
                sgemm(
                    w,
                    Layout::transposed(g.patch_len(), g.k),
                    dz,
                    Layout::row_major(g.k, pixels),
                    0.0,
                    cols,
                    Layout::row_major(g.patch_len(), pixels),
                );
                col2im(g, cols, dx);
            }
        }
        ConvAlgo::Pointwise => {
            if let Some(dw) = dw {
                sgemm(
                    dz,
                    Layout::row_major(g.k, pixels),
                    xs,
                    Layout::transposed(pixels, g.c),
                    1.0,
                    dw,
                    Layout::row_major(g.k, g.c),
                );
            }
            if let Some(dx) = dx {
                sgemm(
                    w,
                    Layout::transposed(g.c, g.k),
                    dz,
                    Layout::row_major(g.k, pixels),
                    0.0,
                    dx,
                    Layout::row_major(g.c, pixels),
                );
            }
        }
    }
}

/// The range of output positions `o` whose input position `o*s + k - p`
/// falls inside `[0, len)`.
#[inline(always)]
pub(crate) fn valid_range(len: usize, out: usize, s: usize, k: usize, p: usize) -> (usize, usize) {
    // o*s + k >= p  <=>  o >= ceil((p - k) / s)
    let lo = if p > k { (p - k).div_ceil(s) } else { 0 };
    // o*s + k - p <= len - 1  <=>  o <= (len - 1 + p - k) / s
    let hi = if len + p > k {
        ((len - 1 + p - k) / s + 1).min(out)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Unrolls the patches of one sample into `cols`, `[c*kh*kw, oh*ow]`.
pub fn im2col(g: &ConvGeom, xs: &[f32], cols: &mut [f32]) {
    let pixels = g.out_pixels();
    for c in 0..g.c {
        let plane = &xs[c * g.h * g.w..][..g.h * g.w];
        for ky in 0..g.kh {
            let (oy0, oy1) = valid_range(g.h, g.oh, g.sh, ky, g.ph);
            for kx in 0..g.kw {
                let (ox0, ox1) = valid_range(g.w, g.ow, g.sw, kx, g.pw);
                let row = &mut cols[((c * g.kh + ky) * g.kw + kx) * pixels..][..pixels];
                for oy in 0..g.oh {
                    let dst = &mut row[oy * g.ow..][..g.ow];
                    if oy < oy0 || oy >= oy1 {
                        dst.fill(0.0);
                        continue;
                    }
                    let iy = oy * g.sh + ky - g.ph;
                    let src = &plane[iy * g.w..][..g.w];
                    dst[..ox0].fill(0.0);
                    dst[ox1..].fill(0.0);
                    if g.sw == 1 {
                        let ix0 = ox0 + kx - g.pw;
                        dst[ox0..ox1].copy_from_slice(&src[ix0..ix0 + (ox1 - ox0)]);
                    } else {
                        for ox in ox0..ox1 {
                            dst[ox] = src[ox * g.sw + kx - g.pw];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: `dx = sum of the columns scattered back`.
pub fn col2im(g: &ConvGeom, cols: &[f32], dx: &mut [f32]) {
    let pixels = g.out_pixels();
    dx[..g.in_len()].fill(0.0);
    for c in 0..g.c {
        let plane = &mut dx[c * g.h * g.w..][..g.h * g.w];
        for ky in 0..g.kh {
            let (oy0, oy1) = valid_range(g.h, g.oh, g.sh, ky, g.ph);
            for kx in 0..g.kw {
                let (ox0, ox1) = valid_range(g.w, g.ow, g.sw, kx, g.pw);
                let row = &cols[((c * g.kh + ky) * g.kw + kx) * pixels..][..pixels];
                for oy in oy0..oy1 {
                    let iy = oy * g.sh + ky - g.ph;
                    let src = &row[oy * g.ow..][..g.ow];
                    let dst = &mut plane[iy * g.w..][..g.w];
                    for ox in ox0..ox1 {
                        dst[ox * g.sw + kx - g.pw] += src[ox];
                    }
                }
            }
        }
    }
}

/// Scalar direct convolution (the reference the SIMD paths are checked
/// against): adds `conv(xs)` into `ys`, which holds the bias.
pub(crate) fn direct_scalar(g: &ConvGeom, xs: &[f32], w: &[f32], ys: &mut [f32]) {
    let pixels = g.out_pixels();
    for k in 0..g.k {
        let yk = &mut ys[k * pixels..][..pixels];
        for c in 0..g.c {
            let plane = &xs[c * g.h * g.w..][..g.h * g.w];
            for ky in 0..g.kh {
                let (oy0, oy1) = valid_range(g.h, g.oh, g.sh, ky, g.ph);
                for kx in 0..g.kw {
                    let wv = w[((k * g.c + c) * g.kh + ky) * g.kw + kx];
                    let (ox0, ox1) = valid_range(g.w, g.ow, g.sw, kx, g.pw);
                    for oy in oy0..oy1 {
                        let src = &plane[(oy * g.sh + ky - g.ph) * g.w..][..g.w];
                        let dst = &mut yk[oy * g.ow..][..g.ow];
                        for ox in ox0..ox1 {
                            dst[ox] += wv * src[ox * g.sw + kx - g.pw];
                        }
                    }
                }
            }
        }
    }
}

/// Scalar weight gradient of the direct convolution: `dw += dz (*) x`.
pub(crate) fn direct_dw_scalar(g: &ConvGeom, xs: &[f32], dz: &[f32], dw: &mut [f32]) {
    let pixels = g.out_pixels();
    for k in 0..g.k {
        let dzk = &dz[k * pixels..][..pixels];
        for c in 0..g.c {
            let plane = &xs[c * g.h * g.w..][..g.h * g.w];
            for ky in 0..g.kh {
                let (oy0, oy1) = valid_range(g.h, g.oh, g.sh, ky, g.ph);
                for kx in 0..g.kw {
                    let (ox0, ox1) = valid_range(g.w, g.ow, g.sw, kx, g.pw);
                    let mut acc = 0.0f32;
                    for oy in oy0..oy1 {
                        let src = &plane[(oy * g.sh + ky - g.ph) * g.w..][..g.w];
                        let d = &dzk[oy * g.ow..][..g.ow];
                        for ox in ox0..ox1 {
                            acc += d[ox] * src[ox * g.sw + kx - g.pw];
                        }
                    }
                    dw[((k * g.c + c) * g.kh + ky) * g.kw + kx] += acc;
                }
            }
        }
    }
}

/// Scalar input gradient of the direct convolution: `dx = w^T (*) dz`.
pub(crate) fn direct_dx_scalar(g: &ConvGeom, w: &[f32], dz: &[f32], dx: &mut [f32]) {
    let pixels = g.out_pixels();
    dx[..g.in_len()].fill(0.0);
    for k in 0..g.k {
        let dzk = &dz[k * pixels..][..pixels];
        for c in 0..g.c {
            let plane = &mut dx[c * g.h * g.w..][..g.h * g.w];
            for ky in 0..g.kh {
                let (oy0, oy1) = valid_range(g.h, g.oh, g.sh, ky, g.ph);
                for kx in 0..g.kw {
                    let wv = w[((k * g.c + c) * g.kh + ky) * g.kw + kx];
                    let (ox0, ox1) = valid_range(g.w, g.ow, g.sw, kx, g.pw);
                    for oy in oy0..oy1 {
                        let dst = &mut plane[(oy * g.sh + ky - g.ph) * g.w..][..g.w];
                        let d = &dzk[oy * g.ow..][..g.ow];
                        for ox in ox0..ox1 {
                            dst[ox * g.sw + kx - g.pw] += wv * d[ox];
                        }
                    }
                }
            }
        }
    }
}
