//! Inverted dropout: during training each value is kept with probability
//! `1 - p` and scaled by `1 / (1 - p)`; at inference the layer is the
//! identity (the generated inference code skips it).
//!
//! The keep/drop decision for a value depends only on the step's seed, the
//! sample's index in the whole batch and the value's index in the sample,
//! so the masks do not change with the number of threads.

/// Applies dropout in place to `n` samples of `len` values, the first of
/// which has index `first_sample` in the batch; `mask[i] = 1` if kept.
pub fn forward_in_place(
    p: f32,
    seed: u64,
    first_sample: usize,
    len: usize,
    y: &mut [f32],
    mask: &mut [u8],
    n: usize,
) {
    let scale = 1.0 / (1.0 - p);
    // Keep when the 24-bit uniform draw is at least p.
    let threshold = (p as f64 * (1u64 << 24) as f64) as u32;
    for s in 0..n {
        let base = seed ^ ((first_sample + s) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let ys = &mut y[s * len..][..len];
        let ms = &mut mask[s * len..][..len];
        for (i, (v, m)) in ys.iter_mut().zip(ms.iter_mut()).enumerate() {
            let draw = (splitmix64(base.wrapping_add(i as u64)) >> 40) as u32;
            let keep = draw >= threshold;
            *m = u8::from(keep);
            *v = if keep { *v * scale } else { 0.0 };
        }
    }
}

/// `d = d * mask / (1 - p)` in place.
pub fn backward_in_place(p: f32, mask: &[u8], d: &mut [f32]) {
    let scale = 1.0 / (1.0 - p);
    for (g, &m) in d.iter_mut().zip(mask) {
        *g = if m != 0 { *g * scale } else { 0.0 };
    }
}

/// SplitMix64: a fast, well-mixed 64-bit hash of a counter.
#[inline]
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
