//! Max-pool windows and the fused conv → act → max-pool layer in plain
//! loops: the window rule every pooling kernel follows, the fused forward
//! pass for windows the vector kernels do not take, and the sparse
//! backward pass of the scalar level.

use cnn_spec::{kernel_range, Act, ConvGeom, PoolGeom, INACTIVE};

use crate::simd::args::{ConvGrads, Filter, FusedPool, PooledGrad};

/// The maximum of window `(oy, ox)` and its index inside the window.
/// `at(iy, ix)` reads an input cell (only cells inside the input are read).
/// The first maximum in row-major order wins ties; a NaN wins and stays.
#[inline(always)]
pub fn window_max(
    g: &PoolGeom,
    oy: usize,
    ox: usize,
    mut at: impl FnMut(usize, usize) -> f32,
) -> (f32, u8) {
    let mut best = f32::NEG_INFINITY;
    let mut arg = u8::MAX;
    for dy in 0..g.kh {
        let iy = (oy * g.sh + dy).wrapping_sub(g.ph);
        if iy >= g.h {
            continue;
        }
        for dx in 0..g.kw {
            let ix = (ox * g.sw + dx).wrapping_sub(g.pw);
            if ix >= g.w {
                continue;
            }
            let v = at(iy, ix);
            // NaN wins and stays: `v > NaN` is false for every later v.
            if v > best || v.is_nan() && !best.is_nan() || arg == u8::MAX {
                best = v;
                arg = (dy * g.kw + dx) as u8;
            }
        }
    }
    (best, arg)
}

/// The pooled value after the activation, and its argmax byte: `arg`, or
/// [`INACTIVE`] where the ReLU output is not positive (NaN included).
#[inline(always)]
pub fn finish(act: Act, best: f32, arg: u8) -> (f32, u8) {
    let v = act.apply(best);
    match act {
        Act::Relu if v.is_nan() || v <= 0.0 => (v, INACTIVE),
        _ => (v, arg),
    }
}

/// Fused conv → act → max-pool of one sample `xs` (`[c, h, w]`) for
/// disjoint windows: every conv value is computed in the order `c, ky, kx`
/// (as [`super::conv::forward`] sums them) and reduced into its window at
/// once. Writes `ys` (`[k, p.oh, p.ow]`) and, when given, the argmax bytes
/// (same shape).
pub fn direct_disjoint(
    f: Filter,
    pool: FusedPool,
    xs: &[f32],
    ys: &mut [f32],
    mut argmax: Option<&mut [u8]>,
) {
    let (g, p) = (f.g, pool.p);
    for k in 0..g.k {
        let bias = f.b.map_or(0.0, |b| b[k]);
        let wk = &f.w[k * g.patch_len()..][..g.patch_len()];
        for py in 0..p.oh {
            for px in 0..p.ow {
                let (best, arg) = window_max(p, py, px, |oy, ox| conv_at(g, xs, wk, bias, oy, ox));
                let (v, a) = finish(pool.act, best, arg);
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

/// Backward pass of one sample of a fused direct conv → ReLU → max-pool
/// layer: only the winning conv output of each active window carries a
/// gradient, so only those are visited. `xs` is the sample's input, `w`
/// the weights `[k, c, kh, kw]`.
pub fn backward_sparse(g: &ConvGeom, pg: PooledGrad, xs: &[f32], w: &[f32], grads: ConvGrads) {
    let p = pg.p;
    let ConvGrads {
        mut dx,
        mut dw,
        mut db,
    } = grads;
    if let Some(dx) = dx.as_deref_mut() {
        dx.fill(0.0);
    }
    for k in 0..g.k {
        for py in 0..p.oh {
            for px in 0..p.ow {
                let i = (k * p.oh + py) * p.ow + px;
                if pg.argmax[i] == INACTIVE {
                    continue;
                }
                let gv = pg.dy[i];
                let (oy, ox) = p.window_cell(py, px, pg.argmax[i]);
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
