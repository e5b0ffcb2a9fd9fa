//! What the direct-convolution kernels share: the loop invariants of one
//! sample, block-size choice and the window-cell table.

use cnn_spec::{Conv, ConvGeom, PoolGeom, MAX_POOL_WINDOW};

/// The loop invariants of a direct convolution of one sample.
#[derive(Clone, Copy, Debug)]
pub struct ConvCtx<'a> {
    /// The geometry.
    pub g: &'a ConvGeom,
    /// The sample's input, `[c, h, w]`.
    pub xs: &'a [f32],
    /// The weights: `[k, c, kh, kw]`, or packed tap-major
    /// (`w[t * kpad + k]` for tap `t = (c, ky, kx)`, see `pack_taps`).
    pub w: &'a [f32],
    /// The packed weights' row length (output channels, padded).
    pub kpad: usize,
    /// The bias, `[k]`, if any.
    pub b: Option<&'a [f32]>,
}

impl ConvCtx<'_> {
    /// The bias of output channel `k` (0 without a bias).
    #[inline(always)]
    pub fn bias(&self, k: usize) -> f32 {
        self.b.map_or(0.0, |b| b[k])
    }
}

/// The first block size of `blocks` (largest first, ending in 1) that is
/// at most `left`.
#[inline(always)]
pub fn block_for(blocks: &[usize], left: usize) -> usize {
    blocks.iter().copied().find(|&b| b <= left).unwrap_or(1)
}

/// The conv output cell each in-window index `a` of `p` points at,
/// relative to the window's top-left corner (any byte indexes it).
#[inline(always)]
pub fn window_cells(p: &PoolGeom) -> [(usize, usize); MAX_POOL_WINDOW + 1] {
    let mut cell = [(0usize, 0usize); MAX_POOL_WINDOW + 1];
    for (a, c) in cell.iter_mut().enumerate().take(p.kh * p.kw) {
        *c = (a / p.kw, a % p.kw);
    }
    cell
}

/// The pool of a fused layer.
#[inline(always)]
pub fn pool_of(l: &Conv) -> &PoolGeom {
    match &l.pool {
        Some(p) => p,
        None => panic!("a fused conv layer needs a pool"),
    }
}
