//! The int8 vector levels of x86-64: AVX-512 with VNNI (16 lanes), and
//! AVX2 (8 lanes) with or without AVX-VNNI, whose `vpdpbusd` is then
//! emulated exactly with two `vpmaddwd`.

use core::arch::x86_64::*;

use super::vector::QSimd;

/// Proof that the CPU runs AVX-512F/BW/VL and AVX512_VNNI.
#[derive(Clone, Copy, Debug)]
pub struct Avx512Vnni(());

impl Avx512Vnni {
    /// # Safety
    /// The CPU must support AVX-512F, AVX-512BW, AVX-512VL and AVX512_VNNI.
    #[inline(always)]
    pub unsafe fn new_unchecked() -> Self {
        Avx512Vnni(())
    }
}

/// Proof that the CPU runs AVX2, and AVX-VNNI when `VNNI`.
#[derive(Clone, Copy, Debug)]
pub struct Avx2I8<const VNNI: bool>(());

impl<const VNNI: bool> Avx2I8<VNNI> {
    /// # Safety
    /// The CPU must support AVX2 and FMA, and AVX-VNNI when `VNNI`.
    #[inline(always)]
    pub unsafe fn new_unchecked() -> Self {
        Avx2I8(())
    }
}

#[inline(always)]
fn mask16(n: usize) -> u16 {
    if n >= 16 {
        u16::MAX
    } else {
        ((1u32 << n) - 1) as u16
    }
}

// SAFETY (every block in this impl): an `Avx512Vnni` token exists only when
// the CPU runs AVX-512F/BW/VL and VNNI (see `new_unchecked`); every load or
// store first slices the memory it touches (masked-off lanes are not
// accessed), so it stays inside the slice.
impl QSimd for Avx512Vnni {
    type V = __m512i;
    const LANES: usize = 16;

