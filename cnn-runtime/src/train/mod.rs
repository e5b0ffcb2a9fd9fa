//! Training: losses, optimizers, schedules and the trainer.
//!
//! (Networks come from the `cnn` crate's `network!`, so this example is
//! compiled and run there, in the `cnn` crate's documentation.)
//!
//! ```ignore
//! # cnn::network! { struct Net { input: [4], dense(8), relu, dense(3), softmax } }
//! use cnn::train::{Trainer, TrainConfig, Optimizer};
//! # let train: cnn::Dataset = unimplemented!();
//! # let test: cnn::Dataset = unimplemented!();
//! let mut net = Net::new(cnn::Init::He, 42);
//! let config = TrainConfig::default()
//!     .epochs(10)
//!     .batch_size(32)
//!     .optimizer(Optimizer::sgd(0.05, 0.9))
//!     .seed(7);
//! let history = Trainer::new(config).fit(&mut net, &train, Some(&test))?;
//! history.write_csv("curves.csv")?;
//! history.write_svg("curves.svg")?;
//! # Ok::<(), cnn::Error>(())
//! ```
//!
//! One step: the batch is split into one contiguous chunk per thread; each
//! thread runs the generated training forward pass, the loss and the
//! generated backward pass into its own gradient buffer; the buffers are
//! summed in thread order and the optimizer takes one step. With the same
//! seed and thread count, runs are identical bit for bit. A session's
//! threads are its own (the calling thread and `threads - 1` helpers kept
//! for the session's life), and after the first step no memory is allocated:
//! each step copies the weights and the helpers' share of the batch into
//! buffers the helpers own jointly with the session.

mod history;
mod loss;
mod optim;
mod team;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::string::String;
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Instant;
use std::vec::Vec;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub use history::{EpochStats, History};
pub use loss::{argmax, Loss, LossSum, TargetRef};
pub use optim::{Optimizer, OptimizerState, Schedule, ScheduleState};

use crate::data::{Dataset, Targets};
use crate::network::{Network, StepContext, TrainBuffers};
use crate::{parallel, Error};

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
    /// one for up to 200 µs, then sleep.
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

/// One thread's buffers.
struct Worker {
    buffers: TrainBuffers,
    grads: Vec<f32>,
    logits: Vec<f32>,
    dlogits: Vec<f32>,
    sum: LossSum,
}

/// What one step is, for every part of it.
#[derive(Clone, Copy, Debug)]
struct StepJob {
    /// Samples in the step.
    n: usize,
    /// Parts the step is split into (`parallel::split(n, threads)`).
    threads: usize,
    /// `1 / n`: the loss is the batch mean.
    scale: f32,
    /// Seed of the step (dropout).
    seed: u64,
    loss: Loss,
    /// Whether the targets are values (else class labels).
    values: bool,
}

/// What the helpers read during a step: copies, made by the calling thread
/// before it starts them, of the weights and of the samples and targets of
/// parts `1..`. Sized when the session starts; part 0 reads the caller's
/// own slices instead.
struct StepInput {
    job: StepJob,
    weights: Vec<f32>,
    x: Vec<f32>,
    labels: Vec<usize>,
    values: Vec<f32>,
}

/// Everything a session shares with its helper threads.
struct Shared {
    input: RwLock<StepInput>,
    /// One per thread; each thread locks only its own during a step, and
    /// the calling thread locks them one by one after it.
    workers: Vec<Mutex<Worker>>,
    trainable: Vec<bool>,
}

