//! Batch normalisation over the channels of NCHW activations (or the
//! features of flat ones: `hw = 1`), as PyTorch defines it.
//!
//! Training: `y = gamma xhat + beta`, `xhat = (x - mean) / sqrt(var +
//! eps)` with the mean and the biased variance of each channel over the
//! whole batch: when a step is split over threads, each thread's part
//! sums its samples and a [`Reduce`] adds the parts up, so the statistics
//! are the batch's whatever the thread count. After the step the running
//! statistics move by `r = (1 - momentum) r + momentum stat`, with the
//! unbiased variance, and the batch counter grows by one
//! ([`update_running`]).
//!
//! Backward, with `M` values per channel over the batch: `dbeta = sum dy`,
//! `dgamma = sum dy xhat` (added, per part), and
//! `dx = gamma / sqrt(var + eps) (dy - sum(dy) / M - xhat sum(dy xhat) / M)`
//! with batch sums, again reduced over the parts.
//!
//! Inference uses the running statistics: `y = x scale + shift` with
//! `scale = gamma / sqrt(running_var + eps)` and `shift = beta -
//! running_mean scale` ([`forward_eval`]), the same affine map a folded
//! convolution applies ([`cnn_spec::fold_batch_norm`]). The gradients of
//! that map (inference mode: [`forward_frozen`], [`backward_frozen`]) are
//! `dx = dy scale`, `dgamma = sum dy xhat`, `dbeta = sum dy`.
//!
//! The statistics of one layer in a step (`f64`, in the step's statistics
//! layout, see [`stats_len`]): `[mean; C]`, `[M]`, `[var; C]`, then the two
//! gradient sums `[sum dy; C]`, `[sum dy xhat; C]`.

use cnn_spec::math;

use super::args::{check_len, Grads};
use super::parts::{OnePart, Reduce};

/// A batch-norm layer over NCHW activations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNorm {
    /// Channels (`C`).
    pub channels: usize,
    /// Values per channel of one sample (`H * W`; 1 for flat values).
    pub hw: usize,
    /// Added to the variance before the square root.
    pub eps: f32,
    /// How far the running statistics move towards each batch's.
    pub momentum: f32,
}

/// The statistics values a layer of `channels` keeps in a step.
pub const fn stats_len(channels: usize) -> usize {
    4 * channels + 1
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

/// Running statistics a step updates.
#[derive(Debug)]
pub struct RunningMut<'a> {
    /// Running mean.
    pub mean: &'a mut [f32],
    /// Running (unbiased) variance.
    pub var: &'a mut [f32],
    /// Batches seen (PyTorch's `num_batches_tracked`), one value.
    pub batches: &'a mut [f32],
}

/// The buffers of a training forward call on this part's `n` samples.
#[derive(Debug)]
pub struct TrainIo<'a> {
    /// Input, `[n, channels, hw]`.
    pub x: &'a [f32],
    /// Output, `[n, channels, hw]` (written).
    pub y: &'a mut [f32],
    /// The normalised input, `[n, channels, hw]`, kept for the backward
    /// pass (written).
    pub xhat: &'a mut [f32],
    /// Samples in this part.
    pub n: usize,
}

/// Where a layer's statistics go in the step: this part's statistics
/// buffer (the layer's [`stats_len`] values), the reduction over the
/// parts, and the layer's place in the step's layout.
pub struct Stats<'a> {
    /// The layer's statistics (see the module docs).
    pub values: &'a mut [f64],
    /// Sums over the step's parts.
    pub reduce: &'a dyn Reduce,
    /// Where `values` sit in the step's statistics layout.
    pub at: usize,
}

