//! The int8 dense kernel on the vector abstraction: outputs in the lanes.
//! For each group of four inputs of a sample, the four bytes (as `u8`,
//! `x + 128`) are broadcast and `vpdpbusd` multiplies them by the packed
//! weights `[ceil(I/4)][O][4]` of a vector of outputs. A block holds
//! `SB` samples by `OV` vectors of outputs in registers, so each weight
//! vector loaded feeds `SB` samples.

use cnn_spec::quant::tuning::{dense_output_vectors, dense_samples, DENSE_OUTPUT_BLOCKS};
use cnn_spec::quant::{BlobLayout, QDense};

use super::vector::{narrow, quad, QSimd};

/// `0x80` in each byte: `x + 128` of an int8 `x` as `u8` is `x ^ 0x80`.
const FLIP: i32 = 0x8080_8080_u32 as i32;

/// What a block reads.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    l: &'a QDense,
    blob: &'a [u8],
    t: BlobLayout,
    x: &'a [i8],
}

/// The dense layer of the samples of `x` (`[n, I]`) into `y` (`[n, O]`).
#[inline(always)]
pub fn dense<S: QSimd>(s: S, l: &QDense, blob: &[u8], x: &[i8], y: &mut [i8]) {
    let n = x.len() / l.inputs;
    let cx = Ctx {
        l,
        blob,
        t: l.layout(),
        x,
    };
    let mut i = 0;
    while i < n {
        let sb = dense_samples(n - i);
        let mut o0 = 0;
        while o0 < l.outputs {
            let left = (l.outputs - o0).div_ceil(S::LANES);
            let most = dense_output_vectors(S::LANES, sb).min(left);
            let ov = DENSE_OUTPUT_BLOCKS
                .into_iter()
                .find(|&b| b <= most)
                .unwrap_or(1);
            match (sb, ov) {
                (4, 4) => block::<S, 4, 4>(s, &cx, y, i, o0),
                (4, 3) => block::<S, 4, 3>(s, &cx, y, i, o0),
                (4, 2) => block::<S, 4, 2>(s, &cx, y, i, o0),
                (4, 1) => block::<S, 4, 1>(s, &cx, y, i, o0),
                (2, 6) => block::<S, 2, 6>(s, &cx, y, i, o0),
                (2, 4) => block::<S, 2, 4>(s, &cx, y, i, o0),
                (2, 3) => block::<S, 2, 3>(s, &cx, y, i, o0),
                (2, 2) => block::<S, 2, 2>(s, &cx, y, i, o0),
                (2, 1) => block::<S, 2, 1>(s, &cx, y, i, o0),
                (1, 8) => block::<S, 1, 8>(s, &cx, y, i, o0),
                (1, 6) => block::<S, 1, 6>(s, &cx, y, i, o0),
                (1, 4) => block::<S, 1, 4>(s, &cx, y, i, o0),
                (1, 3) => block::<S, 1, 3>(s, &cx, y, i, o0),
                (1, 2) => block::<S, 1, 2>(s, &cx, y, i, o0),
                (1, 1) => block::<S, 1, 1>(s, &cx, y, i, o0),
                (sb, ov) => unreachable!("a block of {sb} samples by {ov} vectors"),
            }
            o0 += ov * S::LANES;
        }
        i += sb;
    }
}

/// Samples `i..i + SB` by outputs `o0..o0 + OV * LANES` (fewer at the end).
#[inline(always)]
fn block<S: QSimd, const SB: usize, const OV: usize>(
    s: S,
    cx: &Ctx,
    y: &mut [i8],
    i: usize,
    o0: usize,
) {
    let (l, t) = (cx.l, cx.t);
    let (inputs, outputs) = (l.inputs, l.outputs);
    let w = &cx.blob[..t.weight_len];
    let nk: [usize; OV] =
        core::array::from_fn(|v| outputs.saturating_sub(o0 + v * S::LANES).min(S::LANES));
    let xs: [&[i8]; SB] = core::array::from_fn(|b| &cx.x[(i + b) * inputs..][..inputs]);
    let mut acc = [[s.zero(); OV]; SB];
    for g in 0..l.input_groups() {
        let base = (g * outputs + o0) * 4;
        // (A loop, not `array::from_fn`: its closure would not inherit the
        // target features.)
        let mut wv = [s.zero(); OV];
        for v in 0..OV {
            wv[v] = s.load_part(&w[base + 4 * v * S::LANES..], nk[v]);
        }
        for b in 0..SB {
            let xq = s.splat(quad(xs[b], 4 * g) ^ FLIP);
            for v in 0..OV {
                acc[b][v] = s.dpbusd(acc[b][v], xq, wv[v]);
            }
        }
    }
    let r = l.requant();
    for v in 0..OV {
        let o = o0 + v * S::LANES;
        let table = |at: usize| s.load_part(&cx.blob[at + 4 * o..], nk[v]);
        let (bias, q, shift) = (table(t.bias), table(t.multiplier), table(t.shift));
        for (b, row) in acc.iter().enumerate() {
            let z = narrow(s, s.add(row[v], bias), q, shift, r);
            s.store_i8(z, &mut y[(i + b) * outputs + o..], nk[v]);
        }
    }
}