impl Shared {
    fn worker(&self, t: usize) -> MutexGuard<'_, Worker> {
        // A poisoned lock only means a part panicked, which the team reports.
        self.workers[t].lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Trains a network: step by step (a [`Session`] from [`Trainer::session`]) or whole runs
/// ([`Trainer::fit`]).
pub struct Trainer {
    config: TrainConfig,
}

/// The state of a run on one network type: buffers, optimizer, schedule.
pub struct Session<N: Network> {
    config: TrainConfig,
    threads: usize,
    batch: usize,
    grads: Vec<f32>,
    ranges: Vec<Range<usize>>,
    optimizer: OptimizerState,
    schedule: ScheduleState,
    /// The helper threads and the buffers they share with this session.
    team: team::Team<Shared>,
    x: Vec<f32>,
    labels: Vec<usize>,
    values: Vec<f32>,
    steps: u64,
    _net: core::marker::PhantomData<fn() -> N>,
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
    fn new(config: TrainConfig, batch: usize) -> Result<Self, Error> {
        let cfg = |message: String| Error::Config { message };
        if config.batch_size == 0 || batch == 0 {
            return Err(cfg("the batch size must be at least 1, found 0".into()));
        }
        config.optimizer.validate().map_err(cfg)?;
        config.schedule.validate().map_err(cfg)?;
        if let Err(m) = config.loss.check_head(N::HEAD) {
            return Err(cfg(format!("{}: {m}", N::NAME)));
        }
        // Trainable layers.
        let mut trainable = vec![true; N::LAYERS.len()];
        for name in &config.frozen {
            trainable[N::layer_index(name)?] = false;
        }
        let convs: Vec<usize> = N::LAYERS
            .iter()
            .enumerate()
            .filter(|(_, l)| l.kind == "conv")
            .map(|(i, _)| i)
            .collect();
        if config.freeze_first_convs > convs.len() {
            return Err(cfg(format!(
                "cannot freeze the first {} conv layers: {} has {}",
                config.freeze_first_convs,
                N::NAME,
                convs.len()
            )));
        }
        for &i in &convs[..config.freeze_first_convs] {
            trainable[i] = false;
        }
        let ranges: Vec<Range<usize>> = N::PARAMS
            .iter()
            .filter(|p| trainable[p.layer])
            .map(|p| p.range())
            .collect();
        if ranges.is_empty() && N::PARAM_COUNT > 0 {
            return Err(cfg(format!(
                "every layer of {} is frozen: nothing would train",
                N::NAME
            )));
        }
        let threads = match config.threads {
            0 => parallel::available(),
            t => t,
        }
        .min(batch)
        .max(1);
        let per = batch.div_ceil(threads);
        let logits = N::logits_len();
        let workers = (0..threads)
            .map(|_| {
                Mutex::new(Worker {
                    buffers: TrainBuffers::new::<N>(per),
                    grads: vec![0.0; N::PARAM_COUNT],
                    logits: vec![0.0; per * logits],
                    dlogits: vec![0.0; per * logits],
                    sum: LossSum::default(),
                })
            })
            .collect();
        // Only helpers read the copies; a single thread needs none.
        let copies = if threads > 1 { batch } else { 0 };
        let input = StepInput {
            job: StepJob {
                n: 0,
                threads: 0,
                scale: 0.0,
                seed: 0,
                loss: config.loss,
                values: false,
            },
            weights: vec![0.0; if threads > 1 { N::PARAM_COUNT } else { 0 }],
            x: vec![0.0; copies * N::INPUT_LEN],
            labels: vec![0; copies],
            values: vec![0.0; copies * logits],
        };
        let shared = Shared {
            input: RwLock::new(input),
            workers,
            trainable,
        };
        let team = team::Team::new(threads - 1, shared);
        let lr = config.optimizer.lr();
        Ok(Session {
            optimizer: OptimizerState::new(config.optimizer, N::PARAM_COUNT),
            schedule: ScheduleState::new(config.schedule, lr),
            config,
            threads,
            batch,
            grads: vec![0.0; N::PARAM_COUNT],
            ranges,
            team,
            x: vec![0.0; batch * N::INPUT_LEN],
            labels: vec![0; batch],
            values: vec![0.0; batch * logits],
            steps: 0,
            _net: core::marker::PhantomData,
        })
    }

    /// The current learning rate.
    pub fn lr(&self) -> f32 {
        self.schedule.lr()
    }

    /// The per-layer trainable flags.
    pub fn trainable(&self) -> &[bool] {
        &self.team.data().trainable
    }

    /// The gradient of the last step (summed over the batch, as the loss
    /// is the batch mean).
    pub fn gradients(&self) -> &[f32] {
        &self.grads
    }

    /// Computes the gradient of the mean loss over `n` samples `x` with
    /// `targets` into [`Session::gradients`], without updating `net`.
    /// Returns the summed loss and correct count.
    pub fn compute_gradients(
        &mut self,
        net: &N,
        x: &[f32],
        targets: TargetRef<'_>,
        n: usize,
    ) -> LossSum {
        assert!(
            n <= self.batch && n > 0,
            "a step of {n} samples in a session for {}",
            self.batch
        );
        let seed = crate::ops::dropout::splitmix64(
            self.config.seed ^ self.steps.wrapping_mul(0x2545_F491_4F6C_DD1D),
        );
        let threads = self.threads.min(n);
        let job = StepJob {
            n,
            threads,
            scale: 1.0 / n as f32,
            seed,
            loss: self.config.loss,
            values: matches!(targets, TargetRef::Values(_)),
        };
        let shared = self.team.data();
        let weights = net.weights();
        let here = || part::<N>(shared, job, 0, weights, x, targets);
        if threads > 1 {
            copy_for_helpers::<N>(shared, job, weights, x, targets);
            self.team.run(helper_part::<N>, here);
        } else {
            here();
        }
        // Sum the per-thread gradients in thread order.
        let first = shared.worker(0);
        self.grads.copy_from_slice(&first.grads);
        let mut total = first.sum;
        drop(first);
        for t in 1..threads {
            let w = shared.worker(t);
            for (g, &v) in self.grads.iter_mut().zip(&w.grads) {
                *g += v;
            }
            total.loss += w.sum.loss;
            total.correct += w.sum.correct;
        }
        total
    }

