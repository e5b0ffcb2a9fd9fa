//! The output gradients of the layers inside fused steps, for a
//! [`GradTap`](crate::layout::GradTap). A fused step stores only its last
//! layer's output; the gradients of the others' outputs are computed from
//! the step's output gradient and what the step keeps for its backward
//! pass (argmax bytes, a ReLU mask, the activation's output), and only
//! for the layers a tap asks for: a training step without a tap returns
//! at once.

use super::region::Region;
use crate::layout::StepContext;
use crate::ops::{activation, fused, Conv, Dense};

/// The values of `n` samples of one tensor (a step's output or its
/// gradient) wherever they lie: a region of an arena, a slot of a
/// concatenation, or a caller's buffer.
#[derive(Clone, Copy, Debug)]
pub struct Samples<'a> {
    buf: &'a [f32],
    n: usize,
    /// Values from one sample's start to the next's.
    stride: usize,
    /// Where each sample's values start, from its part of `buf`.
    offset: usize,
    /// Values per sample.
    len: usize,
}

impl<'a> Samples<'a> {
    /// The value at region `at` of the arena `buf` of `n` samples.
    #[inline]
    pub fn region(buf: &'a [f32], n: usize, at: Region) -> Self {
        let len = at.end - at.start;
        Samples {
            buf: &buf[at.scaled(n)],
            n,
            stride: len,
            offset: 0,
            len,
        }
    }

    /// The value filling slot `at` of the concatenation at `concat` in the
    /// arena `buf` of `n` samples.
    #[inline]
    pub fn slot(buf: &'a [f32], n: usize, concat: Region, at: Region) -> Self {
        Samples {
            buf: &buf[concat.scaled(n)],
            n,
            stride: concat.end - concat.start,
            offset: at.start - concat.start,
            len: at.end - at.start,
        }
    }

    /// `n` samples of `len` values side by side at the start of `buf`.
    #[inline]
    pub fn whole(buf: &'a [f32], n: usize, len: usize) -> Self {
        Samples {
            buf: &buf[..n * len],
            n,
            stride: len,
            offset: 0,
            len,
        }
    }

    /// Sample `s`'s values.
    #[inline]
    pub fn sample(&self, s: usize) -> &'a [f32] {
        &self.buf[s * self.stride + self.offset..][..self.len]
    }
}

/// Hands the output gradients of the layers a fused conv step computes
/// before its last to the context's tap, if it has one. `layers` are
/// their indices in `LAYERS`: the conv's and, with a fused max-pool, the
/// ReLU's. `dy` is the step's output gradient, `aux` (`[n, step output]`)
/// the argmax bytes (with a max-pool) or the ReLU mask (without) that the
/// forward pass kept.
///
/// The conv's gradient is that before the ReLU (the layer's own output);
/// see [`fused::conv_output_grad`] and [`fused::relu_output_grad`].
pub fn tap_conv(ctx: &StepContext<'_>, l: &Conv, layers: &[usize], dy: Samples<'_>, aux: &[u8]) {
    let Some(tap) = ctx.grad_tap else {
        return;
    };
    let len = dy.len;
    for s in 0..dy.n {
        let (dys, aux) = (dy.sample(s), &aux[s * len..][..len]);
        match (l.pool.is_some(), layers) {
            (true, &[conv, relu]) => {
                tap.inner_grad(conv, s, &mut |dz| fused::conv_output_grad(l, aux, dys, dz));
                tap.inner_grad(relu, s, &mut |dr| fused::relu_output_grad(l, aux, dys, dr));
            }
            (false, &[conv]) => tap.inner_grad(conv, s, &mut |dz| {
                activation::backward(l.act, None, Some(aux), dys, dz)
            }),
            _ => panic!("a fused conv step computes a conv, a ReLU and maybe a max-pool"),
        }
    }
}

/// Hands the output gradient of the dense layer of a fused dense →
/// activation step to the context's tap, if it wants it: the step's
/// output gradient `dy` times the activation's derivative, from the
/// step's output `y` (sigmoid, tanh) or ReLU mask `aux` (`[n, units]`).
/// `layer` is the dense layer's index in `LAYERS`.
pub fn tap_dense(
    ctx: &StepContext<'_>,
    l: &Dense,
    layer: usize,
    dy: Samples<'_>,
    y: Option<Samples<'_>>,
    aux: Option<&[u8]>,
) {
    let Some(tap) = ctx.grad_tap else {
        return;
    };
    let len = dy.len;
    for s in 0..dy.n {
        let dys = dy.sample(s);
        let ys = y.map(|y| y.sample(s));
        let mask = aux.map(|a| &a[s * len..][..len]);
        tap.inner_grad(layer, s, &mut |dz| {
            activation::backward(l.act, ys, mask, dys, dz)
        });
    }
}
