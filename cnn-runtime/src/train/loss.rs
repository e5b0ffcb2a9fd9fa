//! Loss functions, each returning its value and its gradient with respect
//! to the network's logits (the output before a trailing softmax or
//! sigmoid, which the loss absorbs: see [`Head`]).
//!
//! | loss | value per sample | gradient |
//! | --- | --- | --- |
//! | [`Loss::CrossEntropy`] | `-ln softmax(z)[y]` | `p - onehot(y)` |
//! | [`Loss::BinaryCrossEntropy`] | `-Σ t ln σ(z) + (1 - t) ln(1 - σ(z))` | `σ(z) - t` |
//! | [`Loss::MeanSquaredError`] | `Σ (y - t)²` with `y` the network's output | `2 (y - t) y'` |
//!
//! Reduction is the mean, as in PyTorch: over samples for cross-entropy,
//! over every value for the other two.

use cnn_spec::{math, sigmoid};

use crate::network::Head;
use crate::ops::softmax;

/// A training objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Loss {
    /// Softmax cross-entropy ("softmax log-loss") on class labels. With a
    /// network ending in `softmax`, the softmax is folded into the loss.
    #[default]
    CrossEntropy,
    /// Sigmoid with binary cross-entropy, on 0/1 targets (or one-hot
    /// labels). With a network ending in `sigmoid`, the sigmoid is folded in.
    BinaryCrossEntropy,
    /// Mean squared error between the network's output (after any final
    /// softmax or sigmoid) and the targets (or one-hot labels).
    MeanSquaredError,
}

/// The targets of some samples.
#[derive(Clone, Copy, Debug)]
pub enum TargetRef<'a> {
    /// One class index per sample.
    Classes(&'a [usize]),
    /// `len` values per sample.
    Values(&'a [f32]),
}

impl<'a> TargetRef<'a> {
    /// Target value `j` of sample `s` (one-hot for class labels).
    #[inline]
    fn value(&self, s: usize, j: usize, len: usize) -> f32 {
        match self {
            TargetRef::Classes(labels) => f32::from(u8::from(labels[s] == j)),
            TargetRef::Values(v) => v[s * len + j],
        }
    }
}

/// The logits of some samples: `n` samples of `len` values, back to back.
#[derive(Clone, Copy, Debug)]
pub struct LogitsRef<'a> {
    /// `[n, len]` values (at least).
    pub z: &'a [f32],
    /// Samples.
    pub n: usize,
    /// Values per sample.
    pub len: usize,
}

/// What one call of [`Loss::evaluate`] measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSum {
    /// Sum over samples of each sample's loss.
    pub loss: f64,
    /// Samples classified correctly (argmax for class labels, threshold
    /// 0.5 on every value for 0/1 targets).
    pub correct: usize,
}