    /// One optimizer step on `n` samples. Returns the batch's summed loss
    /// and correct count; errors (leaving `net` untouched) if the loss is
    /// not finite.
    pub fn step(
        &mut self,
        net: &mut N,
        x: &[f32],
        targets: TargetRef<'_>,
        n: usize,
    ) -> Result<LossSum, Error> {
        let sum = self.compute_gradients(net, x, targets, n);
        self.steps += 1;
        if !sum.loss.is_finite() {
            return Err(Error::NonFiniteLoss {
                epoch: 0,
                step: self.steps as usize,
                loss: sum.loss as f32,
            });
        }
        self.optimizer.step(
            net.weights_mut(),
            &self.grads,
            self.schedule.lr(),
            &self.ranges,
        );
        Ok(sum)
    }

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
                crate::io::safetensors::save(path, N::PARAMS, net.weights())?;
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
                crate::io::safetensors::save(path, N::PARAMS, net.weights())?;
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

/// Part `t` of a step: forward pass, loss and backward pass of the
/// samples `parallel::split(job.n, job.threads).nth(t)` of `x` and
/// `targets` (whole-batch slices, of which only that part is read) into
/// worker `t`'s gradient and loss sum.
fn part<N: Network>(
    shared: &Shared,
    job: StepJob,
    t: usize,
    weights: &[f32],
    x: &[f32],
    targets: TargetRef<'_>,
) {
    let Some(r) = parallel::split(job.n, job.threads).nth(t) else {
        return;
    };
    let mut w = shared.worker(t);
    let w = &mut *w;
    let m = r.len();
    w.grads.fill(0.0);
    w.sum = LossSum::default();
    if m == 0 {
        return;
    }
    let mut ctx = StepContext::new(&shared.trainable, N::LAYERS, job.seed);
    ctx.first_sample = r.start;
    let xs = &x[r.start * N::INPUT_LEN..r.end * N::INPUT_LEN];
    let len = N::logits_len();
    let logits = &mut w.logits[..m * len];
    let dlogits = &mut w.dlogits[..m * len];
    N::forward_train(weights, xs, logits, m, w.buffers.arena::<N>(m), &ctx);
    let targets = match targets {
        TargetRef::Classes(l) => TargetRef::Classes(&l[r.clone()]),
        TargetRef::Values(v) => TargetRef::Values(&v[r.start * len..r.end * len]),
    };
    w.sum = job
        .loss
        .forward_backward(N::HEAD, logits, targets, m, len, job.scale, dlogits);
    N::backward(
        weights,
        xs,
        dlogits,
        m,
        w.buffers.arena::<N>(m),
        &mut w.grads,
        &ctx,
    );
}

/// Copies what the helpers read into `shared.input`: the job, the weights,
/// and the samples and targets from the end of part 0 on. The write lock is
/// released on return, before the helpers start (they take read locks).
fn copy_for_helpers<N: Network>(
    shared: &Shared,
    job: StepJob,
    weights: &[f32],
    x: &[f32],
    targets: TargetRef<'_>,
) {
    let mut guard = shared.input.write().unwrap_or_else(|e| e.into_inner());
    let input = &mut *guard;
    let rest = parallel::split(job.n, job.threads)
        .next()
        .map_or(0, |r| r.end)..job.n;
    input.job = job;
    input.weights.copy_from_slice(weights);
    let xs = rest.start * N::INPUT_LEN..rest.end * N::INPUT_LEN;
    input.x[xs.clone()].copy_from_slice(&x[xs]);
    match targets {
        TargetRef::Classes(l) => input.labels[rest.clone()].copy_from_slice(&l[rest]),
        TargetRef::Values(v) => {
            let vs = rest.start * N::logits_len()..rest.end * N::logits_len();
            input.values[vs.clone()].copy_from_slice(&v[vs]);
        }
    }
}

/// A helper's part of a step, on the copies in `shared.input`.
fn helper_part<N: Network>(shared: &Shared, t: usize) {
    let input = shared.input.read().unwrap_or_else(|e| e.into_inner());
    let targets = if input.job.values {
        TargetRef::Values(&input.values)
    } else {
        TargetRef::Classes(&input.labels)
    };
    part::<N>(shared, input.job, t, &input.weights, &input.x, targets);
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

/// Writes `net`'s weights to `path` atomically (a crash leaves the old file).
pub fn save_checkpoint<N: Network>(net: &N, path: &Path) -> Result<(), Error> {
    crate::io::safetensors::save(path, N::PARAMS, net.weights())
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
