//! The memory layouts and per-pass settings shared by the generated code
//! and the runtime; `no_std`, so that every network's generated code,
//! training passes included, compiles in firmware too.

pub use crate::ops::parts::{OnePart, Reduce};
use crate::summary::LayerInfo;

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
    /// The steps batched inference runs on whole groups of samples.
    pub tail: Option<BatchTail>,
}

/// The last steps of an inference plan, from [`BatchTail::step`] on, that
/// use each weight they read at most once per sample (dense layers, and
/// steps without weights). Batched inference runs them on a group of
/// samples at once, reading the weights once per group: for a network
/// whose activations are too large to run many samples together (AlexNet,
/// VGG), the earlier steps run a few samples at a time and the tail takes
/// their results together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchTail {
    /// Index in the plan of the tail's first step.
    pub step: usize,
    /// Where the one value the tail reads from earlier steps (the first
    /// step's input) sits in a one-sample arena.
    pub input: (usize, usize),
    /// Inference parameters (floats) the tail reads.
    pub params: usize,
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
    /// `f64` statistics of a whole step (batch normalisation's batch
    /// moments and gradient sums), per thread.
    pub stats_len: usize,
    /// Where the backward pass leaves the gradient of the network's input
    /// when [`StepContext::input_grad`] asks for it: `start..end` in
    /// floats per sample (for `n` samples, `n *` the region, samples side
    /// by side). `None` for a network whose input gradient has no region
    /// of its own.
    pub input_grad: Option<(usize, usize)>,
}

/// Receives the gradient of the loss with respect to layer outputs during
/// a backward pass ([`StepContext::grad_tap`]).
pub trait GradTap {
    /// The gradient of the loss with respect to the output of layer
    /// `layer` (index into `LAYERS`) for sample `sample` of the pass,
    /// called once per stored step output, before the step's own backward
    /// pass reads it.
    fn output_grad(&self, layer: usize, sample: usize, grad: &[f32]);

    /// The gradient of the loss with respect to the output of layer
    /// `layer` inside a fused step, which the step does not store: if the
    /// tap wants it, it calls `fill` with a buffer of the layer's output
    /// length for sample `sample`, and `fill` writes the gradient there
    /// (computed from the step's output gradient and what its backward
    /// pass keeps). Called before the step's own backward pass, for every
    /// layer of the step but its last. The default wants none.
    fn inner_grad(&self, layer: usize, sample: usize, fill: &mut dyn FnMut(&mut [f32])) {
        let _ = (layer, sample, fill);
    }
}

/// The buffers one training forward/backward pass works in, for `n` samples.
pub struct TrainArena<'a> {
    /// `n * TrainLayout::f32_len` floats.
    pub f: &'a mut [f32],
    /// `n * TrainLayout::u8_len` bytes.
    pub m: &'a mut [u8],
    /// `TrainLayout::scratch_len` floats.
    pub scratch: &'a mut [f32],
    /// `TrainLayout::stats_len` values: the step's statistics, as this
    /// thread's part of the step sees them.
    pub stats: &'a mut [f64],
}

/// Per-pass settings of the generated training code.
#[derive(Clone, Copy)]
pub struct StepContext<'a> {
    /// Seed of the step (dropout masks).
    pub seed: u64,
    /// Index in the whole batch of the first sample of this pass.
    pub first_sample: usize,
    /// For each layer (index into `LAYERS`), whether its parameters train.
    pub trainable: &'a [bool],
    /// Index of the first trainable layer; the backward pass stops below it.
    pub first_trainable: usize,
    /// Sums over the step's parts (batch normalisation).
    pub reduce: &'a dyn Reduce,
    /// Whether the backward pass also computes the gradient of the
    /// network's input (left at [`TrainLayout::input_grad`]).
    pub input_grad: bool,
    /// Receives each stored layer output's gradient during the backward
    /// pass.
    pub grad_tap: Option<&'a dyn GradTap>,
    /// Whether the pass computes the network as inference does: dropout
    /// is the identity and batch normalisation normalises with its
    /// running statistics (for gradients of the deployed model). Never
    /// set by a training step: nothing would train the batch norms'
    /// statistics.
    pub inference_mode: bool,
}

impl core::fmt::Debug for StepContext<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StepContext")
            .field("seed", &self.seed)
            .field("first_sample", &self.first_sample)
            .field("trainable", &self.trainable)
            .field("first_trainable", &self.first_trainable)
            .field("input_grad", &self.input_grad)
            .field("inference_mode", &self.inference_mode)
            .finish_non_exhaustive()
    }
}

impl<'a> StepContext<'a> {
    /// Whether the backward pass reaches layer `layer` (by index in
    /// `LAYERS`): some layer at or before it trains. The backward pass of
    /// a network stops below its first trainable layer.
    #[inline]
    pub fn needs_backward(&self, layer: usize) -> bool {
        self.first_trainable <= layer
    }

    /// Whether a layer's input gradient is needed: some layer before
    /// `layer` trains, or the network input's gradient is asked for.
    #[inline]
    pub fn needs_input_grad(&self, layer: usize) -> bool {
        self.first_trainable < layer || self.input_grad
    }

    /// Calls the context's [`GradTap`], if any, for each of the `n`
    /// samples of `grad` (`len` values each, side by side).
    #[inline]
    pub fn tap(&self, layer: usize, grad: &[f32], n: usize, len: usize) {
        if let Some(tap) = self.grad_tap {
            for s in 0..n {
                tap.output_grad(layer, s, &grad[s * len..][..len]);
            }
        }
    }

    /// The dropout probability a dropout layer of probability `p`
    /// applies: `p`, or 0 in [`StepContext::inference_mode`].
    #[inline]
    pub fn dropout_rate(&self, p: f32) -> f32 {
        if self.inference_mode {
            0.0
        } else {
            p
        }
    }

    /// Whether layer `layer`'s parameters train.
    #[inline]
    pub fn is_trainable(&self, layer: usize) -> bool {
        self.trainable[layer]
    }

    /// A context with every layer trainable.
    pub fn all_trainable(trainable: &'a [bool], seed: u64) -> Self {
        StepContext {
            seed,
            first_sample: 0,
            trainable,
            first_trainable: 0,
            reduce: &OnePart,
            input_grad: false,
            grad_tap: None,
            inference_mode: false,
        }
    }

    /// This context for one part of a step split over threads.
    pub fn with_reduce(self, reduce: &'a dyn Reduce) -> Self {
        StepContext { reduce, ..self }
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
            reduce: &OnePart,
            input_grad: false,
            grad_tap: None,
            inference_mode: false,
        }
    }
}
