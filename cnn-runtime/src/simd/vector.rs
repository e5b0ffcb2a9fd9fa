//! The vector abstraction the kernels are written against.
//!
//! A kernel is a generic function over `S: Simd` taking the token `s`; the
//! dispatch wrappers (see `simd_kernel!`) instantiate it once per level
//! inside a `#[target_feature]` function, and every method here is
//! `#[inline(always)]`, so the intrinsics inline into that function.
//! Tokens other than [`Scalar`](super::Scalar) can only be created where their
//! instruction set is known to be available.

/// The lanes `lo..hi` of a vector read from `row[start..start + LANES]`
/// that fall inside a row of `len` values (`start` may be negative).
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// Offset of lane 0 in the row.
    pub start: isize,
    /// The row's length.
    pub len: usize,
    /// First lane inside the row.
    pub lo: usize,
    /// One past the last lane inside the row.
    pub hi: usize,
    /// Bit `j` set for each lane `j` inside the row (the AVX-512 lane mask).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub bits: u32,
}

impl Window {
    /// The window of `lanes` lanes at `start` in a row of `len` values.
    #[inline(always)]
    pub fn new(start: isize, len: usize, lanes: usize) -> Window {
        let lo = (-start).clamp(0, lanes as isize) as usize;
        let hi = (len as isize - start).clamp(0, lanes as isize) as usize;
        let hi = hi.max(lo);
        let below = |n: usize| if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
        Window {
            start,
            len,
            lo,
            hi,
            bits: below(hi) & !below(lo),
        }
    }
}

/// Operations on `LANES` f32 values at once.
pub trait Simd: Copy + Send + Sync {
    /// A vector of `LANES` f32.
    type V: Copy;
    /// Lanes per vector.
    const LANES: usize;

    /// All lanes zero.
    fn zero(self) -> Self::V;
    /// All lanes `x`.
    fn splat(self, x: f32) -> Self::V;
    /// The first `LANES` values of `s` (panics if shorter).
    fn load(self, s: &[f32]) -> Self::V;
    /// Stores into the first `LANES` values of `s` (panics if shorter).
    fn store(self, s: &mut [f32], v: Self::V);
    /// The first `n <= LANES` values of `s`, zeros after.
    fn load_part(self, s: &[f32], n: usize) -> Self::V;
    /// Stores the first `n <= LANES` lanes into `s`.
    fn store_part(self, s: &mut [f32], n: usize, v: Self::V);
    /// Lanes `w.lo..w.hi` from `row[w.start..]`, zeros elsewhere (the
    /// zero padding around a row). Panics if `row` is shorter than `w.len`.
    fn load_window(self, row: &[f32], w: Window) -> Self::V;
    /// `a * b + c` (fused where the hardware has it).
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// ReLU: `x < 0 ? 0 : x`, NaN kept.
    fn relu(self, x: Self::V) -> Self::V;
    /// Sum of the lanes.
    fn sum(self, v: Self::V) -> f32;
    /// Lane-wise maximum where NaN wins: NaN if either lane is NaN.
    fn max_nan(self, a: Self::V, b: Self::V) -> Self::V;
    /// Max-pooling step with PyTorch's rule: where `v > best` or `v` is NaN
    /// (and `best` is not), `(v, v_arg)` replaces `(best, best_arg)`.
    fn max_arg(
        self,
        best: Self::V,
        best_arg: Self::V,
        v: Self::V,
        v_arg: Self::V,
    ) -> (Self::V, Self::V);
    /// Splits the `2 * LANES` values of `a` then `b` into even and odd
    /// positions: `([a0, a2, .., b0, b2, ..], [a1, a3, .., b1, b3, ..])`.
    fn deinterleave(self, a: Self::V, b: Self::V) -> (Self::V, Self::V);
    /// The inverse of [`Simd::deinterleave`]: the `2 * LANES` values
    /// `[a0, b0, a1, b1, ..]`, as two vectors.
    fn interleave(self, a: Self::V, b: Self::V) -> (Self::V, Self::V);
    /// The level's hand-scheduled GEMM micro-kernel, where it has one for
    /// an `MR x NV` tile (rows by vectors of columns): the tile
    /// `acc[r][v][j] = sum_p a[r * lda + p * astep] * b[p * bs + v * LANES + j]`
    /// over `p < kc`, with `(a, lda, astep)` and `(b, bs)` as given.
    /// `None` (the default) where it has none, and the generic kernel runs.
    #[inline(always)]
    fn gemm_micro<const MR: usize, const NV: usize>(
        self,
        kc: usize,
        a: (&[f32], usize, usize),
        b: (&[f32], usize),
    ) -> Option<[[Self::V; NV]; MR]> {
        let _ = (kc, a, b);
        None
    }
    /// Asks for the cache line holding `s[0]` to be brought into L1 ahead
    /// of use (a hint: no effect on results; nothing where the level has no
    /// prefetch instruction).
    #[inline(always)]
    fn prefetch(self, s: &[f32]) {
        let _ = s;
    }
}

/// Checks a level's partial loads and stores and its windows against their
/// definitions, for every count of lanes and every window position.
#[cfg(test)]
#[inline(always)]
pub(crate) fn check_partial_access<S: Simd>(s: S) {
    let l = S::LANES;
    let src: [f32; 64] = core::array::from_fn(|i| i as f32 + 1.0);
    let lanes = |v: S::V| {
        let mut out = [f32::NAN; 64];
        s.store(&mut out, v);
        out
    };
    for n in 0..=l {
        for off in [0, 1, 3] {
            let got = lanes(s.load_part(&src[off..off + n], n));
            for j in 0..l {
                let want = if j < n { src[off + j] } else { 0.0 };
                assert_eq!(got[j], want, "load_part of {n} at {off}, lane {j}");
            }
            let mut dst = [-1.0f32; 64];
            s.store_part(&mut dst[off..off + n], n, s.load(&src[..]));
            for (j, &d) in dst.iter().enumerate() {
                let want = if j >= off && j < off + n {
                    src[j - off]
                } else {
                    -1.0
                };
                assert_eq!(d, want, "store_part of {n} at {off}, element {j}");
            }
        }
    }
    for len in [0, 1, l - 1, l, l + 1, 2 * l + 3] {
        let row = &src[..len];
        for start in -(l as isize) - 1..=len as isize + 1 {
            let w = Window::new(start, len, l);
            let got = lanes(s.load_window(row, w));
            for (j, &g) in got.iter().enumerate().take(l) {
                let at = start + j as isize;
                let want = if at >= 0 && (at as usize) < len {
                    row[at as usize]
                } else {
                    0.0
                };
                assert_eq!(g, want, "window at {start} in a row of {len}, lane {j}");
            }
        }
    }
}
