//! Fused convolution → ReLU → max-pool.
//!
//! ReLU is monotone, so `max(relu(z)) == relu(max(z))`: the kernel takes the
//! maximum of each pooling window straight from the convolution and applies
//! the ReLU to the pooled value. The convolution's output is never stored:
//!
//! - direct algorithm, disjoint windows (stride ≥ window, e.g. 2x2 stride 2):
//!   each window's conv values are computed and reduced on the spot, no scratch;
//! - direct algorithm, overlapping windows (e.g. 3x3 stride 2): one output
//!   channel at a time goes through a scratch plane (`oh * ow` floats);
//! - im2col and pointwise: the rows one pooled row needs go through a scratch
//!   band (`k * pool_kh * ow` floats).
//!
//! In training mode the kernel keeps one byte per pooled output: the index of
//! the winning cell inside its window, or [`INACTIVE`] when the ReLU output is
//! not positive (the gradient is then zero). That byte is everything the
//! backward pass needs besides the layer's input: it adds `dy` at the winning
//! position only, so the weight and input gradients cost a quarter of the
//! unfused ones for 2x2 windows.

use super::conv::{backward_sample, im2col};
use super::pool::{window_cell, window_max};
use super::{check_len, Act, Conv, ConvAlgo, ConvGeom, PoolGeom};
use crate::simd;

/// Argmax byte of a pooled output whose ReLU is inactive.
pub const INACTIVE: u8 = u8::MAX;

const fn pool_of(l: &Conv) -> PoolGeom {
    match l.pool {
        Some(p) => p,
        None => panic!("a fused conv layer needs a pool"),
    }
}

/// Scratch floats the fused forward pass needs.
pub const fn forward_scratch(l: &Conv) -> usize {
    let g = &l.geom;
    let p = pool_of(l);
    match l.algo {
        ConvAlgo::Direct if p.is_disjoint() => super::conv::direct_pack_len(g),
        ConvAlgo::Direct => g.out_pixels(),
        ConvAlgo::Im2col => g.patch_len() * g.out_pixels() + g.k * p.kh * g.ow,
        ConvAlgo::Pointwise => g.k * p.kh * g.ow,
    }
}

/// Scratch floats the fused backward pass needs.
pub const fn backward_scratch(l: &Conv) -> usize {
    let g = &l.geom;
    match l.algo {
        // The scattered conv gradient and the input gradient channels-last
        // (see `simd::sparse_dx`), then the tail of `direct_tail`.
        ConvAlgo::Direct => {
            let (taps, padded) = direct_tail(g);
            g.out_len() + g.h * g.w * channels16(g) + 2 * taps + padded
        }
        ConvAlgo::Im2col => g.out_len() + g.patch_len() * g.out_pixels(),
        ConvAlgo::Pointwise => g.out_len(),
    }
}

/// Input channels rounded up to the widest vector (16 lanes).
const fn channels16(g: &ConvGeom) -> usize {
    g.c.div_ceil(16) * 16
}

/// The two lengths of the tail of a direct layer's backward scratch: one
/// tap-major array over padded input channels (`k * kh * kw * cpad`), used
/// twice (the weights packed for `simd::sparse_dx`, and the weight gradient
/// of `simd::sparse_dw`), and the input zero-padded channels-last for
/// `simd::sparse_dw`.
const fn direct_tail(g: &ConvGeom) -> (usize, usize) {
    let cpad = channels16(g);
    (
        g.k * g.kh * g.kw * cpad,
        (g.h + 2 * g.ph) * (g.w + 2 * g.pw) * cpad,
    )
}

/// Forward pass of conv → act → max-pool for `n` samples: `x` is
/// `[n, c, h, w]`, `y` is `[n, k, pool.oh, pool.ow]`. `argmax` (training)
/// receives one byte per pooled output, see the module docs. Runs the
/// kernel [`fused_kernel`] names; generated code calls that kernel's
/// function directly, so a binary links only the kernels it uses.
#[allow(clippy::too_many_arguments)]
pub fn conv_max_pool_forward(
    l: &Conv,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    argmax: Option<&mut [u8]>,
    scratch: &mut [f32],
    n: usize,
) {
    match fused_kernel(l) {
        FusedKernel::DirectDisjoint => forward_direct_disjoint(l, x, w, b, y, argmax, scratch, n),
        FusedKernel::DirectPlane => forward_direct_plane(l, x, w, b, y, argmax, scratch, n),
        FusedKernel::Band => forward_band(l, x, w, b, y, argmax, scratch, n),
    }
}

