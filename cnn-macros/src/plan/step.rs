//! A step: one kernel call of a plan.

use std::rc::Rc;

use crate::graph::{NodeId, ValueId};
use crate::layers::{Exec, Layer, Saves, Shapes};

/// One kernel call: a layer, or several fused into one kernel.
#[derive(Clone, Debug)]
pub struct Step {
    /// The graph nodes it computes, the first one owning the kernel.
    pub nodes: Vec<NodeId>,
    /// The layer that lowers the step (the first node's, with the later
    /// ones fused in).
    pub layer: Rc<dyn Layer>,
    /// The values it reads (one, but for a merge) and the value it writes.
    pub inputs: Vec<ValueId>,
    pub output: ValueId,
    pub shapes: Shapes,
    /// At inference, the batch normalisation folded into the step (one of
    /// `nodes`): the step reads the folded weight and bias.
    pub folded: Option<NodeId>,
}

impl Step {
    /// The (first) value it reads.
    pub fn input(&self) -> ValueId {
        self.inputs[0]
    }

    pub fn exec(&self, training: bool) -> Exec {
        self.layer.exec(training)
    }

    pub fn saves(&self) -> Saves {
        self.layer.saves()
    }

    /// Per-sample lengths of the input and output.
    pub fn in_len(&self) -> usize {
        self.shapes.input.len()
    }

    pub fn out_len(&self) -> usize {
        self.shapes.output.len()
    }
}
