//! Evaluating classifiers: confusion matrix, per-class accuracy, top-k
//! accuracy.
//!
//! ```
//! use cnn_runtime::metrics::{top_k_accuracy, ConfusionMatrix};
//!
//! let labels = [0, 0, 1, 2, 2, 2];
//! let predictions = [0, 1, 1, 2, 2, 0];
//! let m = ConfusionMatrix::from_predictions(&labels, &predictions, 3)?;
//! assert_eq!(m.count(2, 0), 1); // one 2 taken for a 0
//! assert_eq!(m.accuracy(), Some(4.0 / 6.0));
//! assert_eq!(m.per_class_accuracy(), vec![Some(0.5), Some(1.0), Some(2.0 / 3.0)]);
//! println!("{m}");
//!
//! // Top-2 from scores, one row of 3 class scores per sample.
//! let scores = [0.5, 0.3, 0.2, /* */ 0.1, 0.2, 0.7];
//! assert_eq!(top_k_accuracy(&[1, 0], &scores, 3, 2)?, 0.5);
//! # Ok::<(), cnn_runtime::Error>(())
//! ```
//!
//! With a network and a [`Dataset`], [`evaluate`] runs the batched
//! inference once and gives both.

use std::fmt;
use std::vec::Vec;

use crate::{Dataset, Error, Network};

fn config(message: String) -> Error {
    Error::Config { message }
}

fn data(message: String) -> Error {
    Error::Data {
        path: None,
        message,
    }
}

/// Counts of (true class, predicted class) pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    classes: usize,
    /// `[true, predicted]`, row-major.
    counts: Vec<u64>,
}

/// The most classes a [`ConfusionMatrix`] may have: its `classes²`
/// counts then take 2 GiB.
pub const MAX_MATRIX_CLASSES: usize = 1 << 14;

impl ConfusionMatrix {
    /// An empty matrix for `classes` classes, in `1..=`[`MAX_MATRIX_CLASSES`].
    pub fn new(classes: usize) -> Result<ConfusionMatrix, Error> {
        if classes == 0 {
            return Err(config("a confusion matrix needs at least one class".into()));
        }
        if classes > MAX_MATRIX_CLASSES {
            return Err(config(format!(
                "a confusion matrix of {classes} classes would hold {classes}² counts: the \
                 number of classes must be in [1, {MAX_MATRIX_CLASSES}]"
            )));
        }
        Ok(ConfusionMatrix {
            classes,
            counts: vec![0; classes * classes],
        })
    }

    /// The matrix of `labels` against `predictions` (equal lengths, every
    /// value in `0..classes`).
    ///
    /// Errors ([`Error::Data`], [`Error::Config`]) if the lengths differ or
    /// a label or prediction is out of range (the message names the first
    /// and its index).
    pub fn from_predictions(
        labels: &[usize],
        predictions: &[usize],
        classes: usize,
    ) -> Result<ConfusionMatrix, Error> {
        let mut m = ConfusionMatrix::new(classes)?;
        if labels.len() != predictions.len() {
            return Err(data(format!(
                "{} labels and {} predictions: one prediction per label is needed",
                labels.len(),
                predictions.len()
            )));
        }
        for (i, (&l, &p)) in labels.iter().zip(predictions).enumerate() {
            m.check(l, p)
                .map_err(|e| data(format!("sample {i}: {e}")))?;
            m.counts[l * classes + p] += 1;
        }
        Ok(m)
    }

    /// The matrix of `labels` against the highest of each sample's
    /// `classes` scores (`scores` is `[n, classes]`; ties go to the lower
    /// class index).
    ///
    /// Errors as [`from_predictions`](ConfusionMatrix::from_predictions),
    /// and if `scores` does not hold `classes` values per label or holds
    /// NaN.
    pub fn from_scores(
        labels: &[usize],
        scores: &[f32],
        classes: usize,
    ) -> Result<ConfusionMatrix, Error> {
        check_scores(labels, scores, classes)?;
        let predictions: Vec<usize> = scores.chunks_exact(classes).map(argmax).collect();
        ConfusionMatrix::from_predictions(labels, &predictions, classes)
    }

