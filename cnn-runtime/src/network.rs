//! The trait every network declared with `network!` implements, through
//! which the batched inference, the trainer and the tools work on any
//! network.

use std::vec::Vec;

use crate::error::Error;
use crate::summary::{LayerInfo, ParamInfo, Summary};

/// The final activation that a loss absorbs during training: with
/// cross-entropy a trailing softmax (and with binary cross-entropy a
/// trailing sigmoid) is folded into the loss, whose gradient is then the
/// numerically stable `p - target`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    /// The network's output is used as it is.
    None,
    /// The network ends with `softmax`.
    Softmax,
    /// The network ends with `sigmoid`.
    Sigmoid,
}

/// Memory of the inference plan, per sample (floats).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InferLayout {
    /// Activation floats per sample (input included).
    pub act_len: usize,
    /// Kernel scratch floats (for any number of samples).
    pub scratch_len: usize,
    /// Where the input sits in a one-sample arena.
    pub input: (usize, usize),
    /// Where the output sits in a one-sample arena.
    pub output: (usize, usize),
}

/// Memory of the training plan, per sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainLayout {
    /// Floats per sample: the activations the backward pass reads, and gradients.
    pub f32_len: usize,
    /// Bytes per sample: ReLU masks, max-pool argmaxes, dropout masks.
    pub u8_len: usize,
    /// Kernel scratch floats (for any number of samples).
    pub scratch_len: usize,
}

/// The buffers one training forward/backward pass works in, for `n` samples.
pub struct TrainArena<'a> {
    /// `n * TrainLayout::f32_len` floats.
    pub f: &'a mut [f32],
    /// `n * TrainLayout::u8_len` bytes.
    pub m: &'a mut [u8],
    /// `TrainLayout::scratch_len` floats.
    pub scratch: &'a mut [f32],
}

/// Owned buffers for training passes of up to `capacity` samples.
#[derive(Debug, Default)]
pub struct TrainBuffers {
    f: Vec<f32>,
    m: Vec<u8>,
    scratch: Vec<f32>,
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
        }
    }
}

/// Per-pass settings of the generated training code.
#[derive(Clone, Copy, Debug)]
pub struct StepContext<'a> {
    /// Seed of the step (dropout masks).
    pub seed: u64,
    /// Index in the whole batch of the first sample of this pass.
    pub first_sample: usize,
    /// For each layer (index into `LAYERS`), whether its parameters train.
    pub trainable: &'a [bool],
    /// Index of the first trainable layer; the backward pass stops below it.
    pub first_trainable: usize,
}

impl<'a> StepContext<'a> {
    /// A context with every layer trainable.
    pub fn all_trainable(trainable: &'a [bool], seed: u64) -> Self {
        StepContext {
            seed,
            first_sample: 0,
            trainable,
            first_trainable: 0,
        }
    }

    /// A context for the given per-layer trainable flags.
    pub fn new(trainable: &'a [bool], layers: &[LayerInfo], seed: u64) -> Self {
        let first_trainable = trainable
            .iter()
            .zip(layers)
            .position(|(&t, l)| t && l.params > 0)
            .unwrap_or(usize::MAX);
        StepContext {
            seed,
            first_sample: 0,
            trainable,
            first_trainable,
        }
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
    /// Multiply-accumulates of one forward pass for one sample.
    const MACS: u64;
    /// The layers.
    const LAYERS: &'static [LayerInfo];
    /// The weight and bias tensors.
    const PARAMS: &'static [ParamInfo];
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
    fn backward(
        weights: &[f32],
        x: &[f32],
        dlogits: &mut [f32],
        n: usize,
        arena: TrainArena<'_>,
        grads: &mut [f32],
        ctx: &StepContext<'_>,
    );

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