/// The three ways a fused layer is computed (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FusedKernel {
    /// Direct convolution, disjoint windows: no scratch.
    DirectDisjoint,
    /// Direct convolution, overlapping windows: one channel plane of scratch.
    DirectPlane,
    /// im2col or 1x1 GEMM through a band of rows.
    Band,
}

/// The kernel a fused layer runs on.
pub const fn fused_kernel(l: &Conv) -> FusedKernel {
    match l.algo {
        ConvAlgo::Direct if pool_of(l).is_disjoint() => FusedKernel::DirectDisjoint,
        ConvAlgo::Direct => FusedKernel::DirectPlane,
        ConvAlgo::Im2col | ConvAlgo::Pointwise => FusedKernel::Band,
    }
}

/// Checks the buffers and runs `one(xs, ys, argmax)` on every sample.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn each_sample(
    l: &Conv,
    x: &[f32],
    y: &mut [f32],
    argmax: Option<&mut [u8]>,
    scratch: &mut [f32],
    n: usize,
    mut one: impl FnMut(&[f32], &mut [f32], Option<&mut [u8]>, &mut [f32]),
) {
    let g = &l.geom;
    let p = pool_of(l);
    assert!(
        matches!(l.act, Act::Relu | Act::Identity),
        "only ReLU fuses with max-pool"
    );
    check_len("fused conv input", x.len(), n * g.in_len());
    check_len("fused conv output", y.len(), n * p.out_len());
    check_len("fused conv scratch", scratch.len(), forward_scratch(l));
    let mut argmax = argmax;
    for s in 0..n {
        let xs = &x[s * g.in_len()..][..g.in_len()];
        let ys = &mut y[s * p.out_len()..][..p.out_len()];
        let am = argmax
            .as_deref_mut()
            .map(|a| &mut a[s * p.out_len()..][..p.out_len()]);
        one(xs, ys, am, scratch);
    }
}

/// [`conv_max_pool_forward`] with [`FusedKernel::DirectDisjoint`].
#[allow(clippy::too_many_arguments)]
pub fn forward_direct_disjoint(
    l: &Conv,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    argmax: Option<&mut [u8]>,
    scratch: &mut [f32],
    n: usize,
) {
    let p = pool_of(l);
    let g = &l.geom;
    assert!(
        matches!(l.act, Act::Relu | Act::Identity),
        "only ReLU fuses with max-pool"
    );
    check_len("fused conv input", x.len(), n * g.in_len());
    check_len("fused conv output", y.len(), n * p.out_len());
    if let Some(a) = &argmax {
        check_len("fused conv argmax", a.len(), n * p.out_len());
    }
    check_len("fused conv scratch", scratch.len(), forward_scratch(l));
    // The direct kernels take the whole batch (packing weights once).
    simd::conv_relu_pool_direct(g, &p, l.act, x, w, b, y, argmax, scratch, n);
}

/// [`conv_max_pool_forward`] with [`FusedKernel::DirectPlane`].
#[allow(clippy::too_many_arguments)]
pub fn forward_direct_plane(
    l: &Conv,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    argmax: Option<&mut [u8]>,
    scratch: &mut [f32],
    n: usize,
) {
    let p = pool_of(l);
    each_sample(l, x, y, argmax, scratch, n, |xs, ys, am, scratch| {
        by_plane(&l.geom, &p, l.act, xs, w, b, ys, am, scratch)
    });
}

/// [`conv_max_pool_forward`] with [`FusedKernel::Band`].
#[allow(clippy::too_many_arguments)]
pub fn forward_band(
    l: &Conv,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    argmax: Option<&mut [u8]>,
    scratch: &mut [f32],
    n: usize,
) {
    let p = pool_of(l);
    each_sample(l, x, y, argmax, scratch, n, |xs, ys, am, scratch| {
        by_band(&l.geom, &p, l.algo, l.act, xs, w, b, ys, am, scratch)
    });
}

/// The pooled value after the activation, and its argmax byte.
#[inline(always)]
pub(crate) fn finish(act: Act, best: f32, arg: u8) -> (f32, u8) {
    let v = act.apply(best);
    match act {
        // Inactive unless positive (NaN included).
        Act::Relu if v.is_nan() || v <= 0.0 => (v, INACTIVE),
        _ => (v, arg),
    }
}

