//! Fully connected ("dense", "inner product") layers.
//!
//! Forward `y[s, o] = act(b[o] + sum_i w[o, i] x[s, i])` with `w` as
//! `[outputs, inputs]` (PyTorch's `Linear`). Each output is one dot product
//! whose order of summation does not depend on the batch size, so a sample
//! gets bit-identical results alone or in a batch.
//!
//! Backward, with `dz = dy * act'`: `db += sum_s dz`, `dw += dz^T x`,
//! `dx = dz w`.

use super::gemm::{sgemm, Layout};
use super::{check_len, Dense};
use crate::simd;

/// Forward pass of `n` samples: `x` is `[n, inputs]`, `y` is `[n, outputs]`.
/// `mask` receives the ReLU mask when training.
pub fn forward(
    l: &Dense,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
    mask: Option<&mut [u8]>,
    n: usize,
) {
    check_len("dense input", x.len(), n * l.inputs);
    check_len("dense output", y.len(), n * l.outputs);
    check_len("dense weight", w.len(), l.inputs * l.outputs);
    let y = &mut y[..n * l.outputs];
    simd::dense_forward(l.inputs, l.outputs, &x[..n * l.inputs], w, b, y);
    super::activation::forward_in_place(l.act, y, mask);
}

/// Backward pass of `n` samples. `dy` is overwritten with the gradient
/// before the activation; `y`/`mask` are what [`forward`] kept.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    l: &Dense,
    x: &[f32],
    w: &[f32],
    y: Option<&[f32]>,
    mask: Option<&[u8]>,
    dy: &mut [f32],
    dx: Option<&mut [f32]>,
    dw: Option<&mut [f32]>,
    db: Option<&mut [f32]>,
    n: usize,
) {
    check_len("dense input", x.len(), n * l.inputs);
    check_len("dense output gradient", dy.len(), n * l.outputs);
    let (i, o) = (l.inputs, l.outputs);
    let dz = &mut dy[..n * o];
    super::activation::backward_in_place(l.act, y, mask, dz);
    if let Some(db) = db {
        for s in 0..n {
            for (acc, &g) in db[..o].iter_mut().zip(&dz[s * o..][..o]) {
                *acc += g;
            }
        }
    }
    if let Some(dw) = dw {
        // dw [o x i] += dz^T [o x n] * x [n x i]
        sgemm(
            dz,
            Layout::transposed(o, n),
            x,
            Layout::row_major(n, i),
            1.0,
            dw,
            Layout::row_major(o, i),
        );
    }
    if let Some(dx) = dx {
        // dx [n x i] = dz [n x o] * w [o x i]
        sgemm(
            dz,
            Layout::row_major(n, o),
            w,
            Layout::row_major(o, i),
            0.0,
            dx,
            Layout::row_major(n, i),
        );
    }
}
