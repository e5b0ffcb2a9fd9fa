//! PCA and ZCA whitening fitted on a data set.
//!
//! Fitting computes the mean `μ` and covariance `C` of the samples
//! ([`Moments`]: the crate's own GEMM, `f64` accumulation), then the
//! symmetric eigendecomposition `C = U Λ Uᵀ` in `f64` with
//! [`faer`](https://docs.rs/faer) (`self_adjoint_evd`), components sorted
//! by decreasing variance `λ₁ ≥ λ₂ ≥ …`. With `k` kept components `U_k`
//! and the scales `s_i = 1 / sqrt(λ_i + eps)`:
//!
//! | kind | `transform(x)`, `x` a row | output |
//! | --- | --- | --- |
//! | [`WhiteningKind::Pca`] | `(x - μ) U_k diag(s)` | `k` values: the coordinates along the components, each of unit variance |
//! | [`WhiteningKind::Zca`] | `(x - μ) U_k diag(s) U_kᵀ` | `dim` values: rotated back to the input space, as close to the input as whitening allows |
//!
//! The ZCA matrix is symmetric. On the data it was fitted on, the whitened
//! covariance is `diag(λ_i / (λ_i + eps))` along the kept components: the
//! identity when `eps` is small against the kept `λ_i`.
//!
//! **`eps`** (default [`DEFAULT_EPS`] = `1e-5`) keeps the division by
//! `sqrt(λ)` finite and damps the directions of smallest variance, which in
//! images are mostly noise and compression artefacts. What matters is `eps`
//! against the eigenvalues: for the 32x32x3 patches of `examples/whitening`
//! (photographs, values in `[0, 1]`) they run from about 260 (the mean
//! brightness) through `5e-2` (the 100th) and `3e-3` (the 1,000th) down to
//! `1e-5`. `1e-5` whitens nearly everything; `0.1` (a common choice, as in
//! course notes on ZCA for images) whitens only the strong components and gives the
//! familiar edge-like ZCA pictures. `eps = 0` is exact whitening and
//! refuses a singular covariance.
//!
//! Precision: data, products and the whitening matrices are `f32` (sums
//! in `f64`), so a direction whose variance is below about `1e-7` of the
//! largest is mostly rounding noise; whitening it with `eps = 0` amplifies
//! that noise, which is what `eps` or fewer components are for.
//!
//! ```
//! use cnn_runtime::data::{Keep, Whitening};
//!
//! // 400 samples of 3 correlated values.
//! let data: Vec<f32> = (0..400)
//!     .flat_map(|i| {
//!         let (a, b) = ((i as f32 * 0.37).sin(), (i as f32 * 0.71).cos());
//!         [a, a + 0.5 * b, 2.0 - b]
//!     })
//!     .collect();
//! let pca = Whitening::pca().eps(0.0).keep(Keep::Components(2)).fit(&data, 3)?;
//! assert_eq!(pca.output_dim(), 2);
//! let white = pca.transform(&data)?; // [400, 2], unit variance, uncorrelated
//! let zca = Whitening::zca().fit(&data, 3)?;
//! let back = zca.inverse_transform(&zca.transform(&data)?)?;
//! assert!(back.iter().zip(&data).all(|(a, b)| (a - b).abs() < 1e-3));
//! # Ok::<(), cnn_runtime::Error>(())
//! ```

use std::vec::Vec;

mod apply;
pub(crate) mod file;
mod spectrum;

pub use spectrum::Spectrum;

use super::covariance::{check_finite, check_samples, padded_stride, upper_scatter, Moments};
use crate::preprocess::{Floats, Whiten};
use crate::{parallel, Error};
use apply::{apply, check_out, unpad};

/// The default regularisation added to every eigenvalue (`1e-5`).
pub const DEFAULT_EPS: f64 = 1e-5;

/// PCA or ZCA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhiteningKind {
    /// Coordinates along the principal components, each scaled to unit
    /// variance: `k` values per sample.
    Pca,
    /// PCA whitening rotated back to the input space (`dim` values per
    /// sample); the whitening matrix is symmetric.
    Zca,
}