    #[inline(always)]
    fn zero(self) -> __m512i {
        unsafe { _mm512_setzero_si512() }
    }
    #[inline(always)]
    fn splat(self, v: i32) -> __m512i {
        unsafe { _mm512_set1_epi32(v) }
    }
    #[inline(always)]
    fn load_part(self, b: &[u8], n: usize) -> __m512i {
        let n = n.min(16);
        let b = &b[..4 * n];
        unsafe { _mm512_maskz_loadu_epi32(mask16(n), b.as_ptr() as *const i32) }
    }
    #[inline(always)]
    unsafe fn splat_quad(self, p: *const i8) -> __m512i {
        // SAFETY: the caller guarantees 4 readable bytes at `p`.
        unsafe { _mm512_set1_epi32(p.cast::<i32>().read_unaligned()) }
    }
    #[inline(always)]
    unsafe fn hquad(self, p: *const i8) -> __m512i {
        // SAFETY: the caller guarantees 32 readable bytes at `p`; the
        // permutation reads dwords 0..7 only (the upper half is undefined).
        unsafe {
            let v = _mm512_castsi256_si512(_mm256_loadu_si256(p as *const __m256i));
            let idx = _mm512_setr_epi32(0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6);
            let v = _mm512_permutexvar_epi32(idx, v);
            let pattern = _mm_setr_epi8(0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6);
            _mm512_shuffle_epi8(v, _mm512_broadcast_i32x4(pattern))
        }
    }
    #[inline(always)]
    unsafe fn vquad(self, p: *const i8, stride: usize) -> __m512i {
        // SAFETY: the caller guarantees 16 readable bytes at each row.
        unsafe {
            // (No closure: it would not inherit the target features.)
            let r0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(p as *const __m128i));
            let r1 = _mm512_cvtepu8_epi32(_mm_loadu_si128(p.add(stride) as *const __m128i));
            let r2 = _mm512_cvtepu8_epi32(_mm_loadu_si128(p.add(2 * stride) as *const __m128i));
            let r3 = _mm512_cvtepu8_epi32(_mm_loadu_si128(p.add(3 * stride) as *const __m128i));
            let lo = _mm512_or_si512(r0, _mm512_slli_epi32::<8>(r1));
            let hi = _mm512_or_si512(_mm512_slli_epi32::<16>(r2), _mm512_slli_epi32::<24>(r3));
            _mm512_or_si512(lo, hi)
        }
    }
    #[inline(always)]
    fn max_pairs(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe {
            let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
            _mm512_max_epi32(
                _mm512_permutex2var_epi32(a, even, b),
                _mm512_permutex2var_epi32(a, odd, b),
            )
        }
    }
    #[inline(always)]
    fn load_i8(self, b: &[i8], n: usize) -> __m512i {
        let n = n.min(16);
        let b = &b[..n];
        unsafe { _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(mask16(n), b.as_ptr())) }
    }
    #[inline(always)]
    fn load_i8_strided(self, b: &[i8], stride: usize, n: usize) -> __m512i {
        let n = n.min(16);
        match stride {
            1 => self.load_i8(b, n),
            2 if n > 0 => {
                let len = 2 * n - 1;
                let b = &b[..len];
                let m = if len >= 32 {
                    u32::MAX
                } else {
                    (1u32 << len) - 1
                };
                unsafe {
                    let words = _mm256_maskz_loadu_epi8(m, b.as_ptr());
                    let v = _mm512_cvtepi16_epi32(words);
                    _mm512_srai_epi32::<24>(_mm512_slli_epi32::<24>(v))
                }
            }
            _ => {
                let mut t = [0i8; 16];
                for (j, v) in t.iter_mut().enumerate().take(n) {
                    *v = b[j * stride];
                }
                self.load_i8(&t, n)
            }
        }
    }
    #[inline(always)]
    fn dpbusd(self, acc: __m512i, x: __m512i, w: __m512i) -> __m512i {
        unsafe { _mm512_dpbusd_epi32(acc, x, w) }
    }
    #[inline(always)]
    fn add(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_add_epi32(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_max_epi32(a, b) }
    }
    #[inline(always)]
    fn min(self, a: __m512i, b: __m512i) -> __m512i {
        unsafe { _mm512_min_epi32(a, b) }
    }
    #[inline(always)]
    fn requant(self, x: __m512i, q: __m512i, shift: __m512i) -> __m512i {
        unsafe {
            let zero = _mm512_setzero_si512();
            let one = _mm512_set1_epi32(1);
            let right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
            // x * 2^left, saturated: where shifting back does not restore
            // x, the sign's extreme (x < 0: MIN, else MAX). Skipped when
            // no lane shifts left (the usual case: multipliers below 1).
            let a = if _mm512_cmpgt_epi32_mask(shift, zero) == 0 {
                x
            } else {
                let left = _mm512_max_epi32(shift, zero);
                let shifted = _mm512_sllv_epi32(x, left);
                let overflow = _mm512_cmpneq_epi32_mask(_mm512_srav_epi32(shifted, left), x);
                let extreme =
                    _mm512_xor_si512(_mm512_srai_epi32::<31>(x), _mm512_set1_epi32(i32::MAX));
                _mm512_mask_blend_epi32(overflow, shifted, extreme)
            };
            // SRDHM: (a q + 2^30) >> 31 in 64 bits, even and odd lanes.
            let even = _mm512_mul_epi32(a, q);
            let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(a), _mm512_srli_epi64::<32>(q));
            let even = _mm512_srli_epi64::<31>(_mm512_add_epi64(even, _mm512_set1_epi64(1 << 30)));
            // 2 p + 2^31 holds (p + 2^30) >> 31 in its high half.
            let odd = _mm512_add_epi64(_mm512_add_epi64(odd, odd), _mm512_set1_epi64(1 << 31));
            let high = _mm512_mask_blend_epi32(0xAAAA, even, odd);
            // MIN * MIN saturates to MAX (never, unless a multiplier is
            // MIN: skipped otherwise).
            let min = _mm512_set1_epi32(i32::MIN);
            let q_min = _mm512_cmpeq_epi32_mask(q, min);
            let high = if q_min == 0 {
                high
            } else {
                let both_min = _mm512_cmpeq_epi32_mask(a, min) & q_min;
                _mm512_mask_blend_epi32(both_min, high, _mm512_set1_epi32(i32::MAX))
            };
            // RDBPOT: x >> right, plus one where the remainder passes half.
            let mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, right), one);
            let remainder = _mm512_and_si512(high, mask);
            let threshold =
                _mm512_add_epi32(_mm512_srai_epi32::<1>(mask), _mm512_srli_epi32::<31>(high));
            let down = _mm512_srav_epi32(high, right);
            let up = _mm512_cmpgt_epi32_mask(remainder, threshold);
            _mm512_mask_add_epi32(down, up, down, one)
        }
    }
    #[inline(always)]
    fn store_i8(self, v: __m512i, out: &mut [i8], n: usize) {
        let n = n.min(16);
        let out = &mut out[..n];
        unsafe { _mm_mask_storeu_epi8(out.as_mut_ptr(), mask16(n), _mm512_cvtepi32_epi8(v)) }
    }
    #[inline(always)]
    fn to_array(self, v: __m512i) -> [i32; 16] {
        let mut out = [0i32; 16];
        unsafe { _mm512_storeu_si512(out.as_mut_ptr() as *mut __m512i, v) };
        out
    }
    #[inline(always)]
    fn quantize(self, x: &[f32], n: usize, scale: f32, zp: i32) -> __m512i {
        let n = n.min(16);
        let x = &x[..n];
        unsafe {
            let v = _mm512_maskz_loadu_ps(mask16(n), x.as_ptr());
            let q = _mm512_div_ps(v, _mm512_set1_ps(scale));
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(q, q);
            let q = _mm512_mask_mov_ps(q, nan, _mm512_setzero_ps());
            let q = _mm512_min_ps(
                _mm512_max_ps(q, _mm512_set1_ps(-256.0)),
                _mm512_set1_ps(256.0),
            );
            let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(q);
            let d = _mm512_sub_ps(q, t);
            let up = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(d, _mm512_set1_ps(0.5));
            let down = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(d, _mm512_set1_ps(-0.5));
            let t = _mm512_mask_add_ps(t, up, t, _mm512_set1_ps(1.0));
            let t = _mm512_mask_sub_ps(t, down, t, _mm512_set1_ps(1.0));
            let i = _mm512_add_epi32(_mm512_cvttps_epi32(t), _mm512_set1_epi32(zp));
            _mm512_min_epi32(
                _mm512_max_epi32(i, _mm512_set1_epi32(-128)),
                _mm512_set1_epi32(127),
            )
        }
    }
    #[inline(always)]
    fn dequantize(self, v: __m512i, scale: f32, zp: i32, out: &mut [f32], n: usize) {
        let n = n.min(16);
        let out = &mut out[..n];
        unsafe {
            let f = _mm512_cvtepi32_ps(_mm512_sub_epi32(v, _mm512_set1_epi32(zp)));
            let f = _mm512_mul_ps(f, _mm512_set1_ps(scale));
            _mm512_mask_storeu_ps(out.as_mut_ptr(), mask16(n), f)
        }
    }
}

