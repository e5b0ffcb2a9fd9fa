//! Scalar math that `core` lacks, written once so that `std` and `no_std`
//! builds compute bit-identical results.

/// `e^x` for f32, within 2 ulp over the whole range. NaN gives NaN, large
/// inputs `inf`, very negative inputs `0`.
#[inline]
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.72283 {
        return f32::INFINITY;
    }
    if x < -103.97208 {
        return 0.0;
    }
    // x = k ln2 + r, |r| <= ln2 / 2; e^x = 2^k e^r.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let k = round(x * core::f32::consts::LOG2_E);
    let r = (x - k * LN2_HI) - k * LN2_LO;
    // Minimax polynomial for e^r on [-ln2/2, ln2/2] (Cephes expf).
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let er = p * r2 + r + 1.0;
    scale_by_pow2(er, k as i32)
}

/// Natural logarithm for positive finite f32 (within 2 ulp); `ln(0) = -inf`,
/// negative or NaN gives NaN.
#[inline]
pub fn ln(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let mut bits = x.to_bits();
    let mut e: i32 = 0;
    if bits < 0x0080_0000 {
        // Subnormal: normalise.
        let y = x * 16_777_216.0; // 2^24
        bits = y.to_bits();
        e -= 24;
    }
    e += ((bits >> 23) & 0xff) as i32 - 127;
    // Mantissa m in [sqrt(1/2), sqrt(2)).
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    if m > core::f32::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1).
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let poly = s2 * (0.666_666_7 + s2 * (0.400_000_6 + s2 * (0.285_680_4 + s2 * 0.222_118_7)));
    let ln_m = 2.0 * s + s * poly;
    ln_m + e as f32 * core::f32::consts::LN_2
}

/// Square root (for `no_std`): Newton's method from a bit-level estimate,
/// correctly rounded to within 1 ulp.
#[inline]
pub fn sqrt(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 || x.is_infinite() {
        return x;
    }
    let mut y = f32::from_bits((x.to_bits() >> 1) + 0x1fbd_1df5);
    for _ in 0..4 {
        y = 0.5 * (y + x / y);
    }
    y
}

/// Rounds to the nearest integer, ties away from zero (for |x| < 2^23).
#[inline(always)]
fn round(x: f32) -> f32 {
    let t = (x.abs() + 0.5) as i32 as f32;
    if x < 0.0 {
        -t
    } else {
        t
    }
}

/// `x * 2^k` for the exponents `exp` produces.
#[inline(always)]
fn scale_by_pow2(x: f32, k: i32) -> f32 {
    if k > 127 {
        x * f32::from_bits(((127 + 127) as u32) << 23)
            * f32::from_bits(((k - 127 + 127) as u32) << 23)
    } else if k < -126 {
        // Two steps keep subnormal results accurate.
        x * f32::from_bits(((k + 126 + 127) as u32) << 23) * f32::from_bits(1u32 << 23)
    } else {
        x * f32::from_bits(((k + 127) as u32) << 23)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_matches_std() {
        let mut worst = 0;
        let mut x = -103.0f32;
        while x < 88.7 {
            let want = (x as f64).exp() as f32;
            worst = worst.max(ulps(exp(x), want));
            x += 0.0137;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(100.0), f32::INFINITY);
        assert_eq!(exp(-200.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn ln_matches_std() {
        let mut worst = 0;
        let mut x = 1e-40f32;
        while x < 1e30 {
            let want = (x as f64).ln() as f32;
            worst = worst.max(ulps(ln(x), want));
            x *= 1.0137;
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn sqrt_matches_std() {
        let mut x = 1e-30f32;
        while x < 1e30 {
            assert!(ulps(sqrt(x), x.sqrt()) <= 1, "{x}");
            x *= 1.37;
        }
    }
}
