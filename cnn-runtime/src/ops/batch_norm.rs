//! Batch normalisation over the channels of NCHW activations.
//!
//! Training: `y = gamma (x - mean) / sqrt(var + eps) + beta` with the
//! batch's per-channel mean and biased variance; the running statistics
//! move by `r = (1 - momentum) r + momentum stat`, with the unbiased
//! variance, as in PyTorch. Inference uses the running statistics.
//!
//! These are the kernels; `network!` does not offer a `batch_norm` layer
//! yet (its batch statistics span every thread's share of a batch).

use cnn_spec::math;

/// A batch-norm layer over NCHW activations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    /// Channels (`C`).
    pub channels: usize,
    /// Values per channel of one sample (`H * W`).
    pub hw: usize,
    /// Added to the variance before the square root.
    pub eps: f32,
    /// How far the running statistics move towards each batch's.
    pub momentum: f32,
}

/// The learned scale and shift, `[channels]` each.
#[derive(Clone, Copy, Debug)]
pub struct Affine<'a> {
    /// Scale.
    pub gamma: &'a [f32],
    /// Shift.
    pub beta: &'a [f32],
}

/// Running statistics, `[channels]` each (buffers: saved, not trained).
#[derive(Clone, Copy, Debug)]
pub struct Running<'a> {
    /// Running mean.
    pub mean: &'a [f32],
    /// Running (unbiased) variance.
    pub var: &'a [f32],
}

/// Running statistics a training forward pass updates.
#[derive(Debug)]
pub struct RunningMut<'a> {
    /// Running mean.
    pub mean: &'a mut [f32],
    /// Running (unbiased) variance.
    pub var: &'a mut [f32],
}

/// What [`backward`] produces: the input gradient (written) and the scale
/// and shift gradients (added into).
#[derive(Debug)]
pub struct Gradients<'a> {
    /// Input gradient, `[n, channels, hw]`.
    pub dx: &'a mut [f32],
    /// Scale gradient, `[channels]`.
    pub dgamma: &'a mut [f32],
    /// Shift gradient, `[channels]`.
    pub dbeta: &'a mut [f32],
}

/// Per-channel statistics of a training forward pass, for the backward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    /// The batch mean.
    pub mean: f32,
    /// `1 / sqrt(var + eps)`, `var` the biased batch variance.
    pub inv_std: f32,
}

/// Training forward pass of `n` samples (`x`, `y`: `[n, channels, hw]`):
/// normalises with the batch statistics, writes them to `moments` and
/// updates the running statistics.
pub fn forward_train(
    l: &BatchNorm,
    p: Affine,
    x: &[f32],
    y: &mut [f32],
    moments: &mut [Moments],
    running: RunningMut,
    n: usize,
) {
    let (c, hw) = (l.channels, l.hw);
    let Affine { gamma, beta } = p;
    let RunningMut {
        mean: running_mean,
        var: running_var,
    } = running;
    let (momentum, eps) = (l.momentum, l.eps);
    let count = (n * hw) as f64;
    for ch in 0..c {
        let values = || (0..n).flat_map(move |s| x[(s * c + ch) * hw..][..hw].iter().copied());
        let mean = values().map(f64::from).sum::<f64>() / count;
        let var = values()
            .map(|v| {
                let d = f64::from(v) - mean;
                d * d
            })
            .sum::<f64>()
            / count;
        let inv_std = 1.0 / math::sqrt(var as f32 + eps);
        let mean = mean as f32;
        moments[ch] = Moments { mean, inv_std };
        for s in 0..n {
            let i = (s * c + ch) * hw;
            for (o, &v) in y[i..i + hw].iter_mut().zip(&x[i..i + hw]) {
                *o = gamma[ch] * (v - mean) * inv_std + beta[ch];
            }
        }
        let unbiased = if count > 1.0 {
            var * count / (count - 1.0)
        } else {
            var
        };
        running_mean[ch] = (1.0 - momentum) * running_mean[ch] + momentum * mean;
        running_var[ch] = (1.0 - momentum) * running_var[ch] + momentum * unbiased as f32;
    }
}

/// Inference: normalises `x` into `y` (`[n, channels, hw]`) with the
/// running statistics.
pub fn forward_eval(
    l: &BatchNorm,
    p: Affine,
    running: Running,
    x: &[f32],
    y: &mut [f32],
    n: usize,
) {
    let (c, hw, eps) = (l.channels, l.hw, l.eps);
    let Affine { gamma, beta } = p;
    let Running {
        mean: running_mean,
        var: running_var,
    } = running;
    for ch in 0..c {
        let scale = gamma[ch] / math::sqrt(running_var[ch] + eps);
        let shift = beta[ch] - running_mean[ch] * scale;
        for s in 0..n {
            let i = (s * c + ch) * hw;
            for (o, &v) in y[i..i + hw].iter_mut().zip(&x[i..i + hw]) {
                *o = v * scale + shift;
            }
        }
    }
}

/// Backward pass of [`forward_train`]: with `xhat = (x - mean) inv_std`,
/// `dbeta = sum dy`, `dgamma = sum dy xhat` (added), and
/// `dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat))` (written).
pub fn backward(
    l: &BatchNorm,
    gamma: &[f32],
    moments: &[Moments],
    x: &[f32],
    dy: &[f32],
    grads: Gradients,
    n: usize,
) {
    let (c, hw) = (l.channels, l.hw);
    let Gradients { dx, dgamma, dbeta } = grads;
    let count = (n * hw) as f32;
    for ch in 0..c {
        let Moments { mean, inv_std } = moments[ch];
        let (mut sum_dy, mut sum_dy_xhat) = (0.0f64, 0.0f64);
        for s in 0..n {
            let i = (s * c + ch) * hw;
            for (&g, &v) in dy[i..i + hw].iter().zip(&x[i..i + hw]) {
                sum_dy += f64::from(g);
                sum_dy_xhat += f64::from(g) * f64::from((v - mean) * inv_std);
            }
        }
        dbeta[ch] += sum_dy as f32;
        dgamma[ch] += sum_dy_xhat as f32;
        let (mean_dy, mean_dy_xhat) = (sum_dy as f32 / count, sum_dy_xhat as f32 / count);
        for s in 0..n {
            let i = (s * c + ch) * hw;
            for ((d, &g), &v) in dx[i..i + hw]
                .iter_mut()
                .zip(&dy[i..i + hw])
                .zip(&x[i..i + hw])
            {
                let xhat = (v - mean) * inv_std;
                *d = gamma[ch] * inv_std * (g - mean_dy - xhat * mean_dy_xhat);
            }
        }
    }
}
