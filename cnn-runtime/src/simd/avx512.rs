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
    fn interleave(self, a: __m512, b: __m512) -> (__m512, __m512) {
        unsafe {
            let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            let hi =
                _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            (
                _mm512_permutex2var_ps(a, lo, b),
                _mm512_permutex2var_ps(a, hi, b),
            )
        }
    }
    #[inline(always)]
    fn gemm_micro<const MR: usize, const NV: usize>(
        self,
        kc: usize,
        (a, lda, astep): (&[f32], usize, usize),
        (b, bs): (&[f32], usize),
    ) -> Option<[[__m512; NV]; MR]> {
        if (MR, NV) != (8, 3) || kc == 0 {
            return None;
        }
        // Every element the kernel reads lies inside the slices.
        super::gemm::assert_micro_operands(kc, (a, lda, astep), 8, (b, bs), 48);
        // SAFETY: the CPU runs AVX-512F (this token exists), and the kernel
        // reads only `a[r * lda + p * astep]` (r < 8, p < kc) and
        // `b[p * bs .. p * bs + 48]` (p < kc), in bounds (`assert_micro_operands`).
        let acc = unsafe { micro_8x48(kc, a.as_ptr(), lda, astep, b.as_ptr(), bs) };
        Some(super::gemm::tile_rows(&acc))
    }
    #[inline(always)]
    fn prefetch(self, s: &[f32]) {
        super::avx2::prefetch_t0(s)
    }
}

