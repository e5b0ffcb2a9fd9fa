//! Version 1 of the interface between `network!`'s generated code and the
//! runtime: the kernels and types it calls, the arena helpers, and
//! [`network_api!`](crate::__network_api_v1), which writes every item that
//! is the same for every network.

use core::ops::Range;

pub use crate::ops::batch_norm::BatchNorm;
pub use crate::ops::lrn::Lrn;
pub use crate::ops::{
    activation, batch_norm, conv, dense, dropout, fused, lrn, merge, pool, softmax, Act, Backward,
    Conv, ConvAlgo, ConvGeom, Dense, Forward, Grads, Params, PoolGeom,
};
pub use crate::preprocess;
pub use crate::{__network_api_v1 as network_api, __std_only as std_only};
pub use crate::{
    Aligned, Arena, BufferInit, Dtype, Folded, LayerInfo, ParamInfo, ParamRole, PlanStep, Summary,
    Weights,
};
pub use cnn_spec::winograd::transform_weights as winograd_weights;
pub use cnn_spec::{fold_batch_norm, BatchNormParams};

/// What an int8 network's generated code names.
pub mod int8 {
    pub use crate::ops::int8::{QConv, QDense, QParams};
    pub use crate::ops::int8_chain::{max_scratch, region_len, Int8Arena, QChain, QStep};
    pub use crate::ops::{ConvGeom, PoolGeom};
}

pub use crate::layout::{BatchTail, Head, InferLayout, StepContext, TrainArena, TrainLayout};
// Generated code names `std` items through these, never `::std` (the
// crate using a network may be `no_std` while the runtime has `std`).
#[cfg(feature = "std")]
pub use std::{path::Path, vec::Vec};

mod api;
mod region;
mod taps;

pub use region::Region;
pub use taps::{tap_conv, tap_dense, Samples};

/// Marks `Self` as network `N`'s arena type (`<N>Arena`). The generated
/// code checks that the name `<N>Arena` in the network's scope is this
/// type: the network's items are glob re-exported, and a user's type of
/// the same name would otherwise hide it silently.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not this network's arena type: a type of that name in this scope hides the one `network!` declares",
    label = "this network's arena type is hidden by another type of the same name",
    note = "`network!` declares `<Name>Arena` beside network `<Name>`: rename the other type, or the network"
)]
pub trait ArenaOf<N> {}

/// Fails to compile unless `A` is network `N`'s arena type.
pub const fn assert_arena<N, A: ArenaOf<N>>() {}

