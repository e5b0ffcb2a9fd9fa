//! Mean and covariance of a data set, through the crate's own GEMM with
//! `f64` accumulation.
//!
//! The data are `n` samples of `dim` values, row-major (`[n, dim]`). The
//! mean is summed in `f64`. The covariance is
//! `C = (X - mean)ᵀ (X - mean) / (n - 1)` (the unbiased estimate, as
//! `numpy.cov` computes it), built chunk by chunk:
//!
//! 1. a chunk of [`CHUNK_SAMPLES`] samples is centred into an `f32` buffer;
//! 2. [`sgemm`] multiplies the chunk's transpose by the chunk, one block of
//!    [`ROW_BLOCK`] rows of `C` at a time, and only the blocks on or above
//!    the diagonal (`C` is symmetric: this halves the work);
//! 3. each block's `f32` product is added into an `f64` matrix while it is
//!    still in cache.
//!
//! Each `f32` sum therefore runs over at most [`CHUNK_SAMPLES`] products,
//! whatever the number of samples: the rounding error of one entry is that
//! of a 512-term `f32` dot product (a relative `~1e-6` for data of one
//! sign, less for centred data), and the `f64` sum over chunks adds
//! nothing measurable. An `f32` accumulation over all 50,000 samples would
//! instead lose one to two more decimal digits (the error of an `f32` sum
//! grows with its length: by about the square root typically, linearly at
//! worst).
//!
//! The chunks are shared out between threads, whole and in order, each
//! thread with its own `f64` matrix; the matrices are summed at the end.
//! Chunk boundaries do not depend on the thread count, so neither does the
//! result, beyond the order of the final `f64` additions.

use std::vec::Vec;

use crate::ops::gemm::{sgemm, Layout};
use crate::{parallel, Error};

/// Samples per `f32` GEMM: each chunk's product is added into the `f64`
/// covariance. Precision depends on this, not on the number of samples.
pub const CHUNK_SAMPLES: usize = 512;

/// Rows of the covariance per GEMM call (a multiple of every GEMM row
/// panel); the `f32` block, `ROW_BLOCK x dim`, stays in the L2 cache while
/// it is added into the `f64` matrix.
pub const ROW_BLOCK: usize = 96;

/// The mean and covariance of a data set.
///
/// ```
/// use cnn_runtime::data::Moments;
///
/// // Three samples of two values: the second value is twice the first.
/// let data = [1.0, 2.0, 2.0, 4.0, 3.0, 6.0];
/// let m = Moments::compute(&data, 2)?;
/// assert_eq!(m.samples(), 3);
/// assert_eq!(m.mean(), &[2.0, 4.0]);
/// assert_eq!(m.covariance(), &[1.0, 2.0, 2.0, 4.0]); // divided by n - 1
/// # Ok::<(), cnn_runtime::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    samples: usize,
    dim: usize,
    mean: Vec<f64>,
    covariance: Vec<f64>,
}

impl Moments {
    /// The mean and covariance of `data`, `[n, dim]` row-major, on as many
    /// threads as [`crate::set_threads`] allows (every core by default).
    ///
    /// Errors: [`Error::Config`] if `dim` is 0; [`Error::Data`] if `data`
    /// is empty, is not a whole number of samples, holds fewer than two
    /// samples, or holds a NaN or infinite value (the message names the
    /// sample and the position of the first one).
    pub fn compute(data: &[f32], dim: usize) -> Result<Moments, Error> {
        Self::compute_with_threads(data, dim, parallel::threads())
    }

    /// As [`compute`](Moments::compute), on `threads` threads (0 = every
    /// core). The result does not depend on the thread count beyond the
    /// order of the final `f64` additions (see the [module
    /// documentation](self)).
    pub fn compute_with_threads(
        data: &[f32],
        dim: usize,
        threads: usize,
    ) -> Result<Moments, Error> {
        parallel::check_threads("the number of threads", threads)?;
        let n = check_samples(data, dim, "the covariance")?;
        if n < 2 {
            return Err(Error::Data {
                path: None,
                message: "the covariance needs at least 2 samples, the data hold 1".into(),
            });
        }
        let threads = match threads {
            0 => parallel::available(),
            t => t,
        }
        .clamp(1, n.div_ceil(CHUNK_SAMPLES));
        let mean = mean(data, dim, threads)?;
        let mut covariance = upper_scatter(data, dim, Some(&mean), threads);
        let scale = 1.0 / (n - 1) as f64;
        for i in 0..dim {
            for j in i..dim {
                let v = covariance[i * dim + j] * scale;
                covariance[i * dim + j] = v;
                covariance[j * dim + i] = v;
            }
        }
        Ok(Moments {
            samples: n,
            dim,
            mean,
            covariance,
        })
    }

