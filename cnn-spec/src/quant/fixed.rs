//! Fixed-point arithmetic of TensorFlow Lite's int8 kernels, bit for bit.
//!
//! A real multiplier `M > 0` (for a convolution, `M = s_in * s_w[k] /
//! s_out`) is stored as a 31-bit fixed-point mantissa `q` in `[2^30, 2^31)`
//! and an exponent `shift`, with `M = q * 2^(shift - 31)`
//! ([`quantize_multiplier`], TFLite's `QuantizeMultiplier`). An int32
//! accumulator `x` is scaled by it with two roundings
//! ([`multiply_by_quantized_multiplier`], TFLite's reference
//! `MultiplyByQuantizedMultiplier` without `TFLITE_SINGLE_ROUNDING`):
//!
//! ```text
//! left  = max(shift, 0),  right = max(-shift, 0)
//! y = RDBPOT(SRDHM(x * 2^left, q), right)
//! SRDHM(a, b) = floor((a * b + 2^30) / 2^31)      (a = b = INT32_MIN: INT32_MAX)
//! RDBPOT(x, e) = x / 2^e rounded to nearest, ties away from zero
//! ```
//!
//! `SRDHM` is gemmlowp's `SaturatingRoundingDoublingHighMul`: it is written
//! there as `(a b + nudge) / 2^31` with C's truncating division and
//! `nudge = a b >= 0 ? 2^30 : 1 - 2^30`, which equals the floor above for
//! every product (so ties round up, as ARM's `SQRDMULH` does).
//! `RDBPOT` is gemmlowp's `RoundingDivideByPOT`.
//!
//! One deliberate difference: TFLite computes `x * 2^left` in int32, which
//! wraps on overflow (undefined in C); here it saturates. The two agree
//! whenever TFLite's product fits (always for `shift <= 0`, i.e. `M < 1`,
//! the usual case), and saturating keeps the requantization monotone in
//! `x`, which the fused max-pool relies on (see `cnn_runtime::ops::int8`).

/// Fixed-point form `(q, shift)` of a real multiplier, TFLite's
/// `QuantizeMultiplier`: `m = q * 2^(shift - 31)` with `q` in `[2^30,
/// 2^31)` (`frexp`, then `q = round(mantissa * 2^31)` with ties away from
/// zero; a mantissa rounding up to `2^31` is halved and `shift` raised).
/// `m = 0` gives `(0, 0)`; multipliers below about `2^-31` flush to `(0,
/// 0)` (TFLite's "flush denormals to zero"). Negative, NaN or infinite
/// multipliers are not representable and give `None`, as do multipliers of
/// `2^31` or more (`shift > 31`).
///
/// ```
/// use cnn_spec::quant::quantize_multiplier;
/// assert_eq!(quantize_multiplier(0.5), Some((1 << 30, 0)));
/// assert_eq!(quantize_multiplier(0.75), Some((3 << 29, 0)));
/// assert_eq!(quantize_multiplier(0.25), Some((1 << 30, -1)));
/// assert_eq!(quantize_multiplier(3.0), Some((3 << 29, 2)));
/// ```
#[inline]
pub fn quantize_multiplier(m: f64) -> Option<(i32, i32)> {
    if m.is_nan() || m < 0.0 || m.is_infinite() {
        return None;
    }
    if m == 0.0 {
        return Some((0, 0));
    }
    let (mantissa, mut shift) = frexp(m);
    let mut q = round_half_away_f64(mantissa * (1u64 << 31) as f64) as i64;
    if q == 1 << 31 {
        q /= 2;
        shift += 1;
    }
    if shift < -31 {
        return Some((0, 0));
    }
    if shift > 31 {
        return None;
    }
    Some((q as i32, shift))
}

/// `frexp` for positive finite `f64`: `(mantissa, exponent)` with `m =
/// mantissa * 2^exponent` and `mantissa` in `[0.5, 1)`.
#[inline]
fn frexp(m: f64) -> (f64, i32) {
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    let (m, bias) = if m < f64::MIN_POSITIVE {
        (m * TWO_64, 64)
    } else {
        (m, 0)
    };
    let bits = m.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    let mantissa = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (mantissa, exp - 1022 - bias)
}

