//! Softmax over the features of each sample.
//!
//! Forward `y_i = e^{x_i - max x} / sum_j e^{x_j - max x}`; backward
//! `dx = y * (dy - sum(dy * y))`. With cross-entropy the trainer skips this
//! layer and uses the combined gradient `p - onehot` (see `train::Loss`).

use cnn_spec::math;

/// `y = softmax(x)` for each of the `n` rows of `classes` values.
/// A NaN anywhere in a row makes the whole row NaN.
pub fn forward(classes: usize, x: &[f32], y: &mut [f32], n: usize) {
    for s in 0..n {
        let xs = &x[s * classes..][..classes];
        let ys = &mut y[s * classes..][..classes];
        row(xs, ys);
    }
}

/// Softmax of one row.
pub fn row(xs: &[f32], ys: &mut [f32]) {
    let mut max = f32::NEG_INFINITY;
    let mut nan = false;
    for &v in xs {
        nan |= v.is_nan();
        if v > max {
            max = v;
        }
    }
    if nan {
        ys.fill(f32::NAN);
        return;
    }
    let mut sum = 0.0f32;
    for (o, &v) in ys.iter_mut().zip(xs) {
        *o = math::exp(v - max);
        sum += *o;
    }
    let inv = 1.0 / sum;
    for o in ys.iter_mut() {
        *o *= inv;
    }
}

/// `dx = y * (dy - sum(dy * y))` for each row.
pub fn backward(classes: usize, y: &[f32], dy: &[f32], dx: &mut [f32], n: usize) {
    for s in 0..n {
        let ys = &y[s * classes..][..classes];
        let dys = &dy[s * classes..][..classes];
        let dxs = &mut dx[s * classes..][..classes];
        let dot: f32 = ys.iter().zip(dys).map(|(a, b)| a * b).sum();
        for ((d, &yv), &g) in dxs.iter_mut().zip(ys).zip(dys) {
            *d = yv * (g - dot);
        }
    }
}