/// Scalar fused kernel for disjoint windows: every conv value is computed
/// in the order `c, ky, kx` (as the unfused scalar kernel sums them) and
/// reduced into its window at once.
#[allow(clippy::too_many_arguments)]
pub(crate) fn direct_disjoint_scalar(
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
    for k in 0..g.k {
        let bias = b.map_or(0.0, |b| b[k]);
        let wk = &w[k * g.patch_len()..][..g.patch_len()];
        for py in 0..p.oh {
            for px in 0..p.ow {
                let (best, arg) = window_max(p, py, px, |oy, ox| conv_at(g, xs, wk, bias, oy, ox));
                let (v, a) = finish(act, best, arg);
                let i = (k * p.oh + py) * p.ow + px;
                ys[i] = v;
                if let Some(am) = argmax.as_deref_mut() {
                    am[i] = a;
                }
            }
        }
    }
}

/// One conv output: `bias + sum_{c,ky,kx} wk[c,ky,kx] x[c,iy,ix]`.
#[inline(always)]
fn conv_at(g: &ConvGeom, xs: &[f32], wk: &[f32], bias: f32, oy: usize, ox: usize) -> f32 {
    let mut acc = bias;
    for c in 0..g.c {
        for ky in 0..g.kh {
            let iy = (oy * g.sh + ky).wrapping_sub(g.ph);
            if iy >= g.h {
                continue;
            }
            for kx in 0..g.kw {
                let ix = (ox * g.sw + kx).wrapping_sub(g.pw);
                if ix < g.w {
                    acc += wk[(c * g.kh + ky) * g.kw + kx] * xs[(c * g.h + iy) * g.w + ix];
                }
            }
        }
    }
    acc
}

/// Overlapping windows, direct algorithm: one conv channel at a time in a
/// scratch plane, then pooled.
#[allow(clippy::too_many_arguments)]
fn by_plane(
    g: &ConvGeom,
    p: &PoolGeom,
    act: Act,
    xs: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    ys: &mut [f32],
    argmax: Option<&mut [u8]>,
    scratch: &mut [f32],
) {
    let one = ConvGeom { k: 1, ..*g };
    let plane = &mut scratch[..g.out_pixels()];
    let mut argmax = argmax;
    for k in 0..g.k {
        let bias = b.map(|b| &b[k..k + 1]);
        simd::conv_direct(
            &one,
            xs,
            &w[k * g.patch_len()..][..g.patch_len()],
            bias,
            plane,
            &mut [],
            1,
        );
        for py in 0..p.oh {
            for px in 0..p.ow {
                let (best, arg) = window_max(p, py, px, |oy, ox| plane[oy * g.ow + ox]);
                let (v, a) = finish(act, best, arg);
                let i = (k * p.oh + py) * p.ow + px;
                ys[i] = v;
                if let Some(am) = argmax.as_deref_mut() {
                    am[i] = a;
                }
            }
        }
    }
}

/// im2col / pointwise: the conv rows each pooled row needs, all channels,
/// through a scratch band.
#[allow(clippy::too_many_arguments)]
fn by_band(
    g: &ConvGeom,
    p: &PoolGeom,
    algo: ConvAlgo,
    act: Act,
    xs: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    ys: &mut [f32],
    argmax: Option<&mut [u8]>,
    scratch: &mut [f32],
) {
    let pixels = g.out_pixels();
    let (cols, band) = if algo == ConvAlgo::Im2col {
        let (cols, band) = scratch.split_at_mut(g.patch_len() * pixels);
        im2col(g, xs, cols);
        (&*cols, band)
    } else {
        (xs, scratch)
    };
    let rows = if algo == ConvAlgo::Im2col {
        g.patch_len()
    } else {
        g.c
    };
    let mut argmax = argmax;
    for py in 0..p.oh {
        // Conv rows [r0, r1) feed pooled row py.
        let (r0, r1) = window_rows(p, py);
        let width = (r1 - r0) * g.ow;
        let band = &mut band[..g.k * width];
        for k in 0..g.k {
            band[k * width..][..width].fill(b.map_or(0.0, |b| b[k]));
        }
        super::gemm::sgemm(
            w,
            super::gemm::Layout::row_major(g.k, rows),
            &cols[r0 * g.ow..],
            super::gemm::Layout {
                rows,
                cols: width,
                rs: pixels,
                cs: 1,
            },
            1.0,
            band,
            super::gemm::Layout::row_major(g.k, width),
        );
        for k in 0..g.k {
            let bk = &band[k * width..][..width];
            for px in 0..p.ow {
                let (best, arg) = window_max(p, py, px, |oy, ox| bk[(oy - r0) * g.ow + ox]);
                let (v, a) = finish(act, best, arg);
                let i = (k * p.oh + py) * p.ow + px;
                ys[i] = v;
                if let Some(am) = argmax.as_deref_mut() {
                    am[i] = a;
                }
            }
        }
    }
}