    /// The number of samples.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Values per sample.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The mean, `[dim]`.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The covariance, `[dim, dim]` row-major and symmetric, divided by
    /// `n - 1`.
    pub fn covariance(&self) -> &[f64] {
        &self.covariance
    }
}

/// The number of samples in `data`, or an error naming what needed them.
pub(crate) fn check_samples(data: &[f32], dim: usize, what: &str) -> Result<usize, Error> {
    if dim == 0 {
        return Err(Error::Config {
            message: format!("{what}: the sample dimension is 0"),
        });
    }
    if data.is_empty() {
        return Err(Error::Data {
            path: None,
            message: format!("{what}: the data are empty (no samples)"),
        });
    }
    if !data.len().is_multiple_of(dim) {
        return Err(Error::Data {
            path: None,
            message: format!(
                "{what}: the data hold {} values, not a whole number of samples of {dim} \
                 ({} samples and {} values left over)",
                data.len(),
                data.len() / dim,
                data.len() % dim
            ),
        });
    }
    Ok(data.len() / dim)
}

/// The first NaN or infinite value of `data`, as an error naming it.
pub(crate) fn check_finite(data: &[f32], dim: usize, what: &str) -> Result<(), Error> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(at) => Err(Error::Data {
            path: None,
            message: format!(
                "{what}: sample {}, value {} is {}; the data must be finite",
                at / dim,
                at % dim,
                data[at]
            ),
        }),
    }
}

/// The mean in `f64`; an error if a value is not finite.
fn mean(data: &[f32], dim: usize, threads: usize) -> Result<Vec<f64>, Error> {
    let n = data.len() / dim;
    let partial = |range: std::ops::Range<usize>| {
        let mut sum = vec![0.0f64; dim];
        for row in data[range.start * dim..range.end * dim].chunks_exact(dim) {
            for (s, &x) in sum.iter_mut().zip(row) {
                *s += f64::from(x);
            }
        }
        sum
    };
    let sums: Vec<Vec<f64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = parallel::split(n, threads)
            .skip(1)
            .map(|range| scope.spawn(move || partial(range)))
            .collect();
        let mut sums = vec![partial(parallel::split(n, threads).next().unwrap_or(0..0))];
        sums.extend(handles.into_iter().map(|h| h.join().expect("mean thread")));
        sums
    });
    let mut mean = vec![0.0f64; dim];
    for sum in &sums {
        for (m, s) in mean.iter_mut().zip(sum) {
            *m += s;
        }
    }
    // A sum of finite f32 values cannot overflow f64: a non-finite sum
    // means a NaN or infinity in the data.
    if mean.iter().any(|m| !m.is_finite()) {
        check_finite(data, dim, "the covariance")?;
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    Ok(mean)
}

/// The row stride of a buffer of `cols` floats per row: a multiple of 16
/// that is not a multiple of 128, so that the rows of a GEMM panel read
/// in place do not all fall into the same cache sets.
pub(crate) fn padded_stride(cols: usize) -> usize {
    let s = cols.next_multiple_of(16);
    if s.is_multiple_of(128) {
        s + 16
    } else {
        s
    }
}

/// `Σ (x - mean)(x - mean)ᵀ` over the samples of `data` (`[n, dim]`),
/// without a mean `Σ x xᵀ` (the Gram matrix `Xᵀ X`): the upper triangle
/// (diagonal included) of a `[dim, dim]` row-major `f64` matrix, whose
/// lower triangle is left at zero.
pub(crate) fn upper_scatter(
    data: &[f32],
    dim: usize,
    mean: Option<&[f64]>,
    threads: usize,
) -> Vec<f64> {
    let n = data.len() / dim;
    let mean32: Vec<f32> = match mean {
        Some(m) => m.iter().map(|&m| m as f32).collect(),
        None => vec![0.0; dim],
    };
    // Whole chunks per thread, so that every chunk's f32 product is the
    // same whatever the thread count.
    let chunks = n.div_ceil(CHUNK_SAMPLES);
    let threads = threads.clamp(1, chunks.max(1));
    let part = |range: std::ops::Range<usize>| {
        let mut acc = vec![0.0f64; dim * dim];
        let (start, end) = (
            range.start * CHUNK_SAMPLES,
            (range.end * CHUNK_SAMPLES).min(n),
        );
        scatter_into(&data[start * dim..end * dim], dim, &mean32, &mut acc);
        acc
    };
    let mut parts: Vec<Vec<f64>> = std::thread::scope(|scope| {
        let part = &part;
        let handles: Vec<_> = parallel::split(chunks, threads)
            .skip(1)
            .map(|range| scope.spawn(move || part(range)))
            .collect();
        let mut parts = vec![part(
            parallel::split(chunks, threads).next().unwrap_or(0..0),
        )];
        parts.extend(
            handles
                .into_iter()
                .map(|h| h.join().expect("covariance thread")),
        );
        parts
    });
    let mut total = parts.swap_remove(0);
    for p in &parts {
        for i in 0..dim {
            let row = i * dim + i..(i + 1) * dim;
            for (t, v) in total[row.clone()].iter_mut().zip(&p[row]) {
                *t += v;
            }
        }
    }
    total
}