impl Loss {
    /// Whether the loss can train a network with this head.
    pub fn check_head(self, head: Head) -> Result<(), &'static str> {
        match (self, head) {
            (Loss::CrossEntropy, Head::Sigmoid) => Err(
                "cross-entropy needs logits or a final softmax, but the network ends with sigmoid; \
                 use Loss::BinaryCrossEntropy",
            ),
            (Loss::BinaryCrossEntropy, Head::Softmax) => Err(
                "binary cross-entropy needs logits or a final sigmoid, but the network ends with \
                 softmax; use Loss::CrossEntropy",
            ),
            _ => Ok(()),
        }
    }

    /// The loss of the samples of `logits`, and its gradient `dz` (the
    /// logits' layout) scaled by `scale` (1 / batch size for a batch mean).
    pub fn forward_backward(
        self,
        head: Head,
        logits: LogitsRef<'_>,
        targets: TargetRef<'_>,
        scale: f32,
        dz: &mut [f32],
    ) -> LossSum {
        let LogitsRef { z, n, len } = logits;
        let mut total = LossSum::default();
        for s in 0..n {
            let zs = &z[s * len..][..len];
            let ds = &mut dz[s * len..][..len];
            let (loss, correct) = self.sample(head, zs, targets, s, scale, ds);
            total.loss += loss as f64;
            total.correct += usize::from(correct);
        }
        total
    }

    /// The loss of `n` samples from the network's *inference* outputs
    /// (after its final softmax or sigmoid, if any), for validation.
    pub fn evaluate(
        self,
        head: Head,
        outputs: &[f32],
        targets: TargetRef<'_>,
        n: usize,
        len: usize,
    ) -> LossSum {
        let mut total = LossSum::default();
        let mut logits = std::vec::Vec::new();
        let mut scratch = std::vec![0.0f32; len];
        for s in 0..n {
            let ys = &outputs[s * len..][..len];
            // Back to logits: ln p for softmax (up to a constant, which
            // softmax ignores), logit(p) for sigmoid.
            let zs: &[f32] = match head {
                Head::None => ys,
                Head::Softmax => {
                    logits.clear();
                    // `clamp` keeps NaN (where `max` would replace it).
                    logits.extend(
                        ys.iter()
                            .map(|&p| math::ln(p.clamp(f32::MIN_POSITIVE, f32::INFINITY))),
                    );
                    &logits
                }
                Head::Sigmoid => {
                    logits.clear();
                    logits.extend(ys.iter().map(|&p| {
                        let p = p.clamp(f32::MIN_POSITIVE, 1.0 - f32::EPSILON / 2.0);
                        math::ln(p) - math::ln(1.0 - p)
                    }));
                    &logits
                }
            };
            let (loss, correct) = self.sample(head, zs, targets, s, 1.0, &mut scratch);
            total.loss += loss as f64;
            total.correct += usize::from(correct);
        }
        total
    }

    /// Loss and correctness of sample `s`, whose logits are `z` (all of
    /// them: `len = z.len()`). `buf` (`len` values) receives the gradient,
    /// scaled by `scale`; it is scratch when only the loss is wanted.
    fn sample(
        self,
        head: Head,
        z: &[f32],
        targets: TargetRef<'_>,
        s: usize,
        scale: f32,
        buf: &mut [f32],
    ) -> (f32, bool) {
        let len = z.len();
        let t = |j: usize| targets.value(s, j, len);
        // NaN is never a correct prediction.
        let correct = match targets {
            TargetRef::Classes(labels) => argmax(z) == Some(labels[s]),
            TargetRef::Values(_) => (0..len).all(|j| {
                let p = if head == Head::None && self == Loss::MeanSquaredError {
                    z[j]
                } else {
                    sigmoid(z[j])
                };
                !p.is_nan() && (p > 0.5) == (t(j) > 0.5)
            }),
        };
        let per_value = scale / len as f32;
        let loss = match self {
            Loss::CrossEntropy => {
                let lse = log_sum_exp(z);
                let loss = match targets {
                    TargetRef::Classes(labels) => lse - z[labels[s]],
                    TargetRef::Values(_) => (0..len).map(|j| t(j) * (lse - z[j])).sum::<f32>(),
                };
                // d/dz of -Σ t ln p is (Σ t) p - t: p - onehot for labels.
                let mass = match targets {
                    TargetRef::Classes(_) => 1.0,
                    TargetRef::Values(_) => (0..len).map(t).sum::<f32>(),
                };
                softmax::row(z, buf);
                for (j, d) in buf.iter_mut().enumerate() {
                    *d = (mass * *d - t(j)) * scale;
                }
                loss
            }
            Loss::BinaryCrossEntropy => {
                let mut loss = 0.0;
                for (j, d) in buf.iter_mut().enumerate() {
                    let zj = z[j];
                    // max(z, 0) - z t + ln(1 + e^-|z|), stable for any z.
                    loss += zj.max(0.0) - zj * t(j) + math::ln(1.0 + math::exp(-zj.abs()));
                    *d = (sigmoid(zj) - t(j)) * per_value;
                }
                loss / len as f32
            }
            Loss::MeanSquaredError => {
                // buf = y, the output after the head.
                match head {
                    Head::None => buf.copy_from_slice(z),
                    Head::Softmax => softmax::row(z, buf),
                    Head::Sigmoid => buf.iter_mut().zip(z).for_each(|(o, &v)| *o = sigmoid(v)),
                }
                let loss = buf
                    .iter()
                    .enumerate()
                    .map(|(j, &y)| (y - t(j)).powi(2))
                    .sum::<f32>();
                match head {
                    Head::None => {
                        for (j, d) in buf.iter_mut().enumerate() {
                            *d = 2.0 * (*d - t(j)) * per_value;
                        }
                    }
                    Head::Sigmoid => {
                        for (j, d) in buf.iter_mut().enumerate() {
                            let y = *d;
                            *d = 2.0 * (y - t(j)) * per_value * y * (1.0 - y);
                        }
                    }
                    Head::Softmax => {
                        // dz = y (dy - Σ dy y), dy = 2 (y - t) / count.
                        let dot: f32 = buf
                            .iter()
                            .enumerate()
                            .map(|(j, &y)| 2.0 * (y - t(j)) * per_value * y)
                            .sum();
                        for (j, d) in buf.iter_mut().enumerate() {
                            let y = *d;
                            *d = y * (2.0 * (y - t(j)) * per_value - dot);
                        }
                    }
                }
                loss / len as f32
            }
        };
        (loss, correct)
    }
}

