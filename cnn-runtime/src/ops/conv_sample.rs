//! One sample's convolution, forward and backward, by each algorithm and
//! without the activation: what the unfused layers ([`super::conv`]) and
//! the fused ones ([`super::fused`]) compute per sample. im2col and
//! pointwise layers run on the GEMM, direct ones on the SIMD direct
//! kernels.

use cnn_spec::{valid_range, ConvAlgo, ConvGeom};

use super::args::Params;
use super::gemm::{sgemm, sgemm_packed_rows, sgemm_rows, Layout, PackedB};
use super::threads::{self, Split};
use crate::simd::packed_b_len;
use crate::simd::{self, ConvGrads, ConvWeights};
use cnn_spec::tuning::GEMM_KC;

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
    if algo == ConvAlgo::Winograd {
        return super::winograd::forward(g, p, xs, ys, scratch, 1);
    }
    for k in 0..g.k {
        let bias = b.map_or(0.0, |b| b[k]);
        ys[k * pixels..][..pixels].fill(bias);
    }
    match algo {
        ConvAlgo::Direct | ConvAlgo::Winograd => {}
        // The columns written in the GEMM's panels, which it reads as they
        // are.
        ConvAlgo::Im2col => {
            let nr = simd::gemm_panel_width();
            let cols = &mut scratch[..packed_b_len(g.patch_len(), pixels, nr)];
            im2col_packed(g, xs, (0, g.oh), cols, nr);
            let b = PackedB {
                data: cols,
                k: g.patch_len(),
                n: pixels,
                nr,
            };
            let (la, lc) = (
                Layout::row_major(g.k, g.patch_len()),
                Layout::row_major(g.k, pixels),
            );
            sgemm_packed_rows(w, la, b, 1.0, ys, lc);
        }
        // The input is the GEMM's B; the GEMM packs it where it needs to,
        // in the threads that share the product.
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

/// The weights as the backward pass reads them: `w` (`[k, c, kh, kw]`)
/// and, for the input gradient on the GEMM, their transpose (`[c * kh *
/// kw, k]`, row-major) made once per call by [`transpose_weights`], so
/// that no sample packs the transposed weights again.
#[derive(Clone, Copy)]
pub(crate) struct BackwardWeights<'a> {
    pub w: &'a [f32],
    pub wt: &'a [f32],
}

/// `wt = w^T`: `w` is `[k, patch]`, `wt` `[patch, k]`, row-major; returns
/// the part of `wt` written.
pub(crate) fn transpose_weights<'a>(g: &ConvGeom, w: &[f32], wt: &'a mut [f32]) -> &'a [f32] {
    const ROWS: usize = 16;
    let patch = g.patch_len();
    let wt = &mut wt[..g.weight_len()];
    // Sixteen rows of `w` side by side, each column's sixteen values
    // written contiguously (not one strided pass per row).
    for (b, rows) in w[..g.weight_len()].chunks(ROWS * patch).enumerate() {
        let k0 = b * ROWS;
        let n = rows.len() / patch;
        if n == ROWS {
            let src: [&[f32]; ROWS] = core::array::from_fn(|r| &rows[r * patch..][..patch]);
            for p in 0..patch {
                let dst: &mut [f32; ROWS] = (&mut wt[p * g.k + k0..][..ROWS])
                    .try_into()
                    .expect("ROWS values");
                for (d, row) in dst.iter_mut().zip(&src) {
                    *d = row[p];
                }
            }
        } else {
            for (r, row) in rows.chunks_exact(patch).enumerate() {
                for (p, &v) in row.iter().enumerate() {
                    wt[p * g.k + k0 + r] = v;
                }
            }
        }
    }
    wt
}

