//! Fused conv → act → 2x2 stride-2 max-pool of one sample, on the column-
//! and channel-vectorised convolutions. The conv values of each window are
//! computed by the same routines as the unfused kernels' (so fused and
//! unfused agree bit for bit), pooled in registers and never stored.
//! Training keeps one argmax byte per pooled output: the winning cell of
//! its window, or [`INACTIVE`].

use cnn_spec::tuning::{
    channel_vector_pool_windows, column_pool_channel_blocks, CHANNEL_VECTORS_PER_BLOCK,
};
use cnn_spec::variants::pack_column_weights;
use cnn_spec::{Act, INACTIVE, MAX_LANES};

use super::channels::{bias_vectors, cv_block};
use super::columns::accumulate_rows;
use super::ctx::{block_for, ConvCtx};
use super::pack::{pack_buf, pack_taps};
use crate::simd::args::{Filter, FusedPool};
use crate::simd::vector::Simd;

/// Column-vectorised (stride 1 along rows): two conv rows in registers,
/// pooled vertically, then horizontally by splitting even and odd columns.
#[inline(always)]
pub fn conv_relu_pool_2x2<S: Simd>(
    s: S,
    f: Filter,
    pool: FusedPool,
    xs: &[f32],
    ys: &mut [f32],
    argmax: Option<&mut [u8]>,
) {
    let g = f.g;
    if pack_column_weights(g, S::LANES) {
        let mut buf = pack_buf();
        let wt = pack_taps(g, f.w, g.k, &mut buf);
        let cx = ConvCtx {
            g,
            xs,
            w: wt,
            kpad: g.k,
            b: f.b,
        };
        column_blocks::<S, true>(s, &cx, pool, ys, argmax)
    } else {
        let cx = ConvCtx {
            g,
            xs,
            w: f.w,
            kpad: g.k,
            b: f.b,
        };
        column_blocks::<S, false>(s, &cx, pool, ys, argmax)
    }
}

#[inline(always)]
fn column_blocks<S: Simd, const PACKED: bool>(
    s: S,
    cx: &ConvCtx,
    pool: FusedPool,
    ys: &mut [f32],
    mut argmax: Option<&mut [u8]>,
) {
    let g = cx.g;
    let mut k0 = 0;
    while k0 < g.k {
        // 2 rows x KB channels x 2 vectors of accumulators in registers,
        // with room for the input vectors and weights.
        let kb = block_for(column_pool_channel_blocks(S::LANES), g.k - k0);
        for py in 0..pool.p.oh {
            let am = argmax.as_deref_mut();
            match kb {
                4 => column_windows::<S, 4, PACKED>(s, cx, pool, ys, am, py, k0),
                3 => column_windows::<S, 3, PACKED>(s, cx, pool, ys, am, py, k0),
                2 => column_windows::<S, 2, PACKED>(s, cx, pool, ys, am, py, k0),
                1 => column_windows::<S, 1, PACKED>(s, cx, pool, ys, am, py, k0),
                _ => unreachable!("a block of {kb} channels"),
            }
        }
        k0 += kb;
    }
}

/// Pooled row `py` of channels `k0..k0 + KB`, a vector of windows at a time.
#[inline(always)]
fn column_windows<S: Simd, const KB: usize, const PACKED: bool>(
    s: S,
    cx: &ConvCtx,
    pool: FusedPool,
    ys: &mut [f32],
    mut argmax: Option<&mut [u8]>,
    py: usize,
    k0: usize,
) {
    let (p, act) = (pool.p, pool.act);
    let l = S::LANES;
    let mut px0 = 0;
    while px0 < p.ow {
        let valid = (p.ow - px0).min(l);
        let bias: [S::V; KB] = core::array::from_fn(|kb| s.splat(cx.bias(k0 + kb)));
        // rows[0] and rows[1]: the window's top and bottom conv rows.
        let mut rows: [[[S::V; 2]; KB]; 2] = [core::array::from_fn(|kb| [bias[kb]; 2]); 2];
        accumulate_rows::<S, 2, KB, 2, PACKED>(s, cx, 2 * py, k0, 2 * px0, &mut rows);
        for (kb, (top, bottom)) in rows[0].iter().zip(&rows[1]).enumerate() {
            let (e0, o0) = s.deinterleave(top[0], top[1]);
            let (e1, o1) = s.deinterleave(bottom[0], bottom[1]);
            let at = ((k0 + kb) * p.oh + py) * p.ow + px0;
            match argmax.as_deref_mut() {
                None => {
                    let m = s.max_nan(s.max_nan(e0, o0), s.max_nan(e1, o1));
                    let m = if act == Act::Relu { s.relu(m) } else { m };
                    s.store_part(&mut ys[at..], valid, m);
                }
                Some(am) => {
                    let (mut best, mut arg) = (e0, s.zero());
                    (best, arg) = s.max_arg(best, arg, o0, s.splat(1.0));
                    (best, arg) = s.max_arg(best, arg, e1, s.splat(2.0));
                    (best, arg) = s.max_arg(best, arg, o1, s.splat(3.0));
                    let m = if act == Act::Relu { s.relu(best) } else { best };
                    s.store_part(&mut ys[at..], valid, m);
                    let mut args = [0.0f32; MAX_LANES];
                    s.store(&mut args, arg);
                    for (j, a) in args[..valid].iter().enumerate() {
                        let v = ys[at + j];
                        am[at + j] = arg_byte(act, v, *a);
                    }
                }
            }
        }
        px0 += l;
    }
}

