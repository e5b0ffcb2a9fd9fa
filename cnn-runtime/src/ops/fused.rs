//! Fused convolution → ReLU → max-pool.
//!
//! ReLU is monotone, so `max(relu(z)) == relu(max(z))`: the kernel takes the
//! maximum of each pooling window straight from the convolution and applies
//! the ReLU to the pooled value. The convolution's output is never stored.
//! [`Conv::kernel`] names the kernel of a layer:
//!
//! - direct algorithm, disjoint windows (stride ≥ window, e.g. 2x2 stride 2):
//!   each window's conv values are computed and reduced on the spot, no scratch;
//! - direct algorithm, overlapping windows (e.g. 3x3 stride 2): one output
//!   channel at a time goes through a scratch plane (`oh * ow` floats);
//! - im2col and pointwise: the rows one pooled row needs go through a scratch
//!   band (`k * pool_kh * ow` floats).
//!
//! In training mode the kernel keeps one byte per pooled output: the index of
//! the winning cell inside its window, or [`INACTIVE`] when the ReLU output is
//! not positive (the gradient is then zero). That byte is everything the
//! backward pass needs besides the layer's input: it adds `dy` at the winning
//! position only, so the weight and input gradients cost a quarter of the
//! unfused ones for 2x2 windows.

pub use cnn_spec::scratch::{
    forward_scratch, fused_backward_scratch as backward_scratch, DirectTail,
};
pub use cnn_spec::INACTIVE;

use cnn_spec::scratch::{
    band_columns, direct_pack_len, direct_tail, plane_channels, plane_scratch,
};
use cnn_spec::{Act, Conv, ConvAlgo, ConvGeom, ConvKernel, PoolGeom, MAX_LANES, MAX_POOL_WINDOW};

use core::ops::Range;

use super::args::{check_len, Backward, Forward, Grads, Params};
use super::conv_sample::{backward_sample, im2col_packed, transpose_weights, BackwardWeights};
use super::gemm::{sgemm_packed_rows, sgemm_rows, Layout, PackedB};
use super::groups::{self, ForwardFn, InferFn};
use super::threads::{self, Split};
use crate::simd::scalar::pool::{backward_sparse, finish, window_max};
use crate::simd::{self, packed_b_len, ConvGrads, ConvWeights, PooledGrad};

const fn pool_of(l: &Conv) -> PoolGeom {
    match l.pool {
        Some(p) => p,
        None => panic!("a fused conv layer needs a pool"),
    }
}

/// Forward pass of conv → act → max-pool for `n` samples: `io.x` is
/// `[n, C, H, W]`, `io.y` `[n, K, pool.oh, pool.ow]`; `io.aux` (training)
/// receives one argmax byte per pooled output, see the module docs. Runs
/// the kernel [`Conv::kernel`] names; generated code calls that kernel's
/// entry point directly, so a binary links only the kernels it uses.
pub fn conv_max_pool_forward(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    match l.kernel() {
        ConvKernel::FusedDirectDisjoint => forward_direct_disjoint(l, p, io, scratch),
        ConvKernel::FusedDirectPlane => forward_direct_plane(l, p, io, scratch),
        ConvKernel::FusedBand => forward_band(l, p, io, scratch),
        ConvKernel::Direct | ConvKernel::Im2col | ConvKernel::Pointwise | ConvKernel::Winograd => {
            panic!("a fused conv layer needs a pool")
        }
    }
}

/// [`conv_max_pool_forward`] with [`ConvKernel::FusedDirectDisjoint`].
#[inline(always)]
pub fn forward_direct_disjoint(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    let kernels = (
        direct_disjoint_infer as InferFn,
        direct_disjoint_train as ForwardFn,
    );
    groups::dispatch_forward(l, p, io, scratch, kernels)
}

/// [`conv_max_pool_forward`] with [`ConvKernel::FusedDirectPlane`].
#[inline(always)]
pub fn forward_direct_plane(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    let kernels = (
        direct_plane_infer as InferFn,
        direct_plane_train as ForwardFn,
    );
    groups::dispatch_forward(l, p, io, scratch, kernels)
}

/// [`conv_max_pool_forward`] with [`ConvKernel::FusedBand`].
#[inline(always)]
pub fn forward_band(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    let kernels = (band_infer as InferFn, band_train as ForwardFn);
    groups::dispatch_forward(l, p, io, scratch, kernels)
}

