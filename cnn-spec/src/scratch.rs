//! Scratch memory (floats) the convolution kernels need for one call,
//! independent of the number of samples. A grouped layer runs one group at
//! a time through the same scratch, so the sizes are one group's.
//!
//! | kernel | forward | backward |
//! | --- | --- | --- |
//! | direct | [`direct_pack_len`] | 0 |
//! | im2col | [`packed_columns`] (the columns, in the GEMM's panels) | `c*kh*kw * oh*ow` (the columns) |
//! | pointwise | 0 | 0 |
//! | fused, direct, disjoint windows | [`direct_pack_len`] | [`fused_backward_scratch`] |
//! | fused, direct, overlapping windows | [`plane_scratch`]: conv planes and packed weights | `oh*ow` |
//! | fused, im2col | a band's columns ([`band_columns`]) and the band, `k * pool.kh * ow` | `k*oh*ow` and the columns |
//! | fused, pointwise | a band of `k * pool.kh * ow` | `k*oh*ow` |

use crate::geom::ConvGeom;
use crate::layer::{Conv, ConvAlgo, ConvKernel};
use crate::limits::MAX_LANES;
use crate::tuning::{CHANNEL_VECTORS_PER_BLOCK, CV_MAX_PACKED, CV_MAX_WEIGHTS, GEMM_NR_MAX};

/// Scratch floats a direct convolution needs for its packed weights when
/// they do not fit the kernel's stack buffer ([`CV_MAX_WEIGHTS`]) but stay
/// within [`CV_MAX_PACKED`]; 0 otherwise (for small layers such as LeNet's,
/// so heap-free arenas stay small).
#[inline]
pub const fn direct_pack_len(g: &ConvGeom) -> usize {
    let len = g.patch_len() * padded_out_channels(g);
    if len > CV_MAX_WEIGHTS && len <= CV_MAX_PACKED {
        len
    } else {
        0
    }
}

/// Output channels a fused direct layer with overlapping pooling windows
/// convolves at a time into its scratch planes before pooling them: one
/// block of the channel-vectorised kernel ([`CHANNEL_VECTORS_PER_BLOCK`]
/// vectors of [`MAX_LANES`]), or all of them if fewer, when the packed
/// weights of that many stay within [`CV_MAX_PACKED`]; 1 otherwise.
#[inline]
pub const fn plane_channels(g: &ConvGeom) -> usize {
    let block = CHANNEL_VECTORS_PER_BLOCK * MAX_LANES;
    let channels = if g.k < block { g.k } else { block };
    if g.patch_len() * channels.next_multiple_of(MAX_LANES) <= CV_MAX_PACKED {
        channels
    } else {
        1
    }
}

/// Scratch floats of a fused direct layer with overlapping pooling
/// windows: [`plane_channels`] conv planes, then the packed weights of
/// that many channels when they do not fit the kernel's stack buffer
/// ([`direct_pack_len`]).
#[inline]
pub const fn plane_scratch(g: &ConvGeom) -> (usize, usize) {
    let k = plane_channels(g);
    let block = ConvGeom { k, ..*g };
    (k * g.out_pixels(), direct_pack_len(&block))
}

/// Output channels rounded up to the widest vector ([`MAX_LANES`]).
#[inline]
pub const fn padded_out_channels(g: &ConvGeom) -> usize {
    g.k.div_ceil(MAX_LANES) * MAX_LANES
}

/// Input channels rounded up to the widest vector ([`MAX_LANES`]).
#[inline]
pub const fn padded_in_channels(g: &ConvGeom) -> usize {
    g.c.div_ceil(MAX_LANES) * MAX_LANES
}

/// The two arrays at the end of a fused direct layer's backward scratch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectTail {
    /// One tap-major array over padded input channels
    /// (`k * kh * kw * cpad`), used twice: the weights packed channels-last
    /// for the sparse input gradient, and the channels-last weight gradient
    /// of the sparse weight gradient.
    pub taps: usize,
    /// The input zero-padded channels-last for the sparse weight gradient:
    /// `(h + 2 ph) * (w + 2 pw) * cpad`.
    pub padded: usize,
}

