//! Where a layer's output lives in the inference arena, so that it can be
//! read after running the inference plan up to the step that computes it
//! (the network's `activations` and heap-free `infer_layer`).
//!
//! Every plan step writes one value: the output of its last layer. A layer
//! alone in its step, the last layer of a fused step (the `max_pool` of a
//! fused conv→ReLU→max-pool, the activation of a fused dense→ReLU), a
//! merge or a block's last layer can be read there; the layers inside a
//! fused step are never stored (a network declared with
//! `#[cnn(fuse = false)]` stores every layer's output), and the batched
//! `activations` computes them from the step's input instead.

use core::fmt;

use crate::summary::{LayerInfo, PlanStep};

/// A readable layer output: the step that writes it and its region of a
/// one-sample arena (for `n` samples, `n *` the region).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerOutput {
    /// The layer's index in `LAYERS`.
    pub layer: usize,
    /// The index in `PLAN` of the step that computes it.
    pub step: usize,
    /// `start..end` in floats, per sample.
    pub region: (usize, usize),
    /// The region whose per-sample copies a batch lays side by side
    /// ([`PlanStep::output_within`]).
    pub within: (usize, usize),
}

impl LayerOutput {
    /// Values per sample.
    pub fn len(&self) -> usize {
        self.region.1 - self.region.0
    }

    /// Whether the output is empty (never, for a declared layer).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Where sample `s`'s output starts in the arena of a batch of `n`.
    pub fn start(&self, s: usize, n: usize) -> usize {
        let (w0, w1) = self.within;
        n * w0 + s * (w1 - w0) + (self.region.0 - w0)
    }
}

/// Why a layer's output cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerOutputError {
    /// The network has no layer of that name.
    Unknown,
    /// The layer is computed inside a fused step, whose intermediate
    /// values are never stored.
    InsideFusedStep {
        /// The step's layers, e.g. `conv1 + relu1 + max_pool1`.
        step: &'static str,
    },
}

impl fmt::Display for LayerOutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerOutputError::Unknown => f.write_str("no layer of that name"),
            LayerOutputError::InsideFusedStep { step } => write!(
                f,
                "the layer is computed inside the fused step `{step}`, which stores only the \
                 output of its last layer; read that layer, use `activations` (which computes it \
                 from the step's input), or declare the network with #[cnn(fuse = false)] to \
                 store every layer's output"
            ),
        }
    }
}

/// Finds where the output of the layer called `name` is, from a network's
/// `LAYERS` and `PLAN`.
///
/// ```
/// use cnn_runtime::layer_output::{locate, LayerOutputError};
/// use cnn_runtime::{LayerInfo, PlanStep};
///
/// let layer = |name, step| LayerInfo {
///     name, kind: "", type_name: "", output_shape: &[4], params: 0, macs: 0, step,
/// };
/// let layers = [layer("fc1", 0), layer("relu1", 0), layer("fc2", 1)];
/// const PLAN: &[PlanStep] = &[
///     PlanStep { layers: "fc1 + relu1", kernel: "", input: (0, 8), output: (8, 12), output_within: (8, 12) },
///     PlanStep { layers: "fc2", kernel: "", input: (8, 12), output: (0, 4), output_within: (0, 4) },
/// ];
/// assert_eq!(locate(&layers, PLAN, "relu1").unwrap().region, (8, 12));
/// assert_eq!(locate(&layers, PLAN, "fc2").unwrap().step, 1);
/// assert_eq!(
///     locate(&layers, PLAN, "fc1"),
///     Err(LayerOutputError::InsideFusedStep { step: "fc1 + relu1" })
/// );
/// assert_eq!(locate(&layers, PLAN, "fc9"), Err(LayerOutputError::Unknown));
/// ```
pub fn locate(
    layers: &[LayerInfo],
    plan: &'static [PlanStep],
    name: &str,
) -> Result<LayerOutput, LayerOutputError> {
    let layer = layers
        .iter()
        .position(|l| l.name == name)
        .ok_or(LayerOutputError::Unknown)?;
    let step = layers[layer].step;
    let s = plan.get(step).ok_or(LayerOutputError::Unknown)?;
    if s.layers.rsplit(" + ").next() != Some(name) {
        return Err(LayerOutputError::InsideFusedStep { step: s.layers });
    }
    Ok(LayerOutput {
        layer,
        step,
        region: s.output,
        within: s.output_within,
    })
}
