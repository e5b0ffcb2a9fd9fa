//! The scalar level: one lane, plain Rust. It serves `no_std` builds
//! without SIMD and is the reference the other levels are tested against.
//!
//! Besides the [`Scalar`] token, which runs every generic kernel with one
//! lane, this level has plain-loop kernels of its own: the references the
//! vector kernels must agree with, and the fallbacks they call for shapes
//! they do not vectorise (horizontal strides other than 1, pooling windows
//! other than 2x2).

pub mod conv;
pub mod pool;

use super::vector::{Simd, Window};

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
    fn load_window(self, row: &[f32], w: Window) -> f32 {
        assert!(row.len() >= w.len);
        if w.lo < w.hi {
            row[w.start as usize]
        } else {
            0.0
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
    #[inline(always)]
    fn max_nan(self, a: f32, b: f32) -> f32 {
        if a.is_nan() {
            a
        } else if b.is_nan() || b > a {
            b
        } else {
            a
        }
    }
    #[inline(always)]
    fn max_arg(self, best: f32, best_arg: f32, v: f32, v_arg: f32) -> (f32, f32) {
        if v > best || (v.is_nan() && !best.is_nan()) {
            (v, v_arg)
        } else {
            (best, best_arg)
        }
    }
    #[inline(always)]
    fn deinterleave(self, a: f32, b: f32) -> (f32, f32) {
        (a, b)
    }
    #[inline(always)]
    fn interleave(self, a: f32, b: f32) -> (f32, f32) {
        (a, b)
    }
}
