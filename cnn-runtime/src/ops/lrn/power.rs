//! `s^(-beta)` for whole rows of the LRN kernel.
//!
//! The row loops call branch-free versions of `1/sqrt`, `ln` and `exp` that
//! are accurate on a domain of ordinary values (see the tests for the
//! bounds) and that the compiler vectorises. Values outside that domain
//! (zero, subnormal, infinite, negative, NaN, or a power that would leave
//! the f32 range) are then redone one by one with [`cnn_spec::math`]'s
//! `exp(-beta ln(s))`, which gives `inf` for `s = 0`, `0` for `s = inf`,
//! NaN for `s < 0` or NaN, and handles subnormal `s`. Each result depends
//! on its own `s` only, never on the other values of its row.

use cnn_spec::math;
use core::f32::consts::{LN_2, LOG2_E, SQRT_2};

/// How `s^(-beta)` is computed, chosen once per kernel call.
#[derive(Clone, Copy, Debug)]
pub(super) enum Power {
    /// `1 / s`.
    One,
    /// `1 / sqrt(s)`.
    Half,
    /// `1 / (sqrt(s) sqrt(sqrt(s)))`, AlexNet's `beta`.
    ThreeQuarters,
    /// `exp(-beta ln(s))` for `s` in `[lo, hi]`, where the result stays a
    /// normal f32.
    General { beta: f32, lo: f32, hi: f32 },
}

impl Power {
    pub(super) fn of(beta: f32) -> Power {
        if beta == 1.0 {
            Power::One
        } else if beta == 0.5 {
            Power::Half
        } else if beta == 0.75 {
            Power::ThreeQuarters
        } else {
            // |beta ln(s)| <= 87 keeps exp_normal's 2^k a normal f32.
            let reach = 87.0 / beta.abs();
            Power::General {
                beta,
                lo: math::exp(-reach).max(f32::MIN_POSITIVE),
                hi: math::exp(reach).min(f32::MAX),
            }
        }
    }

    /// `s^(-beta)` of one value, any value: the value [`Power::inv_row`]
    /// gives it.
    #[inline]
    pub(super) fn inv(self, s: f32) -> f32 {
        let (lo, hi) = self.domain();
        if s >= lo && s <= hi {
            self.fast(s)
        } else {
            self.exact(s)
        }
    }

    /// `out[i] = s[i]^(-beta)`: the fast functions in loops that vectorise,
    /// then the exact path for the values outside their domain, if any.
    pub(super) fn inv_row(self, s: &[f32], out: &mut [f32]) {
        let out = &mut out[..s.len()];
        // One loop per kind, each with its function inlined.
        match self {
            Power::One => zip_map(s, out, |v| Power::One.fast(v)),
            Power::Half => zip_map(s, out, |v| Power::Half.fast(v)),
            Power::ThreeQuarters => zip_map(s, out, |v| Power::ThreeQuarters.fast(v)),
            Power::General { beta, .. } => zip_map(s, out, |v| exp_normal(-beta * ln_normal(v))),
        }
        let (lo, hi) = self.domain();
        // NaN fails both comparisons.
        let ordinary = s.iter().fold(true, |ok, &v| ok & (v >= lo) & (v <= hi));
        if !ordinary {
            for (o, &v) in out.iter_mut().zip(s) {
                if !(v >= lo && v <= hi) {
                    *o = self.exact(v);
                }
            }
        }
    }

    /// The values of `s` where [`Power::fast`] holds.
    #[inline(always)]
    fn domain(self) -> (f32, f32) {
        match self {
            Power::One => (f32::NEG_INFINITY, f32::INFINITY),
            Power::Half | Power::ThreeQuarters => (f32::MIN_POSITIVE, f32::MAX),
            Power::General { lo, hi, .. } => (lo, hi),
        }
    }

    /// `s^(-beta)` for `s` in [`Power::domain`]; garbage (but no panic)
    /// elsewhere.
    #[inline(always)]
    fn fast(self, s: f32) -> f32 {
        match self {
            Power::One => 1.0 / s,
            Power::Half => rsqrt_normal(s),
            Power::ThreeQuarters => {
                let r = rsqrt_normal(s);
                // r sqrt(r); r r could be subnormal.
                r * (r * rsqrt_normal(r))
            }
            Power::General { beta, .. } => exp_normal(-beta * ln_normal(s)),
        }
    }