/// Training forward pass: normalises with the batch's statistics (every
/// part's samples), keeps them in `stats` and `xhat` for the backward pass.
pub fn forward_train(l: &BatchNorm, p: Affine, io: TrainIo, stats: Stats) {
    let (c, hw) = (l.channels, l.hw);
    let TrainIo { x, y, xhat, n } = io;
    let len = n * c * hw;
    check_len("batch_norm input", x.len(), len);
    check_len("batch_norm output", y.len(), len);
    check_len("batch_norm saved input", xhat.len(), len);
    check_len("batch_norm statistics", stats.values.len(), stats_len(c));
    check_len("batch_norm scale", p.gamma.len(), c);
    check_len("batch_norm shift", p.beta.len(), c);
    let (sums, rest) = stats.values.split_at_mut(c + 1);
    let var = &mut rest[..c];
    // The mean, from the sums of every part (the count last)...
    let rows = |ch: usize| (0..n).map(move |s| &x[(s * c + ch) * hw..][..hw]);
    for (ch, m) in sums[..c].iter_mut().enumerate() {
        let mut acc = Lanes::default();
        rows(ch).for_each(|row| acc.add(row, f64::from));
        *m = acc.total();
    }
    sums[c] = (n * hw) as f64;
    stats.reduce.all_reduce(stats.at, sums);
    let (mean, total) = sums.split_at_mut(c);
    let total = total[0];
    // ...then the variance around it: two passes, as exact as the data.
    for m in mean.iter_mut() {
        *m /= total;
    }
    for (ch, v) in var.iter_mut().enumerate() {
        let m = mean[ch];
        let mut acc = Lanes::default();
        rows(ch).for_each(|row| {
            acc.add(row, |x| {
                let d = f64::from(x) - m;
                d * d
            })
        });
        *v = acc.total();
    }
    stats.reduce.all_reduce(stats.at + c + 1, var);
    for v in var.iter_mut() {
        *v /= total;
    }
    for ch in 0..c {
        let inv_std = 1.0 / math::sqrt(var[ch] as f32 + l.eps);
        let m = mean[ch] as f32;
        let (g, b) = (p.gamma[ch], p.beta[ch]);
        for s in 0..n {
            let i = (s * c + ch) * hw;
            for ((o, h), &v) in y[i..i + hw]
                .iter_mut()
                .zip(&mut xhat[i..i + hw])
                .zip(&x[i..i + hw])
            {
                *h = (v - m) * inv_std;
                *o = g * *h + b;
            }
        }
    }
}

/// A sum in f64 kept in [`Lanes::N`] independent partial sums, value `i`
/// of each row going to sum `i % N`, added together at the end: the
/// additions do not wait on one another, and the compiler keeps the
/// partial sums in vectors.
#[derive(Default)]
struct Lanes([f64; Lanes::N]);

impl Lanes {
    const N: usize = 8;

    /// Adds `f(v)` for every value of `row`.
    #[inline(always)]
    fn add(&mut self, row: &[f32], f: impl Fn(f32) -> f64) {
        let chunks = row.chunks_exact(Self::N);
        let rest = chunks.remainder();
        for chunk in chunks {
            for (acc, &v) in self.0.iter_mut().zip(chunk) {
                *acc += f(v);
            }
        }
        for (acc, &v) in self.0.iter_mut().zip(rest) {
            *acc += f(v);
        }
    }

    /// Adds `a[i] * b[i]` for every `i`.
    #[inline(always)]
    fn add_products(&mut self, a: &[f32], b: &[f32]) {
        let (ca, cb) = (a.chunks_exact(Self::N), b.chunks_exact(Self::N));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (ca, cb) in ca.zip(cb) {
            for ((acc, &x), &y) in self.0.iter_mut().zip(ca).zip(cb) {
                *acc += f64::from(x) * f64::from(y);
            }
        }
        for ((acc, &x), &y) in self.0.iter_mut().zip(ra).zip(rb) {
            *acc += f64::from(x) * f64::from(y);
        }
    }

    /// The sum.
    #[inline(always)]
    fn total(&self) -> f64 {
        self.0.iter().sum()
    }
}

/// The buffers of a backward call.
#[derive(Debug)]
pub struct BackwardIo<'a> {
    /// What [`forward_train`] kept, `[n, channels, hw]`.
    pub xhat: &'a [f32],
    /// Output gradient, `[n, channels, hw]`.
    pub dy: &'a [f32],
    /// Input gradient, `[n, channels, hw]` (written), if wanted.
    pub dx: Option<&'a mut [f32]>,
    /// Samples in this part.
    pub n: usize,
}

