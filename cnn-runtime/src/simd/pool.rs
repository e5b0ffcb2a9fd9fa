//! Max pooling without argmax (inference), an output row at a time.

use cnn_spec::{PoolGeom, MAX_LANES};

use super::scalar::Scalar;
use super::vector::Simd;

/// The widest output row [`max_pool_planes`](super::max_pool_planes) takes.
pub const ROW_MAX: usize = 256;

/// Floats of the padded row of column maxima the separable path keeps on
/// the stack: an output row of [`ROW_MAX`] at stride 2 with a window of up
/// to `3 * MAX_LANES` columns, and two vectors of slack for its loads.
const SPAN_MAX: usize = 2 * ROW_MAX + 5 * MAX_LANES;

/// Max-pools the planes of `x` (`[planes, h, w]`) into `y`
/// (`[planes, oh, ow]`); `g.ow <= ROW_MAX`.
///
/// At strides 1 and 2 (every pool of the classic networks) the window is
/// split: the rows of an output row's windows are folded into one padded
/// row of column maxima (`-inf` in the padding), then each output takes the
/// maximum of its `kw` columns of that row, both passes in vectors (stride
/// 2 through [`Simd::deinterleave`]). Other strides fold each window row
/// column by column ([`max_planes_by_rows`]). A NaN in a window makes its
/// output NaN; between `+0` and `-0` the value kept may depend on the level
/// and the path (as with `Simd::max_nan`): values are equal to the window
/// path's, not always the sign of a zero.
#[inline(always)]
pub fn max_planes<S: Simd>(s: S, g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    let l = S::LANES;
    // Padded columns the outputs read, and where the input's columns lie in
    // them.
    let span = (g.ow - 1) * g.sw + g.kw;
    let fits = g.pw + g.w + 2 * l <= SPAN_MAX && span + 2 * l <= SPAN_MAX;
    if g.sw > 2 || g.ow == 0 || !fits {
        return max_planes_by_rows(s, g, x, y);
    }
    let mut cols = [f32::NEG_INFINITY; SPAN_MAX];
    for (plane, out) in x
        .chunks_exact(g.h * g.w)
        .zip(y.chunks_exact_mut(g.oh * g.ow))
    {
        for (oy, orow) in out.chunks_exact_mut(g.ow).enumerate() {
            column_maxima(s, g, plane, oy, &mut cols[g.pw..g.pw + g.w]);
            if g.sw == 1 {
                window_maxima::<S, 1>(s, g.kw, &cols, orow);
            } else {
                window_maxima::<S, 2>(s, g.kw, &cols, orow);
            }
        }
    }
}

/// `cols[ix]` = the maximum over the rows of output row `oy`'s windows
/// that lie inside the plane (`-inf` if none does).
#[inline(always)]
fn column_maxima<S: Simd>(s: S, g: &PoolGeom, plane: &[f32], oy: usize, cols: &mut [f32]) {
    let mut first = true;
    for dy in 0..g.kh {
        let iy = (oy * g.sh + dy).wrapping_sub(g.ph);
        if iy >= g.h {
            continue;
        }
        let row = &plane[iy * g.w..][..g.w];
        if first {
            cols.copy_from_slice(row);
            first = false;
        } else {
            max_into(s, cols, row);
        }
    }
    if first {
        cols.fill(f32::NEG_INFINITY);
    }
}

/// `out[ox]` = the maximum of `cols[ox * SW + dx]` over `dx < kw`, a
/// vector of outputs at a time; `cols` extends at least two vectors past
/// the last column read.
#[inline(always)]
fn window_maxima<S: Simd, const SW: usize>(s: S, kw: usize, cols: &[f32], out: &mut [f32]) {
    let l = S::LANES;
    let at = |i: usize| {
        if SW == 1 {
            s.load(&cols[i..])
        } else {
            s.deinterleave(s.load(&cols[i..]), s.load(&cols[i + l..])).0
        }
    };
    let mut ox = 0;
    while ox < out.len() {
        let n = (out.len() - ox).min(l);
        let mut m = at(ox * SW);
        for dx in 1..kw {
            m = s.max_nan(m, at(ox * SW + dx));
        }
        s.store_part(&mut out[ox..], n, m);
        ox += l;
    }
}

/// [`max_planes`] for any stride: each window row in range is folded into a
/// row of maxima column by column (`dx` outer, outputs inner), in each
/// window's row-major order. The interior outputs, whose windows lie inside
/// the input's columns, run in vectors at stride 1.
#[inline(always)]
fn max_planes_by_rows<S: Simd>(s: S, g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    let mut acc = [f32::NEG_INFINITY; ROW_MAX];
    let acc = &mut acc[..g.ow];
    // Outputs `lo..hi` have every window column inside the input.
    let lo = g.pw.div_ceil(g.sw).min(g.ow);
    let hi = if g.w + g.pw >= g.kw {
        ((g.w + g.pw - g.kw) / g.sw + 1).clamp(lo, g.ow)
    } else {
        lo
    };
    for (plane, out) in x
        .chunks_exact(g.h * g.w)
        .zip(y.chunks_exact_mut(g.oh * g.ow))
    {
        for (oy, orow) in out.chunks_exact_mut(g.ow).enumerate() {
            acc.fill(f32::NEG_INFINITY);
            for dy in 0..g.kh {
                let iy = (oy * g.sh + dy).wrapping_sub(g.ph);
                if iy >= g.h {
                    continue;
                }
                let row = &plane[iy * g.w..][..g.w];
                for dx in 0..g.kw {
                    for (ox, a) in acc.iter_mut().enumerate().take(lo) {
                        let ix = (ox * g.sw + dx).wrapping_sub(g.pw);
                        if ix < g.w {
                            *a = Scalar.max_nan(*a, row[ix]);
                        }
                    }
                    if hi > lo {
                        // `lo * sw >= pw`, and the last column read is inside.
                        let start = lo * g.sw + dx - g.pw;
                        if g.sw == 1 {
                            max_into(s, &mut acc[lo..hi], &row[start..start + (hi - lo)]);
                        } else {
                            let cols = row[start..].iter().step_by(g.sw);
                            for (a, &v) in acc[lo..hi].iter_mut().zip(cols) {
                                *a = Scalar.max_nan(*a, v);
                            }
                        }
                    }
                    for (ox, a) in acc.iter_mut().enumerate().skip(hi) {
                        let ix = (ox * g.sw + dx).wrapping_sub(g.pw);
                        if ix < g.w {
                            *a = Scalar.max_nan(*a, row[ix]);
                        }
                    }
                }
            }
            orow.copy_from_slice(acc);
        }
    }
}

/// `acc[i] = max_nan(acc[i], x[i])`.
#[inline(always)]
fn max_into<S: Simd>(s: S, acc: &mut [f32], x: &[f32]) {
    let l = S::LANES;
    let mut i = 0;
    while i < acc.len() {
        let n = (acc.len() - i).min(l);
        let a = s.load_part(&acc[i..], n);
        let v = s.load_part(&x[i..], n);
        s.store_part(&mut acc[i..], n, s.max_nan(a, v));
        i += l;
    }
}
