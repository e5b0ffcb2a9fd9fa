//! The vector abstraction the kernels are written against.
//!
//! A kernel is a generic function over `S: Simd` taking the token `s`; the
//! dispatch wrappers (see `simd_kernel!`) instantiate it once per level
//! inside a `#[target_feature]` function, and every method here is
//! `#[inline(always)]`, so the intrinsics inline into that function.
//! Tokens other than [`Scalar`] can only be created where their
//! instruction set is known to be available.

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
    /// `a * b + c` (fused where the hardware has it).
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a * b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// ReLU: `x < 0 ? 0 : x`, NaN kept.
    fn relu(self, x: Self::V) -> Self::V;
    /// Sum of the lanes.
    fn sum(self, v: Self::V) -> f32;
}

/// The portable level: one lane, plain Rust.
#[derive(Clone, Copy, Debug, Default)]
pub struct Scalar;

impl Simd for Scalar {
    type V = f32;
    const LANES: usize = 1;

    #[inline(always)]
    fn zero(self) -> f32 {
        0.0
    }
    #[inline(always)]
    fn splat(self, x: f32) -> f32 {
        x
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> f32 {
        s[0]
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: f32) {
        s[0] = v;
    }
    #[inline(always)]
    fn load_part(self, s: &[f32], n: usize) -> f32 {
        if n > 0 {
            s[0]
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn store_part(self, s: &mut [f32], n: usize, v: f32) {
        if n > 0 {
            s[0] = v;
        }
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
    #[inline(always)]
    fn add(self, a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    fn mul(self, a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    fn relu(self, x: f32) -> f32 {
        if x < 0.0 {
            0.0
        } else {
            x
        }
    }
    #[inline(always)]
    fn sum(self, v: f32) -> f32 {
        v
    }
}
