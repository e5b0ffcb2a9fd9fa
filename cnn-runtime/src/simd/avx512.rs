//! AVX-512F: 16 lanes.

use core::arch::x86_64::*;

use super::vector::{Simd, Window};

/// Proof that the CPU runs AVX-512F.
#[derive(Clone, Copy, Debug)]
pub struct Avx512(());

impl Avx512 {
    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline(always)]
    pub unsafe fn new_unchecked() -> Self {
        Avx512(())
    }
}

#[inline(always)]
fn mask(n: usize) -> __mmask16 {
    if n >= 16 {
        0xffff
    } else {
        ((1u32 << n) - 1) as __mmask16
    }
}

// SAFETY (every block below): an `Avx512` token exists only when the CPU
// runs AVX-512F (see `new_unchecked`), and each load or store first checks
// that the slice holds the lanes it touches (masked lanes are not accessed).
impl Simd for Avx512 {
    type V = __m512;
    const LANES: usize = 16;

    #[inline(always)]
    fn zero(self) -> __m512 {
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m512 {
        unsafe { _mm512_set1_ps(x) }
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> __m512 {
        let s = &s[..16];
        unsafe { _mm512_loadu_ps(s.as_ptr()) }
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: __m512) {
        let s = &mut s[..16];
        unsafe { _mm512_storeu_ps(s.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn load_part(self, s: &[f32], n: usize) -> __m512 {
        let n = n.min(16);
        let s = &s[..n];
        unsafe { _mm512_maskz_loadu_ps(mask(n), s.as_ptr()) }
    }
    #[inline(always)]
    fn store_part(self, s: &mut [f32], n: usize, v: __m512) {
        let n = n.min(16);
        let s = &mut s[..n];
        unsafe { _mm512_mask_storeu_ps(s.as_mut_ptr(), mask(n), v) }
    }
    #[inline(always)]
    fn load_window(self, row: &[f32], w: Window) -> __m512 {
        assert!(row.len() >= w.len);
        // Masked-off lanes are never read, so the pointer may point
        // outside the row; lanes lo..hi (the bits set) lie inside it
        // (Window::new). With no bit set nothing is read.
        let p = row.as_ptr().wrapping_offset(w.start);
        unsafe { _mm512_maskz_loadu_ps(w.bits as __mmask16, p) }
    }
    #[inline(always)]
    fn mul_add(self, a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn add(self, a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    fn relu(self, x: __m512) -> __m512 {
        // max(0, x) returns x when x is NaN (the second operand).
        unsafe { _mm512_max_ps(_mm512_setzero_ps(), x) }
    }
    #[inline(always)]
    fn sum(self, v: __m512) -> f32 {
        unsafe { _mm512_reduce_add_ps(v) }
    }
    #[inline(always)]
    fn max_nan(self, a: __m512, b: __m512) -> __m512 {
        unsafe {
            let unordered = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, b);
            // a + b is NaN where either lane is.
            _mm512_mask_blend_ps(unordered, _mm512_max_ps(a, b), _mm512_add_ps(a, b))
        }
    }
    #[inline(always)]
    fn max_arg(self, best: __m512, best_arg: __m512, v: __m512, v_arg: __m512) -> (__m512, __m512) {
        unsafe {
            let gt = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
            let v_nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
            let best_ok = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(best, best);
            let take = gt | (v_nan & best_ok);
            (
                _mm512_mask_blend_ps(take, best, v),
                _mm512_mask_blend_ps(take, best_arg, v_arg),
            )
        }
    }
    #[inline(always)]
    fn deinterleave(self, a: __m512, b: __m512) -> (__m512, __m512) {
        unsafe {
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            (
                _mm512_permutex2var_ps(a, even, b),
                _mm512_permutex2var_ps(a, odd, b),
            )
        }
    }
    #[inline(always)]
    fn prefetch(self, s: &[f32]) {
        super::avx2::prefetch_t0(s)
    }
}