/// Backward of one sample given `dz` (`[k, oh, ow]`), the gradient before
/// the activation: adds into `grads.dw` and `grads.db`, writes `grads.dx`.
/// `scratch` holds the im2col columns. `w.wt` is read by the GEMM
/// algorithms when `grads.dx` is wanted.
pub(crate) fn backward_sample(
    g: &ConvGeom,
    algo: ConvAlgo,
    xs: &[f32],
    w: BackwardWeights,
    dz: &[f32],
    grads: ConvGrads,
    scratch: &mut [f32],
) {
    let BackwardWeights { w, wt } = w;
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
        // The backward pass of a Winograd layer is im2col's
        // (`Conv::backward_algo`).
        ConvAlgo::Im2col | ConvAlgo::Winograd => {
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
                    wt,
                    Layout::row_major(g.patch_len(), g.k),
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
                    wt,
                    Layout::row_major(g.c, g.k),
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

/// Unrolls the patches of one sample into `cols`, `[c*kh*kw, oh*ow]`:
/// [`im2col_packed`] with one panel as wide as the image, whose layout is
/// the row-major one.
pub fn im2col(g: &ConvGeom, xs: &[f32], cols: &mut [f32]) {
    im2col_packed(g, xs, (0, g.oh), cols, g.out_pixels().max(1));
}

/// [`im2col`] of output rows `r0..r1` written in the GEMM's panel layout
/// ([`PackedB`] of `c*kh*kw` rows and `(r1 - r0) * ow` columns, panels `nr`
/// wide), so that the GEMM reads the columns without packing them: `cols`
/// holds `packed_b_len(c*kh*kw, (r1 - r0) * ow, nr)` floats, the columns
/// past the last zero.
///
/// In a thread pool, a layer large enough to split (`threads::parts` of
/// its multiply-accumulates) writes its `GEMM_KC`-row blocks of columns,
/// each a contiguous range of `cols`, on several threads; the values do not
/// depend on the split.
pub fn im2col_packed(
    g: &ConvGeom,
    xs: &[f32],
    (r0, r1): (usize, usize),
    cols: &mut [f32],
    nr: usize,
) {
    let (rows, pixels) = (g.patch_len(), (r1 - r0) * g.ow);
    let npad = pixels.next_multiple_of(nr);
    let blocks = rows.div_ceil(GEMM_KC);
    let macs = (g.k * rows * pixels) as u64;
    let parts = threads::parts(macs, blocks);
    let cols = &mut cols[..rows * npad];
    if parts <= 1 {
        return im2col_packed_blocks(g, xs, (r0, r1), (0, blocks), cols, nr);
    }
    let split = Split { parts, align: 1 };
    // Block `q` of the columns is `cols[q * GEMM_KC * npad..]` (the last one
    // shorter), so the parts are contiguous ranges of whole blocks.
    threads::for_row_parts(
        cols,
        GEMM_KC * npad,
        blocks,
        split,
        &|q, part: &mut [f32]| im2col_packed_blocks(g, xs, (r0, r1), (q.start, q.end), part, nr),
    );
}

/// [`im2col_packed`] of the `GEMM_KC`-row blocks `q0..q1` of the columns
/// (patch rows `q0 * GEMM_KC..`), into `cols` starting at block `q0`.
fn im2col_packed_blocks(
    g: &ConvGeom,
    xs: &[f32],
    (r0, r1): (usize, usize),
    (q0, q1): (usize, usize),
    cols: &mut [f32],
    nr: usize,
) {
    let (rows, pixels) = (g.patch_len(), (r1 - r0) * g.ow);
    let npad = pixels.next_multiple_of(nr);
    let origin = q0 * GEMM_KC * npad;
    for p in q0 * GEMM_KC..(q1 * GEMM_KC).min(rows) {
        let (c, ky, kx) = (p / (g.kh * g.kw), p / g.kw % g.kh, p % g.kw);
        let plane = &xs[c * g.h * g.w..][..g.h * g.w];
        let (oy0, oy1) = valid_range(g.h, g.oh, g.sh, ky, g.ph);
        let (ox0, ox1) = valid_range(g.w, g.ow, g.sw, kx, g.pw);
        let k0 = p / GEMM_KC * GEMM_KC;
        let kc = GEMM_KC.min(rows - k0);
        let mut row = PackedRow {
            cols: &mut *cols,
            base: k0 * npad + (p - k0) * nr - origin,
            stride: kc * nr,
            nr,
        };
        for oy in r0..r1 {
            let j = (oy - r0) * g.ow;
            if oy < oy0 || oy >= oy1 {
                row.fill(j, g.ow);
                continue;
            }
            let iy = oy * g.sh + ky - g.ph;
            let src = &plane[iy * g.w..][..g.w];
            row.fill(j, ox0);
            row.fill(j + ox1, g.ow - ox1);
            if ox1 <= ox0 {
                continue;
            }
            let ix0 = ox0 * g.sw + kx - g.pw;
            if g.sw == 1 {
                row.copy(j + ox0, &src[ix0..ix0 + (ox1 - ox0)]);
            } else {
                let src = &src[ix0..];
                row.gather(j + ox0, ox1 - ox0, |i| src[i * g.sw]);
            }
        }
        row.fill(pixels, npad - pixels);
    }
}

/// One row of a [`PackedB`] being written: column `j` lies at
/// `base + j / nr * stride + j % nr`.
struct PackedRow<'a> {
    cols: &'a mut [f32],
    base: usize,
    stride: usize,
    nr: usize,
}

impl PackedRow<'_> {
    /// Calls `put(dst, i)` on the runs of columns `j..j + len` that lie in
    /// one panel, `i` the offset of the run's first column from `j`.
    #[inline(always)]
    fn runs(&mut self, j: usize, len: usize, mut put: impl FnMut(&mut [f32], usize)) {
        let (mut q, mut off, mut i) = (j / self.nr, j % self.nr, 0);
        while i < len {
            let take = (self.nr - off).min(len - i);
            put(
                &mut self.cols[self.base + q * self.stride + off..][..take],
                i,
            );
            i += take;
            q += 1;
            off = 0;
        }
    }

    fn fill(&mut self, j: usize, len: usize) {
        self.runs(j, len, |dst, _| dst.fill(0.0));
    }

    fn copy(&mut self, j: usize, src: &[f32]) {
        self.runs(j, src.len(), |dst, i| {
            dst.copy_from_slice(&src[i..i + dst.len()])
        });
    }

    fn gather(&mut self, j: usize, len: usize, at: impl Fn(usize) -> f32) {
        self.runs(j, len, |dst, i| {
            for (t, d) in dst.iter_mut().enumerate() {
                *d = at(i + t);
            }
        });
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
                    if g.sw == 1 {
                        // Contiguous on both sides: a vector loop.
                        let d0 = ox0 + kx - g.pw;
                        let dst = &mut dst[d0..d0 + (ox1 - ox0)];
                        for (d, &v) in dst.iter_mut().zip(&src[ox0..ox1]) {
                            *d += v;
                        }
                    } else {
                        for ox in ox0..ox1 {
                            dst[ox * g.sw + kx - g.pw] += src[ox];
                        }
                    }
                }
            }
        }
    }
}
