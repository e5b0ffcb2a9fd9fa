//! A training session ([`Session`]): its buffers, helper threads,
//! optimizer and schedule, and one step split over the threads.
//!
//! One step: the batch is split into one contiguous chunk per thread; each
//! thread runs the generated training forward pass, the loss and the
//! generated backward pass into its own gradient buffer; the buffers are
//! summed in thread order and the optimizer takes one step. After the
//! first step no memory is allocated: each step copies the weights and the
//! helpers' share of the batch into buffers the helpers own jointly with
//! the session.

use std::ops::Range;
use std::sync::{Mutex, MutexGuard, RwLock};
use std::vec::Vec;

use super::config::TrainConfig;
use super::loss::{LogitsRef, Loss, LossSum, TargetRef};
use super::optim::{OptimizerState, ScheduleState};
use super::team;
use crate::error::Error;
use crate::network::{Network, StepContext, TrainBuffers};
use crate::parallel;
use crate::summary::ParamInfo;

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
    /// Whether to run the backward pass (else only the loss).
    backward: bool,
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
    /// Sums over the step's parts (batch statistics).
    parts: super::reduce::Parts,
}

impl Shared {
    fn worker(&self, t: usize) -> MutexGuard<'_, Worker> {
        // A poisoned lock only means a part panicked, which the team reports.
        self.workers[t].lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The state of a run on one network type: buffers, optimizer, schedule.
pub struct Session<N: Network> {
    pub(super) config: TrainConfig,
    threads: usize,
    pub(super) batch: usize,
    grads: Vec<f32>,
    ranges: Vec<Range<usize>>,
    pub(super) optimizer: OptimizerState,
    pub(super) schedule: ScheduleState,
    /// The helper threads and the buffers they share with this session.
    team: team::Team<Shared>,
    pub(super) x: Vec<f32>,
    pub(super) labels: Vec<usize>,
    pub(super) values: Vec<f32>,
    pub(super) steps: u64,
    _net: core::marker::PhantomData<fn() -> N>,
}

impl<N: Network> Session<N> {
    pub(super) fn new(config: TrainConfig, batch: usize) -> Result<Self, Error> {
        let cfg = |message: String| Error::Config { message };
        config.validate()?;
        if batch == 0 {
            return Err(cfg(
                "a session's batch size must be in [1, inf), found 0".into()
            ));
        }
        if let Err(m) = config.loss.check_head(N::HEAD) {
            return Err(cfg(format!("{}: {m}", N::NAME)));
        }
        super::batch_stats::check::<N>(batch)?;
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
        let ranges = trained_ranges(N::PARAMS, &trainable);
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
                backward: true,
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
            parts: super::reduce::Parts::new(threads, N::TRAIN.stats_len),
        };
        let team = team::Team::new(threads - 1, shared)?;
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

    /// The largest number of samples a step can take.
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Checks the arguments of a step of `n` samples: `x` holds `n`
    /// samples, `targets` `n` labels in `0..outputs` or `n` rows of values.
    fn check_step(&self, x: &[f32], targets: TargetRef<'_>, n: usize) -> Result<(), Error> {
        if n == 0 || n > self.batch {
            return Err(Error::Config {
                message: format!(
                    "a step of {n} samples in a session for up to {}: the step's sample count \
                     must be in [1, {}]",
                    self.batch, self.batch
                ),
            });
        }
        super::batch_stats::check::<N>(n)?;
        let length = |what, len, per: usize| Error::BatchLength {
            network: N::NAME,
            what,
            len,
            sample_len: per,
            message: format!(
                "does not hold the step's {n} samples (it needs {})",
                n * per
            ),
        };
        if x.len() != n * N::INPUT_LEN {
            return Err(length("input", x.len(), N::INPUT_LEN));
        }
        let outputs = N::logits_len();
        match targets {
            TargetRef::Classes(labels) => {
                if labels.len() != n {
                    return Err(length("labels", labels.len(), 1));
                }
                if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= outputs) {
                    return Err(Error::Data {
                        path: None,
                        message: format!(
                            "label {l} of sample {i} is out of range: {} has {outputs} outputs, \
                             so labels must be in 0..{outputs}",
                            N::NAME
                        ),
                    });
                }
            }
            TargetRef::Values(v) => {
                if v.len() != n * outputs {
                    return Err(length("target values", v.len(), outputs));
                }
            }
        }
        Ok(())
    }

