//! Max and average pooling, forward and backward.
//!
//! Max pooling: padded cells count as `-inf`; the first maximum of a window
//! in row-major order wins ties, and a NaN in a window makes its output NaN
//! (as in PyTorch). The backward pass routes each output's gradient to the
//! cell that won, recorded as its index inside the window (one byte).
//!
//! Average pooling divides by the full window, padded cells included
//! (PyTorch's `count_include_pad = True`).

use cnn_spec::PoolGeom;

use super::args::check_len;
use crate::simd::scalar::pool::window_max;

/// `y = max_pool(x)` for `n` samples, `[n, c, h, w] -> [n, c, oh, ow]`.
/// With `argmax`, records the winning cell of each window.
pub fn max_forward(g: &PoolGeom, x: &[f32], y: &mut [f32], argmax: Option<&mut [u8]>, n: usize) {
    check_len("max_pool input", x.len(), n * g.in_len());
    check_len("max_pool output", y.len(), n * g.out_len());
    if argmax.is_none() && g.ow <= crate::simd::POOL_ROW_MAX {
        crate::simd::max_pool_planes(g, &x[..n * g.in_len()], &mut y[..n * g.out_len()]);
        return;
    }
    let mut argmax = argmax;
    for s in 0..n {
        for c in 0..g.c {
            let plane = &x[(s * g.c + c) * g.h * g.w..][..g.h * g.w];
            let base = (s * g.c + c) * g.oh * g.ow;
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let (v, a) = window_max(g, oy, ox, |iy, ix| plane[iy * g.w + ix]);
                    y[base + oy * g.ow + ox] = v;
                    if let Some(am) = argmax.as_deref_mut() {
                        am[base + oy * g.ow + ox] = a;
                    }
                }
            }
        }
    }
}

/// `dx = max_pool'(dy)`: each output's gradient goes to its window's winner.
pub fn max_backward(g: &PoolGeom, argmax: &[u8], dy: &[f32], dx: &mut [f32], n: usize) {
    check_len("max_pool input gradient", dx.len(), n * g.in_len());
    dx[..n * g.in_len()].fill(0.0);
    for s in 0..n {
        for c in 0..g.c {
            let plane = &mut dx[(s * g.c + c) * g.h * g.w..][..g.h * g.w];
            let base = (s * g.c + c) * g.oh * g.ow;
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let i = base + oy * g.ow + ox;
                    let (iy, ix) = g.window_cell(oy, ox, argmax[i]);
                    plane[iy * g.w + ix] += dy[i];
                }
            }
        }
    }
}

/// `y = avg_pool(x)`, dividing by the whole window (padding included).
pub fn avg_forward(g: &PoolGeom, x: &[f32], y: &mut [f32], n: usize) {
    check_len("avg_pool input", x.len(), n * g.in_len());
    check_len("avg_pool output", y.len(), n * g.out_len());
    for s in 0..n {
        for c in 0..g.c {
            let plane = &x[(s * g.c + c) * g.h * g.w..][..g.h * g.w];
            let base = (s * g.c + c) * g.oh * g.ow;
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut sum = 0.0f32;
                    for dy in 0..g.kh {
                        let iy = (oy * g.sh + dy).wrapping_sub(g.ph);
                        if iy >= g.h {
                            continue;
                        }
                        for dx in 0..g.kw {
                            let ix = (ox * g.sw + dx).wrapping_sub(g.pw);
                            if ix < g.w {
                                sum += plane[iy * g.w + ix];
                            }
                        }
                    }
                    y[base + oy * g.ow + ox] = sum * (1.0 / g.window_area(oy, ox) as f32);
                }
            }
        }
    }
}

/// `dx = avg_pool'(dy)`: each output's gradient spread evenly over its window.
pub fn avg_backward(g: &PoolGeom, dy: &[f32], dx: &mut [f32], n: usize) {
    check_len("avg_pool input gradient", dx.len(), n * g.in_len());
    dx[..n * g.in_len()].fill(0.0);
    for s in 0..n {
        for c in 0..g.c {
            let plane = &mut dx[(s * g.c + c) * g.h * g.w..][..g.h * g.w];
            let base = (s * g.c + c) * g.oh * g.ow;
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let v = dy[base + oy * g.ow + ox] * (1.0 / g.window_area(oy, ox) as f32);
                    for dy_ in 0..g.kh {
                        let iy = (oy * g.sh + dy_).wrapping_sub(g.ph);
                        if iy >= g.h {
                            continue;
                        }
                        for dx_ in 0..g.kw {
                            let ix = (ox * g.sw + dx_).wrapping_sub(g.pw);
                            if ix < g.w {
                                plane[iy * g.w + ix] += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The row-wise path (no argmax) gives the window path's values:
    /// paddings, strides, ceil mode, NaN and signed zeros (equal as
    /// numbers; the sign of a zero tie may depend on the SIMD level).
    #[test]
    fn rows_match_windows() {
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed >> 8
        };
        for (h, w) in [(1, 1), (5, 7), (14, 14), (28, 13), (9, 31)] {
            for k in 1..=4usize {
                for s in 1..=3usize {
                    for p in 0..=k / 2 {
                        for ceil in [false, true] {
                            if h + 2 * p < k || w + 2 * p < k {
                                continue;
                            }
                            let args = (2, h, w, (k, k), (s, s), (p, p));
                            let g = if ceil {
                                PoolGeom::new_ceil(args.0, args.1, args.2, args.3, args.4, args.5)
                            } else {
                                PoolGeom::new(args.0, args.1, args.2, args.3, args.4, args.5)
                            };
                            let n = 2;
                            let x: Vec<f32> = (0..n * g.in_len())
                                .map(|_| match next() % 40 {
                                    0 => f32::NAN,
                                    1 => 0.0,
                                    2 => -0.0,
                                    r => r as f32 - 20.0,
                                })
                                .collect();
                            let mut fast = vec![1.0; n * g.out_len()];
                            let mut slow = vec![2.0; n * g.out_len()];
                            let mut arg = vec![0u8; n * g.out_len()];
                            max_forward(&g, &x, &mut fast, None, n);
                            max_forward(&g, &x, &mut slow, Some(&mut arg), n);
                            for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                                assert!(
                                    a == b || a.is_nan() && b.is_nan(),
                                    "{g:?} output {i}: {a} vs {b}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
