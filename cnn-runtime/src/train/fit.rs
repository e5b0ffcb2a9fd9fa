//! Whole training runs: [`Trainer::fit`] and the epoch loop
//! ([`Session::fit`]), and measuring a network on a dataset
//! ([`evaluate`], [`accuracy`]).
//!
//! Every epoch ends with checks before anything is kept: the weights after
//! its last step must be finite and give a finite loss on that step's
//! batch, and the validation loss must be finite. A step whose loss is not
//! finite, or an epoch that fails these checks, ends the run with an error
//! and puts the network and the session back as they were after the
//! previous epoch, which is what the last checkpoint holds: a diverged
//! run never replaces a good checkpoint.

use std::path::Path;
use std::string::String;
use std::time::Instant;
use std::vec::Vec;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::checkpoint::{self, Best, RunState, SessionState};
use super::config::TrainConfig;
use super::history::{EpochStats, History};
use super::loss::{argmax, Loss, LossSum, TargetRef};
use super::optim::{OptimizerState, ScheduleState};
use super::progress::{epoch_line, Bar, Output};
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
    ///
    /// Errors if a setting is out of range (see [`TrainConfig::validate`])
    /// or the session's threads cannot be started ([`Error::Threads`]).
    pub fn session<N: Network>(&self, batch: usize) -> Result<Session<N>, Error> {
        Session::new(self.config.clone(), batch)
    }

    /// Trains `net` on `train` for the configured epochs, validating on
    /// `validation` (or on a split of `train`, see
    /// [`TrainConfig::validation_split`]) after each epoch. Returns the
    /// learning curves.
    ///
    /// Every setting, the datasets and the checkpoint's directory are
    /// checked before the first step. A loss that becomes NaN or infinite
    /// ([`Error::NonFiniteLoss`]) or an epoch that ends with non-finite
    /// weights or losses ([`Error::Diverged`]) stops the run with the
    /// network back at its weights after the previous epoch, and the
    /// checkpoint left as that epoch wrote it.
    pub fn fit<N: Network>(
        &self,
        net: &mut N,
        train: &Dataset,
        validation: Option<&Dataset>,
    ) -> Result<History, Error> {
        self.config.validate()?;
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

/// What an epoch starts from, to go back to if it fails.
#[derive(Default)]
struct Snapshot {
    weights: Vec<f32>,
    state: Option<(OptimizerState, ScheduleState, u64)>,
    order: Vec<usize>,
}

impl Snapshot {
    fn take<N: Network>(&mut self, net: &N, session: &Session<N>, order: &[usize]) {
        self.weights.clear();
        self.weights.extend_from_slice(net.weights());
        self.order.clear();
        self.order.extend_from_slice(order);
        self.state = Some((
            session.optimizer.clone(),
            session.schedule.clone(),
            session.steps,
        ));
    }

    fn restore<N: Network>(&self, net: &mut N, session: &mut Session<N>, order: &mut [usize]) {
        net.weights_mut().copy_from_slice(&self.weights);
        order.copy_from_slice(&self.order);
        if let Some((optimizer, schedule, steps)) = &self.state {
            session.optimizer.clone_from(optimizer);
            session.schedule.clone_from(schedule);
            session.steps = *steps;
        }
    }
}

impl<N: Network> Session<N> {
    /// Runs every epoch (see [`Trainer::fit`]), from the checkpoint of
    /// [`TrainConfig::resume`] if one is set.
    pub fn fit(
        &mut self,
        net: &mut N,
        train: &Dataset,
        validation: Option<&Dataset>,
    ) -> Result<History, Error> {
        check_dataset::<N>(train, self.config.loss, "training set")?;
        if let Some(path) = &self.config.checkpoint {
            crate::io::check_writable(path)?;
        }
        let mut run = match self.config.resume.clone() {
            Some(path) => self.resume(net, &path, train.len())?,
            None => RunState::new(train.len()),
        };
        // A resumed run that early stopping had ended only restores its best.
        let first = if run.history.stopped_early {
            usize::MAX
        } else {
            run.epoch + 1
        };
        let output = Output::for_this_process(self.config.progress);
        if let Some(warning) = super::batch_stats::warning::<N>(self.batch.min(train.len())) {
            if self.config.progress {
                eprintln!("warning: {warning}");
            }
            run.history.warnings.push(warning);
        }
        let mut good = Snapshot::default();
        for epoch in first..=self.config.epochs {
            good.take(net, self, &run.order);
            if self.config.shuffle {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    self.config.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9),
                );
                run.order.shuffle(&mut rng);
            }
            let stats = match self.epoch(net, train, validation, &run.order, epoch, output) {
                Ok(stats) => stats,
                Err(e) => {
                    good.restore(net, self, &mut run.order);
                    return Err(e);
                }
            };
            let stop = self.end_epoch(net, &mut run, &stats);
            if let Some(path) = &self.config.checkpoint {
                checkpoint::save(path, net, &self.state(), &run)?;
            }
            if output.lines {
                println!("{}", epoch_line(&stats, self.config.epochs));
            }
            if let Some(callback) = &self.config.on_epoch {
                if callback.call(&stats).is_break() {
                    run.history.interrupted = true;
                    return Ok(run.history);
                }
            }
            if stop {
                break;
            }
        }
        if let Some(best) = &run.best {
            net.weights_mut().copy_from_slice(&best.weights);
            run.history.restored_epoch = Some(best.epoch);
            if let Some(path) = &self.config.checkpoint {
                checkpoint::save(path, net, &self.state(), &run)?;
            }
        }
        Ok(run.history)
    }

    /// The session's part of the training state, for a checkpoint.
    fn state(&self) -> SessionState {
        SessionState {
            optimizer: self.optimizer.clone(),
            schedule: self.schedule.clone(),
            steps: self.steps,
        }
    }

    /// Loads the checkpoint `path` into `net` and the session: all of it
    /// or, on error, nothing.
    fn resume(&mut self, net: &mut N, path: &Path, samples: usize) -> Result<RunState, Error> {
        let resumed = checkpoint::load::<N>(path, self.state(), samples)?;
        net.weights_mut().copy_from_slice(&resumed.weights);
        self.optimizer = resumed.session.optimizer;
        self.schedule = resumed.session.schedule;
        self.steps = resumed.session.steps;
        Ok(resumed.run)
    }

    /// One epoch over `train` in `order`, then its checks: the figures, or
    /// the error that ends the run.
    fn epoch(
        &mut self,
        net: &mut N,
        train: &Dataset,
        validation: Option<&Dataset>,
        order: &[usize],
        epoch: usize,
        output: Output,
    ) -> Result<EpochStats, Error> {
        let n = train.len();
        let steps = n.div_ceil(self.batch);
        let bar = Bar::new(output, steps, epoch, self.config.epochs);
        let lr = self.schedule.lr();
        let started = Instant::now();
        let mut sum = LossSum::default();
        let mut last = 0;
        // A last minibatch of one sample would give a batch norm one value
        // per channel: it sits this epoch out (another sample next epoch
        // when shuffling).
        let skip_single = n > 1 && super::batch_stats::too_few::<N>(1);
        let mut counted = 0;
        for (step, idx) in order.chunks(self.batch).enumerate() {
            let m = idx.len();
            if m == 1 && skip_single {
                break;
            }
            counted += m;
            last = m;
            self.gather(train, idx);
            let s = match self.step_on_batch(net, train, m, true) {
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
            bar.step(step, || sum.loss / ((step * self.batch + m) as f64));
        }
        let seconds = started.elapsed().as_secs_f64();
        let diverged = |what: String| -> Result<EpochStats, Error> {
            bar.abandon();
            Err(Error::Diverged { epoch, what })
        };
        // The last step's update is checked by no later step: check the
        // weights it left, and the loss at them on its batch.
        if let Some((name, value)) = first_non_finite::<N>(net.weights()) {
            return diverged(format!(
                "after its last step (step {steps}), `{name}` holds {value}"
            ));
        }
        let after = self.step_on_batch(net, train, last, false)?;
        if !after.loss.is_finite() {
            return diverged(format!(
                "after its last step (step {steps}), the loss on that step's batch is {}",
                after.loss as f32
            ));
        }
        let classify = matches!(train.targets(), Targets::Classes { .. }) || N::logits_len() == 1;
        let (val_loss, val_accuracy) = match validation {
            Some(v) => {
                let (loss, accuracy) = evaluate(net, v, self.config.loss)?;
                if !loss.is_finite() {
                    return diverged(format!(
                        "the validation loss is {loss} (from the weights, or a NaN or infinity \
                         in the validation inputs)"
                    ));
                }
                (Some(loss), Some(accuracy))
            }
            None => (None, None),
        };
        let stats = EpochStats {
            epoch,
            train_loss: sum.loss / counted as f64,
            train_accuracy: classify.then(|| sum.correct as f64 / counted as f64),
            val_loss,
            val_accuracy: val_accuracy.filter(|_| classify),
            lr,
            seconds,
        };
        bar.finish(&stats);
        Ok(stats)
    }

    /// A step (or, without `update`, the loss) on the first `m` samples
    /// gathered in the batch buffers.
    fn step_on_batch(
        &mut self,
        net: &mut N,
        train: &Dataset,
        m: usize,
        update: bool,
    ) -> Result<LossSum, Error> {
        let (x, labels, values) = (
            std::mem::take(&mut self.x),
            std::mem::take(&mut self.labels),
            std::mem::take(&mut self.values),
        );
        let targets = match train.targets() {
            Targets::Classes { .. } => TargetRef::Classes(&labels[..m]),
            Targets::Values { len, .. } => TargetRef::Values(&values[..m * len]),
        };
        let x_m = &x[..m * N::INPUT_LEN];
        let result = if update {
            self.step(net, x_m, targets, m)
        } else {
            self.loss(net, x_m, targets, m)
        };
        self.x = x;
        self.labels = labels;
        self.values = values;
        result
    }

    /// Records a checked epoch: its figures, the schedule, early stopping.
    /// Returns whether early stopping ends the run here.
    fn end_epoch(&mut self, net: &N, run: &mut RunState, stats: &EpochStats) -> bool {
        let monitored = stats.val_loss.unwrap_or(stats.train_loss);
        self.schedule.end_epoch(monitored);
        run.epoch = stats.epoch;
        run.history.epochs.push(stats.clone());
        let Some(es) = self.config.early_stopping else {
            return false;
        };
        let improved = run
            .best
            .as_ref()
            .is_none_or(|b| monitored < b.loss - es.min_delta);
        if improved {
            run.best = Some(Best {
                loss: monitored,
                epoch: stats.epoch,
                weights: net.weights().to_vec(),
            });
            run.since_best = 0;
            return false;
        }
        run.since_best += 1;
        let stop = run.since_best >= es.patience;
        if stop {
            run.history.stopped_early = stats.epoch < self.config.epochs;
        }
        stop
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

/// The first parameter that is NaN or infinite: its tensor's name and value.
fn first_non_finite<N: Network>(weights: &[f32]) -> Option<(&'static str, f32)> {
    let at = weights.iter().position(|v| !v.is_finite())?;
    let tensor = N::PARAMS.iter().find(|p| p.range().contains(&at));
    Some((tensor.map_or("a parameter", |p| p.name), weights[at]))
}

/// Mean loss and accuracy of `net` on `data`, in inference mode. NaN
/// outputs give a NaN loss and count as wrong.
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

/// Classification accuracy of `net` on `data` (fraction correct). An
/// output holding NaN is never correct.
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
        .filter(|(s, &y)| argmax(&outputs[s * len..(s + 1) * len]) == Some(y))
        .count();
    Ok(correct as f64 / data.len().max(1) as f64)
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