/// Rows `[r0, r1)` of the pooled input that window row `py` covers.
fn window_rows(p: &PoolGeom, py: usize) -> (usize, usize) {
    let top = py * p.sh;
    let r0 = top.saturating_sub(p.ph);
    let r1 = (top + p.kh - p.ph).min(p.h);
    (r0, r1)
}

/// Backward pass of the fused layer: `dy` is `[n, k, pool.oh, pool.ow]`,
/// `argmax` what the forward pass kept. Adds into `dw`, `db`; writes `dx`.
#[allow(clippy::too_many_arguments)]
pub fn conv_max_pool_backward(
    l: &Conv,
    x: &[f32],
    w: &[f32],
    argmax: Option<&[u8]>,
    dy: &mut [f32],
    dx: Option<&mut [f32]>,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
    scratch: &mut [f32],
    n: usize,
) {
    let g = &l.geom;
    let p = pool_of(l);
    let argmax = argmax.expect("the fused conv backward pass needs the argmax bytes");
    check_len("fused conv input", x.len(), n * g.in_len());
    check_len("fused conv output gradient", dy.len(), n * p.out_len());
    check_len("fused conv argmax", argmax.len(), n * p.out_len());
    check_len("fused conv scratch", scratch.len(), backward_scratch(l));
    let (mut dx, mut dw, mut db) = (dx, dw, db);
    // With SIMD, the input gradient of a direct layer comes from the
    // winners alone (`simd::sparse_dx`), on weights packed once per call.
    let lanes = simd::lanes();
    let cpad = g.c.div_ceil(lanes) * lanes;
    let sparse_dx = l.algo == ConvAlgo::Direct && lanes > 1 && dx.is_some();
    let (taps_len, padded_len) = if l.algo == ConvAlgo::Direct {
        direct_tail(g)
    } else {
        (0, 0)
    };
    let (scratch, packed) = scratch.split_at_mut(scratch.len() - taps_len);
    if sparse_dx {
        simd::pack_channels_last(g, w, cpad, packed);
    }
    // The weight gradient from the winners only, where that is faster.
    let sparse_dw = l.algo == ConvAlgo::Direct && dw.is_some() && simd::sparse_dw_suits(g, lanes);
    let (scratch, dwc) = scratch.split_at_mut(scratch.len() - taps_len);
    let (scratch, xpad) = scratch.split_at_mut(scratch.len() - padded_len);
    if sparse_dw {
        dwc.fill(0.0);
    }
    for s in 0..n {
        let xs = &x[s * g.in_len()..][..g.in_len()];
        let dys = &dy[s * p.out_len()..][..p.out_len()];
        let am = &argmax[s * p.out_len()..][..p.out_len()];
        let dxs = dx
            .as_deref_mut()
            .map(|d| &mut d[s * g.in_len()..][..g.in_len()]);
        match l.algo {
            // Without SIMD, visiting only the winning outputs is fastest.
            ConvAlgo::Direct if simd::level() == simd::Level::Scalar => backward_sparse_scalar(
                g,
                &p,
                xs,
                w,
                am,
                dys,
                dxs,
                dw.as_deref_mut(),
                db.as_deref_mut(),
            ),
            ConvAlgo::Direct => {
                // Weight and bias gradients from the winners only where a
                // sparse kernel suits the shape, else densely over the
                // scattered gradient; the input gradient from the winners.
                let (dz, rest) = scratch.split_at_mut(g.out_len());
                if sparse_dw {
                    simd::sparse_dw(g, &p, xs, am, dys, dwc, db.as_deref_mut(), xpad);
                } else {
                    scatter_to_conv(g, &p, am, dys, dz);
                    backward_sample(
                        g,
                        l.algo,
                        xs,
                        w,
                        dz,
                        None,
                        dw.as_deref_mut(),
                        db.as_deref_mut(),
                        rest,
                    );
                }
                if let Some(dxs) = dxs {
                    simd::sparse_dx(g, &p, packed, am, dys, dxs, rest);
                }
            }
            ConvAlgo::Im2col | ConvAlgo::Pointwise => {
                let (dz, rest) = scratch.split_at_mut(g.out_len());
                scatter_to_conv(g, &p, am, dys, dz);
                backward_sample(
                    g,
                    l.algo,
                    xs,
                    w,
                    dz,
                    dxs,
                    dw.as_deref_mut(),
                    db.as_deref_mut(),
                    rest,
                );
            }
        }
    }
    if let (true, Some(dw)) = (sparse_dw, dw) {
        simd::add_channels_last_dw(g, lanes, dwc, dw);
    }
}

