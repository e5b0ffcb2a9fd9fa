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
    fn interleave(self, a: __m256, b: __m256) -> (__m256, __m256) {
        unsafe {
            // Within 128-bit lanes: [a0 b0 a1 b1 | a4 b4 a5 b5] and
            // [a2 b2 a3 b3 | a6 b6 a7 b7]; then the halves in order.
            let lo = _mm256_unpacklo_ps(a, b);
            let hi = _mm256_unpackhi_ps(a, b);
            (
                _mm256_permute2f128_ps::<0x20>(lo, hi),
                _mm256_permute2f128_ps::<0x31>(lo, hi),
            )
        }
    }
    #[inline(always)]
    fn gemm_micro<const MR: usize, const NV: usize>(
        self,
        kc: usize,
        (a, lda, astep): (&[f32], usize, usize),
        (b, bs): (&[f32], usize),
    ) -> Option<[[__m256; NV]; MR]> {
        if (MR, NV) != (6, 2) || kc == 0 {
            return None;
        }
        // Every element the kernel reads lies inside the slices.
        super::gemm::assert_micro_operands(kc, (a, lda, astep), 6, (b, bs), 16);
        // SAFETY: the CPU runs AVX2 and FMA (this token exists), and the
        // kernel reads only `a[r * lda + p * astep]` (r < 6, p < kc) and
        // `b[p * bs .. p * bs + 16]` (p < kc), in bounds (`assert_micro_operands`).
        let acc = unsafe { micro_6x16(kc, a.as_ptr(), lda, astep, b.as_ptr(), bs) };
        Some(super::gemm::tile_rows(&acc))
    }
    #[inline(always)]
    fn prefetch(self, s: &[f32]) {
        prefetch_t0(s)
    }
}

/// `prefetcht0` of the line holding `s[0]` (SSE, part of every x86-64):
/// [`Simd::prefetch`] of the AVX2 and AVX-512 levels.
#[inline(always)]
pub(super) fn prefetch_t0(s: &[f32]) {
    if let Some(x) = s.first() {
        // SAFETY: a prefetch never faults and reads nothing into
        // registers; the address is that of a live `f32`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(x as *const f32 as *const i8) }
    }
}

/// The GEMM's 6 x 16 AVX2 tile over `kc >= 1` steps: 12 accumulators, two
/// vectors of `B` and a broadcast of `A` per row, in the 16 registers (the
/// compiled generic kernel runs short of general registers for the six row
/// pointers and reloads them every step). Row `r` of `A` at step `p` is
/// `a[r * lda + p * astep]`, `B`'s row `p` at `b[p * bs..]`. Returns the
/// tile as `[row 0 columns 0-7, row 0 columns 8-15, row 1 ..]`.
///
/// # Safety
/// The CPU must run AVX2 and FMA; every element named above must be in
/// bounds of the allocations `a` and `b` point into.
#[target_feature(enable = "avx2,fma")]
unsafe fn micro_6x16(
    kc: usize,
    a: *const f32,
    lda: usize,
    astep: usize,
    b: *const f32,
    bs: usize,
) -> [__m256; 12] {
    let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11]: [__m256; 12];
    // SAFETY: the caller's contract; the loop reads A at rows 0-5 (through
    // `a0` = row 0 and `a3` = row 3, plus `lda` and `2 * lda` bytes), 16
    // floats of B per step, and writes only registers.
    unsafe {
        core::arch::asm!(
            "vxorps ymm0, ymm0, ymm0",
            "vxorps ymm1, ymm1, ymm1",
            "vxorps ymm2, ymm2, ymm2",
            "vxorps ymm3, ymm3, ymm3",
            "vxorps ymm4, ymm4, ymm4",
            "vxorps ymm5, ymm5, ymm5",
            "vxorps ymm6, ymm6, ymm6",
            "vxorps ymm7, ymm7, ymm7",
            "vxorps ymm8, ymm8, ymm8",
            "vxorps ymm9, ymm9, ymm9",
            "vxorps ymm10, ymm10, ymm10",
            "vxorps ymm11, ymm11, ymm11",
            "lea {a3}, [{lda} + {lda}*2]",
            "add {a3}, {a0}",
            "2:",
            "vmovups ymm12, [{b}]",
            "vmovups ymm13, [{b} + 32]",
            "vbroadcastss ymm14, [{a0}]",
            "vfmadd231ps ymm0, ymm14, ymm12",
            "vfmadd231ps ymm1, ymm14, ymm13",
            "vbroadcastss ymm15, [{a0} + {lda}]",
            "vfmadd231ps ymm2, ymm15, ymm12",
            "vfmadd231ps ymm3, ymm15, ymm13",
            "vbroadcastss ymm14, [{a0} + {lda}*2]",
            "vfmadd231ps ymm4, ymm14, ymm12",
            "vfmadd231ps ymm5, ymm14, ymm13",
            "vbroadcastss ymm15, [{a3}]",
            "vfmadd231ps ymm6, ymm15, ymm12",
            "vfmadd231ps ymm7, ymm15, ymm13",
            "vbroadcastss ymm14, [{a3} + {lda}]",
            "vfmadd231ps ymm8, ymm14, ymm12",
            "vfmadd231ps ymm9, ymm14, ymm13",
            "vbroadcastss ymm15, [{a3} + {lda}*2]",
            "vfmadd231ps ymm10, ymm15, ymm12",
            "vfmadd231ps ymm11, ymm15, ymm13",
            "add {a0}, {astep}",
            "add {a3}, {astep}",
            "add {b}, {bs}",
            "dec {k}",
            "jnz 2b",
            a0 = inout(reg) a => _,
            a3 = out(reg) _,
            lda = in(reg) lda * 4,
            astep = in(reg) astep * 4,
            b = inout(reg) b => _,
            bs = in(reg) bs * 4,
            k = inout(reg) kc => _,
            out("ymm0") c0,
            out("ymm1") c1,
            out("ymm2") c2,
            out("ymm3") c3,
            out("ymm4") c4,
            out("ymm5") c5,
            out("ymm6") c6,
            out("ymm7") c7,
            out("ymm8") c8,
            out("ymm9") c9,
            out("ymm10") c10,
            out("ymm11") c11,
            out("ymm12") _,
            out("ymm13") _,
            out("ymm14") _,
            out("ymm15") _,
            options(nostack, readonly),
        );
    }
    [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11]
}
