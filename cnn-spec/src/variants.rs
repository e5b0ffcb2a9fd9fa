//! Which variant of a direct-convolution kernel suits a layer at a given
//! vector width (`lanes`: 1 for the scalar level, 4 for NEON, 8 for AVX2,
//! 16 for AVX-512). The runtime's SIMD kernels call these with their
//! level's lane count, a constant, so each choice folds away.

use crate::geom::{ConvGeom, PoolGeom};
use crate::tuning::{CV_MAX_PACKED, CV_MAX_WEIGHTS, MAX_BANDED_K};

/// Whether a layer runs on the channel-vectorised direct kernels (vectors
/// over output channels, weights packed tap-major): at least one full
/// vector of output channels, and packed weights small enough to stay in
/// cache ([`CV_MAX_PACKED`]). Otherwise the column-vectorised kernels run.
#[inline]
pub const fn use_channel_vectors(g: &ConvGeom, lanes: usize) -> bool {
    lanes > 1 && g.k >= lanes && g.patch_len() * g.k.next_multiple_of(lanes) <= CV_MAX_PACKED
}

/// Whether the column-vectorised kernels pack the weights tap-major on
/// the stack first (with SIMD, when they fit [`CV_MAX_WEIGHTS`]).
#[inline]
pub const fn pack_column_weights(g: &ConvGeom, lanes: usize) -> bool {
    lanes > 1 && g.patch_len() * g.k <= CV_MAX_WEIGHTS
}

/// Whether the dense weight gradient runs vectorised over output channels:
/// more than half a vector and at most one vector of them, and the
/// transposed output gradient (`oh * ow * lanes`) fits the stack buffer.
#[inline]
pub const fn dw_channel_vectors(g: &ConvGeom, lanes: usize) -> bool {
    lanes > 1 && g.k > lanes / 2 && g.k <= lanes && g.out_pixels() * lanes <= CV_MAX_WEIGHTS
}

/// Whether the sparse weight gradient (from each pooling window's winner
/// only) suits a fused direct layer at `lanes` lanes: a 5x5 or 3x3 kernel
/// and the input channels in one vector, filling more than a quarter of it
/// (with fewer channels most lanes of each FMA would be empty; such layers
/// use the dense kernels over the scattered gradient).
#[inline]
pub const fn sparse_dw_suits(g: &ConvGeom, lanes: usize) -> bool {
    let taps_fit = matches!((g.kh, g.kw), (5, 5) | (3, 3));
    lanes > 1 && taps_fit && g.c * 4 > lanes && g.c <= lanes
}

/// Whether the sparse input gradient of a fused direct layer accumulates
/// each pooled position's block of input cells in registers: a stride-1
/// 5x5 or 3x3 kernel under a 2x2 stride-2 pool, the input channels in one
/// vector, and at most [`MAX_BANDED_K`] output channels (LeNet's conv2).
#[inline]
pub const fn sparse_dx_banded(g: &ConvGeom, p: &PoolGeom, lanes: usize) -> bool {
    let taps_fit = matches!((g.kh, g.kw), (5, 5) | (3, 3));
    g.sh == 1
        && g.sw == 1
        && taps_fit
        && g.c.next_multiple_of(lanes) == lanes
        && g.k <= MAX_BANDED_K
        && p.is_2x2_stride_2()
}
