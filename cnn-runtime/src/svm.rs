//! A multi-class linear support vector machine: one-vs-rest, each binary
//! problem solved by dual coordinate descent (Hsieh, Chang, Lin, Keerthi
//! and Sundararajan, *A Dual Coordinate Descent Method for Large-scale
//! Linear SVM*, ICML 2008), the method of LIBLINEAR's default solver.
//!
//! For class `k`, with `y_i = +1` on the samples of class `k` and `-1` on
//! the others, it minimises
//!
//! ```text
//! ½‖w‖² + C Σ_i loss(1 - y_i (w·x_i + b))₊
//! ```
//!
//! where the loss is the hinge (`t`) or the squared hinge (`t²`,
//! LIBLINEAR's default), and the bias `b` is the weight of an extra
//! constant feature, regularised like the others (LIBLINEAR's `-B 1`).
//! A sample is assigned the class of the largest decision value `w_k·x + b_k`.
//!
//! The dual of each binary problem is `min_α ½ αᵀ(Q + D)α - Σα` with
//! `Q_ij = y_i y_j x_i·x_j`, `0 ≤ α_i ≤ U`: `D = 0, U = C` for the hinge,
//! `D = I / 2C, U = ∞` for the squared hinge. Each step solves it exactly
//! in one `α_i` while keeping `w = Σ y_i α_i x_i`, so a pass over the data
//! costs two dot products per sample. Passes visit the samples in a seeded
//! random order and stop when the largest violation of the optimality
//! conditions (the spread of the projected gradient) falls below the
//! tolerance, or after `max_passes`.
//!
//! The features are best of similar scales (standardised); [`Standardize`]
//! does it and the fitted machine keeps the scaling it learnt.
//!
//! ```
//! use cnn_runtime::svm::LinearSvm;
//!
//! // Three classes of two-dimensional points, around (0, 3), (3, 0), (-3, -3).
//! let centres = [[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]];
//! let mut x = Vec::new();
//! let mut labels = Vec::new();
//! for i in 0..90 {
//!     let c = i % 3;
//!     let jitter = [(i as f32 * 0.7).sin(), (i as f32 * 1.3).cos()];
//!     x.extend([centres[c][0] + jitter[0], centres[c][1] + jitter[1]]);
//!     labels.push(c);
//! }
//! let svm = LinearSvm::config().c(1.0).fit(&x, 2, &labels, 3)?;
//! assert_eq!(svm.accuracy(&x, &labels)?, 1.0);
//! assert_eq!(svm.predict(&[0.2, 2.5, 2.9, 0.1])?, vec![0, 1]);
//! # Ok::<(), cnn_runtime::Error>(())
//! ```

use std::vec::Vec;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::Error;

/// The loss on the margin violation `t = (1 - y (w·x + b))₊`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SvmLoss {
    /// `t`: the classic soft-margin SVM (LIBLINEAR `-s 3`).
    Hinge,
    /// `t²`: smooth, usually quicker to converge (LIBLINEAR `-s 1`, its default).
    #[default]
    SquaredHinge,
}

/// Per-feature standardisation before the SVM: `(x - mean) / std`, with the
/// mean and standard deviation of the training features (a constant
/// feature is only centred).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Standardize {
    /// Features as given.
    No,
    /// Standardised by the training set's statistics, kept in the machine.
    #[default]
    Yes,
}

/// Settings of [`LinearSvm`]'s training; see [`LinearSvm::config`].
#[derive(Clone, Debug, PartialEq)]
pub struct SvmConfig {
    c: f64,
    loss: SvmLoss,
    tolerance: f64,
    max_passes: usize,
    bias: bool,
    standardize: Standardize,
    seed: u64,
}

impl Default for SvmConfig {
    fn default() -> Self {
        SvmConfig {
            c: 1.0,
            loss: SvmLoss::SquaredHinge,
            tolerance: 0.1,
            max_passes: 1000,
            bias: true,
            standardize: Standardize::Yes,
            seed: 0,
        }
    }
}

