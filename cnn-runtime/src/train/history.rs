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

type Curve = Vec<(f32, f32)>;

fn curves(h: &History, f: impl Fn(&EpochStats) -> Option<f64>) -> Curve {
    h.epochs
        .iter()
        .filter_map(|e| f(e).map(|v| (e.epoch as f32, v as f32)))
        .collect()
}

fn draw(h: &History, out: &mut String) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| format!("drawing the learning curves: {e}");
    let root = SVGBackend::with_string(out, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (left, right) = root.split_horizontally(500);
    let last = h.epochs.len().max(2) as f32;
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
        let all = train
            .iter()
            .chain(&val)
            .map(|p| p.1)
            .filter(|v| v.is_finite());
        let (lo, hi) = all.fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.05).max(1e-3);
        let mut chart = ChartBuilder::on(area)
            .caption(name, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(56)
            .build_cartesian_2d(1f32..last, (lo - pad)..(hi + pad))
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