/// The instantiations of the one-group kernels below that
/// [`groups::dispatch_forward`] runs.
macro_rules! infer_and_train {
    ($($kernel:ident: $infer:ident, $train:ident;)*) => {$(
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
            $kernel::<false>(l, Params { weight, bias }, io, scratch)
        }

        fn $train(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
            $kernel::<true>(l, p, io, scratch)
        }
    )*};
}

infer_and_train! {
    direct_disjoint: direct_disjoint_infer, direct_disjoint_train;
    direct_plane: direct_plane_infer, direct_plane_train;
    band: band_infer, band_train;
}

/// Checks that the layer's activation fuses with a max-pool.
#[inline(always)]
fn check_act(l: &Conv) {
    assert!(
        matches!(l.act, Act::Relu | Act::Identity),
        "only ReLU fuses with max-pool"
    );
}

/// Checks a fused layer's activation and buffers.
#[inline(always)]
fn check(l: &Conv, io: &Forward, scratch: &[f32]) {
    let (g, p) = (&l.geom, pool_of(l));
    check_act(l);
    check_len("fused conv input", io.x.len(), io.n * g.in_len());
    check_len("fused conv output", io.y.len(), io.n * p.out_len());
    check_len("fused conv scratch", scratch.len(), forward_scratch(l));
}

/// Runs `one(xs, ys, argmax, scratch)` on every sample; `TRAIN`: whether
/// the call may write argmax bytes.
#[inline(always)]
fn each_sample<const TRAIN: bool>(
    l: &Conv,
    io: Forward,
    scratch: &mut [f32],
    mut one: impl FnMut(&[f32], &mut [f32], Option<&mut [u8]>, &mut [f32]),
) {
    check(l, &io, scratch);
    let (g, p) = (&l.geom, pool_of(l));
    let Forward { x, y, aux, n } = io;
    let mut aux = if TRAIN { aux } else { None };
    for s in 0..n {
        let xs = &x[s * g.in_len()..][..g.in_len()];
        let ys = &mut y[s * p.out_len()..][..p.out_len()];
        let am = aux
            .as_deref_mut()
            .map(|a| &mut a[s * p.out_len()..][..p.out_len()]);
        one(xs, ys, am, scratch);
    }
}

/// [`forward_direct_disjoint`] of one group; `TRAIN`: whether the call
/// may write argmax bytes (see `groups::dispatch_forward`).
#[inline(always)]
fn direct_disjoint<const TRAIN: bool>(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    let (g, pool) = (&l.geom, pool_of(l));
    check_act(l);
    check_len("fused conv input", io.x.len(), io.n * g.in_len());
    check_len("fused conv output", io.y.len(), io.n * pool.out_len());
    let argmax = if TRAIN { io.aux } else { None };
    if let Some(a) = &argmax {
        check_len("fused conv argmax", a.len(), io.n * pool.out_len());
    }
    check_len("fused conv scratch", scratch.len(), direct_pack_len(g));
    let params = ConvWeights {
        w: p.weight,
        b: p.bias,
    };
    let parts = threads::direct_parts(g);
    if parts > 1 && argmax.is_none() {
        let io = Forward { aux: None, ..io };
        return direct_disjoint_by_channels(l, p, io, scratch, parts);
    }
    // The direct kernels take the whole batch (packing weights once).
    let x = &io.x[..io.n * g.in_len()];
    simd::conv_relu_pool_direct(l, params, x, io.y, argmax, scratch);
}

/// [`direct_disjoint`] without argmax bytes, each sample's output channels
/// split into `parts` between threads (`threads::direct_parts`); every
/// part packs its own weights into its share of `scratch`.
fn direct_disjoint_by_channels(
    l: &Conv,
    p: Params,
    io: Forward,
    scratch: &mut [f32],
    parts: usize,
) {
    let (g, pool) = (&l.geom, pool_of(l));
    let (patch, pixels) = (g.patch_len(), pool.oh * pool.ow);
    let split = Split {
        parts,
        align: MAX_LANES,
    };
    for s in 0..io.n {
        let xs = &io.x[s * g.in_len()..][..g.in_len()];
        let ys = &mut io.y[s * pool.out_len()..][..pool.out_len()];
        let run = |k: Range<usize>, yk: &mut [f32], scratch: &mut [f32]| {
            let part = Conv {
                geom: ConvGeom { k: k.len(), ..*g },
                pool: Some(PoolGeom { c: k.len(), ..pool }),
                ..*l
            };
            let params = ConvWeights {
                w: &p.weight[k.start * patch..k.end * patch],
                b: p.bias.map(|b| &b[k]),
            };
            simd::conv_relu_pool_direct(&part, params, xs, yk, None, scratch);
        };
        threads::for_row_parts_with((ys, pixels), (scratch, patch), g.k, split, &run);
    }
}

