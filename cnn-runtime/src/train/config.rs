//! The configuration of a training run: [`TrainConfig`] and its
//! [`EarlyStopping`] rule.

use std::fmt;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::string::String;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use super::history::EpochStats;
use super::loss::Loss;
use super::optim::{out_of_range, Optimizer, Schedule};
use crate::error::Error;
use crate::parallel;

/// Stop when the monitored loss has not improved by more than `min_delta`
/// for `patience` epochs, and restore the best weights.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping.
    pub patience: usize,
    /// Improvement that counts (absolute).
    pub min_delta: f64,
}

/// Everything that configures a training run. Build it from `default()`
/// with the chained setters.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Passes over the training set. Default 10.
    pub epochs: usize,
    /// Samples per step: 32 by default; `usize::MAX` for full-batch
    /// gradient descent, 1 for stochastic gradient descent.
    pub batch_size: usize,
    /// The objective. Default: cross-entropy.
    pub loss: Loss,
    /// Default: SGD, learning rate 0.05, momentum 0.9.
    pub optimizer: Optimizer,
    /// Learning-rate schedule. Default: constant.
    pub schedule: Schedule,
    /// Seed of the shuffles, the validation split and dropout.
    pub seed: u64,
    /// Threads (0 = one per core). The batch is split between them.
    pub threads: usize,
    /// Shuffle the training set every epoch. Default true.
    pub shuffle: bool,
    /// Hold out this fraction of the training set for validation when
    /// `fit` is given no validation set.
    pub validation_split: Option<f32>,
    /// Early stopping on the validation loss (training loss without one).
    pub early_stopping: Option<EarlyStopping>,
    /// Where to write the weights after every epoch (atomically).
    pub checkpoint: Option<PathBuf>,
    /// Show a progress bar (only ever drawn on a terminal). Default true.
    pub progress: bool,
    /// Layers whose parameters do not train.
    pub frozen: Vec<String>,
    /// Freeze the first `k` convolution layers.
    pub freeze_first_convs: usize,
    /// Continue the run saved in this checkpoint (see [`TrainConfig::resume`]).
    pub resume: Option<PathBuf>,
    /// Called after every epoch (see [`TrainConfig::on_epoch`]).
    pub on_epoch: Option<EpochCallback>,
}

/// A function [`Trainer::fit`](super::Trainer::fit) calls after every
/// epoch with that epoch's figures; returning `ControlFlow::Break(())`
/// ends the run there (see [`TrainConfig::on_epoch`]). Clones share the
/// function.
#[derive(Clone)]
pub struct EpochCallback(Arc<Mutex<EpochFn>>);

type EpochFn = dyn FnMut(&EpochStats) -> ControlFlow<()> + Send;

impl EpochCallback {
    /// Wraps `f`.
    pub fn new(f: impl FnMut(&EpochStats) -> ControlFlow<()> + Send + 'static) -> Self {
        EpochCallback(Arc::new(Mutex::new(f)))
    }

    /// Calls the function.
    pub fn call(&self, stats: &EpochStats) -> ControlFlow<()> {
        // A poisoned lock means the function panicked before; call it again.
        let mut f = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(stats)
    }
}

impl fmt::Debug for EpochCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochCallback(..)")
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 32,
            loss: Loss::CrossEntropy,
            optimizer: Optimizer::default(),
            schedule: Schedule::Constant,
            seed: 0,
            threads: 0,
            shuffle: true,
            validation_split: None,
            early_stopping: None,
            checkpoint: None,
            progress: true,
            frozen: Vec::new(),
            freeze_first_convs: 0,
            resume: None,
            on_epoch: None,
        }
    }
}

