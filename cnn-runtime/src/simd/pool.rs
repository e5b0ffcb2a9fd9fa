//! Max pooling without argmax (inference), an output row at a time.

use cnn_spec::PoolGeom;

use super::scalar::Scalar;
use super::vector::Simd;

/// The widest output row [`max_pool_planes`](super::max_pool_planes) takes.
pub const ROW_MAX: usize = 256;

/// Max-pools the planes of `x` (`[planes, h, w]`) into `y`
/// (`[planes, oh, ow]`); `g.ow <= ROW_MAX`.
///
/// Each window row in range is folded into a row of maxima column by
/// column (`dx` outer, outputs inner), in each window's row-major order.
/// The interior outputs, whose windows lie inside the input's columns,
/// run in vectors at stride 1. A NaN in a window makes its output NaN;
/// between `+0` and `-0` the value kept may depend on the level (as with
/// `Simd::max_nan`): values are equal to the window path's, not always
/// the sign of a zero.
#[inline(always)]
pub fn max_planes<S: Simd>(s: S, g: &PoolGeom, x: &[f32], y: &mut [f32]) {
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