impl SvmConfig {
    /// The penalty `C` on margin violations (default 1; larger fits the
    /// training data more closely). Must be positive and finite.
    pub fn c(mut self, c: f64) -> Self {
        self.c = c;
        self
    }
    /// The loss (default [`SvmLoss::SquaredHinge`]).
    pub fn loss(mut self, loss: SvmLoss) -> Self {
        self.loss = loss;
        self
    }
    /// Stop when the projected gradient's spread falls below this (default
    /// 0.1, LIBLINEAR's). Must be positive and finite.
    pub fn tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }
    /// The most passes over the data per class (default 1000, at least 1).
    pub fn max_passes(mut self, passes: usize) -> Self {
        self.max_passes = passes;
        self
    }
    /// Whether to learn a bias (default yes).
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
    /// Per-feature standardisation (default [`Standardize::Yes`]).
    pub fn standardize(mut self, s: Standardize) -> Self {
        self.standardize = s;
        self
    }
    /// The seed of the order in which samples are visited (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str, v: f64| Error::Config {
            message: format!("the SVM's {what} must be in (0, inf), found {v}"),
        };
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(bad("C", self.c));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(bad("tolerance", self.tolerance));
        }
        if self.max_passes == 0 {
            return Err(Error::Config {
                message: "the SVM's max_passes must be at least 1, found 0".into(),
            });
        }
        Ok(())
    }

    /// Trains on `x` (`[n, dim]`, row-major) with `labels` in
    /// `0..classes` (`classes ≥ 2`). A class without samples gets a
    /// machine that answers "no" everywhere.
    ///
    /// Errors ([`Error::Data`], [`Error::Config`]) on empty or ragged data,
    /// a label count that is not `n`, a label out of range, a NaN or
    /// infinite feature (naming the sample, feature and value), or a
    /// setting out of range.
    pub fn fit(
        &self,
        x: &[f32],
        dim: usize,
        labels: &[usize],
        classes: usize,
    ) -> Result<LinearSvm, Error> {
        self.validate()?;
        let n = check_features(x, dim, "training")?;
        if labels.len() != n {
            return Err(data(format!(
                "{} labels for {n} samples of {dim} features ({} values)",
                labels.len(),
                x.len()
            )));
        }
        if classes < 2 {
            return Err(Error::Config {
                message: format!("an SVM needs at least 2 classes, found {classes}"),
            });
        }
        if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
            return Err(data(format!(
                "label {l} of sample {i} is out of range for {classes} classes"
            )));
        }
        let scaling = match self.standardize {
            Standardize::Yes => Scaling::fit(x, dim),
            Standardize::No => Scaling::identity(dim),
        };
        let xs = scaling.apply(x, dim);
        let extra = usize::from(self.bias);
        let norms: Vec<f64> = xs
            .chunks_exact(dim)
            .map(|r| r.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() + extra as f64)
            .collect();
        let mut weights = Vec::with_capacity(classes * dim);
        let mut bias = Vec::with_capacity(classes);
        let mut passes = Vec::with_capacity(classes);
        for k in 0..classes {
            let y: Vec<f64> = labels
                .iter()
                .map(|&l| if l == k { 1.0 } else { -1.0 })
                .collect();
            let solved = solve_binary(self, &xs, dim, &y, &norms, k as u64);
            weights.extend(solved.w[..dim].iter().map(|&v| v as f32));
            bias.push(if self.bias { solved.w[dim] as f32 } else { 0.0 });
            passes.push(solved.passes);
        }
        Ok(LinearSvm {
            dim,
            classes,
            weights,
            bias,
            scaling,
            passes,
        })
    }
}

/// One binary problem's solution.
struct Binary {
    /// `[dim (+1 for the bias)]`.
    w: Vec<f64>,
    passes: usize,
}