    /// Computes the gradient of the mean loss over `n` samples `x` with
    /// `targets` into [`Session::gradients`], without updating `net`.
    /// Returns the summed loss and correct count.
    ///
    /// Errors, computing nothing, if `n` is 0 or above the session's batch
    /// size, `x` does not hold exactly `n` samples, `targets` do not hold
    /// `n` labels or rows of values, or a label is not below the network's
    /// number of outputs.
    pub fn compute_gradients(
        &mut self,
        net: &N,
        x: &[f32],
        targets: TargetRef<'_>,
        n: usize,
    ) -> Result<LossSum, Error> {
        self.check_step(x, targets, n)?;
        Ok(self.run(net, x, targets, n, true))
    }

    /// The summed loss and correct count of `net` on `n` samples, with the
    /// training forward pass (dropout active, seeded as the next step's
    /// would be), computing no gradient and changing nothing. Errors as
    /// [`Session::compute_gradients`].
    pub fn loss(
        &mut self,
        net: &N,
        x: &[f32],
        targets: TargetRef<'_>,
        n: usize,
    ) -> Result<LossSum, Error> {
        self.check_step(x, targets, n)?;
        Ok(self.run(net, x, targets, n, false))
    }

    /// Runs the parts of a step (checked), with or without the backward
    /// pass, and sums them.
    fn run(
        &mut self,
        net: &N,
        x: &[f32],
        targets: TargetRef<'_>,
        n: usize,
        backward: bool,
    ) -> LossSum {
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
            backward,
        };
        let shared = self.team.data();
        shared.parts.start_step(threads);
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
        if backward {
            self.grads.copy_from_slice(&first.grads);
        }
        let mut total = first.sum;
        drop(first);
        for t in 1..threads {
            let w = shared.worker(t);
            if backward {
                for (g, &v) in self.grads.iter_mut().zip(&w.grads) {
                    *g += v;
                }
            }
            total.loss += w.sum.loss;
            total.correct += w.sum.correct;
        }
        total
    }

    /// One optimizer step on `n` samples. Returns the batch's summed loss
    /// and correct count; errors, leaving `net` untouched, if the loss is
    /// not finite ([`Error::NonFiniteLoss`]) or the arguments are wrong
    /// (see [`Session::compute_gradients`]).
    pub fn step(
        &mut self,
        net: &mut N,
        x: &[f32],
        targets: TargetRef<'_>,
        n: usize,
    ) -> Result<LossSum, Error> {
        let sum = self.compute_gradients(net, x, targets, n)?;
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
        // Running statistics follow the step's batch statistics.
        N::update_buffers(
            net.weights_mut(),
            self.team.data().worker(0).buffers.stats(),
        );
        Ok(sum)
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
    if job.backward {
        w.grads.fill(0.0);
    }
    w.sum = LossSum::default();
    if m == 0 {
        return;
    }
    let reduce = shared.parts.part(t);
    let mut ctx = StepContext::new(&shared.trainable, N::LAYERS, job.seed).with_reduce(&reduce);
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
    let z = LogitsRef {
        z: logits,
        n: m,
        len,
    };
    w.sum = job
        .loss
        .forward_backward(N::HEAD, z, targets, job.scale, dlogits);
    if !job.backward {
        return;
    }
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

/// The parts of the parameter buffer the optimizer updates: the tensors of
/// trainable layers, except buffers (running statistics), which are saved
/// with the weights but never trained.
fn trained_ranges(params: &[ParamInfo], trainable: &[bool]) -> Vec<Range<usize>> {
    params
        .iter()
        .filter(|p| trainable[p.layer] && p.role.is_trained())
        .map(|p| p.range())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::trained_ranges;
    use crate::summary::{BufferInit, Dtype, ParamInfo, ParamRole};

    fn tensor(layer: usize, role: ParamRole, offset: usize, len: usize) -> ParamInfo {
        ParamInfo {
            name: "t",
            layer,
            role,
            dtype: Dtype::F32,
            shape: &[],
            offset,
            len,
            fan_in: 1,
            fan_out: 1,
        }
    }

    #[test]
    fn buffers_and_frozen_layers_do_not_train() {
        let params = [
            tensor(0, ParamRole::Weight, 0, 4),
            tensor(0, ParamRole::Bias, 4, 2),
            tensor(1, ParamRole::Scale, 6, 2),
            tensor(1, ParamRole::Shift, 8, 2),
            tensor(1, ParamRole::Buffer(BufferInit::Zeros), 10, 2),
            tensor(1, ParamRole::Buffer(BufferInit::Ones), 12, 2),
            tensor(2, ParamRole::Weight, 14, 3),
        ];
        assert_eq!(
            trained_ranges(&params, &[true, true, true]),
            [0..4, 4..6, 6..8, 8..10, 14..17]
        );
        assert_eq!(
            trained_ranges(&params, &[false, true, false]),
            [6..8, 8..10]
        );
    }
}
