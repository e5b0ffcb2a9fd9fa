//! One sample's convolution, forward and backward, by each algorithm and
//! without the activation: what the unfused layers ([`super::conv`]) and
//! the fused ones ([`super::fused`]) compute per sample. im2col and
//! pointwise layers run on the GEMM, direct ones on the SIMD direct
//! kernels.

use cnn_spec::{valid_range, ConvAlgo, ConvGeom};

use super::args::Params;
use super::gemm::{sgemm, sgemm_rows, Layout};
use crate::simd::{self, ConvGrads, ConvWeights};

/// `ys = conv(xs) + b` for one sample: `xs` is `[c, h, w]`, `ys`
/// `[k, oh, ow]`. `scratch` holds the im2col columns (im2col) or the packed
/// weights of a large direct layer.
pub(crate) fn conv_sample(
    g: &ConvGeom,
    algo: ConvAlgo,
    xs: &[f32],
    p: Params,
    ys: &mut [f32],
    scratch: &mut [f32],
) {
    let (w, b) = (p.weight, p.bias);
    let pixels = g.out_pixels();
    if algo == ConvAlgo::Direct {
        return simd::conv_direct(g, ConvWeights { w, b }, xs, ys, scratch, 1);
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
            sgemm_rows(
                w,
                Layout::row_major(g.k, g.patch_len()),
                cols,
                Layout::row_major(g.patch_len(), pixels),
                1.0,
                ys,
                Layout::row_major(g.k, pixels),
            );
        }
        ConvAlgo::Pointwise => sgemm_rows(
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

/// Backward of one sample given `dz` (`[k, oh, ow]`), the gradient before
/// the activation: adds into `grads.dw` and `grads.db`, writes `grads.dx`.
/// `scratch` holds the im2col columns.
pub(crate) fn backward_sample(
    g: &ConvGeom,
    algo: ConvAlgo,
    xs: &[f32],
    w: &[f32],
    dz: &[f32],
    grads: ConvGrads,
    scratch: &mut [f32],
) {
    let ConvGrads { dx, dw, db } = grads;
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
