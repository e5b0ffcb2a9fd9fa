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
use crate::layers::{BatchNorm, ParamSpec};

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

/// A batch normalisation folded into the conv or dense layer before it,
/// at inference: the layer reads `weight` and `bias`, tensors of the
/// inference parameters after the network's own
/// (`param_count..infer_param_count`), computed from the layer's weight
/// and bias and the batch normalisation's parameters and running statistics.
#[derive(Clone, Debug)]
pub struct Fold {
    /// The conv or dense layer's tensors: weight, then bias if it has one.
    pub source: Vec<ParamSlot>,
    /// The batch normalisation's node, its `weight`, `bias`,
    /// `running_mean` and `running_var`, and its `eps`.
    pub norm: NodeId,
    pub stats: [ParamSlot; 4],
    pub eps: f32,
    /// Output channels, and weights per output channel.
    pub channels: usize,
    pub per_channel: usize,
    /// The folded tensors (offsets in the inference parameters).
    pub weight: ParamSlot,
    pub bias: ParamSlot,
}

/// A weight prepared once for inference ([`crate::layers::Layer::prepared_len`]:
/// a Winograd convolution's transformed weights), from the weight the
/// step reads (its own or a folded one).
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The step's first node, which owns the kernel.
    pub node: NodeId,
    pub source: ParamSlot,
    /// The prepared tensor (an offset in the inference parameters).
    pub slot: ParamSlot,
}

pub struct Plan {
    pub params: Vec<ParamSlot>,
    pub param_count: usize,
    /// Batch normalisations folded at inference, weights prepared for it,
    /// and the length of the inference parameters: the network's, then
    /// the folded tensors, then the prepared ones.
    pub folds: Vec<Fold>,
    pub prepared: Vec<Prepared>,
    pub infer_param_count: usize,
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

    /// The weight prepared for an inference step, if it has one.
    pub fn prepared_of(&self, step: &Step) -> Option<&Prepared> {
        self.prepared.iter().find(|p| p.node == step.nodes[0])
    }

    /// Whether inference reads parameters computed from the network's
    /// (folded or prepared), which its struct then keeps.
    pub fn derives(&self) -> bool {
        !self.folds.is_empty() || !self.prepared.is_empty()
    }

    /// The parameter tensors an inference step reads: its own, or the
    /// folded weight and bias.
    pub fn infer_params_of(&self, step: &Step) -> Vec<&ParamSlot> {
        match self.folds.iter().find(|f| Some(f.norm) == step.folded) {
            Some(f) => vec![&f.weight, &f.bias],
            None => self.params_of(step),
        }
    }
}

pub fn plan(net: &Network) -> Plan {
    let (params, param_count) = layout_params(net);
    let macs = (0..net.nodes.len()).map(|i| net.macs(i)).sum();
    let all: Vec<NodeId> = (0..net.nodes.len()).collect();
    let infer = memory::plan_inference(net, fusion::steps(net, &all, net.output, true));
    let (folds, folded_count) = folds(net, &params, param_count, &infer.steps);

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
    let train_steps = fusion::steps(net, &train_nodes, train_output, false);
    let train = memory::plan_training(net, train_steps, train_output, head);
    let mut plan = Plan {
        params,
        param_count,
        folds,
        prepared: Vec::new(),
        infer_param_count: folded_count,
        macs,
        infer,
        train,
    };
    let (prepared, infer_param_count) = prepare(net, &plan, folded_count);
    plan.prepared = prepared;
    plan.infer_param_count = infer_param_count;
    plan
}

