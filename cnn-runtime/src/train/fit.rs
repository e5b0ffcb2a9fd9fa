//! Whole training runs: [`Trainer::fit`] and the epoch loop
//! ([`Session::fit`]), and measuring a network on a dataset
//! ([`evaluate`], [`accuracy`]).

use std::string::String;
use std::time::Instant;
use std::vec::Vec;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::checkpoint::save_checkpoint;
use super::config::TrainConfig;
use super::history::{EpochStats, History};
use super::loss::{argmax, Loss, LossSum, TargetRef};
use super::session::Session;
use crate::data::{Dataset, Targets};
use crate::error::Error;
use crate::network::Network;

/// Trains a network: step by step (a [`Session`] from [`Trainer::session`]) or whole runs
/// ([`Trainer::fit`]).
pub struct Trainer {
    config: TrainConfig,
}

impl Trainer {
    /// A trainer with this configuration.
    pub fn new(config: TrainConfig) -> Self {
        Trainer { config }
    }

    /// The configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Starts a session for network type `N` with steps of up to `batch` samples.
    pub fn session<N: Network>(&self, batch: usize) -> Result<Session<N>, Error> {
        Session::new(self.config.clone(), batch)
    }

    /// Trains `net` on `train` for the configured epochs, validating on
    /// `validation` (or on a split of `train`, see
    /// [`TrainConfig::validation_split`]) after each epoch. Returns the
    /// learning curves.
    pub fn fit<N: Network>(
        &self,
        net: &mut N,
        train: &Dataset,
        validation: Option<&Dataset>,
    ) -> Result<History, Error> {
        let split;
        let (train, validation) = match (validation, self.config.validation_split) {
            (Some(v), _) => (train, Some(v)),
            (None, Some(fraction)) => {
                split = train.split(fraction, self.config.seed ^ 0x5B11_7000)?;
                (&split.0, Some(&split.1))
            }
            (None, None) => (train, None),
        };
        check_dataset::<N>(train, self.config.loss, "training set")?;
        if let Some(v) = validation {
            check_dataset::<N>(v, self.config.loss, "validation set")?;
        }
        let batch = self.config.batch_size.min(train.len());
        let mut session = self.session::<N>(batch)?;
        session.fit(net, train, validation)
    }
}

/// Checks that `data` fits network `N` and `loss`.
fn check_dataset<N: Network>(data: &Dataset, loss: Loss, what: &str) -> Result<(), Error> {
    let fail = |message: String| {
        Err(Error::Data {
            path: None,
            message,
        })
    };
    if data.is_empty() {
        return fail(format!("the {what} is empty"));
    }
    if !shape_fits(
        data.sample_shape(),
        data.sample_len(),
        N::INPUT_SHAPE,
        N::INPUT_LEN,
    ) {
        return fail(format!(
            "the {what}'s samples have shape {:?} ({} values), {} takes {:?} ({} values)",
            data.sample_shape(),
            data.sample_len(),
            N::NAME,
            N::INPUT_SHAPE,
            N::INPUT_LEN
        ));
    }
    let outputs = N::logits_len();
    match data.targets() {
        Targets::Classes { classes, .. } if *classes != outputs => fail(format!(
            "the {what} has {classes} classes, {} has {outputs} outputs",
            N::NAME
        )),
        Targets::Values { len, .. } if *len != outputs => fail(format!(
            "the {what} has {len} target values per sample, {} has {outputs} outputs",
            N::NAME
        )),
        _ => loss
            .check_head(N::HEAD)
            .or_else(|m| fail(format!("{}: {m}", N::NAME))),
    }
}

/// Whether samples of `shape` (`len` values) can feed a network taking
/// `input` (`input_len` values): the same shape, or the same number of
/// values when either side is a flat vector (MNIST's `[1, 28, 28]` digits
/// into a `[784]` perceptron). Two different image shapes of the same size
/// (`[3, 8, 8]` and `[12, 4, 4]`) do not fit.
fn shape_fits(shape: &[usize], len: usize, input: &[usize], input_len: usize) -> bool {
    len == input_len && (shape == input || shape.len() == 1 || input.len() == 1)
}

