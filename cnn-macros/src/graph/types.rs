//! The value graph's types.

use std::rc::Rc;

use proc_macro2::TokenStream;
use syn::Ident;

use crate::layers::Layer;
use crate::shape::Shape;

pub type ValueId = usize;
pub type NodeId = usize;

/// The network's input value.
pub const INPUT: ValueId = 0;

/// Largest parameter count or output length of one layer.
pub const MAX_LAYER_LEN: usize = 1 << 34;

/// Most multiply-accumulates of one layer, so that the network's total
/// cannot overflow a `u64`.
pub const MAX_LAYER_MACS: usize = 1 << 50;

/// One layer of the graph.
#[derive(Debug)]
pub struct Node {
    /// The layer's full name: dotted through the blocks and named sequences
    /// it sits in (`inception3a.branch2.0.conv`).
    pub name: String,
    /// The prefix of its tensors' names (`inception3a.branch2.0.conv` in
    /// `inception3a.branch2.0.conv.weight`): its name, unless an `as
    /// "prefix"` says otherwise.
    pub tensors: String,
    pub layer: Rc<dyn Layer>,
    /// The values it reads.
    pub inputs: Vec<ValueId>,
    /// The value it produces.
    pub output: ValueId,
    /// The layer's tokens, for errors spanned on it.
    pub tokens: TokenStream,
}

/// One value: a tensor per sample.
#[derive(Clone, Debug)]
pub struct ValueInfo {
    pub shape: Shape,
    /// The node producing it (`None` for the network's input).
    pub producer: Option<NodeId>,
    /// The nodes reading it, in order.
    pub consumers: Vec<NodeId>,
}

/// A checked network: its declaration data and its graph.
pub struct Network {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub name: Ident,
    pub fuse: bool,
    /// `#[cnn(fuse_overlapping = true)]`: fuse overlapping max-pools, and
    /// max-pools after Winograd convolutions, too.
    pub fuse_overlapping: bool,
    pub krate: TokenStream,
    pub nodes: Vec<Node>,
    pub values: Vec<ValueInfo>,
    /// The value the network returns.
    pub output: ValueId,
}

impl Network {
    pub fn input(&self) -> Shape {
        self.values[INPUT].shape
    }

    pub fn output(&self) -> Shape {
        self.values[self.output].shape
    }

    /// The shape node `i` reads (its first input).
    pub fn in_shape(&self, i: NodeId) -> Shape {
        self.values[self.nodes[i].inputs[0]].shape
    }

    /// The shape node `i` produces.
    pub fn out_shape(&self, i: NodeId) -> Shape {
        self.values[self.nodes[i].output].shape
    }

    /// Parameter count of node `i`.
    pub fn param_count(&self, i: NodeId) -> usize {
        self.nodes[i]
            .layer
            .params(self.in_shape(i))
            .iter()
            .map(|p| p.shape.iter().product::<usize>())
            .sum()
    }

    /// Multiply-accumulates of node `i` for one sample.
    pub fn macs(&self, i: NodeId) -> u64 {
        self.nodes[i]
            .layer
            .macs(self.in_shape(i), self.out_shape(i))
    }
}

/// What is known of a declaration that has errors, so that the stub the
/// macro emits in its place still has the right input and output sizes
/// where they can be told.
#[derive(Clone, Copy, Debug, Default)]
pub struct Partial {
    pub input: Option<Shape>,
    pub output: Option<Shape>,
}
