//! The integer vector abstraction the int8 kernels are written against:
//! `LANES` int32 lanes, each also seen as four bytes (the `vpdpbusd`
//! form). Every method is `#[inline(always)]`, so a kernel instantiated in
//! a `#[target_feature]` function compiles to that instruction set (see
//! `qkernel!` in the parent module), and the helpers the kernels share.

use cnn_spec::quant::Requant;

/// Operations on `LANES` int32 values at once.
pub trait QSimd: Copy {
    /// A vector of `LANES` int32 (`4 * LANES` bytes).
    type V: Copy;
    /// Lanes per vector.
    const LANES: usize;

    /// All lanes zero.
    fn zero(self) -> Self::V;
    /// All lanes `v`.
    fn splat(self, v: i32) -> Self::V;
    /// The first `n <= LANES` little-endian int32 of `b` (`4 n` bytes),
    /// zeros after. Panics if `b` is shorter.
    fn load_part(self, b: &[u8], n: usize) -> Self::V;
    /// The four bytes at `p` (as a little-endian int32) in every lane.
    ///
    /// # Safety
    /// `p..p + 4` must be readable.
    unsafe fn splat_quad(self, p: *const i8) -> Self::V;
    /// Lane `j` = the four bytes at `p + j` (a window sliding one byte per
    /// lane, the `u8` taps of four neighbouring kernel columns).
    ///
    /// # Safety
    /// 32 bytes from `p` must be readable.
    unsafe fn hquad(self, p: *const i8) -> Self::V;
    /// Lane `j` = the bytes at `p + j`, `p + stride + j`, `p + 2 stride +
    /// j`, `p + 3 stride + j` (four rows of one column).
    ///
    /// # Safety
    /// `LANES` bytes from `p + t * stride` must be readable, `t < 4`.
    unsafe fn vquad(self, p: *const i8, stride: usize) -> Self::V;
    /// `[max(a0, a1), max(a2, a3), .., max(b0, b1), ..]`: the maxima of
    /// neighbouring lanes of `a` then `b`.
    fn max_pairs(self, a: Self::V, b: Self::V) -> Self::V;
    /// The first `n <= LANES` bytes of `b`, sign-extended, zeros after.
    fn load_i8(self, b: &[i8], n: usize) -> Self::V;
    /// The bytes `b[0], b[stride], ..` of the first `n <= LANES` lanes,
    /// sign-extended (`stride` 1 or 2 runs with vector loads).
    fn load_i8_strided(self, b: &[i8], stride: usize, n: usize) -> Self::V;
    /// `acc + sum_{t<4} x[4j + t] * w[4j + t]` in each lane `j`, with `x`'s
    /// bytes unsigned and `w`'s signed (`vpdpbusd`; exact, no saturation).
    fn dpbusd(self, acc: Self::V, x: Self::V, w: Self::V) -> Self::V;
    /// `a + b` (wrapping).
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a - b` (wrapping).
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise maximum.
    fn max(self, a: Self::V, b: Self::V) -> Self::V;
    /// Lane-wise minimum.
    fn min(self, a: Self::V, b: Self::V) -> Self::V;
    /// TFLite's `MultiplyByQuantizedMultiplier` in every lane, with the
    /// lane's multiplier `q` and `shift` (see `cnn_spec::quant::fixed`).
    fn requant(self, x: Self::V, q: Self::V, shift: Self::V) -> Self::V;
    /// Stores the first `n <= LANES` lanes (each in `-128..=127`) as bytes
    /// into `out`.
    fn store_i8(self, v: Self::V, out: &mut [i8], n: usize);
    /// The lanes, in order (the first `LANES` entries).
    fn to_array(self, v: Self::V) -> [i32; 16];
    /// `clamp(round(x / scale) + zp, -128, 127)` of the first `n` floats,
    /// as TFLite's `Quantize` (ties away from zero; NaN gives `zp`).
    fn quantize(self, x: &[f32], n: usize, scale: f32, zp: i32) -> Self::V;
    /// Writes `scale * (v - zp)` of the first `n` lanes to `out`.
    fn dequantize(self, v: Self::V, scale: f32, zp: i32, out: &mut [f32], n: usize);
}

/// Four bytes of `b` at `at` as a little-endian int32, with zeros for
/// bytes past the end (their weights are zero).
#[inline(always)]
pub fn quad(b: &[i8], at: usize) -> i32 {
    match b.get(at..at + 4) {
        Some(q) => i32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]),
        None => {
            let mut q = [0u8; 4];
            for (t, v) in q.iter_mut().enumerate() {
                *v = b.get(at + t).map_or(0, |&x| x as u8);
            }
            i32::from_le_bytes(q)
        }
    }
}

// ---- helpers the generic kernels share ----------------------------------------

/// `clamp(zp + MultiplyByQuantizedMultiplier(v, q, shift), min, max)` in
/// every lane.
#[inline(always)]
pub fn narrow<S: QSimd>(s: S, v: S::V, q: S::V, shift: S::V, r: Requant) -> S::V {
    let v = s.add(s.requant(v, q, shift), s.splat(r.zero_point));
    s.min(s.max(v, s.splat(r.min)), s.splat(r.max))
}

/// Hands the first `n` lanes of `v` (each in `-128..=127`) to `put(j, byte)`.
#[inline(always)]
pub fn store_lanes<S: QSimd>(s: S, v: S::V, n: usize, mut put: impl FnMut(usize, i8)) {
    let lanes = s.to_array(v);
    for (j, &b) in lanes.iter().enumerate().take(n) {
        put(j, b as i8);
    }
}
