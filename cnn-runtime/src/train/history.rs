//! Learning curves: per-epoch losses and accuracies, written to CSV and
//! drawn to SVG.

use std::fmt::Write as _;
use std::path::Path;
use std::string::String;
use std::vec::Vec;

use plotters::prelude::*;

use crate::error::Error;

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochStats {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps (weighted by samples).
    pub train_loss: f64,
    /// Training accuracy (fraction), for classification targets.
    pub train_accuracy: Option<f64>,
    /// Validation loss after the epoch.
    pub val_loss: Option<f64>,
    /// Validation accuracy after the epoch.
    pub val_accuracy: Option<f64>,
    /// Learning rate used during the epoch.
    pub lr: f32,
    /// Wall-clock seconds of the epoch's training steps.
    pub seconds: f64,
}

/// The learning curves of one training run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    /// Every epoch, in order.
    pub epochs: Vec<EpochStats>,
    /// The epoch whose weights the network holds at the end when early
    /// stopping restored the best ones.
    pub restored_epoch: Option<usize>,
    /// Whether early stopping ended the run before its last epoch.
    pub stopped_early: bool,
    /// Whether the per-epoch callback ended the run (see
    /// [`TrainConfig::on_epoch`](super::TrainConfig::on_epoch)).
    pub interrupted: bool,
    /// Advice about the run's settings, given before its first epoch
    /// (also printed to stderr unless the trainer is
    /// [`quiet`](super::TrainConfig::quiet)); for example batches too small
    /// for batch normalisation's statistics (see
    /// [`BATCH_NORM_MIN_BATCH`](super::BATCH_NORM_MIN_BATCH)).
    pub warnings: Vec<String>,
}

fn cell(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_default()
}

impl History {
    /// The figures as CSV: `epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds`.
    pub fn to_csv(&self) -> String {
        let mut out =
            String::from("epoch,train_loss,train_accuracy,val_loss,val_accuracy,lr,seconds\n");
        for e in &self.epochs {
            let _ = writeln!(
                out,
                "{},{:.6},{},{},{},{},{:.3}",
                e.epoch,
                e.train_loss,
                cell(e.train_accuracy),
                cell(e.val_loss),
                cell(e.val_accuracy),
                e.lr,
                e.seconds
            );
        }
        out
    }

    /// Writes [`History::to_csv`] to `path` (atomically).
    pub fn write_csv(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        crate::io::write_atomic(path.as_ref(), self.to_csv().as_bytes())
    }

    /// Draws the loss and accuracy curves (training and validation) side
    /// by side as an SVG document.
    pub fn to_svg(&self) -> Result<String, Error> {
        let mut svg = String::new();
        draw(self, &mut svg).map_err(|message| Error::Config { message })?;
        Ok(svg)
    }

    /// Writes [`History::to_svg`] to `path` (atomically).
    pub fn write_svg(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let svg = self.to_svg()?;
        crate::io::write_atomic(path.as_ref(), svg.as_bytes())
    }
}

type Curve = Vec<(f64, f64)>;

fn curves(h: &History, f: impl Fn(&EpochStats) -> Option<f64>) -> Curve {
    h.epochs
        .iter()
        .filter_map(|e| f(e).map(|v| (e.epoch as f64, v)))
        .collect()
}

/// The vertical range of a panel showing `values`: their span with a 5%
/// margin (at least a thousandth of their size, so that a flat curve
/// still has a range), `0..1` without finite values. Ranges are `f64` and
/// finite, whatever the values: those beyond `±1e300` are left out (the
/// drawing library cannot lay out an axis that overflows).
fn value_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    const LIMIT: f64 = 1e300;
    let (lo, hi) = values
        .filter(|v| v.is_finite() && v.abs() <= LIMIT)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05)
        .max(lo.abs().max(hi.abs()) * 1e-3)
        .max(1e-3);
    (lo - pad, hi + pad)
}

fn draw(h: &History, out: &mut String) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("drawing the learning curves: {e}");
    let root = SVGBackend::with_string(out, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(500);
    let last = h.epochs.len().max(2) as f64;
    let panels = [
        (
            "loss",
            curves(h, |e| Some(e.train_loss)),
            curves(h, |e| e.val_loss),
            &left,
        ),
        (
            "accuracy",
            curves(h, |e| e.train_accuracy),
            curves(h, |e| e.val_accuracy),
            &right,
        ),
    ];
    for (name, train, val, area) in panels {
        let (lo, hi) = value_range(train.iter().chain(&val).map(|p| p.1));
        let shown = |points: Curve| -> Curve {
            points
                .into_iter()
                .filter(|p| p.1.is_finite() && p.1 >= lo && p.1 <= hi)
                .collect()
        };
        let (train, val) = (shown(train), shown(val));
        let mut chart = ChartBuilder::on(area)
            .caption(name, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(1f64..last, lo..hi)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(name)
            // Whole epochs only.
            .x_labels(h.epochs.len().clamp(2, 20))
            .x_label_formatter(&|x| format!("{}", x.round() as i64))
            .draw()
            .map_err(|e| err(&e))?;
        for (label, points, color) in [("training", train, &BLUE), ("validation", val, &RED)] {
            if points.is_empty() {
                continue;
            }
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
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(losses: &[f64]) -> History {
        History {
            epochs: losses
                .iter()
                .enumerate()
                .map(|(i, &l)| EpochStats {
                    epoch: i + 1,
                    train_loss: l,
                    train_accuracy: None,
                    val_loss: Some(l),
                    val_accuracy: None,
                    lr: 0.1,
                    seconds: 0.0,
                })
                .collect(),
            ..History::default()
        }
    }

    #[test]
    fn huge_finite_losses_are_drawn() {
        // Above ~3.2e38 an f32 axis range overflowed to infinity and the
        // drawing never ended.
        for losses in [
            &[3.3e38, 1.0][..],
            &[f64::from(f32::MAX), f64::from(f32::MAX)],
            &[1e300, -1e300],
            &[1e308, 2.0, f64::INFINITY, f64::NAN],
            &[1e30, 1e30],
            &[0.0, 0.0],
        ] {
            let svg = history(losses).to_svg().unwrap();
            assert!(svg.trim_end().ends_with("</svg>"), "{losses:?}");
        }
    }

    #[test]
    fn ranges_are_finite_and_not_empty() {
        for values in [
            vec![3.3e38, 1.0],
            vec![1e308, -1e308],
            vec![5.0, 5.0],
            vec![1e30],
            vec![f64::NAN],
            vec![],
        ] {
            let (lo, hi) = value_range(values.iter().copied());
            assert!(
                lo.is_finite() && hi.is_finite() && lo < hi,
                "{values:?}: {lo} {hi}"
            );
        }
    }
}
