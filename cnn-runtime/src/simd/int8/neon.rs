//! The int8 vector level of aarch64: NEON, 4 int32 lanes. NEON is part
//! of every aarch64 CPU, so this level needs no detection.
//!
//! Baseline NEON has no unsigned-by-signed byte dot product (`usdot` is the
//! optional I8MM extension), so [`QSimd::dpbusd`] widens both operands to
//! 16 bits and multiplies there: a `u8` times an `i8` is at most 255 · 128
//! in magnitude, which `i16` holds exactly, and the pairwise widening adds
//! that follow are exact as well. The fixed-point requantization uses the
//! instructions TFLite's NEON path uses: `sqshl` (saturating left shift)
//! and `sqrdmulh`, which is gemmlowp's `SaturatingRoundingDoublingHighMul`
//! bit for bit (`(2ab + 2^31) >> 32` is `(ab + 2^30) >> 31`, the scalar
//! reference's formula, and `sqrdmulh` saturates `MIN · MIN` to `MAX` as
//! the reference does); the rounding right shift is the scalar reference's
//! remainder-and-threshold form.

use core::arch::aarch64::*;

use super::vector::QSimd;

/// The NEON int8 level's token.
#[derive(Clone, Copy, Debug, Default)]
pub struct NeonI8(());

impl NeonI8 {
    /// The token (NEON is present on every aarch64 CPU).
    #[inline(always)]
    pub fn new() -> Self {
        NeonI8(())
    }
}

/// The first `n <= 4` lanes' bytes of `b` in a 16-byte block, zeros after.
#[inline(always)]
fn part16(b: &[u8], n: usize) -> [u8; 16] {
    let mut t = [0u8; 16];
    t[..4 * n].copy_from_slice(&b[..4 * n]);
    t
}

// SAFETY (every block in this impl): NEON is part of the aarch64 baseline,
// so the intrinsics run on every CPU this code is compiled for; every load
// and store reads or writes a slice or local array of at least the bytes
// it touches, except `splat_quad`, `hquad` and `vquad`, whose callers
// guarantee the bytes read (their `# Safety` sections).
impl QSimd for NeonI8 {
    type V = int32x4_t;
    const LANES: usize = 4;