/// The weights of the inference steps prepared once, placed after the
/// folded tensors (from `offset`); and the length of the inference
/// parameters.
fn prepare(net: &Network, plan: &Plan, mut offset: usize) -> (Vec<Prepared>, usize) {
    let mut prepared = Vec::new();
    for step in &plan.infer.steps {
        let Some(len) = step.layer.prepared_len(step.shapes) else {
            continue;
        };
        let source = plan.infer_params_of(step)[0].clone();
        let node = step.nodes[0];
        let slot = ParamSlot {
            name: format!("{} (prepared)", net.nodes[node].tensors),
            node,
            spec: ParamSpec {
                suffix: "prepared_weight",
                shape: vec![len],
                ..source.spec.clone()
            },
            offset,
            len,
        };
        offset += len;
        prepared.push(Prepared { node, source, slot });
    }
    (prepared, offset)
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

/// The folds of the inference steps, their tensors placed after the
/// network's parameters; and the length of the inference parameters.
fn folds(
    net: &Network,
    params: &[ParamSlot],
    param_count: usize,
    steps: &[Step],
) -> (Vec<Fold>, usize) {
    let mut folds = Vec::new();
    let mut offset = param_count;
    for step in steps {
        let Some(norm) = step.folded else { continue };
        let layer = step.nodes[0];
        let of = |node: NodeId| -> Vec<ParamSlot> {
            params.iter().filter(|p| p.node == node).cloned().collect()
        };
        let source = of(layer);
        let bn = of(norm);
        let stats = [0, 1, 2, 3].map(|i| bn[i].clone());
        let eps = net.nodes[norm]
            .layer
            .as_any()
            .downcast_ref::<BatchNorm>()
            .expect("only batch normalisations fold")
            .eps();
        let weight = &source[0];
        let channels = weight.spec.shape[0];
        let per_channel = weight.len / channels;
        let tensor = |suffix: &'static str, shape: Vec<usize>, offset: usize| {
            let len = shape.iter().product();
            ParamSlot {
                name: format!("{} (folded)", net.nodes[layer].tensors),
                node: layer,
                spec: ParamSpec {
                    suffix,
                    shape,
                    ..weight.spec.clone()
                },
                offset,
                len,
            }
        };
        let w = tensor("folded_weight", weight.spec.shape.clone(), offset);
        let b = tensor("folded_bias", vec![channels], offset + w.len);
        offset += w.len + b.len;
        folds.push(Fold {
            source,
            norm,
            stats,
            eps,
            channels,
            per_channel,
            weight: w,
            bias: b,
        });
    }
    (folds, offset)
}

/// The batch tail of the inference plan: the last steps, from `step` on,
/// that each use every weight they read at most once per sample (dense
/// layers, and steps without weights: activations, pools, softmax,
/// flatten). Batched inference runs them on a whole group of samples at a
/// time, so that the weights are read once per group and not once per
/// sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchTail {
    /// The first step of the tail.
    pub step: usize,
    /// The only value the tail reads that earlier steps wrote: the first
    /// step's input, at this region of a one-sample arena.
    pub input: Region,
    /// Inference parameters the tail's steps read.
    pub params: usize,
}

impl Plan {
    /// The longest tail of the inference plan whose steps do no more
    /// multiply-accumulates per sample than they read weights, and that
    /// reads only one value earlier steps wrote (kept whole in the arena);
    /// `None` when the last step is not such a step.
    pub fn batch_tail(&self, net: &Network) -> Option<BatchTail> {
        let steps = &self.infer.steps;
        let light = |s: &Step| {
            let macs: u64 = s.nodes.iter().map(|&n| net.macs(n)).sum();
            let params: usize = self.infer_params_of(s).iter().map(|p| p.len).sum();
            macs <= params as u64
        };
        let mut first = steps.len();
        while first > 0 && light(&steps[first - 1]) {
            first -= 1;
        }
        // The first boundary at which one whole value crosses.
        (first..steps.len()).find_map(|k| {
            let input = steps[k].input();
            let produced: Vec<ValueId> = steps[k..].iter().map(|s| s.output).collect();
            let crossing = steps[k..]
                .iter()
                .flat_map(|s| s.inputs.iter().copied())
                .all(|v| v == input || produced.contains(&v));
            if !crossing || !matches!(self.infer.place(input), Loc::Arena(_)) {
                return None;
            }
            let params = steps[k..]
                .iter()
                .flat_map(|s| self.infer_params_of(s))
                .map(|p| p.len)
                .sum();
            Some(BatchTail {
                step: k,
                input: self.infer.region(input),
                params,
            })
        })
    }
}

#[cfg(test)]
mod tests;