/// Backward pass of [`forward_train`]: adds this part's `dgamma`, `dbeta`
/// into `grads` (the weight and bias of [`Grads`]) and writes `dx` with
/// the batch's gradient sums (reduced over the parts).
pub fn backward(l: &BatchNorm, gamma: &[f32], io: BackwardIo, grads: Grads, stats: Stats) {
    let (c, hw) = (l.channels, l.hw);
    let BackwardIo { xhat, dy, dx, n } = io;
    let len = n * c * hw;
    check_len("batch_norm saved input", xhat.len(), len);
    check_len("batch_norm output gradient", dy.len(), len);
    check_len("batch_norm statistics", stats.values.len(), stats_len(c));
    let (moments, sums) = stats.values.split_at_mut(2 * c + 1);
    let (total, var) = (moments[c], &moments[c + 1..]);
    let (sum_dy, sum_dy_xhat) = sums.split_at_mut(c);
    for ch in 0..c {
        let (mut a, mut b) = (Lanes::default(), Lanes::default());
        for s in 0..n {
            let i = (s * c + ch) * hw;
            a.add(&dy[i..i + hw], f64::from);
            b.add_products(&dy[i..i + hw], &xhat[i..i + hw]);
        }
        sum_dy[ch] = a.total();
        sum_dy_xhat[ch] = b.total();
    }
    let Grads { weight, bias } = grads;
    if let Some(dgamma) = weight {
        for (d, &s) in dgamma[..c].iter_mut().zip(sum_dy_xhat.iter()) {
            *d += s as f32;
        }
    }
    if let Some(dbeta) = bias {
        for (d, &s) in dbeta[..c].iter_mut().zip(sum_dy.iter()) {
            *d += s as f32;
        }
    }
    let Some(dx) = dx else {
        return;
    };
    check_len("batch_norm input gradient", dx.len(), len);
    stats.reduce.all_reduce(stats.at + 2 * c + 1, sums);
    let (sum_dy, sum_dy_xhat) = sums.split_at(c);
    for ch in 0..c {
        let inv_std = 1.0 / math::sqrt(var[ch] as f32 + l.eps);
        let (mean_dy, mean_dy_xhat) = (
            (sum_dy[ch] / total) as f32,
            (sum_dy_xhat[ch] / total) as f32,
        );
        let scale = gamma[ch] * inv_std;
        for s in 0..n {
            let i = (s * c + ch) * hw;
            for ((d, &g), &h) in dx[i..i + hw]
                .iter_mut()
                .zip(&dy[i..i + hw])
                .zip(&xhat[i..i + hw])
            {
                *d = scale * (g - mean_dy - h * mean_dy_xhat);
            }
        }
    }
}

/// After a step: moves the running statistics towards the step's batch
/// statistics (`stats`, as [`forward_train`] left them) and counts the
/// batch.
pub fn update_running(l: &BatchNorm, running: RunningMut, stats: &[f64]) {
    let c = l.channels;
    let (mean, total, var) = (&stats[..c], stats[c], &stats[c + 1..2 * c + 1]);
    let m = l.momentum;
    let bessel = if total > 1.0 {
        total / (total - 1.0)
    } else {
        1.0
    };
    for ch in 0..c {
        running.mean[ch] = (1.0 - m) * running.mean[ch] + m * mean[ch] as f32;
        running.var[ch] = (1.0 - m) * running.var[ch] + m * (var[ch] * bessel) as f32;
    }
    running.batches[0] += 1.0;
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
    let (c, hw) = (l.channels, l.hw);
    check_len("batch_norm input", x.len(), n * c * hw);
    check_len("batch_norm output", y.len(), n * c * hw);
    for ch in 0..c {
        let (scale, shift) = running_affine(l, p, running, ch);
        for s in 0..n {
            let i = (s * c + ch) * hw;
            for (o, &v) in y[i..i + hw].iter_mut().zip(&x[i..i + hw]) {
                *o = v * scale + shift;
            }
        }
    }
}