/// [`forward_direct_plane`] of one group: blocks of
/// [`plane_channels`] conv channels at a time in scratch planes (the
/// weights packed after them, see [`plane_scratch`]), then pooled.
#[inline(always)]
fn direct_plane<const TRAIN: bool>(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    let g = &l.geom;
    let pool = pool_of(l);
    let (patch, pixels, block) = (g.patch_len(), g.out_pixels(), plane_channels(g));
    let planes_len = plane_scratch(g).0;
    each_sample::<TRAIN>(l, io, scratch, |xs, ys, mut argmax, scratch| {
        let (planes_all, packed) = scratch.split_at_mut(planes_len);
        let mut k0 = 0;
        while k0 < g.k {
            let kn = block.min(g.k - k0);
            let planes = &mut planes_all[..kn * pixels];
            let params = ConvWeights {
                w: &p.weight[k0 * patch..(k0 + kn) * patch],
                b: p.bias.map(|b| &b[k0..k0 + kn]),
            };
            let geom = ConvGeom { k: kn, ..*g };
            simd::conv_direct(&geom, params, xs, planes, packed, 1);
            for (j, plane) in planes.chunks_exact(pixels).enumerate() {
                let at = |oy: usize, ox: usize| plane[oy * g.ow + ox];
                pool_channel(&pool, l.act, k0 + j, at, ys, &mut argmax);
            }
            k0 += kn;
        }
    });
}

/// Pools conv channel `k` (read through `at(oy, ox)`) into the pooled
/// output `ys` (`[k, oh, ow]`) and its argmax bytes.
#[inline(always)]
fn pool_channel(
    pool: &PoolGeom,
    act: Act,
    k: usize,
    at: impl Fn(usize, usize) -> f32,
    ys: &mut [f32],
    argmax: &mut Option<&mut [u8]>,
) {
    for py in 0..pool.oh {
        for px in 0..pool.ow {
            let (best, arg) = window_max(pool, py, px, &at);
            let (v, a) = finish(act, best, arg);
            let i = (k * pool.oh + py) * pool.ow + px;
            ys[i] = v;
            if let Some(am) = argmax.as_deref_mut() {
                am[i] = a;
            }
        }
    }
}

/// [`forward_band`] of one group: the conv rows each pooled row needs,
/// all channels, through a scratch band (after the im2col columns).
#[inline(always)]
fn band<const TRAIN: bool>(l: &Conv, p: Params, io: Forward, scratch: &mut [f32]) {
    let (g, algo) = (&l.geom, l.band_algo());
    let pool = pool_of(l);
    each_sample::<TRAIN>(l, io, scratch, |xs, ys, mut argmax, scratch| {
        let nr = simd::gemm_panel_width();
        let (cols, band) = if algo == ConvAlgo::Im2col {
            scratch.split_at_mut(band_columns(l))
        } else {
            (&mut [][..], scratch)
        };
        for py in 0..pool.oh {
            // Conv rows [r0, r1) feed pooled row py.
            let (r0, r1) = pool.window_rows(py);
            let width = (r1 - r0) * g.ow;
            let band = &mut band[..g.k * width];
            for k in 0..g.k {
                band[k * width..][..width].fill(p.bias.map_or(0.0, |b| b[k]));
            }
            let lc = Layout::row_major(g.k, width);
            if algo == ConvAlgo::Im2col {
                // The band's columns, im2col of its conv rows in the GEMM's
                // panels.
                let cols = &mut cols[..packed_b_len(g.patch_len(), width, nr)];
                im2col_packed(g, xs, (r0, r1), cols, nr);
                let la = Layout::row_major(g.k, g.patch_len());
                let b = PackedB {
                    data: cols,
                    k: g.patch_len(),
                    n: width,
                    nr,
                };
                sgemm_packed_rows(p.weight, la, b, 1.0, band, lc);
            } else {
                let lb = Layout {
                    rows: g.c,
                    cols: width,
                    rs: g.out_pixels(),
                    cs: 1,
                };
                let la = Layout::row_major(g.k, g.c);
                sgemm_rows(p.weight, la, &xs[r0 * g.ow..], lb, 1.0, band, lc);
            }
            for k in 0..g.k {
                let bk = &band[k * width..][..width];
                for px in 0..pool.ow {
                    let (best, arg) = window_max(&pool, py, px, |oy, ox| bk[(oy - r0) * g.ow + ox]);
                    let (v, a) = finish(l.act, best, arg);
                    let i = (k * pool.oh + py) * pool.ow + px;
                    ys[i] = v;
                    if let Some(am) = argmax.as_deref_mut() {
                        am[i] = a;
                    }
                }
            }
        }
    });
}

