//! Direct convolution of one sample in plain loops, forward and backward:
//! the reference of the vector kernels, and their fallback for horizontal
//! strides other than 1.

use cnn_spec::{valid_range, ConvGeom};

/// Adds `conv(xs)` into `ys` (`[k, oh, ow]`, holding the bias): `xs` is
/// `[c, h, w]`, `w` is `[k, c, kh, kw]`.
pub fn forward(g: &ConvGeom, xs: &[f32], w: &[f32], ys: &mut [f32]) {
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

/// Weight gradient: `dw += dz (*) xs`, `dz` the gradient of the conv
/// output (`[k, oh, ow]`), `dw` `[k, c, kh, kw]`.
pub fn weight_grad(g: &ConvGeom, xs: &[f32], dz: &[f32], dw: &mut [f32]) {
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

/// Input gradient: `dx = w^T (*) dz`, written (`[c, h, w]`).
pub fn input_grad(g: &ConvGeom, w: &[f32], dz: &[f32], dx: &mut [f32]) {
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
