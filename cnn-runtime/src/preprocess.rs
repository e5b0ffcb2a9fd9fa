//! Input preprocessing applied at inference: the `no_std`, allocation-free
//! kernels that turn a raw sample into what a network's first layer takes.
//!
//! A model file can carry its preprocessing next to its weights (see
//! `data::Preprocessing` with `std`, and `Model`). A network compiled in
//! with `#[cnn(weights = "...")]` from such a file gets it as the constant
//! `PREPROCESSING` (a [`Preprocess`]) and an `infer_raw` method that
//! applies it; a network loaded at run time applies the same kernels, so
//! both give bit-identical inputs to the network.
//!
//! | kind | what [`Preprocess::apply`] does to one sample |
//! | --- | --- |
//! | [`Preprocess::PerSample`] | `x = (x - mean) / (std + 1e-8)`, the sample's own mean and population standard deviation (sums in `f64`) |
//! | [`Preprocess::PerChannel`] | `x = (x - mean[c]) / (std[c] + 1e-8)` in `f32`, `c` the channel (the first of `[C, H, W]`; one global value for other ranks) |
//!
//! ```
//! use cnn_runtime::preprocess::Preprocess;
//!
//! let mnist = Preprocess::PerChannel { mean: &[0.5], std: &[0.25] };
//! let mut x = [0.5, 0.75, 0.0];
//! mnist.apply(&mut x);
//! assert_eq!(x, [0.0, 1.0, -2.0]);
//!
//! let mut y = [1.0, 3.0];
//! Preprocess::PerSample.apply(&mut y);
//! assert_eq!(y, [-1.0, 1.0]);
//! ```

/// Added to every standard deviation before dividing.
pub const EPSILON: f64 = 1e-8;

/// [`EPSILON`] in `f32`, as [`Preprocess::PerChannel`] adds it.
const EPSILON_F32: f32 = 1e-8;

/// A preprocessing step, borrowing its statistics (`&'static` when compiled
/// in). Its statistics were checked against the network's input shape when
/// the file was read (at compile time for compiled-in weights).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Preprocess<'a> {
    /// The input is used as it is.
    None,
    /// Each sample standardised with its own mean and standard deviation
    /// (as `data::scale_each_sample` does to a training set).
    PerSample,
    /// Standardised with a training set's statistics, one per channel (as
    /// `data::Standardizer` does).
    PerChannel {
        /// Mean per channel, `[C]`.
        mean: &'a [f32],
        /// Population standard deviation per channel, `[C]`.
        std: &'a [f32],
    },
}

impl Preprocess<'_> {
    /// Preprocesses one sample in place. Allocates nothing and cannot
    /// panic: NaN in gives NaN out. For [`Preprocess::PerChannel`] the
    /// sample is split into `mean.len()` equal channels (values past the
    /// last whole channel are left as they are; the loaders make that
    /// impossible by checking the shapes).
    pub fn apply(&self, x: &mut [f32]) {
        match *self {
            Preprocess::None => {}
            Preprocess::PerSample => standardize_sample(x),
            Preprocess::PerChannel { mean, std } => standardize_channels(x, mean, std),
        }
    }

    /// The name stored in a file's metadata: `none`, `per_sample` or
    /// `per_channel`.
    pub const fn name(&self) -> &'static str {
        match self {
            Preprocess::None => "none",
            Preprocess::PerSample => "per_sample",
            Preprocess::PerChannel { .. } => "per_channel",
        }
    }
}

/// `x = (x - mean[c]) / (std[c] + 1e-8)` in `f32`, channel `c` being the
/// `c`-th of `mean.len()` equal slices of `x`.
pub fn standardize_channels(x: &mut [f32], mean: &[f32], std: &[f32]) {
    if mean.is_empty() {
        return;
    }
    let per_channel = x.len() / mean.len();
    if per_channel == 0 {
        return;
    }
    for ((values, &m), &s) in x.chunks_exact_mut(per_channel).zip(mean).zip(std) {
        let d = s + EPSILON_F32;
        for v in values {
            *v = (*v - m) / d;
        }
    }
}

