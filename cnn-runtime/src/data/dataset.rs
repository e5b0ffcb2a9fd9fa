//! [`Dataset`]: the samples' inputs in one row-major buffer and their
//! [`Targets`], with the constructors that check them, subsets and splits.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::Error;

/// What a dataset's samples are trained towards.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// A class index per sample, each in `0..classes`.
    Classes {
        /// One label per sample.
        labels: Vec<usize>,
        /// The number of classes.
        classes: usize,
    },
    /// `len` values per sample (regression, binary or multi-label targets).
    Values {
        /// `len` values per sample, sample after sample.
        values: Vec<f32>,
        /// Values per sample.
        len: usize,
    },
}

impl Targets {
    /// The number of samples these targets are for.
    pub fn sample_count(&self) -> usize {
        match self {
            Targets::Classes { labels, .. } => labels.len(),
            // `len` is never 0 in a dataset (the constructors check it).
            Targets::Values { values, len } => values.len().checked_div(*len).unwrap_or(0),
        }
    }

    /// The targets of the samples at `indices`, in that order.
    fn select(&self, indices: &[usize]) -> Targets {
        match self {
            Targets::Classes { labels, classes } => Targets::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                classes: *classes,
            },
            Targets::Values { values, len } => {
                let mut out = Vec::with_capacity(indices.len() * len);
                for &i in indices {
                    out.extend_from_slice(&values[i * len..(i + 1) * len]);
                }
                Targets::Values {
                    values: out,
                    len: *len,
                }
            }
        }
    }
}

/// Samples and their targets, in memory.
///
/// Inputs are `f32`, row-major, sample after sample: sample `i` is
/// `inputs()[i * sample_len()..(i + 1) * sample_len()]`, laid out as
/// [`sample_shape`](Dataset::sample_shape) (`[C, H, W]` for images, `[N]`
/// for vectors).
///
/// The constructors check everything (lengths, label ranges, at least one
/// sample), so a `Dataset` is always consistent. [`subset`](Dataset::subset)
/// and [`filter_classes`](Dataset::filter_classes) may return an empty
/// dataset; [`split`](Dataset::split) and
/// [`Standardizer::fit`](crate::data::Standardizer::fit) refuse one with an error.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    inputs: Vec<f32>,
    sample_shape: Vec<usize>,
    sample_len: usize,
    targets: Targets,
}

/// The most classes a classification dataset may have (2^24, about 16.8
/// million): [`Dataset::class_counts`] and confusion matrices allocate per
/// class.
pub const MAX_CLASSES: usize = 1 << 24;

/// Checks a number of classes: in `1..=MAX_CLASSES`.
pub(crate) fn check_classes(classes: usize) -> Result<(), Error> {
    if (1..=MAX_CLASSES).contains(&classes) {
        return Ok(());
    }
    Err(data_error(if classes == 0 {
        "a classification dataset needs at least one class".into()
    } else {
        format!("the number of classes must be in [1, {MAX_CLASSES}], found {classes}")
    }))
}

fn data_error(message: String) -> Error {
    Error::Data {
        path: None,
        message,
    }
}

pub(crate) fn shape_string(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// The number of values in one sample of `shape`, or an error if the shape
/// is empty, has a zero dimension or overflows `usize`.
fn checked_sample_len(shape: &[usize]) -> Result<usize, Error> {
    if shape.is_empty() {
        return Err(data_error(
            "the sample shape is empty; use [N] for vectors or [C, H, W] for images".into(),
        ));
    }
    if shape.contains(&0) {
        return Err(data_error(format!(
            "the sample shape {} has a zero dimension",
            shape_string(shape)
        )));
    }
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            data_error(format!(
                "the sample shape {} is too large",
                shape_string(shape)
            ))
        })
}

