//! Fusion: a rewrite of the graph into steps. A node absorbs the node that
//! reads its output when that output has no other consumer (and is not
//! what the plan returns) and the layer has a fused kernel for the pair
//! (conv → ReLU → max-pool, dense → activation). At inference a batch
//! normalisation right after a conv or dense layer is folded into it
//! first (`Layer::fold`), so conv → batch norm → ReLU → max-pool is one
//! kernel too.

use std::rc::Rc;

use super::step::Step;
use crate::graph::{Network, NodeId, ValueId};
use crate::layers::{Fuse, Shapes};

/// The steps computing `nodes` (in topological order), whose result is
/// the value `output`, at inference or for training.
pub fn steps(net: &Network, nodes: &[NodeId], output: ValueId, inference: bool) -> Vec<Step> {
    let fuse = Fuse {
        overlapping: net.fuse_overlapping,
    };
    let mut absorbed = vec![false; net.nodes.len()];
    let mut steps = Vec::new();
    for &id in nodes {
        if absorbed[id] {
            continue;
        }
        let node = &net.nodes[id];
        let in_shape = net.values[node.inputs[0]].shape;
        let mut layer = Rc::clone(&node.layer);
        let mut covered = vec![id];
        let mut out = node.output;
        let mut folded = None;
        // Only single-input steps fuse (a merge reads several values).
        while net.fuse && out != output && node.inputs.len() == 1 {
            let [next] = net.values[out].consumers[..] else {
                break;
            };
            if !nodes.contains(&next) || net.nodes[next].inputs != [out] {
                break;
            }
            let next_layer = &*net.nodes[next].layer;
            let fold = inference
                .then(|| layer.fold(in_shape, next_layer))
                .flatten();
            if fold.is_some() {
                folded = Some(next);
            }
            let Some(fused) = fold.or_else(|| layer.fuse(in_shape, next_layer, fuse)) else {
                break;
            };
            layer = Rc::from(fused);
            absorbed[next] = true;
            covered.push(next);
            out = net.nodes[next].output;
        }
        steps.push(Step {
            nodes: covered,
            layer,
            inputs: node.inputs.clone(),
            output: out,
            shapes: Shapes {
                input: in_shape,
                output: net.values[out].shape,
            },
            folded,
        });
    }
    steps
}