/// `x = (x - mean) / (std + 1e-8)` with the mean and population standard
/// deviation of `x` itself, summed in `f64`; the result is rounded to
/// `f32` once. A constant sample becomes zeros.
pub fn standardize_sample(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = x
        .iter()
        .map(|&v| {
            let d = f64::from(v) - mean;
            d * d
        })
        .sum::<f64>()
        / n;
    let scale = 1.0 / (sqrt_f64(var) + EPSILON);
    for v in x {
        *v = ((f64::from(*v) - mean) * scale) as f32;
    }
}

/// Square root in `f64` without `std`: Newton's method from a bit-level
/// estimate (halving the exponent), which leaves it within an ulp or so
/// of the exact value.
fn sqrt_f64(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 || x.is_infinite() {
        return x;
    }
    // Subnormals: scale into the normal range, exactly (by 2^128).
    let (x, unscale) = if x < f64::MIN_POSITIVE {
        (
            x * f64::from_bits(0x47f0_0000_0000_0000),
            f64::from_bits(0x3bf0_0000_0000_0000),
        )
    } else {
        (x, 1.0)
    };
    let mut y = f64::from_bits((x.to_bits() >> 1) + 0x1ff7_a3be_a91d_9b1b);
    for _ in 0..6 {
        y = 0.5 * (y + x / y);
    }
    y * unscale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_channel_matches_the_f32_formula() {
        let mean = [0.131_074_28f32];
        let std = [0.308_688_52f32];
        let mut x: [f32; 256] = core::array::from_fn(|p| p as f32 / 255.0);
        let expected: [f32; 256] =
            core::array::from_fn(|p| (p as f32 / 255.0 - mean[0]) / (std[0] + 1e-8));
        Preprocess::PerChannel {
            mean: &mean,
            std: &std,
        }
        .apply(&mut x);
        assert_eq!(x.map(f32::to_bits), expected.map(f32::to_bits));
    }

    #[test]
    fn per_channel_splits_channels() {
        let mut x = [1.0, 1.0, 10.0, 12.0];
        standardize_channels(&mut x, &[1.0, 11.0], &[1.0, 1.0]);
        assert_eq!(x, [0.0, 0.0, -1.0, 1.0]);
        // A zero standard deviation gives zeros for the mean, not NaN.
        let mut c = [3.0, 3.0];
        standardize_channels(&mut c, &[3.0], &[0.0]);
        assert_eq!(c, [0.0, 0.0]);
    }

    #[test]
    fn per_sample_agrees_with_f64_statistics() {
        let mut x: [f32; 50] = core::array::from_fn(|i| ((i * 37 % 11) as f32).sin() * 3.0 + 1.0);
        standardize_sample(&mut x);
        let n = x.len() as f64;
        let m = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let s = (x.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / n).sqrt();
        assert!(m.abs() < 1e-6 && (s - 1.0).abs() < 1e-6, "{m} {s}");
        let mut constant = [0.5f32; 4];
        standardize_sample(&mut constant);
        assert_eq!(constant, [0.0; 4]);
        let mut nan = [1.0, f32::NAN];
        standardize_sample(&mut nan);
        assert!(nan.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn sqrt_f64_is_close_to_std() {
        for x in [
            1e-310,
            1e-300,
            1e-20,
            0.1,
            2.0,
            12345.678,
            1e50,
            1e300,
            f64::MAX,
        ] {
            let (a, b) = (sqrt_f64(x), x.sqrt());
            assert!((a - b).abs() <= 2.0 * f64::EPSILON * b, "{x}: {a} {b}");
        }
        assert!(sqrt_f64(-1.0).is_nan());
        assert_eq!(sqrt_f64(0.0), 0.0);
    }
}
