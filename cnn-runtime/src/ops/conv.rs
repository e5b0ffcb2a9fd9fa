//! 2-D convolution, forward and backward, by three algorithms.
//!
//! Forward, for each sample: `z[k, oy, ox] = b[k] + sum_{c, ky, kx}
//! w[k, c, ky, kx] x[c, oy*sh + ky - ph, ox*sw + kx - pw]` (zero outside the
//! input), then `y = act(z)`. With groups, output channel block `i` reads
//! input channel block `i` only (see [`Conv`]).
//!
//! Backward, with `dz = dy * act'(y)`: `db[k] += sum dz[k, ..]`,
//! `dw[k, c, ky, kx] += sum_{oy, ox} dz[k, oy, ox] x[c, iy, ix]` and
//! `dx[c, iy, ix] = sum w[k, c, ky, kx] dz[k, oy, ox]`.
//!
//! The algorithm is [`Conv::algo`] (chosen by `cnn_spec::choose_algo`:
//! direct, im2col, 1x1 GEMM or Winograd), the entry point
//! [`Conv::kernel`]'s; the scratch each needs is
//! [`forward_scratch`] / [`backward_scratch`]. A fused max-pool
//! ([`Conv::pool`]) is handled by [`super::fused`].

pub use cnn_spec::scratch::{backward_scratch, direct_pack_len, forward_scratch};
pub use cnn_spec::tuning::CV_MAX_PACKED;

use core::ops::Range;

use cnn_spec::{Conv, ConvAlgo, ConvGeom, ConvKernel, MAX_LANES};

use super::activation;
use super::args::{check_len, Backward, Forward, Grads, Params};
use super::conv_sample::{backward_sample, conv_sample, transpose_weights, BackwardWeights};
pub use super::conv_sample::{col2im, im2col, im2col_packed};
use super::fused;
use super::groups::{self, ForwardFn, InferFn};
use super::threads::{self, Split};
use crate::simd::{self, ConvGrads, ConvWeights};

/// Forward pass of `n` samples: `io.x` is `[n, C, H, W]`, `io.y`
/// `[n, K, OH, OW]` (or the pooled shape when `l.pool` is set); `io.aux`
/// receives the ReLU mask (or with a fused pool the argmax of each window)
/// for training. `scratch` holds [`forward_scratch`] floats.
///
/// Runs the kernel [`Conv::kernel`] names; generated code calls that
/// kernel's own entry point ([`forward_direct`], [`forward_im2col`],
/// [`forward_pointwise`], [`forward_winograd`], [`super::fused`]'s) so that a binary links only
/// the kernels its network uses.
pub fn forward(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    match l.kernel() {
        ConvKernel::Direct => forward_direct(l, p, io, scratch),
        ConvKernel::Im2col => forward_im2col(l, p, io, scratch),
        ConvKernel::Pointwise => forward_pointwise(l, p, io, scratch),
        ConvKernel::Winograd => forward_winograd(l, p, io, scratch),
        ConvKernel::FusedDirectDisjoint | ConvKernel::FusedDirectPlane | ConvKernel::FusedBand => {
            fused::conv_max_pool_forward(l, p, io, scratch)
        }
    }
}

/// [`forward`] by direct convolution (no pool).
#[inline(always)]
pub fn forward_direct(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    let kernels = (direct_infer as InferFn, direct_train as ForwardFn);
    groups::dispatch_forward(l, p, io, scratch, kernels)
}

/// [`forward`] by im2col and GEMM (no pool).
#[inline(always)]
pub fn forward_im2col(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    let kernels = (im2col_infer as InferFn, im2col_train as ForwardFn);
    groups::dispatch_forward(l, p, io, scratch, kernels)
}

/// [`forward`] by 1x1 GEMM (no pool).
#[inline(always)]
pub fn forward_pointwise(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    let kernels = (pointwise_infer as InferFn, pointwise_train as ForwardFn);
    groups::dispatch_forward(l, p, io, scratch, kernels)
}

