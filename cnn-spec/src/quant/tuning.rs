//! The tuning constants of the int8 kernels (register blocks by vector
//! width), in the style of [`crate::tuning`]: tables keyed by the lanes of
//! an int32 vector (16 for AVX-512, 8 for AVX2); a table entry without an
//! instantiation in the kernel is a bug the kernel reports.

/// Most vectors of output channels one block of the channel-span
/// convolution kernel computes (64 channels at AVX-512).
pub const SPAN_CHANNEL_VECTORS: usize = 4;

/// Output pixels per block of the channel-span convolution kernel, for
/// `kv` vectors of channels: `pixels x kv` accumulators, `kv` weight
/// vectors and one broadcast input must fit the registers (32 at AVX-512,
/// 16 at AVX2), and at least 8 independent accumulators hide `vpdpbusd`'s
/// latency of 5 cycles at up to two per cycle where the channels allow.
#[inline]
pub const fn span_pixels(lanes: usize, kv: usize) -> usize {
    match (lanes, kv) {
        (16, 1) => 8,
        (16, 2) => 6,
        (16, _) => 4,
        (_, 1) => 8,
        (_, 2) => 4,
        (_, 3) => 3,
        _ => 2,
    }
}

/// Samples per block of the int8 dense kernel: each weight vector loaded
/// feeds this many samples.
#[inline]
pub const fn dense_samples(left: usize) -> usize {
    if left >= 4 {
        4
    } else if left >= 2 {
        2
    } else {
        1
    }
}

/// Most vectors of outputs per block of the int8 dense kernel for `samples`
/// samples: `samples x vectors` accumulators plus the weight vectors fit
/// the registers (32 at AVX-512, 16 at AVX2).
#[inline]
pub const fn dense_output_vectors(lanes: usize, samples: usize) -> usize {
    match (lanes, samples) {
        (16, 4) => 4,
        (16, 2) => 6,
        (16, _) => 8,
        (_, 4) => 2,
        (_, 2) => 3,
        _ => 6,
    }
}

/// The output-vector blocks the dense kernel instantiates; a block takes
/// the largest one within [`dense_output_vectors`] and the vectors left.
pub const DENSE_OUTPUT_BLOCKS: [usize; 6] = [8, 6, 4, 3, 2, 1];

/// Whether the pixel-row convolution kernel (`QConvKernel::PixelRows`)
/// suits a layer whose shape allows it (horizontal stride 1; no pool or a
/// 2x2 stride-2 pool): fewer output channels than a 16-lane vector (the
/// channel-span kernel would leave lanes empty), at most 4 input channels
/// (its work grows with the input channels times the groups of four taps
/// of each), and at least 8 output columns to fill the lanes. LeNet-5's
/// first layer (1 → 6 channels, 28 columns) qualifies: 2,352 `vpdpbusd`
/// instead of the channel-span kernel's 7,840 at AVX-512.
#[inline]
pub const fn pixel_rows_suits(g: &crate::ConvGeom) -> bool {
    g.k < 16 && g.c <= 4 && g.ow >= 8
}

/// Output channels per block of the pixel-row kernel, pooled (two conv
/// rows by two vectors of columns: `4 * channels` accumulators, plus the
/// channels' broadcast weights and one input vector) or not.
#[inline]
pub const fn pixel_rows_channels(lanes: usize, pooled: bool) -> usize {
    match (lanes, pooled) {
        (16, true) => 6,
        (16, false) => 8,
        (_, true) => 3,
        _ => 6,
    }
}