impl Dataset {
    /// A classification dataset: `inputs` holds `labels.len()` samples of
    /// `sample_shape`, each label in `0..classes`.
    ///
    /// Errors ([`Error::Data`]) if there are no samples, `classes` is not
    /// in `1..=`[`MAX_CLASSES`], the sample shape is empty or has a zero
    /// dimension, `inputs.len()` is
    /// not `labels.len()` times the sample length, or a label is
    /// `>= classes` (the message names the first such label and its index).
    ///
    /// ```
    /// use cnn_runtime::data::Dataset;
    ///
    /// let data = Dataset::classification(vec![0.0, 1.0, 2.0, 3.0], &[2], vec![1, 0], 2)?;
    /// assert_eq!(data.labels(), Some(&[1, 0][..]));
    ///
    /// let err = Dataset::classification(vec![0.0; 4], &[2], vec![1, 5], 2).unwrap_err();
    /// assert!(err.to_string().contains("label 5 at index 1"));
    /// # Ok::<(), cnn_runtime::Error>(())
    /// ```
    pub fn classification(
        inputs: Vec<f32>,
        sample_shape: &[usize],
        labels: Vec<usize>,
        classes: usize,
    ) -> Result<Self, Error> {
        let sample_len = checked_sample_len(sample_shape)?;
        check_classes(classes)?;
        if labels.is_empty() {
            return Err(data_error(
                "the dataset is empty: no labels were given".into(),
            ));
        }
        check_input_len(
            inputs.len(),
            labels.len(),
            sample_shape,
            sample_len,
            ("label", "labels"),
        )?;
        if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| l >= classes) {
            return Err(data_error(format!(
                "label {label} at index {index} is out of range for {classes} classes \
                 (labels must be in 0..{classes})"
            )));
        }
        Ok(Dataset {
            inputs,
            sample_shape: sample_shape.to_vec(),
            sample_len,
            targets: Targets::Classes { labels, classes },
        })
    }

    /// A dataset with `target_len` target values per sample (regression,
    /// binary or multi-label targets): `values` holds
    /// `values.len() / target_len` samples' targets and `inputs` as many
    /// samples of `sample_shape`.
    ///
    /// Errors ([`Error::Data`]) if there are no samples, `target_len` is 0,
    /// `values.len()` is not a multiple of `target_len`, the sample shape is
    /// empty or has a zero dimension, or `inputs.len()` does not match.
    ///
    /// ```
    /// use cnn_runtime::data::Dataset;
    ///
    /// // Three samples of 2 features, 1 target each.
    /// let data = Dataset::regression(vec![0.0; 6], &[2], vec![0.5, 1.5, 2.5], 1)?;
    /// assert_eq!(data.len(), 3);
    /// assert_eq!(data.labels(), None);
    /// # Ok::<(), cnn_runtime::Error>(())
    /// ```
    pub fn regression(
        inputs: Vec<f32>,
        sample_shape: &[usize],
        values: Vec<f32>,
        target_len: usize,
    ) -> Result<Self, Error> {
        let sample_len = checked_sample_len(sample_shape)?;
        if target_len == 0 {
            return Err(data_error("the target length must be at least 1".into()));
        }
        if values.is_empty() {
            return Err(data_error(
                "the dataset is empty: no target values were given".into(),
            ));
        }
        if !values.len().is_multiple_of(target_len) {
            return Err(data_error(format!(
                "{} target values are not a whole number of samples of {target_len} values",
                values.len()
            )));
        }
        let n = values.len() / target_len;
        check_input_len(
            inputs.len(),
            n,
            sample_shape,
            sample_len,
            ("target row", "target rows"),
        )?;
        Ok(Dataset {
            inputs,
            sample_shape: sample_shape.to_vec(),
            sample_len,
            targets: Targets::Values {
                values,
                len: target_len,
            },
        })
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.targets.sample_count()
    }

    /// Whether there are no samples (possible only after
    /// [`subset`](Dataset::subset) or [`filter_classes`](Dataset::filter_classes)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shape of one sample, e.g. `[1, 28, 28]`.
    pub fn sample_shape(&self) -> &[usize] {
        &self.sample_shape
    }

    /// The number of values in one sample (the product of the sample shape).
    pub fn sample_len(&self) -> usize {
        self.sample_len
    }

    /// All inputs, sample after sample.
    pub fn inputs(&self) -> &[f32] {
        &self.inputs
    }

    /// All inputs, mutable (for normalisation or augmentation in place).
    pub fn inputs_mut(&mut self) -> &mut [f32] {
        &mut self.inputs
    }

    /// The input of sample `i`.
    ///
    /// # Panics
    ///
    /// If `i >= self.len()`.
    pub fn input(&self, i: usize) -> &[f32] {
        assert!(
            i < self.len(),
            "sample index {i} is out of range for a dataset of {}",
            self.len()
        );
        &self.inputs[i * self.sample_len..(i + 1) * self.sample_len]
    }

    /// The targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// The labels, for a classification dataset.
    pub fn labels(&self) -> Option<&[usize]> {
        match &self.targets {
            Targets::Classes { labels, .. } => Some(labels),
            Targets::Values { .. } => None,
        }
    }

    /// The number of classes, for a classification dataset.
    pub fn classes(&self) -> Option<usize> {
        match &self.targets {
            Targets::Classes { classes, .. } => Some(*classes),
            Targets::Values { .. } => None,
        }
    }

    /// The samples at `indices`, in that order (an index may repeat).
    ///
    /// # Panics
    ///
    /// If an index is `>= self.len()`.
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        let n = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            panic!("subset index {bad} is out of range for a dataset of {n} samples");
        }
        let mut inputs = Vec::with_capacity(indices.len() * self.sample_len);
        for &i in indices {
            inputs.extend_from_slice(&self.inputs[i * self.sample_len..(i + 1) * self.sample_len]);
        }
        Dataset {
            inputs,
            sample_shape: self.sample_shape.clone(),
            sample_len: self.sample_len,
            targets: self.targets.select(indices),
        }
    }

    /// The samples whose class passes `keep`, in their original order; the
    /// number of classes stays the same. A regression dataset is returned
    /// whole.
    ///
    /// ```
    /// use cnn_runtime::data::Dataset;
    ///
    /// let data = Dataset::classification(vec![0.0; 4], &[1], vec![0, 1, 2, 1], 3)?;
    /// let ones_and_twos = data.filter_classes(|c| c != 0);
    /// assert_eq!(ones_and_twos.labels(), Some(&[1, 2, 1][..]));
    /// assert_eq!(ones_and_twos.classes(), Some(3));
    /// # Ok::<(), cnn_runtime::Error>(())
    /// ```
    pub fn filter_classes(&self, keep: impl Fn(usize) -> bool) -> Dataset {
        match &self.targets {
            Targets::Classes { labels, .. } => {
                let indices: Vec<usize> = (0..labels.len()).filter(|&i| keep(labels[i])).collect();
                self.subset(&indices)
            }
            Targets::Values { .. } => self.clone(),
        }
    }

    /// Splits off a random `validation_fraction` of the samples:
    /// returns `(train, validation)` with `round(len * validation_fraction)`
    /// samples in `validation` and the rest in `train`. The choice is
    /// shuffled from `seed` (ChaCha8), so the same seed gives the same
    /// split; each side keeps the samples' original order.
    ///
    /// A fraction of exactly 0 returns the whole dataset, in order, and an
    /// empty validation set.
    ///
    /// Errors: [`Error::Config`] if `validation_fraction` is not in
    /// `[0, 1)`; [`Error::Data`] if the dataset is empty or a non-zero
    /// fraction would leave either side empty.
    ///
    /// ```
    /// use cnn_runtime::data::Dataset;
    ///
    /// let data = Dataset::classification(vec![0.0; 10], &[1], vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1], 2)?;
    /// let (train, validation) = data.split(0.2, 7)?;
    /// assert_eq!((train.len(), validation.len()), (8, 2));
    /// assert_eq!(data.split(0.2, 7)?, (train, validation)); // reproducible
    /// assert!(data.split(1.0, 7).is_err());
    /// # Ok::<(), cnn_runtime::Error>(())
    /// ```
    pub fn split(&self, validation_fraction: f32, seed: u64) -> Result<(Dataset, Dataset), Error> {
        if !(0.0..1.0).contains(&validation_fraction) {
            return Err(Error::Config {
                message: format!(
                    "the validation fraction must be in [0, 1), it is {validation_fraction}"
                ),
            });
        }
        let n = self.len();
        if n == 0 {
            return Err(data_error("cannot split an empty dataset".into()));
        }
        if validation_fraction == 0.0 {
            return Ok((self.clone(), self.subset(&[])));
        }
        let n_validation = (n as f64 * validation_fraction as f64).round() as usize;
        if n_validation == 0 || n_validation >= n {
            return Err(data_error(format!(
                "a validation fraction of {validation_fraction} of {n} samples would leave {} \
                 (validation {n_validation}, train {})",
                if n_validation == 0 {
                    "the validation set empty"
                } else {
                    "the training set empty"
                },
                n - n_validation.min(n)
            )));
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let (validation, train) = order.split_at_mut(n_validation);
        validation.sort_unstable();
        train.sort_unstable();
        Ok((self.subset(train), self.subset(validation)))
    }

    /// How many samples each class has, for a classification dataset.
    pub fn class_counts(&self) -> Option<Vec<usize>> {
        match &self.targets {
            Targets::Classes { labels, classes } => {
                let mut counts = vec![0; *classes];
                for &l in labels {
                    counts[l] += 1;
                }
                Some(counts)
            }
            Targets::Values { .. } => None,
        }
    }

    /// A dataset from parts that the caller has already checked.
    pub(crate) fn from_checked_parts(
        inputs: Vec<f32>,
        sample_shape: Vec<usize>,
        targets: Targets,
    ) -> Dataset {
        let sample_len = sample_shape.iter().product();
        debug_assert_eq!(inputs.len(), targets.sample_count() * sample_len);
        Dataset {
            inputs,
            sample_shape,
            sample_len,
            targets,
        }
    }
}

fn check_input_len(
    len: usize,
    samples: usize,
    shape: &[usize],
    sample_len: usize,
    what: (&str, &str),
) -> Result<(), Error> {
    let expected = samples.checked_mul(sample_len);
    if expected != Some(len) {
        return Err(data_error(format!(
            "the inputs hold {len} values, but {samples} {} at {sample_len} values per sample \
             (shape {}) need {}",
            if samples == 1 { what.0 } else { what.1 },
            shape_string(shape),
            match expected {
                Some(e) => e.to_string(),
                None => "more than usize::MAX".into(),
            }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