    fn check(&self, label: usize, predicted: usize) -> Result<(), String> {
        let c = self.classes;
        if label >= c {
            return Err(format!("label {label} is out of range for {c} classes"));
        }
        if predicted >= c {
            return Err(format!(
                "prediction {predicted} is out of range for {c} classes"
            ));
        }
        Ok(())
    }

    /// Counts one more sample of class `label` predicted as `predicted`.
    ///
    /// Errors ([`Error::Data`]) if either is not in `0..classes`.
    pub fn add(&mut self, label: usize, predicted: usize) -> Result<(), Error> {
        self.check(label, predicted).map_err(data)?;
        self.counts[label * self.classes + predicted] += 1;
        Ok(())
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// How many samples of class `label` were predicted as `predicted`.
    ///
    /// # Panics
    ///
    /// If either is not in `0..classes`.
    pub fn count(&self, label: usize, predicted: usize) -> u64 {
        assert!(
            label < self.classes && predicted < self.classes,
            "({label}, {predicted}) is outside a {0}x{0} confusion matrix",
            self.classes
        );
        self.counts[label * self.classes + predicted]
    }

    /// All counts, `[true class, predicted class]` row-major.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The number of samples.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The number of samples predicted correctly (the diagonal).
    pub fn correct(&self) -> u64 {
        (0..self.classes)
            .map(|c| self.counts[c * self.classes + c])
            .sum()
    }

    /// Samples of each class (the row sums).
    pub fn support(&self) -> Vec<u64> {
        self.counts
            .chunks_exact(self.classes)
            .map(|r| r.iter().sum())
            .collect()
    }

    /// The fraction predicted correctly; `None` with no samples.
    pub fn accuracy(&self) -> Option<f64> {
        ratio(self.correct(), self.total())
    }

    /// For each class, the fraction of its samples predicted correctly
    /// (its recall); `None` for a class with no samples.
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        let support = self.support();
        (0..self.classes)
            .map(|c| ratio(self.counts[c * self.classes + c], support[c]))
            .collect()
    }

    /// For each class, the fraction of the samples predicted as it that
    /// are of it; `None` for a class never predicted.
    pub fn precision(&self) -> Vec<Option<f64>> {
        (0..self.classes)
            .map(|p| {
                let predicted: u64 = (0..self.classes)
                    .map(|l| self.counts[l * self.classes + p])
                    .sum();
                ratio(self.counts[p * self.classes + p], predicted)
            })
            .collect()
    }
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// A table: rows are true classes, columns predicted ones, then each
/// class's accuracy and sample count; the overall accuracy last.
impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.classes;
        let widest = self
            .counts
            .iter()
            .max()
            .copied()
            .unwrap_or(0)
            .max(c as u64 - 1);
        let w = widest.to_string().len().max(3) + 1;
        let label_w = (c - 1).to_string().len().max(4);
        writeln!(
            f,
            "confusion matrix: rows are the true classes, columns the predicted ones"
        )?;
        write!(f, "{:>label_w$} ", "true")?;
        for p in 0..c {
            write!(f, "{p:>w$}")?;
        }
        writeln!(f, " | accuracy  samples")?;
        let support = self.support();
        for (l, acc) in self.per_class_accuracy().into_iter().enumerate() {
            write!(f, "{l:>label_w$} ")?;
            for p in 0..c {
                write!(f, "{:>w$}", self.counts[l * c + p])?;
            }
            match acc {
                Some(a) => writeln!(f, " | {:>7.2}%  {:>7}", 100.0 * a, support[l])?,
                None => writeln!(f, " | {:>8}  {:>7}", "-", 0)?,
            }
        }
        match self.accuracy() {
            Some(a) => write!(
                f,
                "accuracy {:.2}% ({} of {})",
                100.0 * a,
                self.correct(),
                self.total()
            ),
            None => write!(f, "accuracy - (no samples)"),
        }
    }
}

/// The index of the highest value (the first one on ties).
fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

