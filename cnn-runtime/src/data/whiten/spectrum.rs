//! The eigendecomposition behind a whitening.

use std::vec::Vec;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::{Mat, MatRef, Par};

use crate::data::Moments;
use crate::{parallel, Error};

/// The eigendecomposition of a covariance: eigenvalues in decreasing
/// order and their unit eigenvectors, computed in `f64` with `faer`
/// (`self_adjoint_evd`). Each eigenvector's sign is chosen so that its
/// largest entry is positive, so results are reproducible.
///
/// ```
/// use cnn_runtime::data::whiten::Spectrum;
/// use cnn_runtime::data::{Moments, Whitening};
///
/// let data: Vec<f32> = (0..300).map(|i| ((i * 7 % 13) as f32).cos()).collect();
/// let spectrum = Spectrum::compute(&Moments::compute(&data, 3)?)?;
/// assert!(spectrum.variance()[0] >= spectrum.variance()[1]);
/// // One decomposition, two whitenings.
/// let pca = Whitening::pca().fit_spectrum(&spectrum)?;
/// let zca = Whitening::zca().eps(0.1).fit_spectrum(&spectrum)?;
/// assert_eq!(pca.explained_variance(), zca.explained_variance());
/// # Ok::<(), cnn_runtime::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Spectrum {
    pub(super) samples: usize,
    pub(super) dim: usize,
    pub(super) mean: Vec<f64>,
    pub(super) variance: Vec<f64>,
    pub(super) vectors: Vec<f64>,
}

impl Spectrum {
    /// The eigendecomposition of `moments`' covariance, on as many threads
    /// as [`crate::set_threads`] allows.
    ///
    /// Errors ([`Error::Data`]) if `faer` does not converge or the
    /// eigenvalues are not finite.
    pub fn compute(moments: &Moments) -> Result<Spectrum, Error> {
        Self::compute_with_threads(moments, parallel::threads())
    }

    /// As [`compute`](Spectrum::compute), on `threads` threads (0 = as
    /// [`crate::set_threads`] says).
    pub fn compute_with_threads(moments: &Moments, threads: usize) -> Result<Spectrum, Error> {
        let threads = match threads {
            0 => parallel::threads(),
            t => t,
        };
        let dim = moments.dim();
        let (variance, vectors) = eigen(moments.covariance(), dim, threads)?;
        Ok(Spectrum {
            samples: moments.samples(),
            dim,
            mean: moments.mean().to_vec(),
            variance,
            vectors,
        })
    }

    /// Values per sample.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The eigenvalues (variances along the components), decreasing, `[dim]`.
    pub fn variance(&self) -> &[f64] {
        &self.variance
    }

    /// The eigenvectors as rows, `[dim, dim]` row-major, in the order of
    /// [`variance`](Spectrum::variance).
    pub fn vectors(&self) -> &[f64] {
        &self.vectors
    }

    /// The sum of the eigenvalues (negative rounding noise counted as 0).
    pub fn total_variance(&self) -> f64 {
        self.variance.iter().map(|v| v.max(0.0)).sum()
    }
}

/// Eigenvalues in decreasing order and the matching eigenvectors as rows
/// (`[dim, dim]` row-major), each with its largest entry positive.
fn eigen(cov: &[f64], dim: usize, threads: usize) -> Result<(Vec<f64>, Vec<f64>), Error> {
    let a = MatRef::from_row_major_slice(cov, dim, dim);
    let mut s = faer::diag::Diag::<f64>::zeros(dim);
    let mut u = Mat::<f64>::zeros(dim, dim);
    let par = if threads > 1 {
        Par::rayon(threads)
    } else {
        Par::Seq
    };
    let mut run = || {
        let mut mem = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
            dim,
            ComputeEigenvectors::Yes,
            par,
            Default::default(),
        ));
        self_adjoint_evd(
            a,
            s.as_mut(),
            Some(u.as_mut()),
            par,
            MemStack::new(&mut mem),
            Default::default(),
        )
    };
    let result = if threads > 1 {
        parallel::pool(threads)?.install(run)
    } else {
        run()
    };
    result.map_err(|e| Error::Data {
        path: None,
        message: format!("whitening: the eigendecomposition of the covariance failed: {e:?}"),
    })?;
    let values = s.column_vector();
    let mut variance = Vec::with_capacity(dim);
    let mut vectors = Vec::with_capacity(dim * dim);
    // faer sorts in increasing order.
    for j in (0..dim).rev() {
        variance.push(values[j]);
        let col = u.col_as_slice(j);
        let big = col
            .iter()
            .copied()
            .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        let sign = if big < 0.0 { -1.0 } else { 1.0 };
        vectors.extend(col.iter().map(|v| v * sign));
    }
    if variance.iter().any(|v| !v.is_finite()) {
        return Err(Error::Data {
            path: None,
            message: "whitening: the covariance has non-finite eigenvalues".into(),
        });
    }
    Ok((variance, vectors))
}