/// Writes the conv-output gradient: `dy` at each window's winner, 0 elsewhere.
fn scatter_to_conv(g: &ConvGeom, p: &PoolGeom, argmax: &[u8], dy: &[f32], dz: &mut [f32]) {
    dz.fill(0.0);
    // The winner's offset from its window's corner, by index (no division
    // in the loop).
    let mut offset = [0isize; 256];
    for (a, o) in offset.iter_mut().enumerate().take(p.kh * p.kw) {
        *o = ((a / p.kw) * g.ow + a % p.kw) as isize;
    }
    for k in 0..g.k {
        let plane = &mut dz[k * g.oh * g.ow..(k + 1) * g.oh * g.ow];
        let base = k * p.oh * p.ow;
        for py in 0..p.oh {
            let top = (py * p.sh) as isize - p.ph as isize;
            for px in 0..p.ow {
                let i = base + py * p.ow + px;
                let a = argmax[i];
                if a == INACTIVE {
                    continue;
                }
                let left = (px * p.sw) as isize - p.pw as isize;
                // The winner lies inside the conv output, so this is >= 0.
                let at = (top * g.ow as isize + left + offset[a as usize]) as usize;
                plane[at] += dy[i];
            }
        }
    }
}

/// Sparse backward of the direct fused kernel without SIMD: only the
/// winning conv output of each active window carries a gradient. (With
/// SIMD, `simd::sparse_dx` and `simd::sparse_dw` do the same from the
/// winners in vectors over input channels where those fill a vector well;
/// elsewhere the gradient is scattered to the conv grid and the dense
/// vectorised kernels run, which is faster despite the extra work.)
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_sparse_scalar(
    g: &ConvGeom,
    p: &PoolGeom,
    xs: &[f32],
    w: &[f32],
    argmax: &[u8],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
) {
    let mut dx = dx;
    let mut dw = dw;
    let mut db = db;
    if let Some(dx) = dx.as_deref_mut() {
        dx.fill(0.0);
    }
    for k in 0..g.k {
        for py in 0..p.oh {
            for px in 0..p.ow {
                let i = (k * p.oh + py) * p.ow + px;
                if argmax[i] == INACTIVE {
                    continue;
                }
                let gv = dy[i];
                let (oy, ox) = window_cell(p, py, px, argmax[i]);
                if let Some(db) = db.as_deref_mut() {
                    db[k] += gv;
                }
                let (ky0, ky1) = kernel_range(g.h, oy * g.sh, g.ph, g.kh);
                let (kx0, kx1) = kernel_range(g.w, ox * g.sw, g.pw, g.kw);
                for c in 0..g.c {
                    for ky in ky0..ky1 {
                        let iy = oy * g.sh + ky - g.ph;
                        let wrow = ((k * g.c + c) * g.kh + ky) * g.kw;
                        let xrow = (c * g.h + iy) * g.w;
                        for kx in kx0..kx1 {
                            let ix = ox * g.sw + kx - g.pw;
                            if let Some(dw) = dw.as_deref_mut() {
                                dw[wrow + kx] += gv * xs[xrow + ix];
                            }
                            if let Some(dx) = dx.as_deref_mut() {
                                dx[xrow + ix] += gv * w[wrow + kx];
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Kernel offsets `[k0, k1)` for which `start + k - pad` is inside `[0, len)`.
#[inline(always)]
pub(crate) fn kernel_range(len: usize, start: usize, pad: usize, k: usize) -> (usize, usize) {
    let k0 = pad.saturating_sub(start);
    let k1 = (len + pad - start).min(k);
    (k0.min(k1), k1)
}