/// Lane mask for the first `n` of 8 lanes (all bits set).
#[inline(always)]
unsafe fn mask8(n: usize) -> __m256i {
    // SAFETY: the caller holds an `Avx2I8` token.
    unsafe {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), idx)
    }
}

// SAFETY (every block in this impl): an `Avx2I8` token exists only when the
// CPU runs AVX2 and FMA, and AVX-VNNI when `VNNI` (see `new_unchecked`; the
// VNNI instruction is only reached when `VNNI`); every load or store first
// slices the memory it touches (masked-off lanes are not accessed).
impl<const VNNI: bool> QSimd for Avx2I8<VNNI> {
    type V = __m256i;
    const LANES: usize = 8;

    #[inline(always)]
    fn zero(self) -> __m256i {
        unsafe { _mm256_setzero_si256() }
    }
    #[inline(always)]
    fn splat(self, v: i32) -> __m256i {
        unsafe { _mm256_set1_epi32(v) }
    }
    #[inline(always)]
    fn load_part(self, b: &[u8], n: usize) -> __m256i {
        let n = n.min(8);
        let b = &b[..4 * n];
        unsafe {
            if n == 8 {
                _mm256_loadu_si256(b.as_ptr() as *const __m256i)
            } else {
                _mm256_maskload_epi32(b.as_ptr() as *const i32, mask8(n))
            }
        }
    }
    #[inline(always)]
    unsafe fn splat_quad(self, p: *const i8) -> __m256i {
        // SAFETY: the caller guarantees 4 readable bytes at `p`.
        unsafe { _mm256_set1_epi32(p.cast::<i32>().read_unaligned()) }
    }
    #[inline(always)]
    unsafe fn hquad(self, p: *const i8) -> __m256i {
        // SAFETY: the caller guarantees 32 readable bytes at `p` (16 are read).
        unsafe {
            let v = _mm256_castsi128_si256(_mm_loadu_si128(p as *const __m128i));
            let v = _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 1, 2, 3, 1, 2, 3, 4));
            let pattern = _mm256_setr_epi8(
                0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6, 0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5,
                3, 4, 5, 6,
            );
            _mm256_shuffle_epi8(v, pattern)
        }
    }
    #[inline(always)]
    unsafe fn vquad(self, p: *const i8, stride: usize) -> __m256i {
        // SAFETY: the caller guarantees 8 readable bytes at each row.
        unsafe {
            let r0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p as *const __m128i));
            let r1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(stride) as *const __m128i));
            let r2 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(2 * stride) as *const __m128i));
            let r3 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(p.add(3 * stride) as *const __m128i));
            let lo = _mm256_or_si256(r0, _mm256_slli_epi32::<8>(r1));
            let hi = _mm256_or_si256(_mm256_slli_epi32::<16>(r2), _mm256_slli_epi32::<24>(r3));
            _mm256_or_si256(lo, hi)
        }
    }
    #[inline(always)]
    fn max_pairs(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe {
            let (fa, fb) = (_mm256_castsi256_ps(a), _mm256_castsi256_ps(b));
            // Within 128-bit lanes: [a0 a2 b0 b2 | a4 a6 b4 b6], then the
            // 64-bit pairs reordered: [a0 a2 a4 a6 b0 b2 b4 b6].
            let even = _mm256_castps_si256(_mm256_shuffle_ps::<0b10_00_10_00>(fa, fb));
            let odd = _mm256_castps_si256(_mm256_shuffle_ps::<0b11_01_11_01>(fa, fb));
            let even = _mm256_permute4x64_epi64::<0b11_01_10_00>(even);
            let odd = _mm256_permute4x64_epi64::<0b11_01_10_00>(odd);
            _mm256_max_epi32(even, odd)
        }
    }
    #[inline(always)]
    fn load_i8(self, b: &[i8], n: usize) -> __m256i {
        let n = n.min(8);
        let mut t = [0i8; 8];
        t[..n].copy_from_slice(&b[..n]);
        unsafe { _mm256_cvtepi8_epi32(_mm_loadl_epi64(t.as_ptr() as *const __m128i)) }
    }
    #[inline(always)]
    fn load_i8_strided(self, b: &[i8], stride: usize, n: usize) -> __m256i {
        let n = n.min(8);
        match stride {
            1 => self.load_i8(b, n),
            2 if n > 0 => {
                let mut t = [0i8; 16];
                let len = 2 * n - 1;
                t[..len].copy_from_slice(&b[..len]);
                unsafe {
                    let v = _mm256_cvtepi16_epi32(_mm_loadu_si128(t.as_ptr() as *const __m128i));
                    _mm256_srai_epi32::<24>(_mm256_slli_epi32::<24>(v))
                }
            }
            _ => {
                let mut t = [0i8; 8];
                for (j, v) in t.iter_mut().enumerate().take(n) {
                    *v = b[j * stride];
                }
                self.load_i8(&t, n)
            }
        }
    }
    #[inline(always)]
    fn dpbusd(self, acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
        unsafe {
            if VNNI {
                _mm256_dpbusd_avx_epi32(acc, x, w)
            } else {
                // Bytes 0 and 2, then 1 and 3, of each lane as 16-bit
                // values (x zero-extended, w sign-extended), multiplied and
                // summed in pairs by vpmaddwd: exact, unlike vpmaddubsw,
                // which saturates its 16-bit sums.
                let low = _mm256_set1_epi16(0xff);
                let x_even = _mm256_and_si256(x, low);
                let x_odd = _mm256_srli_epi16::<8>(x);
                let w_even = _mm256_srai_epi16::<8>(_mm256_slli_epi16::<8>(w));
                let w_odd = _mm256_srai_epi16::<8>(w);
                let even = _mm256_madd_epi16(x_even, w_even);
                let odd = _mm256_madd_epi16(x_odd, w_odd);
                _mm256_add_epi32(acc, _mm256_add_epi32(even, odd))
            }
        }
    }
    #[inline(always)]
    fn add(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_add_epi32(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_sub_epi32(a, b) }
    }
    #[inline(always)]
    fn max(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_max_epi32(a, b) }
    }
    #[inline(always)]
    fn min(self, a: __m256i, b: __m256i) -> __m256i {
        unsafe { _mm256_min_epi32(a, b) }
    }
    #[inline(always)]
    fn requant(self, x: __m256i, q: __m256i, shift: __m256i) -> __m256i {
        unsafe {
            let zero = _mm256_setzero_si256();
            let one = _mm256_set1_epi32(1);
            let right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
            // As the AVX-512 level: the saturating left shift only where a
            // lane shifts left.
            let a = if _mm256_movemask_epi8(_mm256_cmpgt_epi32(shift, zero)) == 0 {
                x
            } else {
                let left = _mm256_max_epi32(shift, zero);
                let shifted = _mm256_sllv_epi32(x, left);
                let kept = _mm256_cmpeq_epi32(_mm256_srav_epi32(shifted, left), x);
                let extreme =
                    _mm256_xor_si256(_mm256_srai_epi32::<31>(x), _mm256_set1_epi32(i32::MAX));
                _mm256_blendv_epi8(extreme, shifted, kept)
            };
            let even = _mm256_mul_epi32(a, q);
            let odd = _mm256_mul_epi32(_mm256_srli_epi64::<32>(a), _mm256_srli_epi64::<32>(q));
            let even = _mm256_srli_epi64::<31>(_mm256_add_epi64(even, _mm256_set1_epi64x(1 << 30)));
            let odd = _mm256_add_epi64(_mm256_add_epi64(odd, odd), _mm256_set1_epi64x(1 << 31));
            let high = _mm256_blend_epi32::<0b1010_1010>(even, odd);
            let min = _mm256_set1_epi32(i32::MIN);
            let q_min = _mm256_cmpeq_epi32(q, min);
            let high = if _mm256_movemask_epi8(q_min) == 0 {
                high
            } else {
                let both_min = _mm256_and_si256(_mm256_cmpeq_epi32(a, min), q_min);
                _mm256_blendv_epi8(high, _mm256_set1_epi32(i32::MAX), both_min)
            };
            let mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
            let remainder = _mm256_and_si256(high, mask);
            let threshold =
                _mm256_add_epi32(_mm256_srai_epi32::<1>(mask), _mm256_srli_epi32::<31>(high));
            let down = _mm256_srav_epi32(high, right);
            // The comparison is -1 where the remainder passes half.
            _mm256_sub_epi32(down, _mm256_cmpgt_epi32(remainder, threshold))
        }
    }
    #[inline(always)]
    fn store_i8(self, v: __m256i, out: &mut [i8], n: usize) {
        let n = n.min(8);
        let out = &mut out[..n];
        unsafe {
            // Saturating packs (the lanes are in range): 32 -> 16 -> 8
            // bits leave lanes 0..4 in bytes 0..4 of each 128-bit half.
            let p16 = _mm256_packs_epi32(v, v);
            let p8 = _mm256_packs_epi16(p16, p16);
            let bytes = _mm_unpacklo_epi32(
                _mm256_castsi256_si128(p8),
                _mm256_extracti128_si256::<1>(p8),
            );
            if n == 8 {
                _mm_storel_epi64(out.as_mut_ptr() as *mut __m128i, bytes);
            } else {
                let mut t = [0i8; 16];
                _mm_storeu_si128(t.as_mut_ptr() as *mut __m128i, bytes);
                out.copy_from_slice(&t[..n]);
            }
        }
    }
    #[inline(always)]
    fn to_array(self, v: __m256i) -> [i32; 16] {
        let mut out = [0i32; 16];
        unsafe { _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, v) };
        out
    }
    #[inline(always)]
    fn quantize(self, x: &[f32], n: usize, scale: f32, zp: i32) -> __m256i {
        let n = n.min(8);
        let x = &x[..n];
        unsafe {
            let v = _mm256_maskload_ps(x.as_ptr(), mask8(n));
            let q = _mm256_div_ps(v, _mm256_set1_ps(scale));
            let nan = _mm256_cmp_ps::<_CMP_UNORD_Q>(q, q);
            let q = _mm256_blendv_ps(q, _mm256_setzero_ps(), nan);
            let q = _mm256_min_ps(
                _mm256_max_ps(q, _mm256_set1_ps(-256.0)),
                _mm256_set1_ps(256.0),
            );
            let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(q);
            let d = _mm256_sub_ps(q, t);
            let one = _mm256_set1_ps(1.0);
            let up = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(d, _mm256_set1_ps(0.5)), one);
            let down = _mm256_and_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(d, _mm256_set1_ps(-0.5)), one);
            let t = _mm256_sub_ps(_mm256_add_ps(t, up), down);
            let i = _mm256_add_epi32(_mm256_cvttps_epi32(t), _mm256_set1_epi32(zp));
            _mm256_min_epi32(
                _mm256_max_epi32(i, _mm256_set1_epi32(-128)),
                _mm256_set1_epi32(127),
            )
        }
    }
    #[inline(always)]
    fn dequantize(self, v: __m256i, scale: f32, zp: i32, out: &mut [f32], n: usize) {
        let n = n.min(8);
        let out = &mut out[..n];
        unsafe {
            let f = _mm256_cvtepi32_ps(_mm256_sub_epi32(v, _mm256_set1_epi32(zp)));
            let f = _mm256_mul_ps(f, _mm256_set1_ps(scale));
            _mm256_maskstore_ps(out.as_mut_ptr(), mask8(n), f)
        }
    }
}