/// `ln Σ e^z`, stable.
fn log_sum_exp(z: &[f32]) -> f32 {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f32 = z.iter().map(|&v| math::exp(v - max)).sum();
    max + math::ln(sum)
}

/// Index of the largest value (the first on ties); `None` if a value is
/// NaN (a NaN output predicts nothing) or `v` is empty.
///
/// ```
/// use cnn_runtime::train::argmax;
///
/// assert_eq!(argmax(&[0.1, 0.7, 0.7]), Some(1));
/// assert_eq!(argmax(&[f32::NAN, 0.0]), None);
/// assert_eq!(argmax(&[0.5, f32::NAN]), None);
/// ```
pub fn argmax(v: &[f32]) -> Option<usize> {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x.is_nan() {
            return None;
        }
        if x > v[best] {
            best = i;
        }
    }
    (!v.is_empty()).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_entropy_gradient_is_p_minus_onehot() {
        let z = [1.0f32, 2.0, 0.5];
        let mut dz = [0.0; 3];
        let logits = LogitsRef {
            z: &z,
            n: 1,
            len: 3,
        };
        let r = Loss::CrossEntropy.forward_backward(
            Head::Softmax,
            logits,
            TargetRef::Classes(&[1]),
            1.0,
            &mut dz,
        );
        let mut p = [0.0; 3];
        softmax::row(&z, &mut p);
        assert!((r.loss as f32 + p[1].ln()).abs() < 1e-6);
        assert!((dz[0] - p[0]).abs() < 1e-6 && (dz[1] - (p[1] - 1.0)).abs() < 1e-6);
        assert_eq!(r.correct, 1);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let z = [0.3f32, -1.2, 0.7, 2.0];
        let t = [0.0f32, 1.0, 1.0, 0.0];
        for loss in [
            Loss::CrossEntropy,
            Loss::BinaryCrossEntropy,
            Loss::MeanSquaredError,
        ] {
            for head in [Head::None, Head::Softmax, Head::Sigmoid] {
                if loss.check_head(head).is_err() {
                    continue;
                }
                let targets = TargetRef::Values(&t);
                let mut dz = [0.0; 4];
                let logits = LogitsRef {
                    z: &z,
                    n: 1,
                    len: 4,
                };
                loss.forward_backward(head, logits, targets, 1.0, &mut dz);
                for j in 0..4 {
                    let f = |d: f32| {
                        let mut zz = z;
                        zz[j] += d;
                        let mut scratch = [0.0; 4];
                        let logits = LogitsRef {
                            z: &zz,
                            n: 1,
                            len: 4,
                        };
                        loss.forward_backward(head, logits, targets, 1.0, &mut scratch)
                            .loss
                    };
                    let numeric = (f(1e-3) - f(-1e-3)) / 2e-3;
                    assert!(
                        (numeric as f32 - dz[j]).abs() < 2e-3,
                        "{loss:?} {head:?} {j}: {numeric} vs {}",
                        dz[j]
                    );
                }
            }
        }
    }

    #[test]
    fn evaluate_from_probabilities_matches_training_loss() {
        let z = [0.3f32, -1.2, 0.7];
        let mut p = [0.0; 3];
        softmax::row(&z, &mut p);
        let mut dz = [0.0; 3];
        let logits = LogitsRef {
            z: &z,
            n: 1,
            len: 3,
        };
        let train = Loss::CrossEntropy.forward_backward(
            Head::Softmax,
            logits,
            TargetRef::Classes(&[2]),
            1.0,
            &mut dz,
        );
        let eval = Loss::CrossEntropy.evaluate(Head::Softmax, &p, TargetRef::Classes(&[2]), 1, 3);
        assert!((train.loss - eval.loss).abs() < 1e-5);
    }
}
