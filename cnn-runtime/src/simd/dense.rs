//! The dense (fully connected) forward kernel: `y[s, o] = b[o] + dot(w[o],
//! x[s])`, several samples and outputs per block so each vector loaded
//! feeds several dot products. Every dot product is summed alone, in the
//! same order whatever the batch size or the grouping, so a sample gets
//! bit-identical results alone or in a batch.

use cnn_spec::tuning::{dense_output_block, dense_sample_block};

use super::vector::Simd;

/// The loop invariants of [`dense_forward`].
#[derive(Clone, Copy)]
struct DenseCtx<'a> {
    inputs: usize,
    outputs: usize,
    /// `[n, inputs]`.
    x: &'a [f32],
    /// `[outputs, inputs]`.
    w: &'a [f32],
    /// `[outputs]`.
    b: Option<&'a [f32]>,
}

/// `y[s, o] = b[o] + dot(w[o], x[s])` for every sample `s` of `x`
/// (`[n, inputs]`); `w` is `[outputs, inputs]`, `y` `[n, outputs]`.
#[inline(always)]
pub fn dense_forward<S: Simd>(
    s: S,
    inputs: usize,
    outputs: usize,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    y: &mut [f32],
) {
    let n = match x.len().checked_div(inputs) {
        Some(n) => n,
        None => y.len() / outputs.max(1),
    };
    let cx = DenseCtx {
        inputs,
        outputs,
        x,
        w,
        b,
    };
    let mut i = 0;
    while i < n {
        let sb = dense_sample_block(S::LANES, n - i);
        let mut o = 0;
        while o < outputs {
            let ob = dense_output_block(sb, outputs - o);
            match (sb, ob) {
                (4, 4) => dense_block::<S, 4, 4>(s, &cx, y, i, o),
                (4, 1) => dense_block::<S, 4, 1>(s, &cx, y, i, o),
                (2, 8) => dense_block::<S, 2, 8>(s, &cx, y, i, o),
                (2, 4) => dense_block::<S, 2, 4>(s, &cx, y, i, o),
                (2, 1) => dense_block::<S, 2, 1>(s, &cx, y, i, o),
                (1, 8) => dense_block::<S, 1, 8>(s, &cx, y, i, o),
                (1, 4) => dense_block::<S, 1, 4>(s, &cx, y, i, o),
                (1, 1) => dense_block::<S, 1, 1>(s, &cx, y, i, o),
                _ => unreachable!("a block of {sb} samples by {ob} outputs"),
            }
            o += ob;
        }
        i += sb;
    }
}

/// Samples `i..i + SB` by outputs `o..o + OB`.
#[inline(always)]
fn dense_block<S: Simd, const SB: usize, const OB: usize>(
    s: S,
    cx: &DenseCtx,
    y: &mut [f32],
    i: usize,
    o: usize,
) {
    let (inputs, outputs) = (cx.inputs, cx.outputs);
    let l = S::LANES;
    let xs: [&[f32]; SB] =
        core::array::from_fn(|sb| &cx.x[(i + sb) * inputs..(i + sb + 1) * inputs]);
    let ws: [&[f32]; OB] =
        core::array::from_fn(|ob| &cx.w[(o + ob) * inputs..(o + ob + 1) * inputs]);
    let mut acc = [[s.zero(); OB]; SB];
    let full = inputs / l * l;
    let mut k = 0;
    while k < full {
        let xv: [S::V; SB] = core::array::from_fn(|sb| s.load(&xs[sb][k..]));
        for ob in 0..OB {
            let wv = s.load(&ws[ob][k..]);
            for sb in 0..SB {
                acc[sb][ob] = s.mul_add(wv, xv[sb], acc[sb][ob]);
            }
        }
        k += l;
    }
    if k < inputs {
        let n = inputs - k;
        let xv: [S::V; SB] = core::array::from_fn(|sb| s.load_part(&xs[sb][k..], n));
        for ob in 0..OB {
            let wv = s.load_part(&ws[ob][k..], n);
            for sb in 0..SB {
                acc[sb][ob] = s.mul_add(wv, xv[sb], acc[sb][ob]);
            }
        }
    }
    for sb in 0..SB {
        for ob in 0..OB {
            y[(i + sb) * outputs + o + ob] = cx.b.map_or(0.0, |b| b[o + ob]) + s.sum(acc[sb][ob]);
        }
    }
}