/// [`forward`] by Winograd's F(4x4, 3x3) (no pool; see [`super::winograd`]).
#[inline(always)]
pub fn forward_winograd(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    let kernels = (winograd_infer as InferFn, winograd_train as ForwardFn);
    groups::dispatch_forward(l, p, io, scratch, kernels)
}

/// [`forward_winograd`] at inference with the weights transformed once for
/// the layer's lifetime (`u`: `cnn_spec::winograd::transform_weights` of
/// `p.weight`, `[36][k][c]`), as a network's inference parameters hold
/// them: one group, no mask kept. `scratch` holds
/// `cnn_spec::winograd::prepared_scratch_len` floats: the transformed
/// weights' share of [`forward_winograd`]'s is not needed.
pub fn forward_winograd_prepared(l: &Conv, p: Params, u: &[f32], io: Forward, scratch: &mut [f32]) {
    assert!(
        l.groups == 1 && io.aux.is_none(),
        "conv: prepared Winograd weights are for one group at inference ({} groups, mask {})",
        l.groups,
        if io.aux.is_some() { "kept" } else { "not kept" }
    );
    let Forward { x, y, n, .. } = io;
    super::winograd::forward_prepared(&l.geom, (p, u), x, y, scratch, n);
    activation::forward_in_place(l.act, &mut y[..n * l.geom.out_len()], None);
}

/// The instantiations of the one-group kernel [`unfused`] that
/// [`groups::dispatch_forward`] runs, by algorithm.
macro_rules! infer_and_train {
    ($($algo:ident: $infer:ident, $train:ident;)*) => {$(
        fn $infer(
            l: &Conv,
            x: &[f32],
            weight: &[f32],
            bias: Option<&[f32]>,
            y: &mut [f32],
            scratch: &mut [f32],
            n: usize,
        ) {
            let io = Forward { x, y, aux: None, n };
            unfused::<false>(l, ConvAlgo::$algo, Params { weight, bias }, io, scratch)
        }

        fn $train(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
            unfused::<true>(l, ConvAlgo::$algo, p, io, scratch)
        }
    )*};
}

infer_and_train! {
    Direct: direct_infer, direct_train;
    Im2col: im2col_infer, im2col_train;
    Pointwise: pointwise_infer, pointwise_train;
    Winograd: winograd_infer, winograd_train;
}

/// The unfused forward pass of one group by `algo`, then the activation.
#[inline(always)]
fn unfused<const TRAIN: bool>(
    l: &Conv,
    algo: ConvAlgo,
    p: Params,
    io: Forward,
    scratch: &mut [f32],
) {
    let g = &l.geom;
    let Forward { x, y, aux, n } = io;
    let aux = if TRAIN { aux } else { None };
    check_len("conv input", x.len(), n * g.in_len());
    check_len("conv output", y.len(), n * g.out_len());
    check_len("conv weight", p.weight.len(), g.weight_len());
    check_len("conv scratch", scratch.len(), forward_scratch(l));
    if algo == ConvAlgo::Direct {
        let parts = threads::direct_parts(g);
        if parts > 1 {
            let io = Forward {
                x,
                y: &mut *y,
                aux: None,
                n,
            };
            direct_by_channels(g, p, io, scratch, parts);
        } else {
            // The direct kernels take the whole batch (packing once).
            let params = ConvWeights {
                w: p.weight,
                b: p.bias,
            };
            simd::conv_direct(g, params, x, y, scratch, n);
        }
    } else if algo == ConvAlgo::Winograd {
        // The weights are transformed once for the batch.
        super::winograd::forward(g, p, x, y, scratch, n);
    } else {
        for s in 0..n {
            let xs = &x[s * g.in_len()..][..g.in_len()];
            let ys = &mut y[s * g.out_len()..][..g.out_len()];
            conv_sample(g, algo, xs, p, ys, scratch);
        }
    }
    let y = &mut y[..n * g.out_len()];
    match aux {
        Some(mask) => activation::forward_in_place(l.act, y, Some(&mut mask[..y.len()])),
        None => activation::forward_in_place(l.act, y, None),
    }
}