/// Backward pass of the fused layer: `io.dy` is `[n, K, pool.oh,
/// pool.ow]`, `io.aux` the argmax bytes the forward pass kept. Adds into
/// `g`'s weight and bias gradients; writes `io.dx`.
pub fn conv_max_pool_backward(l: &Conv, w: &[f32], io: Backward, g: Grads, scratch: &mut [f32]) {
    if l.groups == 1 {
        backward_group(l, w, io, g, scratch)
    } else {
        groups::backward(l, w, io, g, scratch, backward_group)
    }
}

/// [`conv_max_pool_backward`] of one group.
fn backward_group(l: &Conv, w: &[f32], io: Backward, grads: Grads, scratch: &mut [f32]) {
    let g = &l.geom;
    let p = pool_of(l);
    let Backward {
        x, aux, dy, dx, n, ..
    } = io;
    let argmax = aux.expect("the fused conv backward pass needs the argmax bytes");
    check_len("fused conv input", x.len(), n * g.in_len());
    check_len("fused conv output gradient", dy.len(), n * p.out_len());
    check_len("fused conv argmax", argmax.len(), n * p.out_len());
    check_len("fused conv scratch", scratch.len(), backward_scratch(l));
    let (mut dx, mut dw, mut db) = (dx, grads.weight, grads.bias);
    // With SIMD, the input gradient of a direct layer comes from the
    // winners alone (`simd::sparse_dx`), on weights packed once per call.
    let lanes = simd::lanes();
    let cpad = g.c.div_ceil(lanes) * lanes;
    let direct = l.algo == ConvAlgo::Direct;
    let sparse_dx = direct && lanes > 1 && dx.is_some();
    let tail = if direct {
        direct_tail(g)
    } else {
        DirectTail { taps: 0, padded: 0 }
    };
    // On the GEMM, the transposed weights for the input gradient, made
    // once per call.
    let wt_len = if direct { 0 } else { g.weight_len() };
    let (scratch, wt) = scratch[..backward_scratch(l)].split_at_mut(backward_scratch(l) - wt_len);
    let wt = match dx {
        Some(_) if wt_len > 0 => transpose_weights(g, w, wt),
        _ => &[],
    };
    let ws = BackwardWeights { w, wt };
    let (scratch, packed) = scratch.split_at_mut(scratch.len() - tail.taps);
    if sparse_dx {
        simd::pack_channels_last(g, w, cpad, packed);
    }
    // The weight gradient from the winners only, where that is faster.
    let sparse_dw = direct && dw.is_some() && simd::sparse_dw_suits(g, lanes);
    let (scratch, dwc) = scratch.split_at_mut(scratch.len() - tail.taps);
    let (scratch, xpad) = scratch.split_at_mut(scratch.len() - tail.padded);
    if sparse_dw {
        dwc.fill(0.0);
    }
    for s in 0..n {
        let xs = &x[s * g.in_len()..][..g.in_len()];
        let pg = PooledGrad {
            argmax: &argmax[s * p.out_len()..][..p.out_len()],
            dy: &dy[s * p.out_len()..][..p.out_len()],
        };
        let dxs = dx
            .as_deref_mut()
            .map(|d| &mut d[s * g.in_len()..][..g.in_len()]);
        match l.band_algo() {
            // Without SIMD, visiting only the winning outputs is fastest.
            ConvAlgo::Direct if lanes == 1 => {
                let grads = ConvGrads {
                    dx: dxs,
                    dw: dw.as_deref_mut(),
                    db: db.as_deref_mut(),
                };
                backward_sparse(g, &p, pg, xs, w, grads)
            }
            ConvAlgo::Direct => {
                // Weight and bias gradients from the winners only where a
                // sparse kernel suits the shape, else densely over the
                // scattered gradient; the input gradient from the winners.
                let (dz, rest) = scratch.split_at_mut(g.out_len());
                if sparse_dw {
                    simd::sparse_dw(l, pg, xs, dwc, db.as_deref_mut(), xpad);
                } else {
                    scatter_to_conv(g, &p, pg.argmax, pg.dy, dz);
                    let grads = ConvGrads {
                        dx: None,
                        dw: dw.as_deref_mut(),
                        db: db.as_deref_mut(),
                    };
                    backward_sample(g, l.weight_grad_algo(), xs, ws, dz, grads, rest);
                }
                if let Some(dxs) = dxs {
                    simd::sparse_dx(l, pg, packed, dxs, rest);
                }
            }
            ConvAlgo::Im2col | ConvAlgo::Pointwise | ConvAlgo::Winograd => {
                let (dz, rest) = scratch.split_at_mut(g.out_len());
                scatter_to_conv(g, &p, pg.argmax, pg.dy, dz);
                let grads = ConvGrads {
                    dx: dxs,
                    dw: dw.as_deref_mut(),
                    db: db.as_deref_mut(),
                };
                backward_sample(g, l.band_algo(), xs, ws, dz, grads, rest);
            }
        }
    }
    if let (true, Some(dw)) = (sparse_dw, dw) {
        simd::add_channels_last_dw(g, lanes, dwc, dw);
    }
}

