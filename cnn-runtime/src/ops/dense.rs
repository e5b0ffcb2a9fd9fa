//! Fully connected ("dense", "inner product") layers.
//!
//! Forward `y[s, o] = act(b[o] + sum_i w[o, i] x[s, i])` with `w` as
//! `[outputs, inputs]` (PyTorch's `Linear`). Each output is one dot product
//! whose order of summation does not depend on the batch size, so a sample
//! gets bit-identical results alone or in a batch.
//!
//! Backward, with `dz = dy * act'`: `db += sum_s dz`, `dw += dz^T x`,
//! `dx = dz w`.

use core::ops::Range;

use cnn_spec::tuning::dense_output_block;
use cnn_spec::Dense;

use super::activation;
use super::args::{check_len, Backward, Forward, Grads, Params};
use super::gemm::{sgemm, Layout};
use super::threads::{self, Split};
use crate::simd;

/// Forward pass of `n` samples: `io.x` is `[n, inputs]`, `io.y`
/// `[n, outputs]`; `io.aux` receives the ReLU mask when training.
#[inline(always)]
pub fn forward(l: &Dense, p: Params, io: Forward) {
    // Inference calls (no mask) run an instantiation without the mask,
    // with every buffer its own argument.
    match io.aux {
        None => infer(l, io.x, p.weight, p.bias, io.y, io.n),
        Some(_) => train(l, p, io),
    }
}

/// [`forward`] without the mask.
fn infer(l: &Dense, x: &[f32], weight: &[f32], bias: Option<&[f32]>, y: &mut [f32], n: usize) {
    let io = Forward { x, y, aux: None, n };
    forward_with::<false>(l, Params { weight, bias }, io)
}

/// [`forward`] with the mask.
fn train(l: &Dense, p: Params, io: Forward) {
    forward_with::<true>(l, p, io)
}

/// [`forward`]; `TRAIN`: whether the call may write the ReLU mask.
#[inline(always)]
fn forward_with<const TRAIN: bool>(l: &Dense, p: Params, io: Forward) {
    let Forward { x, y, aux, n } = io;
    let aux = if TRAIN { aux } else { None };
    check_len("dense input", x.len(), n * l.inputs);
    check_len("dense output", y.len(), n * l.outputs);
    check_len("dense weight", p.weight.len(), l.weight_len());
    let y = &mut y[..n * l.outputs];
    let x = &x[..n * l.inputs];
    let (inputs, outputs) = (l.inputs, l.outputs);
    let macs = (n * inputs * outputs) as u64;
    let parts = threads::parts(macs, outputs);
    if n == 1 && parts > 1 {
        // One sample: its outputs split between the threads (each output
        // is its own dot product, so the split changes no value). Batches
        // already keep the threads busy with samples.
        let split = Split {
            parts,
            align: DENSE_OUTPUT_ALIGN,
        };
        threads::for_row_parts(
            y,
            1,
            outputs,
            split,
            &|o: Range<usize>, part: &mut [f32]| {
                let w = &p.weight[o.start * inputs..o.end * inputs];
                let b = p.bias.map(|b| &b[o.clone()]);
                simd::dense_forward(inputs, o.len(), x, w, b, part);
            },
        );
    } else {
        simd::dense_forward(inputs, outputs, x, p.weight, p.bias, y);
    }
    activation::forward_in_place(l.act, y, aux);
}

/// Output multiple at which a one-sample dense layer split between threads
/// divides its outputs: the kernel's widest block of outputs for one
/// sample.
const DENSE_OUTPUT_ALIGN: usize = dense_output_block(1, usize::MAX);

/// Backward pass of `n` samples: `w` is the weights; `io.dy` is
/// overwritten with the gradient before the activation; `io.y` and
/// `io.aux` are what [`forward`] kept (output for sigmoid and tanh, mask
/// for ReLU). Adds into `g`; writes `io.dx`.
pub fn backward(l: &Dense, w: &[f32], io: Backward, g: Grads) {
    let Backward {
        x,
        y,
        aux,
        dy,
        dx,
        n,
    } = io;
    check_len("dense input", x.len(), n * l.inputs);
    check_len("dense output gradient", dy.len(), n * l.outputs);
    let (i, o) = (l.inputs, l.outputs);
    let dz = &mut dy[..n * o];
    activation::backward_in_place(l.act, y, aux, dz);
    if let Some(db) = g.bias {
        for s in 0..n {
            for (acc, &g) in db[..o].iter_mut().zip(&dz[s * o..][..o]) {
                *acc += g;
            }
        }
    }
    if let Some(dw) = g.weight {
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
