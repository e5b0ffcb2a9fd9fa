//! Weight packing for the direct kernels: tap-major (`[taps, kpad]`, so a
//! tap's weights for a block of output channels sit together) and
//! channels-last (`[k, taps, cpad]`, for the sparse input gradient).

use core::mem::MaybeUninit;

use cnn_spec::tuning::CV_MAX_WEIGHTS;
use cnn_spec::ConvGeom;

/// A stack buffer for packed weights, not cleared on every call.
pub type PackBuf = [MaybeUninit<f32>; CV_MAX_WEIGHTS];

/// A fresh (uninitialised) [`PackBuf`].
#[inline(always)]
pub fn pack_buf() -> PackBuf {
    [const { MaybeUninit::uninit() }; CV_MAX_WEIGHTS]
}

/// `w` packed tap-major with rows of `kpad` output channels: in `buf` (on
/// the caller's stack) when it fits ([`CV_MAX_WEIGHTS`]), in `scratch`
/// otherwise.
#[inline(always)]
pub fn packed_taps<'b>(
    g: &ConvGeom,
    w: &[f32],
    kpad: usize,
    buf: &'b mut PackBuf,
    scratch: &'b mut [f32],
) -> &'b [f32] {
    if g.patch_len() * kpad <= CV_MAX_WEIGHTS {
        pack_taps(g, w, kpad, buf)
    } else {
        pack_taps_into(g, w, kpad, scratch)
    }
}

/// As [`pack_taps`], into (initialised) scratch memory.
#[inline(always)]
fn pack_taps_into<'b>(g: &ConvGeom, w: &[f32], kpad: usize, scratch: &'b mut [f32]) -> &'b [f32] {
    let patch = g.patch_len();
    let wt = &mut scratch[..patch * kpad];
    wt.fill(0.0);
    for (k, taps) in w[..g.k * patch].chunks_exact(patch).enumerate() {
        for (dst, &v) in wt[k..].iter_mut().step_by(kpad).zip(taps) {
            *dst = v;
        }
    }
    wt
}

/// Packs `w` (`[k, c, kh, kw]`) into `buf` as `wt[t * kpad + k]`, `t` the
/// tap `(c, ky, kx)`, writing only the packed part; returns that part.
#[inline(always)]
pub fn pack_taps<'b>(g: &ConvGeom, w: &[f32], kpad: usize, buf: &'b mut PackBuf) -> &'b [f32] {
    let patch = g.patch_len();
    let len = patch * kpad;
    assert!(len <= CV_MAX_WEIGHTS);
    let wt = &mut buf[..len];
    for v in wt.iter_mut() {
        v.write(0.0);
    }
    for (k, taps) in w[..g.k * patch].chunks_exact(patch).enumerate() {
        for (dst, &v) in wt[k..].iter_mut().step_by(kpad).zip(taps) {
            dst.write(v);
        }
    }
    // SAFETY: every element of `buf[..len]` was written just above, and
    // `MaybeUninit<f32>` has the layout of `f32`.
    unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<f32>(), len) }
}

/// Packs `w` (`[k, c, kh, kw]`) as `wc[((k * kh + ky) * kw + kx) * cpad + c]`,
/// zero-padded to `cpad` input channels, for the sparse input gradient.
pub fn pack_channels_last(g: &ConvGeom, w: &[f32], cpad: usize, wc: &mut [f32]) {
    let taps = g.kh * g.kw;
    let wc = &mut wc[..g.k * taps * cpad];
    wc.fill(0.0);
    for k in 0..g.k {
        for c in 0..g.c {
            let src = &w[(k * g.c + c) * taps..(k * g.c + c + 1) * taps];
            for (t, &v) in src.iter().enumerate() {
                wc[(k * taps + t) * cpad + c] = v;
            }
        }
    }
}