impl<N: Network> Session<N> {
    /// Runs every epoch (see [`Trainer::fit`]).
    pub fn fit(
        &mut self,
        net: &mut N,
        train: &Dataset,
        validation: Option<&Dataset>,
    ) -> Result<History, Error> {
        let mut history = History::default();
        let n = train.len();
        let mut order: Vec<usize> = (0..n).collect();
        let mut best: Option<(f64, usize, Vec<f32>)> = None;
        let mut since_best = 0;
        for epoch in 1..=self.config.epochs {
            if self.config.shuffle {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    self.config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9),
                );
                order.shuffle(&mut rng);
            }
            let steps = n.div_ceil(self.batch);
            let bar = progress_bar(self.config.progress, steps, epoch, self.config.epochs);
            let lr = self.schedule.lr();
            let started = Instant::now();
            let mut sum = LossSum::default();
            for (step, idx) in order.chunks(self.batch).enumerate() {
                let m = idx.len();
                self.gather(train, idx);
                let (x, labels, values) = (
                    std::mem::take(&mut self.x),
                    std::mem::take(&mut self.labels),
                    std::mem::take(&mut self.values),
                );
                let targets = match train.targets() {
                    Targets::Classes { .. } => TargetRef::Classes(&labels[..m]),
                    Targets::Values { len, .. } => TargetRef::Values(&values[..m * len]),
                };
                let result = self.step(net, &x[..m * N::INPUT_LEN], targets, m);
                self.x = x;
                self.labels = labels;
                self.values = values;
                let s = match result {
                    Err(Error::NonFiniteLoss { loss, .. }) => {
                        bar.abandon();
                        return Err(Error::NonFiniteLoss {
                            epoch,
                            step: step + 1,
                            loss,
                        });
                    }
                    other => other?,
                };
                sum.loss += s.loss;
                sum.correct += s.correct;
                if let Some(bar) = &bar.0 {
                    bar.inc(1);
                    if step % 16 == 0 {
                        bar.set_message(format!(
                            "loss {:.4}",
                            sum.loss / ((step * self.batch + m) as f64)
                        ));
                    }
                }
            }
            let seconds = started.elapsed().as_secs_f64();
            let train_loss = sum.loss / n as f64;
            let classify =
                matches!(train.targets(), Targets::Classes { .. }) || N::logits_len() == 1;
            let (val_loss, val_accuracy) = match validation {
                Some(v) => {
                    let e = evaluate(net, v, self.config.loss)?;
                    (Some(e.0), Some(e.1))
                }
                None => (None, None),
            };
            let stats = EpochStats {
                epoch,
                train_loss,
                train_accuracy: classify.then(|| sum.correct as f64 / n as f64),
                val_loss,
                val_accuracy: val_accuracy.filter(|_| classify),
                lr,
                seconds,
            };
            bar.finish(&stats);
            history.epochs.push(stats);
            if let Some(path) = &self.config.checkpoint {
                save_checkpoint(net, path)?;
            }
            let monitored = val_loss.unwrap_or(train_loss);
            self.schedule.end_epoch(monitored);
            if let Some(es) = self.config.early_stopping {
                let improved = best
                    .as_ref()
                    .is_none_or(|(b, _, _)| monitored < b - es.min_delta);
                if improved {
                    best = Some((monitored, epoch, net.weights().to_vec()));
                    since_best = 0;
                } else {
                    since_best += 1;
                    if since_best >= es.patience {
                        history.stopped_early = epoch < self.config.epochs;
                        break;
                    }
                }
            }
        }
        if let Some((_, epoch, weights)) = best {
            net.weights_mut().copy_from_slice(&weights);
            history.restored_epoch = Some(epoch);
            if let Some(path) = &self.config.checkpoint {
                save_checkpoint(net, path)?;
            }
        }
        Ok(history)
    }

    /// Copies the samples `idx` of `data` into the batch buffers.
    fn gather(&mut self, data: &Dataset, idx: &[usize]) {
        let len = N::INPUT_LEN;
        for (j, &i) in idx.iter().enumerate() {
            self.x[j * len..(j + 1) * len].copy_from_slice(data.input(i));
        }
        match data.targets() {
            Targets::Classes { labels, .. } => {
                for (j, &i) in idx.iter().enumerate() {
                    self.labels[j] = labels[i];
                }
            }
            Targets::Values { values, len } => {
                for (j, &i) in idx.iter().enumerate() {
                    self.values[j * len..(j + 1) * len]
                        .copy_from_slice(&values[i * len..(i + 1) * len]);
                }
            }
        }
    }
}