impl WhiteningKind {
    /// `"pca"` or `"zca"`, as saved in files.
    pub fn name(self) -> &'static str {
        match self {
            WhiteningKind::Pca => "pca",
            WhiteningKind::Zca => "zca",
        }
    }
}

/// Which components to keep, in order of decreasing variance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Keep {
    /// All `dim` of them.
    All,
    /// The first `k`, `1 <= k <= dim`.
    Components(usize),
    /// The fewest whose variances add up to at least this fraction of the
    /// total, in `(0, 1]`.
    Variance(f64),
}

/// How to fit a [`Whitening`]: kind, `eps`, components kept, threads.
/// Built with [`Whitening::pca`] or [`Whitening::zca`].
#[derive(Clone, Debug, PartialEq)]
pub struct WhiteningConfig {
    /// PCA or ZCA.
    pub kind: WhiteningKind,
    /// Added to every eigenvalue before the square root; `>= 0`.
    pub eps: f64,
    /// Components kept.
    pub keep: Keep,
    /// Threads for the covariance and the eigendecomposition (0 = as
    /// [`crate::set_threads`] says, every core by default).
    pub threads: usize,
}

impl WhiteningConfig {
    /// Sets `eps` (default [`DEFAULT_EPS`]).
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the components kept (default [`Keep::All`]).
    pub fn keep(mut self, keep: Keep) -> Self {
        self.keep = keep;
        self
    }

    /// Sets the thread count (default 0: as [`crate::set_threads`] says).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    fn thread_count(&self) -> usize {
        match self.threads {
            0 => parallel::threads(),
            t => t,
        }
    }

    /// Fits on `data`, `[n, dim]` row-major: [`Moments::compute`],
    /// [`Spectrum::compute`], then
    /// [`fit_spectrum`](WhiteningConfig::fit_spectrum).
    ///
    /// Errors: those of [`Moments::compute`] (empty data, a length that is
    /// not a whole number of samples, fewer than 2 samples, NaN or
    /// infinity) and of [`fit_spectrum`](WhiteningConfig::fit_spectrum).
    pub fn fit(&self, data: &[f32], dim: usize) -> Result<Whitening, Error> {
        self.check()?;
        let moments = Moments::compute_with_threads(data, dim, self.thread_count())?;
        self.fit_moments(&moments)
    }

    /// Fits on moments already computed: [`Spectrum::compute`], then
    /// [`fit_spectrum`](WhiteningConfig::fit_spectrum).
    pub fn fit_moments(&self, moments: &Moments) -> Result<Whitening, Error> {
        self.check()?;
        let spectrum = Spectrum::compute_with_threads(moments, self.thread_count())?;
        self.fit_spectrum(&spectrum)
    }

    /// Fits on an eigendecomposition already computed: chooses the
    /// components and builds the whitening matrices. One [`Spectrum`] can
    /// serve several whitenings (PCA and ZCA, several `eps`).
    ///
    /// Errors ([`Error::Config`]): `eps` negative or not finite, `keep`
    /// asking for 0 or more than `dim` components or a variance fraction
    /// outside `(0, 1]`. [`Error::SingularCovariance`] if a kept
    /// eigenvalue plus `eps` is not positive, or with `eps = 0` a kept
    /// eigenvalue is zero to working precision (at most
    /// `λ_max · dim · f64::EPSILON`, NumPy's `matrix_rank` tolerance) or
    /// more components are kept than `n - 1` samples can span.
    pub fn fit_spectrum(&self, spectrum: &Spectrum) -> Result<Whitening, Error> {
        self.check()?;
        let Spectrum {
            samples,
            dim,
            ref variance,
            ref vectors,
            ..
        } = *spectrum;
        let total = spectrum.total_variance();
        let lambda_max = variance[0].max(0.0);
        let singular = |component: usize| Error::SingularCovariance {
            component,
            eigenvalue: variance[component],
            eps: self.eps,
            samples,
            dim,
        };
        if lambda_max == 0.0 && self.eps == 0.0 {
            // Every value is constant: nothing to whiten.
            return Err(singular(0));
        }
        let k = kept(self.keep, variance, total, dim)?;
        if self.eps == 0.0 && k >= samples {
            // n samples span at most n - 1 directions around their mean;
            // the rest is rounding noise.
            return Err(singular(samples - 1));
        }
        let tol = lambda_max * dim as f64 * f64::EPSILON;
        for (c, &lambda) in variance.iter().enumerate().take(k) {
            let zero = if self.eps == 0.0 {
                lambda <= tol
            } else {
                lambda.max(0.0) + self.eps <= 0.0
            };
            if zero {
                return Err(singular(c));
            }
        }
        Ok(Whitening::from_parts(
            self.kind,
            self.eps,
            samples,
            spectrum.mean.clone(),
            vectors[..k * dim].to_vec(),
            variance[..k].to_vec(),
            total,
            self.thread_count(),
        ))
    }

    fn check(&self) -> Result<(), Error> {
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return Err(Error::Config {
                message: format!("whitening: eps must be finite and >= 0, it is {}", self.eps),
            });
        }
        match self.keep {
            Keep::Components(0) => Err(Error::Config {
                message: "whitening: Keep::Components(0) keeps nothing; keep at least 1".into(),
            }),
            Keep::Variance(f) if !(f > 0.0 && f <= 1.0) => Err(Error::Config {
                message: format!("whitening: the variance fraction must be in (0, 1], it is {f}"),
            }),
            _ => Ok(()),
        }
    }
}

