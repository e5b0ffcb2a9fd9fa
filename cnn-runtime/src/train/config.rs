//! The configuration of a training run: [`TrainConfig`] and its
//! [`EarlyStopping`] rule.

use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

use super::loss::Loss;
use super::optim::{Optimizer, Schedule};

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
    /// Sets the number of threads (0 = one per core). A session's threads
    /// live as long as the session; between steps they poll for the next
    /// one for a moment (`cnn_spec::tuning::TEAM_POLL`), then sleep.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
    /// Turns per-epoch shuffling on or off.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// Holds out a fraction of the training set for validation.
    pub fn validation_split(mut self, fraction: f32) -> Self {
        self.validation_split = Some(fraction);
        self
    }
    /// Stops early after `patience` epochs without improvement.
    pub fn early_stopping(mut self, patience: usize, min_delta: f64) -> Self {
        self.early_stopping = Some(EarlyStopping {
            patience,
            min_delta,
        });
        self
    }
    /// Writes the weights to `path` after every epoch.
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
}