/// Dual coordinate descent on one binary problem (labels `y` of ±1).
fn solve_binary(
    config: &SvmConfig,
    x: &[f32],
    dim: usize,
    y: &[f64],
    norms: &[f64],
    stream: u64,
) -> Binary {
    let n = y.len();
    let (diag, upper) = match config.loss {
        SvmLoss::Hinge => (0.0, config.c),
        SvmLoss::SquaredHinge => (0.5 / config.c, f64::INFINITY),
    };
    let with_bias = config.bias;
    let mut w = vec![0.0f64; dim + usize::from(with_bias)];
    let mut alpha = vec![0.0f64; n];
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng =
        ChaCha8Rng::seed_from_u64(config.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut passes = 0;
    while passes < config.max_passes {
        passes += 1;
        order.shuffle(&mut rng);
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        for &i in &order {
            let row = &x[i * dim..(i + 1) * dim];
            let mut dot: f64 = row.iter().zip(&w).map(|(&a, &b)| a as f64 * b).sum();
            if with_bias {
                dot += w[dim];
            }
            let g = y[i] * dot - 1.0 + diag * alpha[i];
            let pg = if alpha[i] == 0.0 {
                g.min(0.0)
            } else if alpha[i] == upper {
                g.max(0.0)
            } else {
                g
            };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            let q = norms[i] + diag;
            if pg.abs() > 1e-12 && q > 0.0 {
                let old = alpha[i];
                alpha[i] = (old - g / q).clamp(0.0, upper);
                let step = (alpha[i] - old) * y[i];
                for (wj, &xj) in w.iter_mut().zip(row) {
                    *wj += step * xj as f64;
                }
                if with_bias {
                    w[dim] += step;
                }
            }
        }
        if pg_max - pg_min <= config.tolerance {
            break;
        }
    }
    Binary { w, passes }
}

/// Per-feature `(x - shift) * scale`.
#[derive(Clone, Debug, PartialEq)]
struct Scaling {
    shift: Vec<f32>,
    scale: Vec<f32>,
}

impl Scaling {
    fn identity(dim: usize) -> Scaling {
        Scaling {
            shift: vec![0.0; dim],
            scale: vec![1.0; dim],
        }
    }

    fn fit(x: &[f32], dim: usize) -> Scaling {
        let n = (x.len() / dim) as f64;
        let mut sum = vec![0.0f64; dim];
        let mut sq = vec![0.0f64; dim];
        for row in x.chunks_exact(dim) {
            for (j, &v) in row.iter().enumerate() {
                sum[j] += v as f64;
                sq[j] += (v as f64) * (v as f64);
            }
        }
        let mut s = Scaling::identity(dim);
        for j in 0..dim {
            let mean = sum[j] / n;
            let var = (sq[j] / n - mean * mean).max(0.0);
            s.shift[j] = mean as f32;
            s.scale[j] = if var > 1e-12 {
                (1.0 / var.sqrt()) as f32
            } else {
                1.0
            };
        }
        s
    }

    fn apply(&self, x: &[f32], dim: usize) -> Vec<f32> {
        let mut out = x.to_vec();
        for row in out.chunks_exact_mut(dim) {
            for ((v, &m), &s) in row.iter_mut().zip(&self.shift).zip(&self.scale) {
                *v = (*v - m) * s;
            }
        }
        out
    }
}

/// A trained multi-class linear SVM (one-vs-rest).
#[derive(Clone, Debug, PartialEq)]
pub struct LinearSvm {
    dim: usize,
    classes: usize,
    /// `[classes, dim]`, on the standardised features.
    weights: Vec<f32>,
    /// `[classes]`.
    bias: Vec<f32>,
    scaling: Scaling,
    passes: Vec<usize>,
}

impl LinearSvm {
    /// The default settings, to adjust and then [`SvmConfig::fit`].
    pub fn config() -> SvmConfig {
        SvmConfig::default()
    }

    /// Features per sample.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The weights `[classes, dim]` and biases `[classes]` on the
    /// standardised features.
    pub fn weights(&self) -> (&[f32], &[f32]) {
        (&self.weights, &self.bias)
    }

    /// The passes over the data each class's problem took (at most the
    /// configured `max_passes`; reaching it means it stopped before the
    /// tolerance).
    pub fn passes(&self) -> &[usize] {
        &self.passes
    }

    /// The decision values `[n, classes]` of the samples `x` (`[n, dim]`).
    pub fn decision_function(&self, x: &[f32]) -> Result<Vec<f32>, Error> {
        let dim = self.dim;
        let n = check_features(x, dim, "input")?;
        let xs = self.scaling.apply(x, dim);
        let mut out = Vec::with_capacity(n * self.classes);
        for row in xs.chunks_exact(dim) {
            for (w, &b) in self.weights.chunks_exact(dim).zip(&self.bias) {
                out.push(row.iter().zip(w).map(|(&a, &b)| a * b).sum::<f32>() + b);
            }
        }
        Ok(out)
    }

    /// The predicted class of each sample of `x` (`[n, dim]`): the largest
    /// decision value.
    pub fn predict(&self, x: &[f32]) -> Result<Vec<usize>, Error> {
        let scores = self.decision_function(x)?;
        Ok(scores
            .chunks_exact(self.classes)
            .map(|s| {
                s.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (k, &v)| {
                        if v > best.1 {
                            (k, v)
                        } else {
                            best
                        }
                    })
                    .0
            })
            .collect())
    }

    /// The fraction of samples of `x` whose predicted class is their label.
    pub fn accuracy(&self, x: &[f32], labels: &[usize]) -> Result<f64, Error> {
        let predicted = self.predict(x)?;
        if predicted.len() != labels.len() {
            return Err(data(format!(
                "{} labels for {} samples of {} features",
                labels.len(),
                predicted.len(),
                self.dim
            )));
        }
        let right = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
        Ok(right as f64 / labels.len() as f64)
    }
}

fn data(message: String) -> Error {
    Error::Data {
        path: None,
        message,
    }
}

/// Checks `x` as `[n, dim]` with `n ≥ 1` finite rows; returns `n`.
fn check_features(x: &[f32], dim: usize, what: &str) -> Result<usize, Error> {
    if dim == 0 {
        return Err(data(format!(
            "{what} features must have a dimension of at least 1, found 0"
        )));
    }
    if x.is_empty() {
        return Err(data(format!("no {what} samples (0 values)")));
    }
    if !x.len().is_multiple_of(dim) {
        return Err(data(format!(
            "{what} features of {} values are not whole samples of {dim}",
            x.len()
        )));
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(data(format!(
            "{what} feature {} of sample {} is {}",
            i % dim,
            i / dim,
            x[i]
        )));
    }
    Ok(x.len() / dim)
}

#[cfg(test)]
mod tests;