/// The number of components `keep` selects.
fn kept(keep: Keep, variance: &[f64], total: f64, dim: usize) -> Result<usize, Error> {
    match keep {
        Keep::All => Ok(dim),
        Keep::Components(k) if k > dim => Err(Error::Config {
            message: format!(
                "whitening: Keep::Components({k}) asks for more components than the \
                 dimension {dim}"
            ),
        }),
        Keep::Components(k) => Ok(k),
        Keep::Variance(f) => {
            // The running sum over the same values in the same order as
            // `total`, so that f = 1 stops at the last non-zero variance.
            let mut sum = 0.0;
            for (i, v) in variance.iter().enumerate() {
                sum += v.max(0.0);
                if sum >= f * total {
                    return Ok(i + 1);
                }
            }
            Ok(dim)
        }
    }
}

/// A fitted PCA or ZCA whitening. See the [module documentation](self).
#[derive(Clone, Debug, PartialEq)]
pub struct Whitening {
    kind: WhiteningKind,
    eps: f64,
    samples: usize,
    dim: usize,
    mean: Vec<f64>,
    components: Vec<f64>,
    variance: Vec<f64>,
    total_variance: f64,
    // Derived, f32, rows padded to `padded_stride`:
    mean32: Vec<f32>,
    /// `[dim, out]`: transform(x) = (x - mean) forward.
    forward: Vec<f32>,
    /// `[out, dim]`: inverse_transform(y) = y inverse + mean.
    inverse: Vec<f32>,
}

impl Whitening {
    /// A PCA configuration: `eps` [`DEFAULT_EPS`], [`Keep::All`].
    pub fn pca() -> WhiteningConfig {
        WhiteningConfig {
            kind: WhiteningKind::Pca,
            eps: DEFAULT_EPS,
            keep: Keep::All,
            threads: 0,
        }
    }

    /// A ZCA configuration: `eps` [`DEFAULT_EPS`], [`Keep::All`].
    pub fn zca() -> WhiteningConfig {
        WhiteningConfig {
            kind: WhiteningKind::Zca,
            ..Self::pca()
        }
    }

