//! The learning curve against the training-set size: training and
//! held-out error of networks trained on growing subsets of the training
//! set. It shows bias and variance: with high variance (overfitting) the
//! training error stays far below the held-out error and more data closes
//! the gap; with high bias both errors meet early at a high level and more
//! data does not help. (Not to be confused with the per-epoch curves of
//! [`History`](super::History).)

use std::fmt::Write as _;
use std::path::Path;
use std::string::String;
use std::vec::Vec;

use plotters::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::fit::{evaluate, Trainer};
use crate::error::Error;
use crate::{Dataset, Init, Network};

/// How many epochs a run on a subset trains for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Budget {
    /// The same number of gradient steps as the configured epochs over the
    /// largest size: a subset of `n` samples trains for
    /// `ceil(epochs · largest / n)` epochs, so small sets are not merely
    /// under-trained.
    #[default]
    EqualSteps,
    /// The configured epochs for every size.
    EqualEpochs,
}

/// One training-set size's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct SizePoint {
    /// Training samples.
    pub size: usize,
    /// Epochs the run trained for.
    pub epochs: usize,
    /// Error (1 − accuracy) on the samples it trained on.
    pub train_error: f64,
    /// Error on the held-out set.
    pub heldout_error: f64,
    /// The configured loss on the samples it trained on.
    pub train_loss: f64,
    /// The configured loss on the held-out set.
    pub heldout_loss: f64,
}

/// Training and held-out error against the training-set size; see
/// [`size_curve`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SizeCurve {
    /// One point per size, by increasing size.
    pub points: Vec<SizePoint>,
}

/// Trains a fresh network (`init`, `seed`) with `config` on each of the
/// nested subsets of `train` of the given `sizes` (the first `n` samples
/// of one seeded shuffle, so every subset contains the smaller ones) and
/// measures its error on that subset and on `heldout`.
///
/// `config`'s `checkpoint`, `resume` and `validation_split` are not used
/// (each run trains from scratch on its whole subset).
///
/// Errors if `sizes` is empty or a size is 0 or larger than the training
/// set, if either set has no class labels, or if training fails.
pub fn size_curve<N: Network>(
    config: &TrainConfig,
    budget: Budget,
    (init, seed): (Init, u64),
    train: &Dataset,
    heldout: &Dataset,
    sizes: &[usize],
) -> Result<SizeCurve, Error> {
    let config_error = |message: String| Error::Config { message };
    if sizes.is_empty() {
        return Err(config_error(
            "a size curve needs at least one training-set size".into(),
        ));
    }
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    if let Some(&bad) = sizes.iter().find(|&&s| s == 0 || s > train.len()) {
        return Err(config_error(format!(
            "training-set size {bad} is not in [1, {}] (the training set's size)",
            train.len()
        )));
    }
    for (data, what) in [(train, "training set"), (heldout, "held-out set")] {
        if data.labels().is_none() {
            return Err(Error::Data {
                path: None,
                message: format!("a size curve measures errors: the {what} needs class labels"),
            });
        }
    }
    let mut order: Vec<usize> = (0..train.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let largest = sizes[sizes.len() - 1];
    let mut base = config.clone();
    base.checkpoint = None;
    base.resume = None;
    base.validation_split = None;
    let mut curve = SizeCurve::default();
    for &size in &sizes {
        let epochs = match budget {
            Budget::EqualEpochs => config.epochs,
            Budget::EqualSteps => (config.epochs * largest).div_ceil(size),
        };
        let subset = train.subset(&order[..size]);
        let mut net = crate::private::v1::try_new_network::<N>(init, seed)?;
        Trainer::new(base.clone().epochs(epochs)).fit(&mut net, &subset, None)?;
        let (train_loss, train_accuracy) = evaluate(&net, &subset, config.loss)?;
        let (heldout_loss, heldout_accuracy) = evaluate(&net, heldout, config.loss)?;
        curve.points.push(SizePoint {
            size,
            epochs,
            train_error: 1.0 - train_accuracy,
            heldout_error: 1.0 - heldout_accuracy,
            train_loss,
            heldout_loss,
        });
    }
    Ok(curve)
}

impl SizeCurve {
    /// The figures as CSV:
    /// `size,epochs,train_error,heldout_error,train_loss,heldout_loss`.
    pub fn to_csv(&self) -> String {
        let mut out =
            String::from("size,epochs,train_error,heldout_error,train_loss,heldout_loss\n");
        for p in &self.points {
            let _ = writeln!(
                out,
                "{},{},{:.6},{:.6},{:.6},{:.6}",
                p.size, p.epochs, p.train_error, p.heldout_error, p.train_loss, p.heldout_loss
            );
        }
        out
    }

    /// Writes [`Self::to_csv`] to `path` atomically.
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        crate::io::write_atomic(path.as_ref(), self.to_csv().as_bytes())
    }

    /// The curve as an SVG image: error (percent) against the training-set
    /// size on a logarithmic axis, training and held-out.
    pub fn to_svg(&self) -> Result<String, Error> {
        let mut out = String::new();
        draw(self, &mut out).map_err(|message| Error::Config { message })?;
        Ok(out)
    }

    /// Writes [`Self::to_svg`] to `path` atomically.
    pub fn write_svg(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let svg = self.to_svg()?;
        crate::io::write_atomic(path.as_ref(), svg.as_bytes())
    }
}

fn draw(curve: &SizeCurve, out: &mut String) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("drawing the size curve: {e}");
    let root = SVGBackend::with_string(out, (640, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let sizes = || curve.points.iter().map(|p| p.size as f64);
    let lo = sizes().fold(f64::INFINITY, f64::min).clamp(1.0, 1e9);
    let hi = sizes().fold(lo, f64::max);
    let (lo, hi) = (lo / 1.2, hi * 1.2);
    let percent = |v: f64| if v.is_finite() { 100.0 * v } else { 100.0 };
    let top = curve
        .points
        .iter()
        .map(|p| percent(p.train_error).max(percent(p.heldout_error)))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption("error against training-set size", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..top)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("training samples")
        .y_desc("error (%)")
        .x_label_formatter(&|x| format!("{}", x.round() as i64))
        .draw()
        .map_err(|e| err(&e))?;
    let series = |f: fn(&SizePoint) -> f64| -> Vec<(f64, f64)> {
        curve
            .points
            .iter()
            .map(|p| (p.size as f64, percent(f(p))))
            .collect()
    };
    for (label, points, color) in [
        ("training", series(|p| p.train_error), &BLUE),
        ("held-out", series(|p| p.heldout_error), &RED),
    ] {
        chart
            .draw_series(LineSeries::new(points.clone(), color))
            .map_err(|e| err(&e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
            )
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
