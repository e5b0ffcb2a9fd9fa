//! Pass 2: the value graph, shape inference and every semantic check.
//!
//! Values are the tensors of one sample: value 0 is the network's input,
//! and every node (a layer) reads the values listed in its `inputs` and
//! produces one value. Nodes are in topological order. Sequences chain
//! their items; a merge (`concat`, `add`) gives every branch the same input
//! value and reads their outputs; a block instance is its body built in a
//! scope of its own. The passes after this one work on values and their
//! consumers, never on list positions.

mod build;
mod input;
mod names;
mod types;

pub use build::build;
pub use types::*;

#[cfg(test)]
mod tests;
