//! One module per layer kind, each implementing [`Layer`]: its argument
//! schema and reading ([`Kind`]), shape inference, parameters with their
//! roles, fusion with the layer after it, what its forward pass keeps for
//! the backward pass, and the kernel calls it lowers to.
//!
//! The planner and the code generator only ever talk to layers through this
//! trait; adding a layer kind is adding a module here and its line in
//! [`KINDS`] (see ARCHITECTURE.md).

mod activation;
mod conv;
mod dense;
mod dropout;
mod flatten;
mod layer;
mod lrn;
mod pool;
mod softmax;
mod tokens;

pub use layer::*;

/// Every layer kind, in the order error messages list them.
pub const KINDS: &[Kind] = &[
    conv::KIND,
    dense::KIND,
    pool::MAX_POOL,
    pool::AVG_POOL,
    pool::GLOBAL_AVG_POOL,
    flatten::KIND,
    activation::RELU,
    activation::SIGMOID,
    activation::TANH,
    softmax::KIND,
    dropout::KIND,
    lrn::KIND,
];

/// The kind called `keyword`.
pub fn find(keyword: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.keyword == keyword)
}

/// Every keyword, for "unknown layer" messages and suggestions.
pub fn keywords() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.keyword).collect()
}