/// The tail of a fused direct layer's backward scratch ([`DirectTail`]),
/// with the input channels padded to [`padded_in_channels`].
#[inline]
pub const fn direct_tail(g: &ConvGeom) -> DirectTail {
    let cpad = padded_in_channels(g);
    DirectTail {
        taps: g.k * g.kh * g.kw * cpad,
        padded: (g.h + 2 * g.ph) * (g.w + 2 * g.pw) * cpad,
    }
}

/// Floats of an unfused im2col layer's forward columns, written in the
/// GEMM's panel layout: `c*kh*kw` rows of `oh*ow` columns rounded up to
/// the widest panel ([`GEMM_NR_MAX`], a multiple of every level's panel
/// width).
#[inline]
pub const fn packed_columns(g: &ConvGeom) -> usize {
    g.patch_len() * g.out_pixels().next_multiple_of(GEMM_NR_MAX)
}

/// Floats of the im2col columns of one band of a fused im2col layer (the
/// conv rows one pooled row reads, at most `pool.kh * ow` columns), in the
/// GEMM's panel layout rounded up as [`packed_columns`] rounds; 0 without
/// a pool.
#[inline]
pub const fn band_columns(l: &Conv) -> usize {
    let g = &l.geom;
    match l.pool {
        Some(p) => g.patch_len() * (p.kh * g.ow).next_multiple_of(GEMM_NR_MAX),
        None => 0,
    }
}

/// Scratch floats the forward pass of layer `l` needs for one call.
#[inline]
pub const fn forward_scratch(l: &Conv) -> usize {
    let g = &l.geom;
    match l.kernel() {
        ConvKernel::Direct | ConvKernel::FusedDirectDisjoint => direct_pack_len(g),
        ConvKernel::Im2col => packed_columns(g),
        ConvKernel::Pointwise => 0,
        ConvKernel::Winograd => crate::winograd::scratch_len(g),
        ConvKernel::FusedDirectPlane => {
            let (planes, packed) = plane_scratch(g);
            planes + packed
        }
        ConvKernel::FusedBand => {
            let band = match l.pool {
                Some(p) => g.k * p.kh * g.ow,
                None => 0,
            };
            match l.band_algo() {
                ConvAlgo::Im2col => band_columns(l) + band,
                _ => band,
            }
        }
    }
}

/// Scratch floats the backward pass of layer `l` needs for one call: on
/// the GEMM, the im2col columns and the weights transposed once per call.
#[inline]
pub const fn backward_scratch(l: &Conv) -> usize {
    if l.pool.is_some() {
        return fused_backward_scratch(l);
    }
    let g = &l.geom;
    match l.backward_algo() {
        ConvAlgo::Im2col | ConvAlgo::Winograd => g.patch_len() * g.out_pixels() + g.weight_len(),
        ConvAlgo::Pointwise => g.weight_len(),
        ConvAlgo::Direct => 0,
    }
}

/// Scratch floats the backward pass of a layer with a fused max-pool needs:
/// the conv-output gradient (`k * oh * ow`), then for the direct algorithm
/// the input gradient channels-last (`h * w * cpad`) or the columns of an
/// im2col weight gradient ([`Conv::weight_grad_algo`]), whichever is
/// longer, and the [`DirectTail`], for im2col the columns, and on the GEMM
/// the weights transposed once per call.
#[inline]
pub const fn fused_backward_scratch(l: &Conv) -> usize {
    let g = &l.geom;
    match l.band_algo() {
        ConvAlgo::Direct => {
            let tail = direct_tail(g);
            // The input gradient channels-last, or first (the two are not
            // live together) the columns of an im2col weight gradient.
            let dx = g.h * g.w * padded_in_channels(g);
            let cols = match l.weight_grad_algo() {
                ConvAlgo::Im2col => g.patch_len() * g.out_pixels(),
                _ => 0,
            };
            let rest = if cols > dx { cols } else { dx };
            g.out_len() + rest + 2 * tail.taps + tail.padded
        }
        ConvAlgo::Im2col | ConvAlgo::Winograd => {
            g.out_len() + g.patch_len() * g.out_pixels() + g.weight_len()
        }
        ConvAlgo::Pointwise => g.out_len() + g.weight_len(),
    }
}