/// Channel `ch`'s `(scale, shift)` from the running statistics
/// (`cnn_spec::batch_norm_affine`): inference mode's `y = x scale + shift`.
#[inline]
fn running_affine(l: &BatchNorm, p: Affine, running: Running, ch: usize) -> (f32, f32) {
    cnn_spec::batch_norm_affine(
        p.gamma[ch],
        p.beta[ch],
        running.mean[ch],
        running.var[ch],
        l.eps,
    )
}

/// Forward pass in inference mode
/// ([`StepContext::inference_mode`](crate::layout::StepContext::inference_mode)):
/// `y` as [`forward_eval`] writes it (the same bits), from the running
/// statistics, and `xhat = (x - running_mean) / sqrt(running_var + eps)`
/// kept for [`backward_frozen`]. No statistics are taken.
pub fn forward_frozen(l: &BatchNorm, p: Affine, running: Running, io: TrainIo) {
    let (c, hw) = (l.channels, l.hw);
    let TrainIo { x, y, xhat, n } = io;
    check_len("batch_norm saved input", xhat.len(), n * c * hw);
    forward_eval(l, p, running, x, y, n);
    for ch in 0..c {
        let inv_std = 1.0 / math::sqrt(running.var[ch] + l.eps);
        let m = running.mean[ch];
        for s in 0..n {
            let i = (s * c + ch) * hw;
            for (h, &v) in xhat[i..i + hw].iter_mut().zip(&x[i..i + hw]) {
                *h = (v - m) * inv_std;
            }
        }
    }
}

/// Backward pass of [`forward_frozen`]: the statistics are constants, so
/// the layer is the affine map `y = x scale + shift` of [`forward_eval`]
/// and `dx = dy scale`; adds `dgamma = sum dy xhat` and `dbeta = sum dy`
/// into `grads` (the weight and bias of [`Grads`]).
pub fn backward_frozen(l: &BatchNorm, p: Affine, running: Running, io: BackwardIo, grads: Grads) {
    let (c, hw) = (l.channels, l.hw);
    let BackwardIo { xhat, dy, dx, n } = io;
    let len = n * c * hw;
    check_len("batch_norm saved input", xhat.len(), len);
    check_len("batch_norm output gradient", dy.len(), len);
    let Grads { weight, bias } = grads;
    let (mut dgamma, mut dbeta) = (weight, bias);
    for ch in 0..c {
        let (mut a, mut b) = (0.0f64, 0.0f64);
        for s in 0..n {
            let i = (s * c + ch) * hw;
            for (&g, &h) in dy[i..i + hw].iter().zip(&xhat[i..i + hw]) {
                a += f64::from(g);
                b += f64::from(g) * f64::from(h);
            }
        }
        if let Some(d) = dgamma.as_deref_mut() {
            d[ch] += b as f32;
        }
        if let Some(d) = dbeta.as_deref_mut() {
            d[ch] += a as f32;
        }
    }
    let Some(dx) = dx else {
        return;
    };
    check_len("batch_norm input gradient", dx.len(), len);
    for ch in 0..c {
        let (scale, _) = running_affine(l, p, running, ch);
        for s in 0..n {
            let i = (s * c + ch) * hw;
            for (d, &g) in dx[i..i + hw].iter_mut().zip(&dy[i..i + hw]) {
                *d = g * scale;
            }
        }
    }
}

/// A whole training step in one part, for tests and tools: [`forward_train`]
/// then [`update_running`] on `stats` (the layer's [`stats_len`] values).
pub fn forward_train_alone(
    l: &BatchNorm,
    p: Affine,
    io: TrainIo,
    stats: &mut [f64],
    running: RunningMut,
) {
    forward_train(
        l,
        p,
        io,
        Stats {
            values: stats,
            reduce: &OnePart,
            at: 0,
        },
    );
    update_running(l, running, stats);
}