/// `name` without a raw identifier's `r#` (`stringify!(r#match)` is
/// `"r#match"`; the network is `match`).
pub const fn unraw(name: &'static str) -> &'static str {
    match name.as_bytes() {
        [b'r', b'#', rest @ ..] => match core::str::from_utf8(rest) {
            Ok(s) => s,
            Err(_) => name,
        },
        _ => name,
    }
}

/// The view of `region` of `buf` for `n` samples.
#[inline]
pub fn region<T>(buf: &[T], n: usize, region: Region) -> &[T] {
    &buf[region.scaled(n)]
}

/// Sample `s`'s part of a buffer holding samples of `len` values side by side.
#[inline]
pub fn sample<T>(buf: &[T], s: usize, len: usize) -> &[T] {
    &buf[s * len..][..len]
}

/// The mutable [`sample`].
#[inline]
pub fn sample_mut<T>(buf: &mut [T], s: usize, len: usize) -> &mut [T] {
    &mut buf[s * len..][..len]
}

/// Sample `s`'s part of the slot `slot` of a concatenated value, `buf`
/// being the value's region for every sample (`concat`'s length apart).
#[inline]
pub fn slot<T>(buf: &[T], s: usize, concat: Region, slot: Region) -> &[T] {
    &buf[s * (concat.end - concat.start) + slot.start - concat.start..][..slot.end - slot.start]
}

/// The mutable [`slot()`].
#[inline]
pub fn slot_mut<T>(buf: &mut [T], s: usize, concat: Region, slot: Region) -> &mut [T] {
    &mut buf[s * (concat.end - concat.start) + slot.start - concat.start..][..slot.end - slot.start]
}

/// Passes the gradient of a step's output, at `at` in the arena `f` of
/// `n` samples, to the context's [`GradTap`](crate::layout::GradTap).
#[inline]
pub fn tap(ctx: &StepContext<'_>, layer: usize, f: &[f32], n: usize, at: Region) {
    if ctx.grad_tap.is_some() {
        ctx.tap(layer, region(f, n, at), n, at.end - at.start);
    }
}

/// [`tap`] for a gradient that is the slot `at` of a concatenation's
/// gradient at `concat`.
#[inline]
pub fn tap_slot(
    ctx: &StepContext<'_>,
    layer: usize,
    f: &[f32],
    n: usize,
    concat: Region,
    at: Region,
) {
    if let Some(t) = ctx.grad_tap {
        let all = region(f, n, concat);
        for s in 0..n {
            t.output_grad(layer, s, slot(all, s, concat, at));
        }
    }
}

/// The mutable view of `region` of `buf` for `n` samples.
#[inline]
pub fn region_mut<T>(buf: &mut [T], n: usize, region: Region) -> &mut [T] {
    &mut buf[region.scaled(n)]
}

/// Splits `buf` into read-only views of the `reads` regions and mutable
/// views of the `writes` regions, for `n` samples. The planner places
/// values so that these never overlap; an overlap is a bug in the plan
/// and panics.
#[inline]
pub fn carve<T, const R: usize, const W: usize>(
    buf: &mut [T],
    n: usize,
    reads: [Region; R],
    writes: [Region; W],
) -> ([&[T]; R], [&mut [T]; W]) {
    split(buf, reads.map(|r| r.scaled(n)), writes.map(|r| r.scaled(n)))
}

/// The disjoint `reads` and `writes` ranges of `buf`. Panics if two overlap.
fn split<'a, T, const R: usize, const W: usize>(
    buf: &'a mut [T],
    reads: [Range<usize>; R],
    writes: [Range<usize>; W],
) -> ([&'a [T]; R], [&'a mut [T]; W]) {
    // Visit every range by start offset, splitting the rest of the buffer.
    let mut order: [(usize, usize, usize); 8] = [(usize::MAX, 0, 0); 8];
    assert!(R + W <= 8, "at most 8 regions at once");
    for (i, r) in reads.iter().enumerate() {
        order[i] = (r.start, r.end, i);
    }
    for (i, r) in writes.iter().enumerate() {
        order[R + i] = (r.start, r.end, R + i);
    }
    let order = &mut order[..R + W];
    order.sort_unstable();
    let mut read_out: [Option<&'a [T]>; R] = [None; R];
    let mut write_out: [Option<&'a mut [T]>; W] = core::array::from_fn(|_| None);
    let mut rest = buf;
    let mut consumed = 0;
    for &(start, end, slot) in order.iter() {
        assert!(
            start >= consumed && end >= start,
            "cnn: overlapping buffers in a plan"
        );
        let (_, tail) = core::mem::take(&mut rest).split_at_mut(start - consumed);
        let (part, tail) = tail.split_at_mut(end - start);
        rest = tail;
        consumed = end;
        if slot < R {
            read_out[slot] = Some(part);
        } else {
            write_out[slot - R] = Some(part);
        }
    }
    (
        read_out.map(|p| p.unwrap_or(&[])),
        write_out.map(|p| p.unwrap_or(&mut [])),
    )
}

/// The gradient slices of one layer's tensors (`ranges` into the network's
/// gradient buffer), or all `None` when the layer is frozen.
#[inline]
pub fn param_grads<const N: usize>(
    grads: &mut [f32],
    trainable: bool,
    ranges: [Range<usize>; N],
) -> [Option<&mut [f32]>; N] {
    if !trainable {
        return core::array::from_fn(|_| None);
    }
    let ([], parts) = split(grads, [], ranges);
    parts.map(Some)
}

/// The `N` input floats at `start` of a one-sample arena.
#[inline]
pub fn input_of<const N: usize>(arena: &mut [f32], start: usize) -> &mut [f32; N] {
    match (&mut arena[start..start + N]).try_into() {
        Ok(input) => input,
        // The range has exactly N elements.
        Err(_) => unreachable!(),
    }
}

/// A copy of the `N` output floats at `start` of a one-sample arena.
#[inline]
pub fn output_of<const N: usize>(arena: &[f32], start: usize) -> [f32; N] {
    let mut out = [0.0; N];
    out.copy_from_slice(&arena[start..start + N]);
    out
}

/// The output of the convolution of a fused conv step, `[n, K, OH, OW]`,
/// before the step's max-pool: with `act` after its activation (the
/// ReLU's output), otherwise before it (the conv's, or with folded
/// parameters the batch normalisation's output). `x` is the step's input.
/// For reading the layers a fused step never stores (`activations`).
#[cfg(feature = "std")]
pub fn inner_conv(l: &Conv, act: bool, p: Params, x: &[f32], y: &mut [f32], n: usize) {
    let l = Conv {
        act: if act { l.act } else { Act::Identity },
        pool: None,
        ..*l
    };
    let mut scratch = zeroed(conv::forward_scratch(&l));
    conv::forward(&l, p, Forward { x, y, aux: None, n }, &mut scratch);
}

/// The output of the dense layer of a fused dense step before its
/// activation, `[n, outputs]` (with folded parameters the batch
/// normalisation's output). See [`inner_conv`].
#[cfg(feature = "std")]
pub fn inner_dense(l: &Dense, p: Params, x: &[f32], y: &mut [f32], n: usize) {
    let l = Dense {
        act: Act::Identity,
        ..*l
    };
    dense::forward(&l, p, Forward { x, y, aux: None, n });
}

/// A zeroed heap buffer (for arenas too large for the stack).
#[cfg(feature = "std")]
pub fn zeroed(len: usize) -> Vec<f32> {
    std::vec![0.0; len]
}

/// A network of type `N` initialised by `init` from `seed`.
///
/// # Panics
///
/// If `init`'s settings are out of range (see [`crate::Init::validate`]);
/// [`try_new_network`] returns the error instead.
#[cfg(feature = "std")]
pub fn new_network<N: crate::Network>(init: crate::Init, seed: u64) -> N {
    match try_new_network(init, seed) {
        Ok(net) => net,
        Err(e) => panic!("{}::new: {e}", N::NAME),
    }
}

/// A network of type `N` initialised by `init` from `seed`, or the error
/// of [`crate::Init::validate`].
#[cfg(feature = "std")]
pub fn try_new_network<N: crate::Network>(init: crate::Init, seed: u64) -> crate::Result<N> {
    let mut weights = std::vec![0.0f32; N::PARAM_COUNT];
    crate::init::initialize(&mut weights, N::PARAMS, init, seed)?;
    Ok(N::from_weight_vec(weights))
}

/// A network of type `N` owning `weights`.
#[cfg(feature = "std")]
pub fn from_weights<N: crate::Network>(weights: Vec<f32>) -> crate::Result<N> {
    if weights.len() != N::PARAM_COUNT {
        return Err(crate::Error::WeightCount {
            network: N::NAME,
            expected: N::PARAM_COUNT,
            found: weights.len(),
        });
    }
    Ok(N::from_weight_vec(weights))
}

/// Re-initialises the tensors of the layer called `layer`.
#[cfg(feature = "std")]
pub fn reinitialize_layer<N: crate::Network>(
    net: &mut N,
    layer: &str,
    init: crate::Init,
    seed: u64,
) -> crate::Result<()> {
    let index = N::layer_index(layer)?;
    init.validate()?;
    let weights = net.weights_mut();
    for (i, p) in N::PARAMS
        .iter()
        .enumerate()
        .filter(|(_, p)| p.layer == index)
    {
        crate::init::initialize_tensor(&mut weights[p.range()], p, i, init, seed);
    }
    Ok(())
}

/// A network of type `N` with the tensors of a safetensors file.
#[cfg(feature = "std")]
pub fn from_safetensors<N: crate::Network>(path: &Path) -> crate::Result<N> {
    let weights = crate::io::safetensors::load_network::<N>(path, crate::LoadOptions::default())?;
    Ok(N::from_weight_vec(weights))
}

/// Replaces `net`'s parameters with a safetensors file's, all or nothing.
#[cfg(feature = "std")]
pub fn load_safetensors<N: crate::Network>(
    net: &mut N,
    path: &Path,
    options: crate::LoadOptions,
) -> crate::Result<()> {
    let weights = crate::io::safetensors::load_network::<N>(path, options)?;
    *net = N::from_weight_vec(weights);
    Ok(())
}

/// The disjoint `ranges` of a parameter buffer, mutably.
#[inline]
pub fn params_mut<const N: usize>(w: &mut [f32], ranges: [Range<usize>; N]) -> [&mut [f32]; N] {
    let ([], parts) = split(w, [], ranges);
    parts
}

/// `sum += part`: a gradient contribution added to a value's gradient.
#[inline]
pub fn add_assign(sum: &mut [f32], part: &[f32]) {
    for (s, p) in sum.iter_mut().zip(part) {
        *s += p;
    }
}

#[cfg(all(test, feature = "std"))]
// One-range arrays are how `param_grads` is called for a bias-free layer.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    #[test]
    fn carve_splits_in_any_order() {
        let mut buf: std::vec::Vec<u32> = (0..20).collect();
        let ([a, b], [c]) = carve(
            &mut buf,
            2,
            [Region::new(6, 8), Region::new(0, 1)],
            [Region::new(3, 5)],
        );
        assert_eq!(a, &[12, 13, 14, 15]);
        assert_eq!(b, &[0, 1]);
        c[0] = 99;
        assert_eq!(buf[6], 99);
    }

    #[test]
    #[should_panic(expected = "overlapping")]
    fn carve_rejects_overlap() {
        let mut buf = [0u8; 10];
        let _ = carve(&mut buf, 1, [Region::new(0, 4)], [Region::new(3, 5)]);
    }

    #[test]
    fn gradients_of_frozen_and_trainable_layers() {
        let mut grads = [0.0f32; 10];
        let [w, b] = param_grads(&mut grads, true, [4..8, 0..2]);
        w.unwrap().fill(1.0);
        b.unwrap().fill(2.0);
        assert_eq!(grads, [2.0, 2.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        let [w] = param_grads(&mut grads, false, [0..4]);
        assert!(w.is_none());
    }

    #[test]
    fn partial_gradients_add_up() {
        let mut sum = [1.0, 2.0];
        add_assign(&mut sum, &[0.5, 0.25]);
        assert_eq!(sum, [1.5, 2.25]);
    }
}