/// Mean loss and accuracy of `net` on `data`, in inference mode.
pub fn evaluate<N: Network>(net: &N, data: &Dataset, loss: Loss) -> Result<(f64, f64), Error> {
    check_dataset::<N>(data, loss, "evaluation set")?;
    let outputs = crate::batch::predict(net, data.inputs())?;
    let n = data.len();
    let len = N::OUTPUT_LEN;
    let sum = match data.targets() {
        Targets::Classes { labels, .. } => {
            loss.evaluate(N::HEAD, &outputs, TargetRef::Classes(labels), n, len)
        }
        Targets::Values { values, .. } => {
            loss.evaluate(N::HEAD, &outputs, TargetRef::Values(values), n, len)
        }
    };
    Ok((sum.loss / n as f64, sum.correct as f64 / n as f64))
}

/// Classification accuracy of `net` on `data` (fraction correct).
pub fn accuracy<N: Network>(net: &N, data: &Dataset) -> Result<f64, Error> {
    let labels = data.labels().ok_or_else(|| Error::Data {
        path: None,
        message: "accuracy needs class labels, the dataset has target values".into(),
    })?;
    let outputs = crate::batch::predict(net, data.inputs())?;
    let len = N::OUTPUT_LEN;
    let correct = labels
        .iter()
        .enumerate()
        .filter(|(s, &y)| argmax(&outputs[s * len..(s + 1) * len]) == y)
        .count();
    Ok(correct as f64 / data.len().max(1) as f64)
}

/// A progress bar that exists only when wanted and on a terminal.
struct Bar(Option<indicatif::ProgressBar>);

fn progress_bar(wanted: bool, steps: usize, epoch: usize, epochs: usize) -> Bar {
    use std::io::IsTerminal;
    if !wanted || !std::io::stderr().is_terminal() {
        return Bar(None);
    }
    let bar = indicatif::ProgressBar::new(steps as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("epoch {epoch}/{epochs}"));
    Bar(Some(bar))
}

impl Bar {
    fn finish(&self, s: &EpochStats) {
        if let Some(bar) = &self.0 {
            let val = match (s.val_loss, s.val_accuracy) {
                (Some(l), Some(a)) => format!(", validation {l:.4} / {:.2}%", a * 100.0),
                (Some(l), None) => format!(", validation {l:.4}"),
                _ => String::new(),
            };
            bar.finish_with_message(format!("loss {:.4}{val}", s.train_loss));
        }
    }
    fn abandon(&self) {
        if let Some(bar) = &self.0 {
            bar.abandon();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::shape_fits;

    #[test]
    fn sample_shapes_fit_when_equal_or_flattened() {
        assert!(shape_fits(&[1, 28, 28], 784, &[1, 28, 28], 784));
        assert!(shape_fits(&[1, 28, 28], 784, &[784], 784));
        assert!(shape_fits(&[784], 784, &[1, 28, 28], 784));
        assert!(!shape_fits(&[3, 8, 8], 192, &[12, 4, 4], 192));
        assert!(!shape_fits(&[1, 28, 28], 784, &[1, 32, 32], 1024));
        assert!(!shape_fits(&[780], 780, &[784], 784));
    }
}
