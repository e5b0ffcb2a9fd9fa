//! Applying a whitening matrix to a batch, through the crate's GEMM.

use std::vec::Vec;

use crate::data::covariance::padded_stride;
use crate::ops::gemm::{sgemm, Layout};
use crate::{parallel, Error};

pub(super) fn unpad(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let ld = padded_stride(cols);
    (0..rows)
        .flat_map(|r| m[r * ld..r * ld + cols].iter().copied())
        .collect()
}

pub(super) fn check_out(len: usize, n: usize, per: usize, what: &str) -> Result<(), Error> {
    if len != n * per {
        return Err(Error::Data {
            path: None,
            message: format!(
                "{what}: the output buffer holds {len} values, the {n} samples need {} \
                 ({per} per sample)",
                n * per
            ),
        });
    }
    Ok(())
}

/// Rows per GEMM in [`apply`].
const APPLY_ROWS: usize = 256;

/// `out = (x - sub) m + add`, row by row: `x` is `[n, d_in]`, `m` is
/// `[d_in, d_out]` with padded rows; split over threads by rows.
pub(super) fn apply(
    x: &[f32],
    sub: Option<&[f32]>,
    d_in: usize,
    m: &[f32],
    d_out: usize,
    out: &mut [f32],
    add: Option<&[f32]>,
) {
    let n = x.len() / d_in;
    let flops = 2.0 * n as f64 * d_in as f64 * d_out as f64;
    let threads = if flops > 1e8 {
        parallel::threads().min(n.div_ceil(APPLY_ROWS))
    } else {
        1
    };
    let run = |x: &[f32], out: &mut [f32]| {
        let ldx = padded_stride(d_in);
        let rows = APPLY_ROWS.min(x.len() / d_in);
        let mut buf = vec![0.0f32; rows * ldx];
        for (xs, ys) in x
            .chunks(APPLY_ROWS * d_in)
            .zip(out.chunks_mut(APPLY_ROWS * d_out))
        {
            let c = xs.len() / d_in;
            for (dst, src) in buf.chunks_exact_mut(ldx).zip(xs.chunks_exact(d_in)) {
                match sub {
                    Some(mean) => {
                        for ((d, &v), &m) in dst.iter_mut().zip(src).zip(mean) {
                            *d = v - m;
                        }
                    }
                    None => dst[..d_in].copy_from_slice(src),
                }
            }
            let la = Layout {
                rows: c,
                cols: d_in,
                rs: ldx,
                cs: 1,
            };
            let lb = Layout {
                rows: d_in,
                cols: d_out,
                rs: padded_stride(d_out),
                cs: 1,
            };
            sgemm(&buf, la, m, lb, 0.0, ys, Layout::row_major(c, d_out));
            if let Some(mean) = add {
                for row in ys.chunks_exact_mut(d_out) {
                    for (y, &m) in row.iter_mut().zip(mean) {
                        *y += m;
                    }
                }
            }
        }
    };
    if threads <= 1 {
        run(x, out);
        return;
    }
    std::thread::scope(|scope| {
        let (mut xr, mut yr) = (x, out);
        for range in parallel::split(n, threads) {
            let (xi, xrest) = xr.split_at(range.len() * d_in);
            let (yi, yrest) = std::mem::take(&mut yr).split_at_mut(range.len() * d_out);
            xr = xrest;
            yr = yrest;
            let run = &run;
            scope.spawn(move || run(xi, yi));
        }
    });
}