/// Adds the upper triangle of `(rows - mean)ᵀ (rows - mean)` into `acc`.
fn scatter_into(rows: &[f32], dim: usize, mean: &[f32], acc: &mut [f64]) {
    let ld = padded_stride(dim);
    let mut chunk = vec![0.0f32; CHUNK_SAMPLES.min(rows.len() / dim) * ld];
    let mut block = vec![0.0f32; ROW_BLOCK * dim];
    for samples in rows.chunks(CHUNK_SAMPLES * dim) {
        let c = samples.len() / dim;
        for (dst, src) in chunk.chunks_exact_mut(ld).zip(samples.chunks_exact(dim)) {
            for ((d, &x), &m) in dst.iter_mut().zip(src).zip(mean) {
                *d = x - m;
            }
        }
        for i0 in (0..dim).step_by(ROW_BLOCK) {
            let rb = ROW_BLOCK.min(dim - i0);
            let cols = dim - i0;
            // A = the chunk's columns i0..i0+rb, transposed: rb x c.
            let la = Layout {
                rows: rb,
                cols: c,
                rs: 1,
                cs: ld,
            };
            // B = the chunk's columns i0..dim: c x cols, rows in place.
            let lb = Layout {
                rows: c,
                cols,
                rs: ld,
                cs: 1,
            };
            let lc = Layout::row_major(rb, cols);
            sgemm(
                &chunk[i0..],
                la,
                &chunk[i0..],
                lb,
                0.0,
                &mut block[..rb * cols],
                lc,
            );
            for r in 0..rb {
                let src = &block[r * cols + r..(r + 1) * cols];
                let dst = &mut acc[(i0 + r) * dim + i0 + r..(i0 + r + 1) * dim];
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d += f64::from(s);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The covariance the slow way, in f64.
    fn naive(data: &[f32], dim: usize) -> (Vec<f64>, Vec<f64>) {
        let n = data.len() / dim;
        let mut mean = vec![0.0; dim];
        for row in data.chunks_exact(dim) {
            for (m, &x) in mean.iter_mut().zip(row) {
                *m += f64::from(x) / n as f64;
            }
        }
        let mut cov = vec![0.0; dim * dim];
        for row in data.chunks_exact(dim) {
            for i in 0..dim {
                for j in 0..dim {
                    cov[i * dim + j] += (f64::from(row[i]) - mean[i])
                        * (f64::from(row[j]) - mean[j])
                        / (n - 1) as f64;
                }
            }
        }
        (mean, cov)
    }

    #[test]
    fn matches_naive_over_several_chunks_and_threads() {
        // 1,100 samples: two whole chunks and a partial one; 101 values:
        // two row blocks, the second partial.
        let (n, dim) = (1_100, 101);
        let data: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0) + 0.3 * (i % dim) as f32)
            .collect();
        let (mean, cov) = naive(&data, dim);
        for threads in [1, 2, 3] {
            let m = Moments::compute_with_threads(&data, dim, threads).unwrap();
            for (a, b) in m.mean().iter().zip(&mean) {
                assert!((a - b).abs() < 1e-9, "{a} {b}");
            }
            for (a, b) in m.covariance().iter().zip(&cov) {
                assert!((a - b).abs() < 1e-6, "threads {threads}: {a} {b}");
            }
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let msg = |r: Result<Moments, Error>| r.unwrap_err().to_string();
        assert!(msg(Moments::compute(&[], 3)).contains("empty"));
        assert!(msg(Moments::compute(&[1.0; 4], 0)).contains("dimension is 0"));
        let m = msg(Moments::compute(&[1.0; 7], 3));
        assert!(
            m.contains("7 values") && m.contains("1 values left over"),
            "{m}"
        );
        assert!(msg(Moments::compute(&[1.0; 3], 3)).contains("at least 2 samples"));
        let mut data = vec![0.5f32; 12];
        data[7] = f32::NAN;
        let m = msg(Moments::compute(&data, 3));
        assert!(m.contains("sample 2, value 1 is NaN"), "{m}");
        data[7] = f32::NEG_INFINITY;
        assert!(msg(Moments::compute(&data, 3)).contains("is -inf"));
    }

    #[test]
    fn padded_strides_avoid_multiples_of_128() {
        assert_eq!(padded_stride(3072), 3088);
        assert_eq!(padded_stride(48), 48);
        assert_eq!(padded_stride(50), 64);
        assert_eq!(padded_stride(128), 144);
    }
}
