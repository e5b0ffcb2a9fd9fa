//! Batch normalisation at inference, as an affine map and folded into the
//! layer before it. The macro folds compiled-in weights with these
//! functions and the runtime folds loaded ones with the same, so both give
//! the same bits.

use crate::math;

/// The per-channel affine map of batch normalisation with running
/// statistics: `y = x scale + shift`, `scale = gamma / sqrt(var + eps)`,
/// `shift = beta - mean scale`.
#[inline]
pub fn batch_norm_affine(gamma: f32, beta: f32, mean: f32, var: f32, eps: f32) -> (f32, f32) {
    let scale = gamma / math::sqrt(var + eps);
    (scale, beta - mean * scale)
}

/// A batch normalisation's parameters and running statistics, `[C]` each.
#[derive(Clone, Copy, Debug)]
pub struct BatchNormParams<'a> {
    /// Scale (`weight`).
    pub gamma: &'a [f32],
    /// Shift (`bias`).
    pub beta: &'a [f32],
    /// Running mean.
    pub mean: &'a [f32],
    /// Running variance.
    pub var: &'a [f32],
    /// Added to the variance.
    pub eps: f32,
}

/// Folds a batch normalisation into the layer before it: that layer's
/// `weight` (`[C, per]`: each output channel's `per` weights) is scaled
/// and its `bias` (`[C]`, zero for a layer without one) becomes
/// `bias scale + shift`, so that the layer alone computes both.
pub fn fold_batch_norm(weight: &mut [f32], bias: &mut [f32], per: usize, bn: BatchNormParams) {
    for (k, b) in bias.iter_mut().enumerate() {
        let (scale, shift) =
            batch_norm_affine(bn.gamma[k], bn.beta[k], bn.mean[k], bn.var[k], bn.eps);
        for w in &mut weight[k * per..(k + 1) * per] {
            *w *= scale;
        }
        *b = *b * scale + shift;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_matches_the_layer_then_the_normalisation() {
        // One output channel of two weights: y = w.x + b, then BN.
        let (x, mut w, mut b) = ([0.5f32, -2.0], [1.5f32, 0.25], [0.1f32]);
        let bn = BatchNormParams {
            gamma: &[2.0],
            beta: &[-1.0],
            mean: &[0.3],
            var: &[4.0],
            eps: 1e-5,
        };
        let z = w[0] * x[0] + w[1] * x[1] + b[0];
        let (scale, shift) = batch_norm_affine(2.0, -1.0, 0.3, 4.0, 1e-5);
        let want = z * scale + shift;
        fold_batch_norm(&mut w, &mut b, 2, bn);
        let got = w[0] * x[0] + w[1] * x[1] + b[0];
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
    }
}