/// The GEMM's 8 x 48 AVX-512 tile over `kc >= 1` steps: 24 accumulators,
/// three vectors of `B` and a broadcast of `A` per row (the compiled
/// generic kernel keeps the eight row pointers on the stack and reloads
/// them every step). Row `r` of `A` at step `p` is `a[r * lda + p *
/// astep]`, `B`'s row `p` at `b[p * bs..]`. Returns the tile as `[row 0
/// columns 0-15, 16-31, 32-47, row 1 ..]`.
///
/// # Safety
/// The CPU must run AVX-512F; every element named above must be in bounds
/// of the allocations `a` and `b` point into.
#[target_feature(enable = "avx512f")]
unsafe fn micro_8x48(
    kc: usize,
    a: *const f32,
    lda: usize,
    astep: usize,
    b: *const f32,
    bs: usize,
) -> [__m512; 24] {
    let [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23]: [__m512; 24];
    // SAFETY: the caller's contract; the loop reads A at rows 0-7 (through
    // `a0` = row 0 and `a4` = row 4, plus `lda`, `2 * lda` and `3 * lda`
    // bytes), 48 floats of B per step, and writes only registers.
    unsafe {
        core::arch::asm!(
            "vpxord zmm0, zmm0, zmm0",
            "vpxord zmm1, zmm1, zmm1",
            "vpxord zmm2, zmm2, zmm2",
            "vpxord zmm3, zmm3, zmm3",
            "vpxord zmm4, zmm4, zmm4",
            "vpxord zmm5, zmm5, zmm5",
            "vpxord zmm6, zmm6, zmm6",
            "vpxord zmm7, zmm7, zmm7",
            "vpxord zmm8, zmm8, zmm8",
            "vpxord zmm9, zmm9, zmm9",
            "vpxord zmm10, zmm10, zmm10",
            "vpxord zmm11, zmm11, zmm11",
            "vpxord zmm12, zmm12, zmm12",
            "vpxord zmm13, zmm13, zmm13",
            "vpxord zmm14, zmm14, zmm14",
            "vpxord zmm15, zmm15, zmm15",
            "vpxord zmm16, zmm16, zmm16",
            "vpxord zmm17, zmm17, zmm17",
            "vpxord zmm18, zmm18, zmm18",
            "vpxord zmm19, zmm19, zmm19",
            "vpxord zmm20, zmm20, zmm20",
            "vpxord zmm21, zmm21, zmm21",
            "vpxord zmm22, zmm22, zmm22",
            "vpxord zmm23, zmm23, zmm23",
            "lea {lda3}, [{lda} + {lda}*2]",
            "lea {a4}, [{a0} + {lda}*4]",
            "2:",
            "vmovups zmm24, [{b}]",
            "vmovups zmm25, [{b} + 64]",
            "vmovups zmm26, [{b} + 128]",
            "vbroadcastss zmm27, [{a0}]",
            "vfmadd231ps zmm0, zmm27, zmm24",
            "vfmadd231ps zmm1, zmm27, zmm25",
            "vfmadd231ps zmm2, zmm27, zmm26",
            "vbroadcastss zmm28, [{a0} + {lda}]",
            "vfmadd231ps zmm3, zmm28, zmm24",
            "vfmadd231ps zmm4, zmm28, zmm25",
            "vfmadd231ps zmm5, zmm28, zmm26",
            "vbroadcastss zmm27, [{a0} + {lda}*2]",
            "vfmadd231ps zmm6, zmm27, zmm24",
            "vfmadd231ps zmm7, zmm27, zmm25",
            "vfmadd231ps zmm8, zmm27, zmm26",
            "vbroadcastss zmm28, [{a0} + {lda3}]",
            "vfmadd231ps zmm9, zmm28, zmm24",
            "vfmadd231ps zmm10, zmm28, zmm25",
            "vfmadd231ps zmm11, zmm28, zmm26",
            "vbroadcastss zmm27, [{a4}]",
            "vfmadd231ps zmm12, zmm27, zmm24",
            "vfmadd231ps zmm13, zmm27, zmm25",
            "vfmadd231ps zmm14, zmm27, zmm26",
            "vbroadcastss zmm28, [{a4} + {lda}]",
            "vfmadd231ps zmm15, zmm28, zmm24",
            "vfmadd231ps zmm16, zmm28, zmm25",
            "vfmadd231ps zmm17, zmm28, zmm26",
            "vbroadcastss zmm27, [{a4} + {lda}*2]",
            "vfmadd231ps zmm18, zmm27, zmm24",
            "vfmadd231ps zmm19, zmm27, zmm25",
            "vfmadd231ps zmm20, zmm27, zmm26",
            "vbroadcastss zmm28, [{a4} + {lda3}]",
            "vfmadd231ps zmm21, zmm28, zmm24",
            "vfmadd231ps zmm22, zmm28, zmm25",
            "vfmadd231ps zmm23, zmm28, zmm26",
            "add {a0}, {astep}",
            "add {a4}, {astep}",
            "add {b}, {bs}",
            "dec {k}",
            "jnz 2b",
            a0 = inout(reg) a => _,
            a4 = out(reg) _,
            lda = in(reg) lda * 4,
            lda3 = out(reg) _,
            astep = in(reg) astep * 4,
            b = inout(reg) b => _,
            bs = in(reg) bs * 4,
            k = inout(reg) kc => _,
            out("zmm0") c0,
            out("zmm1") c1,
            out("zmm2") c2,
            out("zmm3") c3,
            out("zmm4") c4,
            out("zmm5") c5,
            out("zmm6") c6,
            out("zmm7") c7,
            out("zmm8") c8,
            out("zmm9") c9,
            out("zmm10") c10,
            out("zmm11") c11,
            out("zmm12") c12,
            out("zmm13") c13,
            out("zmm14") c14,
            out("zmm15") c15,
            out("zmm16") c16,
            out("zmm17") c17,
            out("zmm18") c18,
            out("zmm19") c19,
            out("zmm20") c20,
            out("zmm21") c21,
            out("zmm22") c22,
            out("zmm23") c23,
            out("zmm24") _,
            out("zmm25") _,
            out("zmm26") _,
            out("zmm27") _,
            out("zmm28") _,
            options(nostack, readonly),
        );
    }
    [
        c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16, c17, c18, c19,
        c20, c21, c22, c23,
    ]
}