fn check_scores(labels: &[usize], scores: &[f32], classes: usize) -> Result<(), Error> {
    if classes == 0 {
        return Err(config("scores need at least one class".into()));
    }
    if Some(scores.len()) != labels.len().checked_mul(classes) {
        return Err(data(format!(
            "{} scores for {} labels: {classes} scores per sample need {}",
            scores.len(),
            labels.len(),
            labels.len().saturating_mul(classes)
        )));
    }
    if let Some(at) = scores.iter().position(|s| s.is_nan()) {
        return Err(data(format!(
            "the score of class {} for sample {} is NaN",
            at % classes,
            at / classes
        )));
    }
    Ok(())
}

/// The fraction of samples whose label is among their `k` highest
/// scores. `scores` is `[n, classes]`, one row per label. A label counts
/// when fewer than `k` classes score strictly higher than it, so ties are
/// resolved in the label's favour.
///
/// Errors: [`Error::Config`] if `k` is 0 or more than `classes`;
/// [`Error::Data`] if there are no labels, `scores` is not `classes`
/// values per label, a score is NaN, or a label is out of range.
pub fn top_k_accuracy(
    labels: &[usize],
    scores: &[f32],
    classes: usize,
    k: usize,
) -> Result<f64, Error> {
    if k == 0 || k > classes {
        return Err(config(format!(
            "top-k accuracy: k = {k} must be between 1 and the number of classes, {classes}"
        )));
    }
    check_scores(labels, scores, classes)?;
    if labels.is_empty() {
        return Err(data("top-k accuracy of no samples".into()));
    }
    let mut hits = 0usize;
    for (i, (&label, row)) in labels.iter().zip(scores.chunks_exact(classes)).enumerate() {
        if label >= classes {
            return Err(data(format!(
                "sample {i}: label {label} is out of range for {classes} classes"
            )));
        }
        let above = row.iter().filter(|&&s| s > row[label]).count();
        hits += usize::from(above < k);
    }
    Ok(hits as f64 / labels.len() as f64)
}

/// A network's outputs on a labelled data set, and what follows from
/// them.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    confusion: ConfusionMatrix,
    labels: Vec<usize>,
    scores: Vec<f32>,
}

impl Evaluation {
    /// The confusion matrix (argmax of each sample's outputs).
    pub fn confusion(&self) -> &ConfusionMatrix {
        &self.confusion
    }

    /// The network's outputs, `[n, classes]`.
    pub fn scores(&self) -> &[f32] {
        &self.scores
    }

    /// The fraction predicted correctly; `None` on an empty data set.
    pub fn accuracy(&self) -> Option<f64> {
        self.confusion.accuracy()
    }

    /// Each class's accuracy (see [`ConfusionMatrix::per_class_accuracy`]).
    pub fn per_class_accuracy(&self) -> Vec<Option<f64>> {
        self.confusion.per_class_accuracy()
    }

    /// See [`top_k_accuracy`].
    pub fn top_k_accuracy(&self, k: usize) -> Result<f64, Error> {
        top_k_accuracy(&self.labels, &self.scores, self.confusion.classes, k)
    }
}

