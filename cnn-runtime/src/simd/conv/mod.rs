//! Direct convolution kernels on the vector abstraction, by family:
//!
//! | module | what |
//! | --- | --- |
//! | `columns` | forward, vectorised along output columns (few output channels) |
//! | `channels` | forward, vectorised over output channels (at least a vector of them) |
//! | `pool` | fused conv → act → 2x2 max-pool forward on either of the above |
//! | `grad` | dense weight and input gradients |
//! | `sparse_dx`, `sparse_dw` | gradients of a fused layer from each window's winner only |
//! | `pack`, `ctx` | weight packing and what the kernels share |
//!
//! The entry points here choose among them by shape and vector width
//! (`cnn_spec::variants`); shapes no vector kernel takes run the scalar
//! level's plain loops.

mod channels;
mod columns;
mod ctx;
mod grad;
mod pack;
mod pool;
mod sparse_dw;
mod sparse_dx;
pub mod winograd;

pub use grad::{conv_dw, conv_dx};
pub use pack::pack_channels_last;
pub use sparse_dw::{add_channels_last_dw, sparse_dw};
pub use sparse_dx::sparse_dx;

use cnn_spec::variants::use_channel_vectors;

use cnn_spec::{Conv, ConvGeom};

use crate::simd::args::{ConvWeights, Filter, FusedPool};
use crate::simd::scalar;
use crate::simd::vector::Simd;
use ctx::{pool_of, ConvCtx};
use pack::{pack_buf, packed_taps};

/// `y = conv(x) + b` for `n` samples (`x` `[n, c, h, w]`, `y`
/// `[n, k, oh, ow]`), on the kernel that suits the layer:
/// channel-vectorised when the output channels fill vectors (weights
/// packed once for the batch, into `scratch` when they are too large for
/// the stack), column-vectorised otherwise.
#[inline(always)]
pub fn direct_forward<S: Simd>(
    s: S,
    g: &ConvGeom,
    p: ConvWeights,
    x: &[f32],
    y: &mut [f32],
    scratch: &mut [f32],
    n: usize,
) {
    let f = Filter { g, w: p.w, b: p.b };
    let (il, ol) = (g.in_len(), g.out_len());
    let (x, y) = (&x[..n * il], &mut y[..n * ol]);
    if use_channel_vectors(g, S::LANES) {
        let kpad = g.k.next_multiple_of(S::LANES);
        let mut buf = pack_buf();
        let wt = packed_taps(g, f.w, kpad, &mut buf, scratch);
        for (xs, ys) in x.chunks_exact(il).zip(y.chunks_exact_mut(ol)) {
            let cx = ConvCtx {
                g,
                xs,
                w: wt,
                kpad,
                b: f.b,
            };
            channels::cv_forward(s, &cx, ys);
        }
    } else {
        for (xs, ys) in x.chunks_exact(il).zip(y.chunks_exact_mut(ol)) {
            if g.sw != 1 {
                let pixels = g.oh * g.ow;
                for k in 0..g.k {
                    ys[k * pixels..][..pixels].fill(f.b.map_or(0.0, |b| b[k]));
                }
                scalar::conv::forward(g, xs, f.w, ys);
            } else {
                columns::conv_forward(s, f, xs, ys);
            }
        }
    }
}

/// Fused conv → act → max-pool with disjoint windows of the samples of
/// `x` (exactly `[n, c, h, w]`) into `y` and `argmax`, on the kernel that
/// suits the layer: the vector kernels for 2x2 stride-2 windows, the scalar
/// level's for others.
#[inline(always)]
pub fn direct_pool<S: Simd>(
    s: S,
    l: &Conv,
    params: ConvWeights,
    x: &[f32],
    y: &mut [f32],
    argmax: Option<&mut [u8]>,
    scratch: &mut [f32],
) {
    let (g, p) = (&l.geom, pool_of(l));
    let f = Filter {
        g,
        w: params.w,
        b: params.b,
    };
    let pool = FusedPool { p, act: l.act };
    let (il, ol) = (g.in_len(), p.out_len());
    let n = x.len() / il;
    let (x, y) = (&x[..n * il], &mut y[..n * ol]);
    let mut argmax = argmax.map(|a| &mut a[..n * ol]);
    let two_by_two = p.is_2x2_stride_2();
    if two_by_two && use_channel_vectors(g, S::LANES) {
        let kpad = g.k.next_multiple_of(S::LANES);
        let mut buf = pack_buf();
        let wt = packed_taps(g, f.w, kpad, &mut buf, scratch);
        for (i, (xs, ys)) in x.chunks_exact(il).zip(y.chunks_exact_mut(ol)).enumerate() {
            let am = argmax.as_deref_mut().map(|a| &mut a[i * ol..(i + 1) * ol]);
            let cx = ConvCtx {
                g,
                xs,
                w: wt,
                kpad,
                b: f.b,
            };
            pool::cv_relu_pool_2x2(s, &cx, pool, ys, am);
        }
        return;
    }
    for (i, (xs, ys)) in x.chunks_exact(il).zip(y.chunks_exact_mut(ol)).enumerate() {
        let am = argmax.as_deref_mut().map(|a| &mut a[i * ol..(i + 1) * ol]);
        if two_by_two && g.sw == 1 {
            pool::conv_relu_pool_2x2(s, f, pool, xs, ys, am)
        } else {
            scalar::pool::direct_disjoint(f, pool, xs, ys, am)
        }
    }
}