/// Channel-vectorised (`cx.w` packed tap-major): the four conv outputs of
/// each window are vectors over channels, pooled with vector maxima.
#[inline(always)]
pub fn cv_relu_pool_2x2<S: Simd>(
    s: S,
    cx: &ConvCtx,
    pool: FusedPool,
    ys: &mut [f32],
    mut argmax: Option<&mut [u8]>,
) {
    let g = cx.g;
    let l = S::LANES;
    let mut k0 = 0;
    while k0 < g.k {
        let kv = ((g.k - k0).div_ceil(l)).min(CHANNEL_VECTORS_PER_BLOCK);
        let am = argmax.as_deref_mut();
        match (kv, channel_vector_pool_windows(l, kv)) {
            (1, 5) => cv_windows::<S, 5, 10, 20, 1>(s, cx, pool, ys, am, k0),
            (1, 2) => cv_windows::<S, 2, 4, 8, 1>(s, cx, pool, ys, am, k0),
            (2, 3) => cv_windows::<S, 3, 6, 12, 2>(s, cx, pool, ys, am, k0),
            (2, 1) => cv_windows::<S, 1, 2, 4, 2>(s, cx, pool, ys, am, k0),
            (3, 1) => cv_windows::<S, 1, 2, 4, 3>(s, cx, pool, ys, am, k0),
            (4, 1) => cv_windows::<S, 1, 2, 4, 4>(s, cx, pool, ys, am, k0),
            (kv, q) => unreachable!("a block of {q} windows by {kv} vectors"),
        }
        k0 += kv * l;
    }
}

/// `Q` pooled outputs along a row at a time (`C = 2 Q` conv columns of two
/// rows, `P = 4 Q` conv pixels), channels `k0..k0 + KV*LANES`.
#[inline(always)]
fn cv_windows<S: Simd, const Q: usize, const C: usize, const P: usize, const KV: usize>(
    s: S,
    cx: &ConvCtx,
    pool: FusedPool,
    ys: &mut [f32],
    mut argmax: Option<&mut [u8]>,
    k0: usize,
) {
    let (g, p, act) = (cx.g, pool.p, pool.act);
    let l = S::LANES;
    let out_pixels = p.oh * p.ow;
    let bias = bias_vectors::<S, KV>(s, cx.b, g.k, k0);
    let mut lanes = [0.0f32; CHANNEL_VECTORS_PER_BLOCK * MAX_LANES];
    let mut args = [0.0f32; CHANNEL_VECTORS_PER_BLOCK * MAX_LANES];
    let kn = (KV * l).min(g.k - k0);
    for py in 0..p.oh {
        let mut px0 = 0;
        while px0 < p.ow {
            let n = (p.ow - px0).min(Q);
            // Two conv rows, 2Q columns: window q's cells are at columns
            // 2q and 2q + 1 of each row.
            let acc = cv_block::<S, 2, C, P, KV>(s, cx, &bias, 2 * py, 2 * px0, k0);
            for q in 0..n {
                let at = py * p.ow + px0 + q;
                let cells = [
                    acc[2 * q],
                    acc[2 * q + 1],
                    acc[C + 2 * q],
                    acc[C + 2 * q + 1],
                ];
                match argmax.as_deref_mut() {
                    None => {
                        for v in 0..KV {
                            let m = s.max_nan(
                                s.max_nan(cells[0][v], cells[1][v]),
                                s.max_nan(cells[2][v], cells[3][v]),
                            );
                            let m = if act == Act::Relu { s.relu(m) } else { m };
                            s.store(&mut lanes[v * l..], m);
                        }
                        for (j, &val) in lanes[..kn].iter().enumerate() {
                            ys[(k0 + j) * out_pixels + at] = val;
                        }
                    }
                    Some(am) => {
                        for v in 0..KV {
                            let (mut best, mut arg) = (cells[0][v], s.zero());
                            (best, arg) = s.max_arg(best, arg, cells[1][v], s.splat(1.0));
                            (best, arg) = s.max_arg(best, arg, cells[2][v], s.splat(2.0));
                            (best, arg) = s.max_arg(best, arg, cells[3][v], s.splat(3.0));
                            let m = if act == Act::Relu { s.relu(best) } else { best };
                            s.store(&mut lanes[v * l..], m);
                            s.store(&mut args[v * l..], arg);
                        }
                        for j in 0..kn {
                            let i = (k0 + j) * out_pixels + at;
                            let val = lanes[j];
                            ys[i] = val;
                            am[i] = arg_byte(act, val, args[j]);
                        }
                    }
                }
            }
            px0 += Q;
        }
    }
}

/// The argmax byte of a pooled output `v` whose window cell `arg` won:
/// [`INACTIVE`] unless the ReLU passes it (positive; NaN is inactive).
/// Computed with a mask rather than a branch, which would mispredict on
/// every random sign.
#[inline(always)]
fn arg_byte(act: Act, v: f32, arg: f32) -> u8 {
    const _: () = assert!(INACTIVE == u8::MAX);
    let inactive = act == Act::Relu && (v.is_nan() || v <= 0.0);
    (arg as u8) | u8::from(inactive).wrapping_neg()
}