/// `v` rounded to the nearest integer, ties away from zero (C's `round`),
/// for `|v| < 2^62`.
#[inline]
fn round_half_away_f64(v: f64) -> f64 {
    let t = v as i64 as f64;
    let d = v - t;
    if d >= 0.5 {
        t + 1.0
    } else if d <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `floor((a b + 2^30) /
/// 2^31)`, the high half of `2 a b` rounded; `a = b = INT32_MIN` (the one
/// overflow) gives `INT32_MAX`.
///
/// ```
/// use cnn_spec::quant::saturating_rounding_doubling_high_mul as srdhm;
/// assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MAX);
/// assert_eq!(srdhm(1 << 30, 1 << 30), 1 << 29);
/// assert_eq!(srdhm(-1, 1 << 30), 0); // -0.5 rounds up
/// ```
#[inline]
pub const fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    ((a as i64 * b as i64 + (1 << 30)) >> 31) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to the
/// nearest integer, ties away from zero; `exponent` in `0..=31`.
///
/// ```
/// use cnn_spec::quant::rounding_divide_by_pot as rdbpot;
/// assert_eq!((rdbpot(5, 1), rdbpot(-5, 1), rdbpot(7, 2), rdbpot(-6, 2)), (3, -3, 2, -2));
/// assert_eq!(rdbpot(i32::MIN, 31), -1);
/// ```
#[inline]
pub const fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    assert!(exponent >= 0 && exponent <= 31, "shift out of range");
    let mask = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// `x * 2^left`, saturated to `i32` (see the module docs).
#[inline]
pub const fn saturating_shift_left(x: i32, left: i32) -> i32 {
    let wide = (x as i64) << left;
    if wide > i32::MAX as i64 {
        i32::MAX
    } else if wide < i32::MIN as i64 {
        i32::MIN
    } else {
        wide as i32
    }
}

/// TFLite's `MultiplyByQuantizedMultiplier(x, q, shift)` (double rounding,
/// see the module docs): `x * q * 2^(shift - 31)` rounded. `shift` in
/// `-31..=31`.
///
/// ```
/// use cnn_spec::quant::{multiply_by_quantized_multiplier as mbqm, quantize_multiplier};
/// let (q, shift) = quantize_multiplier(0.25).unwrap();
/// assert_eq!([mbqm(10, q, shift), mbqm(-10, q, shift), mbqm(6, q, shift)], [3, -3, 2]);
/// ```
#[inline]
pub const fn multiply_by_quantized_multiplier(x: i32, q: i32, shift: i32) -> i32 {
    let left = if shift > 0 { shift } else { 0 };
    let right = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(saturating_shift_left(x, left), q),
        right,
    )
}

/// `v` rounded to the nearest integer with ties away from zero (TFLite's
/// `TfLiteRound`), as an `i32` clamped to `[-2^24, 2^24]` (enough for any
/// int8 or int32 quantized value this crate forms from it); NaN gives 0.
#[inline]
pub fn round_half_away(v: f32) -> i32 {
    const LIMIT: f32 = 16_777_216.0;
    if v.is_nan() {
        return 0;
    }
    let v = v.clamp(-LIMIT, LIMIT);
    let t = v as i32;
    let d = v - t as f32;
    if d >= 0.5 {
        t + 1
    } else if d <= -0.5 {
        t - 1
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;

    /// gemmlowp's code, transcribed literally (C's truncating division).
    fn srdhm_gemmlowp(a: i32, b: i32) -> i32 {
        let overflow = a == b && a == i32::MIN;
        let ab = a as i64 * b as i64;
        let nudge = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
        let high = ((ab + nudge) / (1i64 << 31)) as i32;
        if overflow {
            i32::MAX
        } else {
            high
        }
    }

    fn rdbpot_gemmlowp(x: i32, exponent: i32) -> i32 {
        let mask = ((1i64 << exponent) - 1) as i32;
        let zero = 0;
        let one = 1;
        let remainder = x & mask;
        let threshold = (mask >> 1) + if x < zero { one } else { zero };
        (x >> exponent) + if remainder > threshold { one } else { zero }
    }

    fn edge_values() -> impl Iterator<Item = i32> {
        let mut v = vec![
            i32::MIN,
            i32::MIN + 1,
            i32::MAX,
            i32::MAX - 1,
            0,
            1,
            -1,
            2,
            -2,
            3,
            -3,
            1 << 30,
            -(1 << 30),
            (1 << 30) + 1,
            -(1 << 30) - 1,
        ];
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..400 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            v.push(s as i32);
            v.push((s >> 40) as i32 - (1 << 23));
        }
        v.into_iter()
    }

    #[test]
    fn srdhm_matches_gemmlowp() {
        for a in edge_values() {
            for b in edge_values().step_by(7) {
                assert_eq!(
                    saturating_rounding_doubling_high_mul(a, b),
                    srdhm_gemmlowp(a, b),
                    "{a} {b}"
                );
            }
        }
    }

    #[test]
    fn rdbpot_matches_gemmlowp() {
        for x in edge_values() {
            for e in 0..=31 {
                assert_eq!(
                    rounding_divide_by_pot(x, e),
                    rdbpot_gemmlowp(x, e),
                    "{x} {e}"
                );
            }
        }
        // Ties go away from zero.
        assert_eq!(rounding_divide_by_pot(2, 2), 1);
        assert_eq!(rounding_divide_by_pot(-2, 2), -1);
        assert_eq!(rounding_divide_by_pot(1, 2), 0);
        assert_eq!(rounding_divide_by_pot(-1, 2), 0);
    }

    #[test]
    fn quantize_multiplier_matches_frexp_and_round() {
        for &m in &[
            1e-12,
            2.5e-10,
            1e-6,
            0.0031,
            0.1,
            0.4999999,
            0.5,
            0.75,
            0.9999999999,
            1.0,
            1.5,
            7.0,
        ] {
            let (q, shift) = quantize_multiplier(m).unwrap();
            if m < 2f64.powi(-32) {
                assert_eq!((q, shift), (0, 0));
                continue;
            }
            assert!((1 << 30..=i32::MAX).contains(&q), "{m}: {q}");
            let back = q as f64 * 2f64.powi(shift - 31);
            assert!((back - m).abs() <= m * 2f64.powi(-31), "{m}: {back}");
        }
        // A mantissa that rounds up to 2^31 is halved.
        let just_below_one = 1.0 - 2f64.powi(-40);
        assert_eq!(quantize_multiplier(just_below_one), Some((1 << 30, 1)));
        assert_eq!(quantize_multiplier(-1.0), None);
        assert_eq!(quantize_multiplier(f64::NAN), None);
        assert_eq!(quantize_multiplier(f64::INFINITY), None);
        assert_eq!(quantize_multiplier(2f64.powi(40)), None);
        assert_eq!(quantize_multiplier(f64::MIN_POSITIVE / 4.0), Some((0, 0)));
    }

    #[test]
    fn multiply_by_quantized_multiplier_edges() {
        // Negative shifts: plain rounding of x * m.
        let (q, s) = quantize_multiplier(0.5).unwrap();
        assert_eq!(multiply_by_quantized_multiplier(3, q, s), 2); // 1.5 -> 2
        assert_eq!(multiply_by_quantized_multiplier(-3, q, s), -1); // SRDHM rounds -1.5 up
        let (q, s) = quantize_multiplier(0.25).unwrap();
        assert_eq!(multiply_by_quantized_multiplier(-6, q, s), -2); // -1.5 away from zero
                                                                    // INT32_MIN with the largest multiplier below one.
        let q = i32::MAX;
        assert_eq!(
            multiply_by_quantized_multiplier(i32::MIN, q, 0),
            -2147483647
        );
        assert_eq!(multiply_by_quantized_multiplier(i32::MAX, q, 0), 2147483646);
        assert_eq!(multiply_by_quantized_multiplier(i32::MIN, q, -31), -1);
        // Positive shifts saturate instead of wrapping.
        let (q, s) = quantize_multiplier(4.0).unwrap();
        assert_eq!(
            multiply_by_quantized_multiplier(1 << 29, q, s),
            i32::MAX / 2 + 1
        );
        assert_eq!(multiply_by_quantized_multiplier(1 << 30, q, s), 1 << 30);
        assert_eq!(multiply_by_quantized_multiplier(i32::MAX, q, s), 1 << 30);
        assert_eq!(multiply_by_quantized_multiplier(i32::MIN, q, s), -(1 << 30));
        // Against the exact product on random values (within the rounding).
        for x in edge_values().filter(|x| x.unsigned_abs() < 1 << 28) {
            for &m in &[0.0003, 0.01234, 0.3, 0.9, 1.7] {
                let (q, s) = quantize_multiplier(m).unwrap();
                let got = multiply_by_quantized_multiplier(x, q, s) as f64;
                let exact = x as f64 * q as f64 * 2f64.powi(s - 31);
                assert!((got - exact).abs() <= 1.0, "{x} {m}: {got} {exact}");
            }
        }
    }

    #[test]
    fn monotone_in_x() {
        for &m in &[0.0003, 0.3, 0.9, 3.7, 1000.0] {
            let (q, s) = quantize_multiplier(m).unwrap();
            let mut prev = i32::MIN;
            let mut x = i32::MIN;
            while x < i32::MAX - (1 << 22) {
                let y = multiply_by_quantized_multiplier(x, q, s);
                assert!(y >= prev, "{m}: {x}");
                prev = y;
                x += (1 << 22) + 12345;
            }
        }
    }

    #[test]
    fn round_half_away_edges() {
        assert_eq!(round_half_away(0.5), 1);
        assert_eq!(round_half_away(-0.5), -1);
        assert_eq!(round_half_away(1.5), 2);
        assert_eq!(round_half_away(2.5), 3);
        assert_eq!(round_half_away(0.499_999_97), 0);
        assert_eq!(round_half_away(-0.499_999_97), 0);
        assert_eq!(round_half_away(f32::NAN), 0);
        assert_eq!(round_half_away(f32::INFINITY), 1 << 24);
        assert_eq!(round_half_away(f32::NEG_INFINITY), -(1 << 24));
    }
}