    /// `s^(-beta)` of any value with [`cnn_spec::math`]: `inf` for `s = 0`,
    /// `0` for `s = inf`, NaN for `s < 0` or NaN, subnormal `s` exact.
    fn exact(self, s: f32) -> f32 {
        let beta = match self {
            Power::One => return 1.0 / s,
            Power::Half => 0.5,
            Power::ThreeQuarters => 0.75,
            Power::General { beta, .. } => beta,
        };
        math::exp(-beta * math::ln(s))
    }
}

#[inline(always)]
fn zip_map(s: &[f32], out: &mut [f32], f: impl Fn(f32) -> f32) {
    for (o, &v) in out.iter_mut().zip(s) {
        *o = f(v);
    }
}

/// `1 / sqrt(x)` for normal positive finite `x`: a bit-level estimate
/// (relative error below 3.5e-2) and three Newton steps.
#[inline(always)]
fn rsqrt_normal(x: f32) -> f32 {
    let mut r = f32::from_bits(0x5f37_5a86u32.wrapping_sub(x.to_bits() >> 1));
    for _ in 0..3 {
        // (x r) r stays normal for every normal x.
        let t = x * r * r;
        r *= 1.5 - 0.5 * t;
    }
    r
}

/// `ln(x)` for normal positive finite `x`: [`math::ln`] without its
/// special-value branches.
#[inline(always)]
fn ln_normal(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    // Mantissa in [sqrt(1/2), sqrt(2)).
    let big = m > SQRT_2;
    let m = if big { m * 0.5 } else { m };
    let e = e + i32::from(big);
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1).
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let poly = s2 * (0.666_666_7 + s2 * (0.400_000_6 + s2 * (0.285_680_4 + s2 * 0.222_118_7)));
    2.0 * s + s * poly + e as f32 * LN_2
}

/// `e^x` for `|x| <= 87`: [`math::exp`] without its range branches.
#[inline(always)]
fn exp_normal(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let t = x * LOG2_E;
    // Round half away from zero; |k| <= 126.
    let k = (t + 0.5f32.copysign(t)) as i32;
    let kf = k as f32;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    (p * r2 + r + 1.0) * f32::from_bits((k.wrapping_add(127) as u32) << 23)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    /// The worst relative error of `inv_row` against f64 over `s` from
    /// 1e-30 to 1e30.
    fn worst(beta: f32) -> f64 {
        let p = Power::of(beta);
        let mut s = Vec::new();
        let mut v = 1e-30f32;
        while v < 1e30 {
            s.push(v);
            v *= 1.0123;
        }
        let mut out = vec![0.0; s.len()];
        p.inv_row(&s, &mut out);
        s.iter()
            .zip(&out)
            .map(|(&s, &o)| {
                let want = f64::from(s).powf(-f64::from(beta));
                let normal = f64::from(f32::MIN_POSITIVE)..=f64::from(f32::MAX);
                if !normal.contains(&want) {
                    0.0
                } else {
                    (f64::from(o) - want).abs() / want
                }
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn rows_are_accurate() {
        for (beta, bound) in [
            (1.0, 1e-7),
            (0.5, 3e-7),
            (0.75, 4e-7),
            (0.6, 1e-5),
            (1.3, 2e-5),
            (0.25, 5e-6),
        ] {
            let w = worst(beta);
            assert!(w <= bound, "beta {beta}: relative error {w:e}");
        }
    }

    #[test]
    fn special_values_take_the_exact_path() {
        for beta in [1.0, 0.5, 0.75, 0.6] {
            let p = Power::of(beta);
            let s = [2.0, 0.0, f32::INFINITY, -1.0, f32::NAN, 1e-40];
            let mut out = [0.0; 6];
            p.inv_row(&s, &mut out);
            assert!((out[0] - 2.0f32.powf(-beta)).abs() < 1e-6, "beta {beta}");
            // The ordinary value is computed as in a row without the others.
            let mut alone = [0.0];
            p.inv_row(&s[..1], &mut alone);
            assert_eq!((out[0], p.inv(2.0)), (alone[0], alone[0]), "beta {beta}");
            assert_eq!(out[1], f32::INFINITY, "beta {beta}");
            assert_eq!(out[2], 0.0, "beta {beta}");
            assert!(out[4].is_nan(), "beta {beta}");
            if beta == 1.0 {
                assert_eq!((out[3], out[5]), (-1.0, f32::INFINITY));
                continue;
            }
            assert!(out[3].is_nan(), "beta {beta}");
            let want = 1e-40f64.powf(-f64::from(beta));
            assert!(
                ((f64::from(out[5]) - want) / want).abs() < 1e-5,
                "beta {beta}: {}",
                out[5]
            );
        }
    }
}