/// Writes the conv-output gradient `dz` (`[k, oh, ow]`): the pooled
/// gradient `dy` at each window's winner (`argmax`), 0 elsewhere.
fn scatter_to_conv(g: &ConvGeom, p: &PoolGeom, argmax: &[u8], dy: &[f32], dz: &mut [f32]) {
    scatter::<false>(g, p, argmax, dy, dz)
}

/// The gradient of the loss with respect to the convolution's output,
/// before the ReLU, of one sample of a fused conv → ReLU → max-pool layer
/// (the output the layer never stores): `dz` (`[K, oh, ow]`, all groups'
/// channels) holds the pooled gradient `dy` (`[K, pool.oh, pool.ow]`) at
/// each active window's winner (`argmax`, as the forward pass kept it),
/// summed where windows overlap, and 0 elsewhere. This is the gradient
/// the backward pass propagates; it equals the unfused layers' (ReLU's
/// mask times max-pool's routing).
pub fn conv_output_grad(l: &Conv, argmax: &[u8], dy: &[f32], dz: &mut [f32]) {
    let (g, p) = inner_geometry(l, argmax, dy, dz);
    scatter::<false>(&g, &p, argmax, dy, dz)
}

/// As [`conv_output_grad`], with respect to the ReLU's output: the same,
/// and the gradient of an inactive window (its conv values all at most 0,
/// so its ReLU outputs all 0) at the window's first cell inside the
/// input, which is where an unfused max-pool, keeping the first of equal
/// maxima, routes it.
pub fn relu_output_grad(l: &Conv, argmax: &[u8], dy: &[f32], dr: &mut [f32]) {
    let (g, p) = inner_geometry(l, argmax, dy, dr);
    scatter::<true>(&g, &p, argmax, dy, dr)
}

/// The geometry of every group's channels of a fused layer, after checking
/// one sample's buffers for [`conv_output_grad`] and [`relu_output_grad`].
fn inner_geometry(l: &Conv, argmax: &[u8], dy: &[f32], dz: &[f32]) -> (ConvGeom, PoolGeom) {
    let p = pool_of(l);
    let k = l.geom.k * l.groups;
    let g = ConvGeom { k, ..l.geom };
    let p = PoolGeom { c: k, ..p };
    check_len("fused conv argmax", argmax.len(), p.out_len());
    check_len("fused conv output gradient", dy.len(), p.out_len());
    check_len("conv output gradient", dz.len(), k * g.oh * g.ow);
    (g, p)
}

