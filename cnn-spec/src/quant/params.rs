//! Quantization parameters of tensors and the formulas that choose them
//! (TensorFlow Lite's int8 specification; the same ones ONNX Runtime's
//! `quantize_static` uses, up to the rounding of ties noted below).

use super::fixed::round_half_away;

/// Smallest and largest int8 activation values.
pub const QMIN: i32 = -128;
/// See [`QMIN`].
pub const QMAX: i32 = 127;
/// Largest magnitude of a symmetric int8 weight: weights use `[-127, 127]`
/// (TFLite's specification, so that `-w` is representable).
pub const WEIGHT_QMAX: i32 = 127;

/// How an int8 tensor stands for real values: `real = scale * (q -
/// zero_point)`, `q` in `[-128, 127]`.
///
/// Activations are asymmetric and per tensor (any zero point); weights are
/// symmetric (zero point 0) with one scale per output channel, which lives
/// in the weights file rather than here.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QParams {
    /// Real value of one step; positive and finite.
    pub scale: f32,
    /// The int8 value that stands for real 0.
    pub zero_point: i8,
}

impl QParams {
    /// Parameters with the given scale and zero point.
    #[inline]
    pub const fn new(scale: f32, zero_point: i8) -> Self {
        QParams { scale, zero_point }
    }

    /// Asymmetric int8 parameters covering the real range `[min, max]`,
    /// widened to include 0 so that 0 is exact (zero padding, ReLU):
    ///
    /// ```text
    /// lo = min(min, 0), hi = max(max, 0)
    /// scale = (hi - lo) / 255                   (in f64, then rounded to f32)
    /// zero_point = clamp(round(-128 - lo / scale), -128, 127)   (f64 scale, ties away from zero)
    /// ```
    ///
    /// An empty range (`lo == hi == 0`) gives scale 1 and zero point 0;
    /// NaN bounds are treated as 0. ONNX Runtime computes the same, except
    /// that NumPy rounds an exact tie of the zero point to even.
    ///
    /// ```
    /// use cnn_spec::quant::QParams;
    /// let relu = QParams::from_range(0.0, 6.0);
    /// assert_eq!(relu.zero_point, -128);
    /// assert_eq!(relu.quantize(6.0), 127);
    /// let q = QParams::from_range(-1.0, 1.0);
    /// assert_eq!(q.quantize(0.0), q.zero_point);
    /// ```
    pub fn from_range(min: f32, max: f32) -> Self {
        let lo = if min < 0.0 { min } else { 0.0 };
        let hi = if max > 0.0 { max } else { 0.0 };
        let scale = (hi as f64 - lo as f64) / (QMAX - QMIN) as f64;
        let scale32 = scale as f32;
        if !scale32.is_normal() || scale32 < 0.0 {
            return QParams::new(1.0, 0);
        }
        let zp = round_half_away_f64(QMIN as f64 - lo as f64 / scale);
        let zp = zp.clamp(QMIN as f64, QMAX as f64) as i8;
        QParams::new(scale32, zp)
    }

    /// TFLite's `Quantize`: `clamp(round(x / scale) + zero_point, -128,
    /// 127)`, the division in f32 and ties away from zero; NaN gives the
    /// zero point.
    #[inline]
    pub fn quantize(&self, x: f32) -> i8 {
        let q = x / self.scale;
        let q = if q.is_nan() {
            0.0
        } else {
            q.clamp(-256.0, 256.0)
        };
        (round_half_away(q) + self.zero_point as i32).clamp(QMIN, QMAX) as i8
    }

    /// TFLite's `Dequantize`: `scale * (q - zero_point)` in f32.
    #[inline]
    pub fn dequantize(&self, q: i8) -> f32 {
        self.scale * (q as i32 - self.zero_point as i32) as f32
    }

    /// Whether the scale is positive and finite.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.scale > 0.0 && self.scale.is_finite()
    }
}

/// The symmetric per-channel scale of a weight row whose largest magnitude
/// is `absmax`: `absmax / 127` (in f64, then rounded to f32, as ONNX
/// Runtime does); 1 for an all-zero row.
#[inline]
pub fn weight_scale(absmax: f32) -> f32 {
    let s = (absmax as f64 / WEIGHT_QMAX as f64) as f32;
    if s >= f32::MIN_POSITIVE && s.is_finite() {
        s
    } else {
        1.0
    }
}

/// A weight quantized with its channel's scale: `clamp(round(w / scale),
/// -127, 127)` (f32 division, ties away from zero; NumPy's ties to even in
/// ONNX Runtime).
#[inline]
pub fn quantize_weight(w: f32, scale: f32) -> i8 {
    round_half_away(w / scale).clamp(-WEIGHT_QMAX, WEIGHT_QMAX) as i8
}

/// A bias quantized as TFLite's specification says: int32 with scale
/// `input_scale * weight_scale` and zero point 0, `round(b / (s_in s_w))`
/// (computed in f64, ties away from zero, saturated to `i32`).
#[inline]
pub fn quantize_bias(b: f32, input_scale: f32, weight_scale: f32) -> i32 {
    let s = input_scale as f64 * weight_scale as f64;
    let v = b as f64 / s;
    if v.is_nan() {
        return 0;
    }
    round_half_away_f64(v.clamp(i32::MIN as f64, i32::MAX as f64)) as i32
}

/// `v` rounded to the nearest integer, ties away from zero, `|v| < 2^62`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_include_zero() {
        let q = QParams::from_range(0.5, 2.0);
        assert_eq!(q.zero_point, -128);
        assert_eq!(q.scale, (2.0f64 / 255.0) as f32);
        let q = QParams::from_range(-2.0, -0.5);
        assert_eq!(q.zero_point, 127);
        let q = QParams::from_range(-1.0, 3.0);
        assert_eq!(q.zero_point, -64); // round(-128 + 1 / (4 / 255)) = round(-64.25)
        assert_eq!(QParams::from_range(0.0, 0.0), QParams::new(1.0, 0));
        assert_eq!(
            QParams::from_range(f32::NAN, f32::NAN),
            QParams::new(1.0, 0)
        );
    }

    #[test]
    fn quantize_rounds_and_saturates() {
        let q = QParams::new(0.5, -3);
        assert_eq!(q.quantize(0.25), -2); // 0.5 -> 1
        assert_eq!(q.quantize(-0.25), -4); // -0.5 -> -1
        assert_eq!(q.quantize(1000.0), 127);
        assert_eq!(q.quantize(-1000.0), -128);
        assert_eq!(q.quantize(f32::INFINITY), 127);
        assert_eq!(q.quantize(f32::NEG_INFINITY), -128);
        assert_eq!(q.quantize(f32::NAN), -3);
        assert_eq!(q.dequantize(-3), 0.0);
        assert_eq!(q.dequantize(1), 2.0);
    }

    #[test]
    fn weights_and_biases() {
        let s = weight_scale(0.635);
        assert_eq!(quantize_weight(0.635, s), 127);
        assert_eq!(quantize_weight(-0.635, s), -127);
        assert_eq!(quantize_weight(-10.0, s), -127);
        assert_eq!(weight_scale(0.0), 1.0);
        assert_eq!(quantize_bias(1.0, 0.5, 0.25), 8);
        assert_eq!(quantize_bias(-0.3125, 0.5, 0.25), -3); // -2.5 -> -3
        assert_eq!(quantize_bias(1e30, 1e-10, 1e-10), i32::MAX);
    }
}
