//! NEON on aarch64: 4 lanes.

use core::arch::aarch64::*;

use super::vector::{Simd, Window};

/// NEON, part of every aarch64 CPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct Neon(());

impl Neon {
    /// The token (NEON is baseline on aarch64).
    #[inline(always)]
    pub fn new() -> Self {
        Neon(())
    }
}

// SAFETY (every block below): NEON is part of the aarch64 baseline, and
// each load or store first checks that the slice holds the lanes it touches.
impl Simd for Neon {
    type V = float32x4_t;
    const LANES: usize = 4;

    #[inline(always)]
    fn zero(self) -> float32x4_t {
        unsafe { vdupq_n_f32(0.0) }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> float32x4_t {
        unsafe { vdupq_n_f32(x) }
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> float32x4_t {
        let s = &s[..4];
        unsafe { vld1q_f32(s.as_ptr()) }
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: float32x4_t) {
        let s = &mut s[..4];
        unsafe { vst1q_f32(s.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn load_part(self, s: &[f32], n: usize) -> float32x4_t {
        let mut tmp = [0.0f32; 4];
        let n = n.min(4);
        tmp[..n].copy_from_slice(&s[..n]);
        self.load(&tmp)
    }
    #[inline(always)]
    fn store_part(self, s: &mut [f32], n: usize, v: float32x4_t) {
        let mut tmp = [0.0f32; 4];
        self.store(&mut tmp, v);
        let n = n.min(4);
        s[..n].copy_from_slice(&tmp[..n]);
    }
    #[inline(always)]
    fn load_window(self, row: &[f32], w: Window) -> float32x4_t {
        assert!(row.len() >= w.len);
        let mut tmp = [0.0f32; 4];
        for (j, t) in tmp.iter_mut().enumerate().take(w.hi).skip(w.lo) {
            *t = row[(w.start + j as isize) as usize];
        }
        self.load(&tmp)
    }
    #[inline(always)]
    fn mul_add(self, a: float32x4_t, b: float32x4_t, c: float32x4_t) -> float32x4_t {
        unsafe { vfmaq_f32(c, a, b) }
    }
    #[inline(always)]
    fn add(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        unsafe { vaddq_f32(a, b) }
    }
    #[inline(always)]
    fn relu(self, x: float32x4_t) -> float32x4_t {
        // x < 0 ? 0 : x, keeping NaN (the comparison is false for NaN).
        unsafe { vbslq_f32(vcltq_f32(x, vdupq_n_f32(0.0)), vdupq_n_f32(0.0), x) }
    }
    #[inline(always)]
    fn sum(self, v: float32x4_t) -> f32 {
        unsafe { vaddvq_f32(v) }
    }
    #[inline(always)]
    fn max_nan(self, a: float32x4_t, b: float32x4_t) -> float32x4_t {
        // FMAX returns NaN when either operand is NaN.
        unsafe { vmaxq_f32(a, b) }
    }
    #[inline(always)]
    fn max_arg(
        self,
        best: float32x4_t,
        best_arg: float32x4_t,
        v: float32x4_t,
        v_arg: float32x4_t,
    ) -> (float32x4_t, float32x4_t) {
        unsafe {
            let gt = vcgtq_f32(v, best);
            let v_nan = vmvnq_u32(vceqq_f32(v, v));
            let best_ok = vceqq_f32(best, best);
            let take = vorrq_u32(gt, vandq_u32(v_nan, best_ok));
            (vbslq_f32(take, v, best), vbslq_f32(take, v_arg, best_arg))
        }
    }
    #[inline(always)]
    fn deinterleave(self, a: float32x4_t, b: float32x4_t) -> (float32x4_t, float32x4_t) {
        unsafe { (vuzp1q_f32(a, b), vuzp2q_f32(a, b)) }
    }
    #[inline(always)]
    fn interleave(self, a: float32x4_t, b: float32x4_t) -> (float32x4_t, float32x4_t) {
        unsafe { (vzip1q_f32(a, b), vzip2q_f32(a, b)) }
    }
}
