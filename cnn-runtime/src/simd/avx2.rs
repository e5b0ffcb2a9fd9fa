//! AVX2 with FMA: 8 lanes.

use core::arch::x86_64::*;

use super::vector::{Simd, Window};

/// Proof that the CPU runs AVX2 and FMA.
#[derive(Clone, Copy, Debug)]
pub struct Avx2(());

impl Avx2 {
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[inline(always)]
    pub unsafe fn new_unchecked() -> Self {
        Avx2(())
    }
}

/// Lane mask for the first `n` lanes (sign bit set).
#[inline(always)]
unsafe fn mask(n: usize) -> __m256i {
    const IDX: [i32; 8] = [0, 1, 2, 3, 4, 5, 6, 7];
    // SAFETY: the caller holds an `Avx2` token.
    unsafe {
        let idx = _mm256_loadu_si256(IDX.as_ptr() as *const __m256i);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), idx)
    }
}

// SAFETY (every block below): an `Avx2` token exists only when the CPU runs
// AVX2 and FMA (see `new_unchecked`), and each load or store first checks
// that the slice holds the lanes it touches (masked lanes are not accessed).
impl Simd for Avx2 {
    type V = __m256;
    const LANES: usize = 8;

    #[inline(always)]
    fn zero(self) -> __m256 {
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    fn splat(self, x: f32) -> __m256 {
        unsafe { _mm256_set1_ps(x) }
    }
    #[inline(always)]
    fn load(self, s: &[f32]) -> __m256 {
        let s = &s[..8];
        unsafe { _mm256_loadu_ps(s.as_ptr()) }
    }
    #[inline(always)]
    fn store(self, s: &mut [f32], v: __m256) {
        let s = &mut s[..8];
        unsafe { _mm256_storeu_ps(s.as_mut_ptr(), v) }
    }
    #[inline(always)]
    fn load_part(self, s: &[f32], n: usize) -> __m256 {
        // A whole vector takes the plain load: `vmaskmovps` is several
        // times slower on some CPUs (AMD Zen 2 and 3) even with every lane
        // set.
        if n >= 8 {
            return self.load(s);
        }
        let s = &s[..n];
        unsafe { _mm256_maskload_ps(s.as_ptr(), mask(n)) }
    }
    #[inline(always)]
    fn store_part(self, s: &mut [f32], n: usize, v: __m256) {
        // As in `load_part`: the masked store is microcoded on AMD Zen 2
        // and 3 (tens of cycles), the plain one is not.
        if n >= 8 {
            return self.store(s, v);
        }
        let s = &mut s[..n];
        unsafe { _mm256_maskstore_ps(s.as_mut_ptr(), mask(n), v) }
    }
    #[inline(always)]
    fn load_window(self, row: &[f32], w: Window) -> __m256 {
        assert!(row.len() >= w.len);
        if w.lo >= w.hi {
            return self.zero();
        }
        if w.lo == 0 && w.hi == 8 {
            // Every lane inside the row: `row[start..start + 8]`.
            return self.load(&row[w.start as usize..]);
        }
        // Masked-off lanes are never read, so the pointer may point
        // outside the row; lanes lo..hi lie inside it (Window::new).
        let p = row.as_ptr().wrapping_offset(w.start);
        unsafe {
            let m = _mm256_andnot_si256(mask(w.lo), mask(w.hi));
            _mm256_maskload_ps(p, m)
        }
    }
    #[inline(always)]
    fn mul_add(self, a: __m256, b: __m256, c: __m256) -> __m256 {
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    fn add(self, a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    fn relu(self, x: __m256) -> __m256 {
        // max(0, x) returns x when x is NaN (the second operand).
        unsafe { _mm256_max_ps(_mm256_setzero_ps(), x) }
    }
    #[inline(always)]
    fn sum(self, v: __m256) -> f32 {
        unsafe {
            let hi = _mm256_extractf128_ps(v, 1);
            let s = _mm_add_ps(_mm256_castps256_ps128(v), hi);
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
            _mm_cvtss_f32(s)
        }
    }
    #[inline(always)]
    fn max_nan(self, a: __m256, b: __m256) -> __m256 {
        unsafe {
            let unordered = _mm256_cmp_ps::<_CMP_UNORD_Q>(a, b);
            // a + b is NaN where either lane is.
            _mm256_blendv_ps(_mm256_max_ps(a, b), _mm256_add_ps(a, b), unordered)
        }
    }
    #[inline(always)]
    fn max_arg(self, best: __m256, best_arg: __m256, v: __m256, v_arg: __m256) -> (__m256, __m256) {
        unsafe {
            let gt = _mm256_cmp_ps::<_CMP_GT_OQ>(v, best);
            let v_nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v);
            let best_ok = _mm256_cmp_ps::<_CMP_ORD_Q>(best, best);
            let take = _mm256_or_ps(gt, _mm256_and_ps(v_nan, best_ok));
            (
                _mm256_blendv_ps(best, v, take),
                _mm256_blendv_ps(best_arg, v_arg, take),
            )
        }
    }
    #[inline(always)]
    fn deinterleave(self, a: __m256, b: __m256) -> (__m256, __m256) {
        unsafe {
            // Within 128-bit lanes: [a0 a2 b0 b2 | a4 a6 b4 b6] and odds.
            let even = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            let odd = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
            // Reorder the 64-bit pairs: [a0 a2 a4 a6 b0 b2 b4 b6].
            let even = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
                even,
            )));
            let odd = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(
                odd,
            )));
            (even, odd)
        }
    }
    #[inline(always)]
    fn prefetch(self, s: &[f32]) {
        if let Some(x) = s.first() {
            // SAFETY: a prefetch never faults and reads nothing into
            // registers; the address is that of a live `f32`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(x as *const f32 as *const i8) }
        }
    }
}
