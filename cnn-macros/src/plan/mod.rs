//! Pass 3: fusion, parameter layout and memory plans.
//!
//! The plan turns the checked graph into *steps* (one kernel call each,
//! [`fusion`]) and places every value those steps read or write
//! ([`memory`]), for inference and for training. Both work on values and
//! their consumers: a chain gives one step after another, each reading the
//! value the previous one wrote.

mod fusion;
mod memory;
mod step;

pub use memory::{GradDest, GradHow, InferPlan, Loc, Region, TrainPlan, TrainStepIo};
pub use step::Step;

use crate::graph::{Network, NodeId, ValueId};
use crate::layers::ParamSpec;

/// A parameter tensor in the network's flat parameter buffer.
#[derive(Clone, Debug)]
pub struct ParamSlot {
    /// `layer.suffix`, the PyTorch `state_dict` name.
    pub name: String,
    pub node: NodeId,
    pub spec: ParamSpec,
    pub offset: usize,
    pub len: usize,
}

pub struct Plan {
    pub params: Vec<ParamSlot>,
    pub param_count: usize,
    pub macs: u64,
    pub infer: InferPlan,
    pub train: TrainPlan,
}

impl Plan {
    /// The parameter tensors of a step, in order.
    pub fn params_of(&self, step: &Step) -> Vec<&ParamSlot> {
        self.params
            .iter()
            .filter(|p| step.nodes.contains(&p.node))
            .collect()
    }
}

pub fn plan(net: &Network) -> Plan {
    let (params, param_count) = layout_params(net);
    let macs = (0..net.nodes.len()).map(|i| net.macs(i)).sum();
    let all: Vec<NodeId> = (0..net.nodes.len()).collect();
    let infer = memory::plan_inference(net, fusion::steps(net, &all, net.output));

    // A final softmax or sigmoid is the loss's: training stops before it.
    let last = net.values[net.output].producer;
    let head = last.and_then(|n| net.nodes[n].layer.head());
    let (train_nodes, train_output): (Vec<NodeId>, ValueId) = match (head, last) {
        (Some(_), Some(n)) => (
            all.iter().copied().filter(|&i| i != n).collect(),
            net.nodes[n].inputs[0],
        ),
        _ => (all.clone(), net.output),
    };
    let train_steps = fusion::steps(net, &train_nodes, train_output);
    let train = memory::plan_training(net, train_steps, train_output, head);
    Plan {
        params,
        param_count,
        macs,
        infer,
        train,
    }
}

/// Every node's tensors, one after another in node order.
fn layout_params(net: &Network) -> (Vec<ParamSlot>, usize) {
    let mut params = Vec::new();
    let mut offset = 0;
    for (i, node) in net.nodes.iter().enumerate() {
        for spec in node.layer.params(net.in_shape(i)) {
            let len = spec.shape.iter().product();
            params.push(ParamSlot {
                name: format!("{}.{}", node.tensors, spec.suffix),
                node: i,
                spec,
                offset,
                len,
            });
            offset += len;
        }
    }
    (params, offset)
}

#[cfg(test)]
mod tests;