/// [`scatter_to_conv`]; `INACTIVE_TOO`: also route the gradient of
/// inactive windows, to their first cell inside the input.
#[inline(always)]
fn scatter<const INACTIVE_TOO: bool>(
    g: &ConvGeom,
    p: &PoolGeom,
    argmax: &[u8],
    dy: &[f32],
    dz: &mut [f32],
) {
    dz.fill(0.0);
    // The winner's offset from its window's corner, by index (no division
    // in the loop).
    let mut offset = [0isize; MAX_POOL_WINDOW + 1];
    for (a, o) in offset.iter_mut().enumerate().take(p.kh * p.kw) {
        *o = ((a / p.kw) * g.ow + a % p.kw) as isize;
    }
    for k in 0..g.k {
        let plane = &mut dz[k * g.oh * g.ow..(k + 1) * g.oh * g.ow];
        let base = k * p.oh * p.ow;
        for py in 0..p.oh {
            let top = (py * p.sh) as isize - p.ph as isize;
            for px in 0..p.ow {
                let i = base + py * p.ow + px;
                let left = (px * p.sw) as isize - p.pw as isize;
                let cell = match argmax[i] {
                    // The first cell inside the input: below the top
                    // padding, right of the left one.
                    INACTIVE if INACTIVE_TOO => (-top).max(0) * g.ow as isize + (-left).max(0),
                    INACTIVE => continue,
                    a => offset[a as usize],
                };
                // The cell lies inside the conv output, so this is >= 0.
                let at = (top * g.ow as isize + left + cell) as usize;
                plane[at] += dy[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::pool;
    use crate::simd::scalar::pool::{finish, window_max};

    /// The conv and ReLU output gradients from the argmax bytes are the
    /// unfused layers' bits: max-pool over the ReLU's output routing each
    /// window's gradient to its first maximum (the first cell inside the
    /// input for a window of zeros), then the ReLU's mask. Paddings,
    /// overlapping windows, ties and zeros included.
    #[test]
    fn inner_gradients_are_the_unfused_layers() {
        let mut seed = 11u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed >> 8
        };
        let mut inactive = 0;
        for (h, w) in [(4, 4), (5, 7), (9, 6)] {
            for (k, s, p) in [
                (2, 2, 0),
                (2, 2, 1),
                (3, 2, 1),
                (3, 1, 1),
                (3, 3, 0),
                (2, 1, 0),
            ] {
                let pool = PoolGeom::new(3, h, w, (k, k), (s, s), (p, p));
                let l = Conv {
                    geom: ConvGeom::new(1, h, w, 3, (1, 1), (1, 1), (0, 0)),
                    algo: ConvAlgo::Direct,
                    act: Act::Relu,
                    pool: Some(pool),
                    bias: false,
                    groups: 1,
                };
                // Conv outputs: mostly negative, with ties and zeros.
                let z: Vec<f32> = (0..3 * h * w)
                    .map(|_| match next() % 8 {
                        0 => 0.0,
                        1 => 1.0,
                        r => r as f32 / 3.0 - 3.0,
                    })
                    .collect();
                let dy: Vec<f32> = (0..pool.out_len()).map(|i| i as f32 + 0.5).collect();
                // Fused: argmax bytes of the conv values.
                let mut argmax = vec![0u8; pool.out_len()];
                for c in 0..3 {
                    let plane = &z[c * h * w..][..h * w];
                    for py in 0..pool.oh {
                        for px in 0..pool.ow {
                            let (best, arg) = window_max(&pool, py, px, |y, x| plane[y * w + x]);
                            argmax[(c * pool.oh + py) * pool.ow + px] =
                                finish(Act::Relu, best, arg).1;
                        }
                    }
                }
                let mut dz = vec![f32::NAN; z.len()];
                let mut dr = vec![f32::NAN; z.len()];
                conv_output_grad(&l, &argmax, &dy, &mut dz);
                relu_output_grad(&l, &argmax, &dy, &mut dr);
                // Unfused: ReLU, max-pool, and back.
                let r: Vec<f32> = z.iter().map(|&v| Act::Relu.apply(v)).collect();
                let mut pooled = vec![0.0; pool.out_len()];
                let mut arg = vec![0u8; pool.out_len()];
                pool::max_forward(&pool, &r, &mut pooled, Some(&mut arg), 1);
                let mut want_dr = vec![0.0; z.len()];
                pool::max_backward(&pool, &arg, &dy, &mut want_dr, 1);
                let want_dz: Vec<f32> = want_dr
                    .iter()
                    .zip(&r)
                    .map(|(&d, &v)| if v > 0.0 { d } else { 0.0 })
                    .collect();
                assert_eq!(dr, want_dr, "{pool:?}: ReLU output gradient");
                assert_eq!(dz, want_dz, "{pool:?}: conv output gradient");
                inactive += argmax.iter().filter(|&&a| a == INACTIVE).count();
            }
        }
        assert!(inactive > 50, "only {inactive} inactive windows");
    }
}