impl TrainConfig {
    /// Sets the number of epochs.
    pub fn epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }
    /// Sets the minibatch size.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }
    /// Batch gradient descent: one step per epoch over the whole set.
    pub fn full_batch(self) -> Self {
        self.batch_size(usize::MAX)
    }
    /// Stochastic gradient descent: one sample per step.
    pub fn stochastic(self) -> Self {
        self.batch_size(1)
    }
    /// Sets the loss.
    pub fn loss(mut self, loss: Loss) -> Self {
        self.loss = loss;
        self
    }
    /// Sets the optimizer.
    pub fn optimizer(mut self, optimizer: Optimizer) -> Self {
        self.optimizer = optimizer;
        self
    }
    /// Sets the learning-rate schedule.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }
    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the number of threads (0 = one per core), at most
    /// [`parallel::max_threads`]. A session's threads live as long as the
    /// session; between steps they poll for the next one for a moment
    /// (`cnn_spec::tuning::TEAM_POLL`), then sleep.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
    /// Turns per-epoch shuffling on or off.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// Holds out a fraction of the training set, in `(0, 1)`, for
    /// validation.
    pub fn validation_split(mut self, fraction: f32) -> Self {
        self.validation_split = Some(fraction);
        self
    }
    /// Stops early after `patience` epochs without an improvement of more
    /// than `min_delta` (finite, at least 0) in the validation loss.
    pub fn early_stopping(mut self, patience: usize, min_delta: f64) -> Self {
        self.early_stopping = Some(EarlyStopping {
            patience,
            min_delta,
        });
        self
    }
    /// Writes the weights and the training state to `path` after every
    /// epoch, atomically; [`resume`](TrainConfig::resume) continues a run
    /// from such a file. The directory must exist and be writable (checked
    /// before the first epoch).
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
        self
    }
    /// No progress bar.
    pub fn quiet(mut self) -> Self {
        self.progress = false;
        self
    }
    /// Freezes the named layers.
    pub fn freeze<S: Into<String>>(mut self, layers: impl IntoIterator<Item = S>) -> Self {
        self.frozen.extend(layers.into_iter().map(Into::into));
        self
    }
    /// Freezes the first `k` convolution layers.
    pub fn freeze_first_convs(mut self, k: usize) -> Self {
        self.freeze_first_convs = k;
        self
    }

    /// Continues the run whose checkpoint is `path` (written with
    /// [`checkpoint`](TrainConfig::checkpoint)): `fit` loads the weights
    /// into the network and the training state (optimizer moments, step
    /// count, schedule, shuffling order, early stopping's best, the
    /// learning curves so far) into the session, and trains from the epoch
    /// after the saved one up to [`epochs`](TrainConfig::epochs). With the
    /// same configuration (seed, threads, batch size, optimizer, data) the
    /// result is the same, bit for bit, as a run that was never stopped.
    pub fn resume(mut self, path: impl Into<PathBuf>) -> Self {
        self.resume = Some(path.into());
        self
    }

    /// Calls `f` after every epoch (after the checkpoint is written) with
    /// its figures. `f` returning `ControlFlow::Break(())` ends the run
    /// there as an interruption would: the network keeps that epoch's
    /// weights (early stopping does not restore its best), the checkpoint
    /// holds that epoch's state, and resuming from it continues the run.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use cnn_runtime::train::TrainConfig;
    ///
    /// let config = TrainConfig::default().on_epoch(|stats| {
    ///     println!("epoch {}: loss {:.4}", stats.epoch, stats.train_loss);
    ///     if stats.train_loss < 0.01 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    /// });
    /// ```
    pub fn on_epoch(
        mut self,
        f: impl FnMut(&EpochStats) -> ControlFlow<()> + Send + 'static,
    ) -> Self {
        self.on_epoch = Some(EpochCallback::new(f));
        self
    }

    /// Checks every setting; the message names the setting, its value and
    /// the range allowed. [`Trainer::session`](super::Trainer::session)
    /// and [`Trainer::fit`](super::Trainer::fit) call it first.
    pub fn validate(&self) -> Result<(), Error> {
        let cfg = |message: String| Err(Error::Config { message });
        if self.epochs == 0 {
            return cfg(out_of_range("the number of epochs", 0, "[1, inf)"));
        }
        if self.batch_size == 0 {
            return cfg(out_of_range("the batch size", 0, "[1, inf)"));
        }
        if let Err(m) = self.optimizer.validate() {
            return cfg(m);
        }
        if let Err(m) = self.schedule.validate() {
            return cfg(m);
        }
        if let Schedule::ReduceOnPlateau { min_lr, .. } = self.schedule {
            if min_lr > self.optimizer.lr() {
                return cfg(format!(
                    "the minimum learning rate {min_lr} is above the learning rate {}: it must \
                     be in [0, {}]",
                    self.optimizer.lr(),
                    self.optimizer.lr()
                ));
            }
        }
        if let Some(f) = self.validation_split {
            if !(f > 0.0 && f < 1.0) {
                return cfg(format!(
                    "{}; for no validation, leave `validation_split` unset",
                    out_of_range("the validation fraction", f, "(0, 1)")
                ));
            }
        }
        if let Some(es) = self.early_stopping {
            if !(es.min_delta.is_finite() && es.min_delta >= 0.0) {
                return cfg(out_of_range(
                    "early stopping's min_delta",
                    es.min_delta,
                    "[0, inf)",
                ));
            }
        }
        parallel::check_threads("the number of training threads", self.threads)?;
        Ok(())
    }
}
