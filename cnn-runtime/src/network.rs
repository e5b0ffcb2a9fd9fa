//! The trait every network declared with `network!` implements, through
//! which the batched inference, the trainer and the tools work on any
//! network.

use std::vec::Vec;

use crate::error::Error;
pub use crate::layout::{BatchTail, Head, InferLayout, StepContext, TrainArena, TrainLayout};
use crate::summary::{LayerInfo, ParamInfo, PlanStep, Summary};

/// Owned buffers for training passes of up to `capacity` samples.
#[derive(Debug, Default)]
pub struct TrainBuffers {
    f: Vec<f32>,
    m: Vec<u8>,
    scratch: Vec<f32>,
    stats: Vec<f64>,
    capacity: usize,
}

impl TrainBuffers {
    /// Buffers for up to `capacity` samples of network `N`.
    pub fn new<N: Network>(capacity: usize) -> Self {
        let t = N::TRAIN;
        TrainBuffers {
            f: vec![0.0; capacity * t.f32_len],
            m: vec![0; capacity * t.u8_len],
            scratch: vec![0.0; t.scratch_len],
            stats: vec![0.0; t.stats_len],
            capacity,
        }
    }

    /// How many samples the buffers hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The arena for `n <= capacity` samples.
    pub fn arena<N: Network>(&mut self, n: usize) -> TrainArena<'_> {
        assert!(
            n <= self.capacity,
            "training buffers hold {} samples, not {n}",
            self.capacity
        );
        let t = N::TRAIN;
        TrainArena {
            f: &mut self.f[..n * t.f32_len],
            m: &mut self.m[..n * t.u8_len],
            scratch: &mut self.scratch[..],
            stats: &mut self.stats[..],
        }
    }

    /// The statistics of the last step these buffers took part in (see
    /// [`Network::update_buffers`]).
    pub fn stats(&self) -> &[f64] {
        &self.stats
    }
}

/// A network declared with `network!`.
///
/// The generated type implements this trait; its associated items mirror
/// the type's own constants and methods, so generic code (the trainer,
/// batched inference, gradient checks) can work on any network.
pub trait Network: Sized + Send + Sync {
    /// The type's name.
    const NAME: &'static str;
    /// Shape of one input sample.
    const INPUT_SHAPE: &'static [usize];
    /// Shape of one output sample.
    const OUTPUT_SHAPE: &'static [usize];
    /// Values in one input sample.
    const INPUT_LEN: usize;
    /// Values in one output sample.
    const OUTPUT_LEN: usize;
    /// Number of parameters.
    const PARAM_COUNT: usize;
    /// Number of parameters inference reads: [`Network::PARAM_COUNT`], plus
    /// the weights and biases of batch normalisations folded into the
    /// layers before them, plus the transformed weights of Winograd
    /// convolutions.
    const INFER_PARAM_COUNT: usize;
    /// Multiply-accumulates of one forward pass for one sample.
    const MACS: u64;
    /// The layers.
    const LAYERS: &'static [LayerInfo];
    /// The weight and bias tensors.
    const PARAMS: &'static [ParamInfo];
    /// The steps of the inference plan.
    const PLAN: &'static [PlanStep];
    /// The final activation the loss absorbs in training.
    const HEAD: Head;
    /// Memory of the inference plan.
    const INFER: InferLayout;
    /// Memory of the training plan.
    const TRAIN: TrainLayout;

    /// A network with the given parameters (length already checked).
    fn from_weight_vec(weights: Vec<f32>) -> Self;
    /// The parameters.
    fn weights(&self) -> &[f32];
    /// The parameters, mutably.
    fn weights_mut(&mut self) -> &mut [f32];
    /// The printable summary.
    fn summary() -> Summary;

    /// Inference of `n` samples in `arena` (`n * INFER.act_len` floats of
    /// activations then `INFER.scratch_len` of scratch), inputs already at
    /// `n * INFER.input`, outputs left at `n * INFER.output`.
    fn forward_arena(weights: &[f32], arena: &mut [f32], n: usize);

    /// As [`Network::forward_arena`], stopping after the step `last` of
    /// [`Network::PLAN`]: its output is then at `n *` its region.
    fn forward_until(weights: &[f32], arena: &mut [f32], n: usize, last: usize);

    /// As [`Network::forward_until`], starting at step `first` of
    /// [`Network::PLAN`]: the values the steps from `first` on read that
    /// earlier steps wrote must already be in `arena`.
    fn forward_steps(weights: &[f32], arena: &mut [f32], n: usize, first: usize, last: usize);

    /// For a layer inside a fused step (index `layer` in
    /// [`Network::LAYERS`]), whose output inference never stores: after
    /// [`Network::forward_until`] has run the steps before that step,
    /// computes the layer's output for the `n` samples into `out` (`n`
    /// times its length). Returns whether it can compute that layer:
    /// `false` (and `out` untouched) for any other layer; with `n == 0`
    /// it only answers.
    fn forward_inner(
        _weights: &[f32],
        _arena: &mut [f32],
        _n: usize,
        _layer: usize,
        _out: &mut [f32],
    ) -> bool {
        false
    }

    /// Training forward pass of `n` samples: writes the logits (the output
    /// before a [`Head`] activation) and keeps what [`Network::backward`] needs.
    fn forward_train(
        weights: &[f32],
        x: &[f32],
        logits: &mut [f32],
        n: usize,
        arena: TrainArena<'_>,
        ctx: &StepContext<'_>,
    );

    /// Backward pass after [`Network::forward_train`] on the same arena:
    /// adds the parameter gradients into `grads`. `dlogits` is overwritten.
    /// With [`StepContext::input_grad`] set it also leaves the input's
    /// gradient at [`TrainLayout::input_grad`] in the arena, and it hands
    /// each stored layer output's gradient to [`StepContext::grad_tap`].
    fn backward(
        weights: &[f32],
        x: &[f32],
        dlogits: &mut [f32],
        n: usize,
        arena: TrainArena<'_>,
        grads: &mut [f32],
        ctx: &StepContext<'_>,
    );

    /// After a training step: updates the buffers among the parameters
    /// (batch normalisation's running statistics) from the step's
    /// statistics, as one part of the step saw them
    /// ([`TrainBuffers::stats`]; every part sees the same).
    fn update_buffers(_weights: &mut [f32], _stats: &[f64]) {}

    /// The parameters inference reads ([`Network::INFER_PARAM_COUNT`]
    /// values): the parameters, then any batch normalisation folded into
    /// the layer before it.
    fn inference_weights(&self) -> &[f32] {
        self.weights()
    }

    /// Values per training-output sample (the logits).
    fn logits_len() -> usize {
        Self::OUTPUT_LEN
    }

    /// The index in `LAYERS` of the layer called `name`.
    fn layer_index(name: &str) -> Result<usize, Error> {
        Self::LAYERS
            .iter()
            .position(|l| l.name == name)
            .ok_or_else(|| Error::UnknownLayer {
                network: Self::NAME,
                name: name.into(),
                layers: Self::LAYERS.iter().map(|l| l.name).collect(),
            })
    }
}