    #[inline(always)]
    fn zero(self) -> int32x4_t {
        unsafe { vdupq_n_s32(0) }
    }
    #[inline(always)]
    fn splat(self, v: i32) -> int32x4_t {
        unsafe { vdupq_n_s32(v) }
    }
    #[inline(always)]
    fn load_part(self, b: &[u8], n: usize) -> int32x4_t {
        let n = n.min(4);
        unsafe {
            if n == 4 {
                let b = &b[..16];
                vreinterpretq_s32_u8(vld1q_u8(b.as_ptr()))
            } else {
                let t = part16(b, n);
                vreinterpretq_s32_u8(vld1q_u8(t.as_ptr()))
            }
        }
    }
    #[inline(always)]
    unsafe fn splat_quad(self, p: *const i8) -> int32x4_t {
        // SAFETY: the caller guarantees 4 readable bytes at `p`.
        unsafe { vdupq_n_s32(p.cast::<i32>().read_unaligned()) }
    }
    #[inline(always)]
    unsafe fn hquad(self, p: *const i8) -> int32x4_t {
        // SAFETY: the caller guarantees 32 readable bytes at `p` (16 are
        // read; lane j takes bytes j..j + 4).
        unsafe {
            let v = vld1q_u8(p as *const u8);
            const IDX: [u8; 16] = [0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6];
            vreinterpretq_s32_u8(vqtbl1q_u8(v, vld1q_u8(IDX.as_ptr())))
        }
    }
    #[inline(always)]
    unsafe fn vquad(self, p: *const i8, stride: usize) -> int32x4_t {
        // SAFETY: the caller guarantees 4 (`LANES`) readable bytes at each
        // of the four rows.
        unsafe {
            let row = |t: usize| p.add(t * stride).cast::<u32>().read_unaligned();
            let rows = [row(0), row(1), row(2), row(3)];
            // Bytes [r0 r1 r2 r3] (four bytes each) transposed: lane j
            // gets byte j of every row.
            let v = vld1q_u8(rows.as_ptr() as *const u8);
            const IDX: [u8; 16] = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];
            vreinterpretq_s32_u8(vqtbl1q_u8(v, vld1q_u8(IDX.as_ptr())))
        }
    }
    #[inline(always)]
    fn max_pairs(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        // [max(a0, a1), max(a2, a3), max(b0, b1), max(b2, b3)].
        unsafe { vpmaxq_s32(a, b) }
    }
    #[inline(always)]
    fn load_i8(self, b: &[i8], n: usize) -> int32x4_t {
        let n = n.min(4);
        let mut t = [0i8; 8];
        t[..n].copy_from_slice(&b[..n]);
        unsafe { vmovl_s16(vget_low_s16(vmovl_s8(vld1_s8(t.as_ptr())))) }
    }
    #[inline(always)]
    fn load_i8_strided(self, b: &[i8], stride: usize, n: usize) -> int32x4_t {
        let n = n.min(4);
        let mut t = [0i8; 8];
        for (j, v) in t.iter_mut().enumerate().take(n) {
            *v = b[j * stride];
        }
        self.load_i8(&t, n)
    }
    #[inline(always)]
    fn dpbusd(self, acc: int32x4_t, x: int32x4_t, w: int32x4_t) -> int32x4_t {
        unsafe {
            let (x, w) = (vreinterpretq_u8_s32(x), vreinterpretq_s8_s32(w));
            // Bytes 0..8 (lanes 0 and 1) and 8..16 (lanes 2 and 3) as i16:
            // x zero-extended, w sign-extended; the products are exact.
            let x_lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(x)));
            let x_hi = vreinterpretq_s16_u16(vmovl_high_u8(x));
            let p_lo = vmulq_s16(x_lo, vmovl_s8(vget_low_s8(w)));
            let p_hi = vmulq_s16(x_hi, vmovl_high_s8(w));
            // Pairs of products to i32, then pairs of pairs: one sum of
            // four per lane.
            let s = vpaddq_s32(vpaddlq_s16(p_lo), vpaddlq_s16(p_hi));
            vaddq_s32(acc, s)
        }
    }
    #[inline(always)]
    fn add(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vaddq_s32(a, b) }
    }
    #[inline(always)]
    fn sub(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vsubq_s32(a, b) }
    }
    #[inline(always)]
    fn max(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vmaxq_s32(a, b) }
    }
    #[inline(always)]
    fn min(self, a: int32x4_t, b: int32x4_t) -> int32x4_t {
        unsafe { vminq_s32(a, b) }
    }
    #[inline(always)]
    fn requant(self, x: int32x4_t, q: int32x4_t, shift: int32x4_t) -> int32x4_t {
        unsafe {
            let zero = vdupq_n_s32(0);
            let one = vdupq_n_s32(1);
            let left = vmaxq_s32(shift, zero);
            let right = vmaxq_s32(vnegq_s32(shift), zero);
            let high = vqrdmulhq_s32(vqshlq_s32(x, left), q);
            // `RoundingDivideByPOT(high, right)`: the arithmetic shift, plus
            // one where the remainder passes half (ties away from zero).
            let mask = vsubq_s32(vshlq_s32(one, right), one);
            let remainder = vandq_s32(high, mask);
            let negative = vreinterpretq_s32_u32(vshrq_n_u32::<31>(vreinterpretq_u32_s32(high)));
            let threshold = vaddq_s32(vshrq_n_s32::<1>(mask), negative);
            let down = vshlq_s32(high, vnegq_s32(right));
            // The comparison is all ones (-1) where the remainder passes.
            vsubq_s32(down, vreinterpretq_s32_u32(vcgtq_s32(remainder, threshold)))
        }
    }
    #[inline(always)]
    fn store_i8(self, v: int32x4_t, out: &mut [i8], n: usize) {
        let n = n.min(4);
        let mut t = [0i8; 8];
        unsafe {
            let b16 = vqmovn_s32(v);
            let b8 = vqmovn_s16(vcombine_s16(b16, b16));
            vst1_s8(t.as_mut_ptr(), b8);
        }
        out[..n].copy_from_slice(&t[..n]);
    }
    #[inline(always)]
    fn to_array(self, v: int32x4_t) -> [i32; 16] {
        let mut out = [0i32; 16];
        unsafe { vst1q_s32(out.as_mut_ptr(), v) };
        out
    }
    #[inline(always)]
    fn quantize(self, x: &[f32], n: usize, scale: f32, zp: i32) -> int32x4_t {
        let n = n.min(4);
        let mut t = [0f32; 4];
        t[..n].copy_from_slice(&x[..n]);
        unsafe {
            let q = vdivq_f32(vld1q_f32(t.as_ptr()), vdupq_n_f32(scale));
            // NaN gives the zero point (compare-equal is false for NaN).
            let q = vbslq_f32(vceqq_f32(q, q), q, vdupq_n_f32(0.0));
            let q = vminq_f32(vmaxq_f32(q, vdupq_n_f32(-256.0)), vdupq_n_f32(256.0));
            // Round to nearest, ties away from zero, as the reference.
            let i = vaddq_s32(vcvtq_s32_f32(vrndaq_f32(q)), vdupq_n_s32(zp));
            vminq_s32(vmaxq_s32(i, vdupq_n_s32(-128)), vdupq_n_s32(127))
        }
    }
    #[inline(always)]
    fn dequantize(self, v: int32x4_t, scale: f32, zp: i32, out: &mut [f32], n: usize) {
        let n = n.min(4);
        let mut t = [0f32; 4];
        unsafe {
            let f = vcvtq_f32_s32(vsubq_s32(v, vdupq_n_s32(zp)));
            vst1q_f32(t.as_mut_ptr(), vmulq_f32(f, vdupq_n_f32(scale)));
        }
        out[..n].copy_from_slice(&t[..n]);
    }
}