/// The direct convolution of each sample with its output channels split
/// into `parts` between threads (`threads::direct_parts`); every part
/// packs its own weights into its share of `scratch`.
fn direct_by_channels(g: &ConvGeom, p: Params, io: Forward, scratch: &mut [f32], parts: usize) {
    let (patch, pixels) = (g.patch_len(), g.out_pixels());
    let split = Split {
        parts,
        align: MAX_LANES,
    };
    for s in 0..io.n {
        let xs = &io.x[s * g.in_len()..][..g.in_len()];
        let ys = &mut io.y[s * g.out_len()..][..g.out_len()];
        let run = |k: Range<usize>, yk: &mut [f32], scratch: &mut [f32]| {
            let part = ConvGeom { k: k.len(), ..*g };
            let params = ConvWeights {
                w: &p.weight[k.start * patch..k.end * patch],
                b: p.bias.map(|b| &b[k]),
            };
            simd::conv_direct(&part, params, xs, yk, scratch, 1);
        };
        threads::for_row_parts_with((ys, pixels), (scratch, patch), g.k, split, &run);
    }
}

/// Backward pass of `n` samples: `w` is the weights; `io.x` the forward
/// input, `io.y` the forward output (sigmoid and tanh only), `io.aux` what
/// the forward pass kept; `io.dy` (`[n, K, OH, OW]`, or pooled) is
/// overwritten with the gradient before the activation. Adds into `g`'s
/// weight and bias gradients; writes `io.dx`. With a fused pool
/// ([`Conv::pool`]) this runs [`super::fused::conv_max_pool_backward`].
/// `scratch` holds [`backward_scratch`] floats.
pub fn backward(l: &Conv, w: &[f32], io: Backward, g: Grads, scratch: &mut [f32]) {
    if l.pool.is_some() {
        fused::conv_max_pool_backward(l, w, io, g, scratch)
    } else if l.groups == 1 {
        backward_group(l, w, io, g, scratch)
    } else {
        groups::backward(l, w, io, g, scratch, backward_group)
    }
}

/// The unfused backward pass of one group.
fn backward_group(l: &Conv, w: &[f32], io: Backward, grads: Grads, scratch: &mut [f32]) {
    let g = &l.geom;
    let Backward {
        x,
        y,
        aux,
        dy,
        dx,
        n,
    } = io;
    check_len("conv input", x.len(), n * g.in_len());
    check_len("conv output gradient", dy.len(), n * g.out_len());
    check_len("conv scratch", scratch.len(), backward_scratch(l));
    let dy = &mut dy[..n * g.out_len()];
    activation::backward_in_place(l.act, y, aux, dy);
    let algo = l.backward_algo();
    let wt_len = if algo == ConvAlgo::Direct {
        0
    } else {
        g.weight_len()
    };
    let (scratch, wt) = scratch[..backward_scratch(l)].split_at_mut(backward_scratch(l) - wt_len);
    let wt = match dx {
        Some(_) if wt_len > 0 => transpose_weights(g, w, wt),
        _ => &[],
    };
    let (mut dx, mut dw, mut db) = (dx, grads.weight, grads.bias);
    for s in 0..n {
        let xs = &x[s * g.in_len()..][..g.in_len()];
        let dz = &dy[s * g.out_len()..][..g.out_len()];
        let grads = ConvGrads {
            dx: dx
                .as_deref_mut()
                .map(|d| &mut d[s * g.in_len()..][..g.in_len()]),
            dw: dw.as_deref_mut(),
            db: db.as_deref_mut(),
        };
        backward_sample(g, algo, xs, BackwardWeights { w, wt }, dz, grads, scratch);
    }
}