/// Runs `net` on every sample of `data` (batched, threads as
/// [`crate::set_threads`] says, through [`crate::batch::predict`]) and
/// scores its outputs against the labels.
///
/// Errors: [`Error::Data`] if `data` has no class labels, holds no samples
/// or holds NaN outputs, or if the network's output length is not the
/// number of classes; the errors of [`crate::batch::predict`].
pub fn evaluate<N: Network>(net: &N, data_set: &Dataset) -> Result<Evaluation, Error> {
    let (labels, classes) = match (data_set.labels(), data_set.classes()) {
        (Some(l), Some(c)) => (l, c),
        _ => {
            return Err(data(
                "evaluate needs class labels, the dataset has target values".into(),
            ))
        }
    };
    if N::OUTPUT_LEN != classes {
        return Err(data(format!(
            "{} has {} outputs per sample, the dataset has {classes} classes",
            N::NAME,
            N::OUTPUT_LEN
        )));
    }
    if labels.is_empty() {
        return Err(data("evaluate: the dataset is empty".into()));
    }
    let scores = crate::batch::predict(net, data_set.inputs())?;
    let confusion = ConfusionMatrix::from_scores(labels, &scores, classes)?;
    Ok(Evaluation {
        confusion,
        labels: labels.to_vec(),
        scores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_three_classes() {
        // true:  0 0 0 1 1 2 2 2 2
        // pred:  0 1 0 1 2 2 2 0 2
        let labels = [0, 0, 0, 1, 1, 2, 2, 2, 2];
        let preds = [0, 1, 0, 1, 2, 2, 2, 0, 2];
        let m = ConfusionMatrix::from_predictions(&labels, &preds, 3).unwrap();
        assert_eq!(m.counts(), &[2, 1, 0, 0, 1, 1, 1, 0, 3]);
        assert_eq!((m.total(), m.correct()), (9, 6));
        assert_eq!(m.support(), vec![3, 2, 4]);
        assert_eq!(m.accuracy(), Some(6.0 / 9.0));
        assert_eq!(
            m.per_class_accuracy(),
            vec![Some(2.0 / 3.0), Some(0.5), Some(0.75)]
        );
        // Predicted as 0: two 0s and one 2; as 1: one 0, one 1; as 2: one 1, three 2s.
        assert_eq!(m.precision(), vec![Some(2.0 / 3.0), Some(0.5), Some(0.75)]);
        let text = m.to_string();
        assert!(
            text.contains("66.67%") && text.contains("accuracy 66.67% (6 of 9)"),
            "{text}"
        );
    }

    #[test]
    fn empty_classes_and_matrix() {
        let mut m = ConfusionMatrix::new(3).unwrap();
        assert_eq!(m.accuracy(), None);
        m.add(0, 2).unwrap();
        assert_eq!(m.per_class_accuracy(), vec![Some(0.0), None, None]);
        assert_eq!(m.precision(), vec![None, None, Some(0.0)]);
        assert!(m.to_string().contains(" -"));
        assert!(m.add(3, 0).unwrap_err().to_string().contains("label 3"));
        assert!(m
            .add(0, 5)
            .unwrap_err()
            .to_string()
            .contains("prediction 5"));
        assert!(ConfusionMatrix::new(0).is_err());
    }

    #[test]
    fn scores_argmax_and_top_k() {
        let labels = [2, 0, 1, 1];
        let scores = [
            0.1, 0.2, 0.7, // top-1 hit
            0.3, 0.5, 0.2, // 0 is second
            0.6, 0.1, 0.3, // 1 is last
            0.4, 0.4, 0.2, // tie: argmax picks 0; top-1 counts the tie for 1
        ];
        let m = ConfusionMatrix::from_scores(&labels, &scores, 3).unwrap();
        assert_eq!(m.correct(), 1);
        assert_eq!(m.count(1, 0), 2);
        assert_eq!(top_k_accuracy(&labels, &scores, 3, 1).unwrap(), 0.5);
        assert_eq!(top_k_accuracy(&labels, &scores, 3, 2).unwrap(), 0.75);
        assert_eq!(top_k_accuracy(&labels, &scores, 3, 3).unwrap(), 1.0);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let e = |r: Result<f64, Error>| r.unwrap_err().to_string();
        assert!(e(top_k_accuracy(&[0], &[0.5, 0.5], 2, 0)).contains("k = 0"));
        assert!(e(top_k_accuracy(&[0], &[0.5, 0.5], 2, 3)).contains("k = 3"));
        assert!(e(top_k_accuracy(&[0], &[0.5], 2, 1)).contains("1 scores for 1 labels"));
        assert!(
            e(top_k_accuracy(&[0], &[0.5, f32::NAN], 2, 1)).contains("class 1 for sample 0 is NaN")
        );
        assert!(e(top_k_accuracy(&[], &[], 2, 1)).contains("no samples"));
        assert!(e(top_k_accuracy(&[4], &[0.5, 0.5], 2, 1)).contains("label 4"));
        let m = ConfusionMatrix::from_predictions(&[0, 1], &[0], 2).unwrap_err();
        assert!(m.to_string().contains("2 labels and 1 predictions"));
        let m = ConfusionMatrix::from_predictions(&[0, 1], &[0, 2], 2).unwrap_err();
        assert!(m.to_string().contains("sample 1: prediction 2"), "{m}");
    }
}
