//! Input normalisation: per-sample scaling and per-channel standardisation.
//!
//! Both divide by `std + 1e-8`, so a constant sample or channel becomes
//! zeros rather than NaN. Statistics are accumulated in `f64`; standard
//! deviations are population ones (divided by `n`, not `n - 1`).

use super::dataset::{shape_string, Dataset};
use crate::error::Error;

/// Added to every standard deviation before dividing.
pub const EPSILON: f64 = 1e-8;

/// Mean and population standard deviation of `values`, in `f64`.
fn mean_std(values: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
    let (mut n, mut sum) = (0usize, 0.0f64);
    for v in values.clone() {
        n += 1;
        sum += f64::from(v);
    }
    if n == 0 {
        return (0.0, 0.0);
    }
    let mean = sum / n as f64;
    let var = values.map(|v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n as f64;
    (mean, var.sqrt())
}

/// Standardises each sample on its own: `x = (x - mean) / (std + 1e-8)`
/// with the mean and population standard deviation of that sample's
/// values. Needs no fitting, so training and test data are treated alike.
///
/// ```
/// use cnn_runtime::data::{scale_each_sample, Dataset};
///
/// let mut data = Dataset::classification(vec![1.0, 3.0, 10.0, 10.0], &[2], vec![0, 1], 2)?;
/// scale_each_sample(&mut data);
/// assert_eq!(data.input(0), &[-1.0, 1.0]);
/// assert_eq!(data.input(1), &[0.0, 0.0]); // a constant sample becomes zeros
/// # Ok::<(), cnn_runtime::Error>(())
/// ```
pub fn scale_each_sample(data: &mut Dataset) {
    let sample_len = data.sample_len();
    for sample in data.inputs_mut().chunks_exact_mut(sample_len) {
        let (mean, std) = mean_std(sample.iter().copied());
        let scale = 1.0 / (std + EPSILON);
        for x in sample.iter_mut() {
            *x = ((f64::from(*x) - mean) * scale) as f32;
        }
    }
}

/// Standardisation with statistics from a training set:
/// `x = (x - mean) / (std + 1e-8)`.
///
/// For 3-D samples `[C, H, W]` there is one mean and standard deviation per
/// channel (the first dimension), over every pixel of that channel in every
/// sample. For samples of any other rank (`[N]` vectors, `[H, W]`) there is
/// a single global value over all values of all samples.
///
/// Because the statistics are per channel, a standardizer fits any dataset
/// with the same number of channels (of any image size); [`apply`]
/// refuses one whose channel count differs from the number of values.
///
/// ```
/// use cnn_runtime::data::{Dataset, Standardizer};
///
/// // Two samples of [2 channels, 1, 2].
/// let train = Dataset::classification(
///     vec![0.0, 2.0, 10.0, 10.0, /* sample 2 */ 4.0, 6.0, 30.0, 30.0],
///     &[2, 1, 2],
///     vec![0, 1],
///     2,
/// )?;
/// let s = Standardizer::fit(&train)?;
/// assert_eq!(s.mean, vec![3.0, 20.0]);
/// assert_eq!(s.std, vec![5.0f32.sqrt(), 10.0]);
///
/// // Known statistics can be written down directly: MNIST's, for example.
/// let mnist = Standardizer { mean: vec![0.1307], std: vec![0.3081] };
/// let mut digits = Dataset::classification(vec![0.1307; 784], &[1, 28, 28], vec![3], 10)?;
/// mnist.apply(&mut digits)?;
/// assert!(digits.inputs().iter().all(|&x| x.abs() < 1e-6));
///
/// // A mismatched dataset is refused.
/// let mut rgb = Dataset::classification(vec![0.0; 12], &[3, 2, 2], vec![0], 1)?;
/// assert!(mnist.apply(&mut rgb).is_err());
/// # Ok::<(), cnn_runtime::Error>(())
/// ```
///
/// [`apply`]: Standardizer::apply
#[derive(Clone, Debug, PartialEq)]
pub struct Standardizer {
    /// Mean per channel (or one global mean).
    pub mean: Vec<f32>,
    /// Population standard deviation per channel (or one global value).
    pub std: Vec<f32>,
}

/// How many statistics a sample shape takes: its channels for `[C, H, W]`,
/// one otherwise.
fn groups(shape: &[usize]) -> usize {
    if shape.len() == 3 {
        shape[0]
    } else {
        1
    }
}

fn describe(shape: &[usize]) -> String {
    match groups(shape) {
        1 if shape.len() == 3 => format!("{} (1 channel)", shape_string(shape)),
        1 => format!("{} (one global value)", shape_string(shape)),
        c => format!("{} ({c} channels)", shape_string(shape)),
    }
}

impl Standardizer {
    /// Computes the mean and population standard deviation of `train`, per
    /// channel for `[C, H, W]` samples, globally otherwise.
    ///
    /// Errors ([`Error::Data`]) if `train` is empty or a statistic is not
    /// finite (the inputs contain NaN or infinity, named by channel).
    pub fn fit(train: &Dataset) -> Result<Self, Error> {
        if train.is_empty() {
            return Err(Error::Data {
                path: None,
                message: "cannot fit a Standardizer on an empty dataset".into(),
            });
        }
        let channels = groups(train.sample_shape());
        let per_channel = train.sample_len() / channels;
        let sample_len = train.sample_len();
        let mut mean = Vec::with_capacity(channels);
        let mut std = Vec::with_capacity(channels);
        for c in 0..channels {
            let values = train
                .inputs()
                .chunks_exact(sample_len)
                .flat_map(move |s| s[c * per_channel..(c + 1) * per_channel].iter().copied());
            let (m, s) = mean_std(values);
            let (m, s) = (m as f32, s as f32);
            if !m.is_finite() || !s.is_finite() {
                return Err(Error::Data {
                    path: None,
                    message: format!(
                        "cannot fit a Standardizer: {} has mean {m} and standard deviation {s}; \
                         the inputs contain NaN or infinite values",
                        if channels == 1 && train.sample_shape().len() != 3 {
                            "the data".to_string()
                        } else {
                            format!("channel {c}")
                        }
                    ),
                });
            }
            mean.push(m);
            std.push(s);
        }
        Ok(Standardizer { mean, std })
    }

    /// Standardises `data` in place: `x = (x - mean) / (std + 1e-8)`, per
    /// channel (or globally), with the fitted statistics.
    ///
    /// Errors: [`Error::Data`] if `data`'s samples have a different number
    /// of channels than there are statistics (one for samples that are not
    /// `[C, H, W]`); [`Error::Config`] if `mean` and `std` differ in length
    /// or hold a value that is not finite, or a negative standard deviation.
    pub fn apply(&self, data: &mut Dataset) -> Result<(), Error> {
        if self.mean.len() != self.std.len() {
            return Err(Error::Config {
                message: format!(
                    "the Standardizer has {} means but {} standard deviations",
                    self.mean.len(),
                    self.std.len()
                ),
            });
        }
        if let Some((i, (m, s))) = self
            .mean
            .iter()
            .zip(&self.std)
            .enumerate()
            .find(|(_, (m, s))| !m.is_finite() || !s.is_finite() || **s < 0.0)
        {
            return Err(Error::Config {
                message: format!(
                    "the Standardizer's statistics for channel {i} cannot be used: mean {m}, \
                     standard deviation {s}"
                ),
            });
        }
        let channels = groups(data.sample_shape());
        if channels != self.mean.len() {
            return Err(Error::Data {
                path: None,
                message: format!(
                    "the Standardizer holds {} value{} (it was fitted on {}), but this dataset's \
                     samples are {}",
                    self.mean.len(),
                    if self.mean.len() == 1 { "" } else { "s" },
                    if self.mean.len() == 1 {
                        "one channel or globally".to_string()
                    } else {
                        format!("{} channels", self.mean.len())
                    },
                    describe(data.sample_shape())
                ),
            });
        }
        let per_channel = data.sample_len() / channels;
        let sample_len = data.sample_len();
        for sample in data.inputs_mut().chunks_exact_mut(sample_len) {
            for ((values, &m), &s) in sample
                .chunks_exact_mut(per_channel)
                .zip(&self.mean)
                .zip(&self.std)
            {
                let scale = 1.0 / (f64::from(s) + EPSILON);
                for x in values {
                    *x = ((f64::from(*x) - f64::from(m)) * scale) as f32;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(values: &[f32]) -> (f64, f64) {
        mean_std(values.iter().copied())
    }

    /// Deterministic, uneven values.
    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32)
            .map(|i| {
                let h = (i.wrapping_mul(2654435761) ^ seed.wrapping_mul(40503)) % 1000;
                h as f32 / 100.0
            })
            .collect()
    }

    #[test]
    fn each_sample_gets_mean_zero_std_one() {
        let mut data = Dataset::regression(values(3 * 50, 1), &[50], vec![0.0; 3], 1).unwrap();
        scale_each_sample(&mut data);
        for i in 0..3 {
            let (m, s) = stats(data.input(i));
            assert!(
                m.abs() < 1e-6 && (s - 1.0).abs() < 1e-5,
                "sample {i}: {m} {s}"
            );
        }
    }

    #[test]
    fn constant_samples_become_zeros() {
        let mut data = Dataset::classification(vec![0.5; 8], &[1, 2, 2], vec![0, 0], 1).unwrap();
        scale_each_sample(&mut data);
        assert!(data.inputs().iter().all(|&x| x == 0.0));
        let s = Standardizer::fit(&data).unwrap();
        assert_eq!(s.std, vec![0.0]);
        s.apply(&mut data).unwrap();
        assert!(data.inputs().iter().all(|&x| x == 0.0));
    }

    #[test]
    fn per_channel_for_images() {
        // 4 samples of [3, 2, 5]: channel c has values around 10 * c.
        let mut inputs = values(4 * 30, 2);
        for (i, x) in inputs.iter_mut().enumerate() {
            *x = *x * (1 + (i / 10) % 3) as f32 + 10.0 * ((i / 10) % 3) as f32;
        }
        let mut data = Dataset::classification(inputs, &[3, 2, 5], vec![0; 4], 1).unwrap();
        let s = Standardizer::fit(&data).unwrap();
        assert_eq!((s.mean.len(), s.std.len()), (3, 3));
        assert!(s.mean[0] < s.mean[1] && s.mean[1] < s.mean[2], "{s:?}");
        // Check channel 1 by hand.
        let ch1: Vec<f32> = data
            .inputs()
            .chunks(30)
            .flat_map(|c| c[10..20].to_vec())
            .collect();
        let (m, sd) = stats(&ch1);
        assert!((s.mean[1] as f64 - m).abs() < 1e-5 && (s.std[1] as f64 - sd).abs() < 1e-5);

        s.apply(&mut data).unwrap();
        for c in 0..3 {
            let ch: Vec<f32> = data
                .inputs()
                .chunks(30)
                .flat_map(|x| x[c * 10..(c + 1) * 10].to_vec())
                .collect();
            let (m, sd) = stats(&ch);
            assert!(
                m.abs() < 1e-5 && (sd - 1.0).abs() < 1e-5,
                "channel {c}: {m} {sd}"
            );
        }
        // Refit after standardising: mean 0, std 1.
        let again = Standardizer::fit(&data).unwrap();
        assert!(again.mean.iter().all(|m| m.abs() < 1e-5), "{again:?}");
        assert!(
            again.std.iter().all(|s| (s - 1.0).abs() < 1e-5),
            "{again:?}"
        );
    }

    #[test]
    fn global_for_vectors_and_2d() {
        for shape in [&[6][..], &[2, 3][..]] {
            let inputs = values(5 * 6, 3);
            let (m, sd) = stats(&inputs);
            let mut data = Dataset::regression(inputs, shape, vec![0.0; 5], 1).unwrap();
            let s = Standardizer::fit(&data).unwrap();
            assert_eq!(s.mean.len(), 1);
            assert!((s.mean[0] as f64 - m).abs() < 1e-5 && (s.std[0] as f64 - sd).abs() < 1e-5);
            s.apply(&mut data).unwrap();
            let (m, sd) = stats(data.inputs());
            assert!(m.abs() < 1e-5 && (sd - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn fitted_on_train_applied_to_other_data() {
        let train = Dataset::regression(vec![1.0, 3.0, 5.0, 7.0], &[2], vec![0.0; 2], 1).unwrap();
        let s = Standardizer::fit(&train).unwrap();
        assert_eq!((s.mean[0], s.std[0]), (4.0, 5.0f32.sqrt()));
        let mut test =
            Dataset::regression(vec![4.0, 4.0 + 5.0f32.sqrt()], &[2], vec![0.0], 1).unwrap();
        s.apply(&mut test).unwrap();
        assert!(test.inputs()[0].abs() < 1e-6 && (test.inputs()[1] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn errors() {
        // Empty.
        let data = Dataset::classification(vec![0.0; 4], &[1, 2, 2], vec![0], 2).unwrap();
        let empty = data.filter_classes(|_| false);
        let e = Standardizer::fit(&empty).unwrap_err();
        assert!(e.to_string().contains("empty dataset"), "{e}");

        // Not finite.
        let nan = Dataset::classification(vec![0.0, 1.0, f32::NAN, 1.0], &[2, 1, 2], vec![0], 1);
        let e = Standardizer::fit(&nan.unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("channel 1") && e.to_string().contains("NaN"),
            "{e}"
        );
        let inf = Dataset::regression(vec![0.0, f32::INFINITY], &[2], vec![0.0], 1).unwrap();
        let e = Standardizer::fit(&inf).unwrap_err();
        assert!(e.to_string().contains("the data has mean"), "{e}");

        // Channel count mismatch, both ways.
        let rgb = Standardizer {
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
        };
        let mut gray = Dataset::classification(vec![0.0; 4], &[1, 2, 2], vec![0], 1).unwrap();
        let e = rgb.apply(&mut gray).unwrap_err();
        assert!(matches!(e, Error::Data { .. }));
        let m = e.to_string();
        assert!(
            m.contains("3 values")
                && m.contains("3 channels")
                && m.contains("[1, 2, 2] (1 channel)"),
            "{m}"
        );
        assert_eq!(gray.inputs(), &[0.0; 4], "nothing is changed on error");
        let mut vectors = Dataset::regression(vec![0.0; 3], &[3], vec![0.0], 1).unwrap();
        let m = rgb.apply(&mut vectors).unwrap_err().to_string();
        assert!(m.contains("[3] (one global value)"), "{m}");
        let one = Standardizer {
            mean: vec![0.0],
            std: vec![1.0],
        };
        let mut two = Dataset::classification(vec![0.0; 4], &[2, 2, 1], vec![0], 1).unwrap();
        let m = one.apply(&mut two).unwrap_err().to_string();
        assert!(m.contains("1 value ") && m.contains("(2 channels)"), "{m}");

        // Inconsistent or unusable statistics.
        let ragged = Standardizer {
            mean: vec![0.0; 2],
            std: vec![1.0],
        };
        let e = ragged.apply(&mut two).unwrap_err();
        assert!(matches!(e, Error::Config { .. }) && e.to_string().contains("2 means but 1"));
        let negative = Standardizer {
            mean: vec![0.0, 0.0],
            std: vec![1.0, -1.0],
        };
        let e = negative.apply(&mut two).unwrap_err();
        assert!(
            matches!(e, Error::Config { .. }) && e.to_string().contains("channel 1"),
            "{e}"
        );
    }
}
