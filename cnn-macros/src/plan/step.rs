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
    /// The value it reads and the value it writes.
    pub input: ValueId,
    pub output: ValueId,
    pub shapes: Shapes,
}

impl Step {
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