    /// A whitening from its parts (checked by the caller).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        kind: WhiteningKind,
        eps: f64,
        samples: usize,
        mean: Vec<f64>,
        components: Vec<f64>,
        variance: Vec<f64>,
        total_variance: f64,
        threads: usize,
    ) -> Whitening {
        let dim = mean.len();
        let mut w = Whitening {
            kind,
            eps,
            samples,
            dim,
            mean32: mean.iter().map(|&m| m as f32).collect(),
            mean,
            components,
            variance,
            total_variance,
            forward: Vec::new(),
            inverse: Vec::new(),
        };
        let scales = w.scales();
        let inv: Vec<f64> = scales.iter().map(|s| 1.0 / s).collect();
        match kind {
            WhiteningKind::Pca => {
                w.forward = w.pca_matrix(&scales, true);
                w.inverse = w.pca_matrix(&inv, false);
            }
            WhiteningKind::Zca => {
                w.forward = w.zca_matrix(&scales, threads);
                w.inverse = w.zca_matrix(&inv, threads);
            }
        }
        w
    }

    /// `[dim, k]` (`transposed`) or `[k, dim]`: the components scaled by
    /// `scale`, in f32 with padded rows.
    fn pca_matrix(&self, scale: &[f64], transposed: bool) -> Vec<f32> {
        let (k, d) = (self.kept(), self.dim);
        let (rows, cols) = if transposed { (d, k) } else { (k, d) };
        let ld = padded_stride(cols);
        let mut m = vec![0.0f32; rows * ld];
        for c in 0..k {
            for j in 0..d {
                let v = (self.components[c * d + j] * scale[c]) as f32;
                if transposed {
                    m[j * ld + c] = v;
                } else {
                    m[c * ld + j] = v;
                }
            }
        }
        m
    }

    /// `U_k diag(scale) U_kᵀ`, `[dim, dim]`, exactly symmetric, in f32 with
    /// padded rows: the Gram matrix `Bᵀ B` of `B = diag(sqrt(scale)) U_kᵀ`
    /// (`k x dim`), through the covariance's GEMM path (upper triangle
    /// only, `f64` accumulation), then mirrored.
    fn zca_matrix(&self, scale: &[f64], threads: usize) -> Vec<f32> {
        let d = self.dim;
        let mut b = Vec::with_capacity(self.components.len());
        for (row, s) in self.components.chunks_exact(d).zip(scale) {
            let r = s.sqrt();
            b.extend(row.iter().map(|v| (v * r) as f32));
        }
        let gram = upper_scatter(&b, d, None, threads);
        let ld = padded_stride(d);
        let mut out = vec![0.0f32; d * ld];
        for i in 0..d {
            for j in i..d {
                let v = gram[i * d + j] as f32;
                out[i * ld + j] = v;
                out[j * ld + i] = v;
            }
        }
        out
    }

    /// PCA or ZCA.
    pub fn kind(&self) -> WhiteningKind {
        self.kind
    }

    /// The regularisation added to every eigenvalue.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The number of samples it was fitted on.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// Values per input sample.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of components kept, `k`.
    pub fn kept(&self) -> usize {
        self.variance.len()
    }

    /// Values per output sample: `k` for PCA, `dim` for ZCA.
    pub fn output_dim(&self) -> usize {
        match self.kind {
            WhiteningKind::Pca => self.kept(),
            WhiteningKind::Zca => self.dim,
        }
    }

    /// The mean of the fitted data, `[dim]`.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// The kept principal components, `[k, dim]` row-major: row `i` is the
    /// unit eigenvector of the `i`-th largest variance (sign chosen so
    /// that its largest entry is positive).
    pub fn components(&self) -> &[f64] {
        &self.components
    }

    /// The variance along each kept component (the covariance's
    /// eigenvalues, decreasing), `[k]`.
    pub fn explained_variance(&self) -> &[f64] {
        &self.variance
    }

    /// Each kept component's share of the total variance, `[k]`.
    pub fn explained_variance_ratio(&self) -> Vec<f64> {
        self.variance
            .iter()
            .map(|v| {
                if self.total_variance > 0.0 {
                    v.max(0.0) / self.total_variance
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The total variance of the fitted data (the covariance's trace, all
    /// components, kept or not).
    pub fn total_variance(&self) -> f64 {
        self.total_variance
    }

    /// The scale of each kept component, `1 / sqrt(λ_i + eps)`, `[k]`.
    pub fn scales(&self) -> Vec<f64> {
        self.variance
            .iter()
            .map(|v| 1.0 / (v.max(0.0) + self.eps).sqrt())
            .collect()
    }

    /// The whitening matrix `W`, `[dim, output_dim]` row-major, in `f32`:
    /// `transform(x) = (x - mean) W`. Symmetric for ZCA.
    pub fn matrix(&self) -> Vec<f32> {
        unpad(&self.forward, self.dim, self.output_dim())
    }

    /// The allocation-free kernel that applies [`Whitening::matrix`] one
    /// sample at a time, summing in a fixed order: what `Model::predict_raw`
    /// and a network compiled in from a model file with whitening run,
    /// bit for bit. [`transform`](Whitening::transform) (the crate's GEMM)
    /// gives the same values to rounding.
    ///
    /// ```
    /// use cnn_runtime::data::Whitening;
    ///
    /// let data: Vec<f32> = (0..60).map(|i| ((i * 37 % 11) as f32).sin()).collect();
    /// let zca = Whitening::zca().fit(&data, 3)?;
    /// let mut one = [0.0f32; 3];
    /// zca.kernel().apply(&data[..3], &mut one);
    /// let gemm = zca.transform(&data[..3])?;
    /// assert!(one.iter().zip(&gemm).all(|(a, b)| (a - b).abs() <= 1e-5 * b.abs().max(1.0)));
    /// # Ok::<(), cnn_runtime::Error>(())
    /// ```
    pub fn kernel(&self) -> Whiten<'_> {
        let out = self.output_dim();
        Whiten {
            mean: Floats::F32(&self.mean32),
            matrix: Floats::F32(&self.forward),
            dim: self.dim,
            out,
            stride: padded_stride(out),
        }
    }

    /// The same whitening with `matrix` (`[dim, output_dim]`, as
    /// [`Whitening::matrix`] gives it) as its whitening matrix: a model file
    /// stores the matrix it was saved with, and applies exactly that.
    pub(crate) fn with_matrix(mut self, matrix: &[f32]) -> Self {
        let (rows, cols) = (self.dim, self.output_dim());
        let ld = padded_stride(cols);
        let mut forward = vec![0.0f32; rows * ld];
        for (dst, src) in forward.chunks_exact_mut(ld).zip(matrix.chunks_exact(cols)) {
            dst[..cols].copy_from_slice(src);
        }
        self.forward = forward;
        self
    }

    /// The matrix of [`inverse_transform`](Whitening::inverse_transform),
    /// `[output_dim, dim]` row-major: `x = y V + mean`.
    pub fn inverse_matrix(&self) -> Vec<f32> {
        unpad(&self.inverse, self.output_dim(), self.dim)
    }

    /// Whitens a batch, `[n, dim]` → `[n, output_dim]`.
    ///
    /// Errors ([`Error::Data`]) if `x` is empty, not a whole number of
    /// samples, or holds NaN or infinity.
    pub fn transform(&self, x: &[f32]) -> Result<Vec<f32>, Error> {
        let n = check_samples(x, self.dim, "whitening transform")?;
        let mut out = vec![0.0; n * self.output_dim()];
        self.transform_into(x, &mut out)?;
        Ok(out)
    }

    /// As [`transform`](Whitening::transform), into `out`
    /// (`[n, output_dim]`).
    pub fn transform_into(&self, x: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let what = "whitening transform";
        let n = check_samples(x, self.dim, what)?;
        check_out(out.len(), n, self.output_dim(), what)?;
        check_finite(x, self.dim, what)?;
        let mean = Some(&self.mean32[..]);
        apply(
            x,
            mean,
            self.dim,
            &self.forward,
            self.output_dim(),
            out,
            None,
        );
        Ok(())
    }

    /// Undoes [`transform`](Whitening::transform): `[n, output_dim]` →
    /// `[n, dim]`. Exact up to rounding when every component is kept;
    /// otherwise the projection onto the kept components.
    ///
    /// Errors as [`transform`](Whitening::transform), for `output_dim`
    /// values per sample.
    pub fn inverse_transform(&self, y: &[f32]) -> Result<Vec<f32>, Error> {
        let n = check_samples(y, self.output_dim(), "whitening inverse transform")?;
        let mut out = vec![0.0; n * self.dim];
        self.inverse_transform_into(y, &mut out)?;
        Ok(out)
    }

    /// As [`inverse_transform`](Whitening::inverse_transform), into `out`
    /// (`[n, dim]`).
    pub fn inverse_transform_into(&self, y: &[f32], out: &mut [f32]) -> Result<(), Error> {
        let what = "whitening inverse transform";
        let k = self.output_dim();
        let n = check_samples(y, k, what)?;
        check_out(out.len(), n, self.dim, what)?;
        check_finite(y, k, what)?;
        apply(y, None, k, &self.inverse, self.dim, out, Some(&self.mean32));
        Ok(())
    }
}
