//! One module per layer kind, each implementing [`Layer`]: its argument
//! schema and reading ([`Kind`]), shape inference, parameters with their
//! roles, fusion with the layer after it, what its forward pass keeps for
//! the backward pass, and the kernel calls it lowers to.
//!
//! The planner and the code generator only ever talk to layers through this
//! trait; adding a layer kind is adding a module here and its line in
//! [`KINDS`] (see ARCHITECTURE.md).

mod activation;
mod batch_norm;
mod conv;
mod dense;
mod dropout;
mod flatten;
mod identity;
mod layer;
mod lrn;
mod merge;
mod pool;
mod softmax;
mod tokens;

pub use activation::Activation;
pub use batch_norm::BatchNorm;
pub use conv::Conv;
pub use dense::Dense;
pub use dropout::Dropout;
pub use layer::*;
pub use merge::{Add, Concat};
pub use pool::{AvgPool, MaxPool};

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
    batch_norm::KIND,
    identity::KIND,
];

/// The kind called `keyword`, or one of its aliases.
pub fn find(keyword: &str) -> Option<&'static Kind> {
    KINDS
        .iter()
        .find(|k| k.keyword == keyword || k.aliases.contains(&keyword))
}

/// Every keyword, for "unknown layer" messages.
pub fn keywords() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.keyword).collect()
}

/// The keyword a misspelt layer kind is closest to: by its keywords and
/// aliases, each alias standing for its keyword.
pub fn suggestion(word: &str) -> Option<&'static str> {
    let spellings: Vec<&str> = KINDS
        .iter()
        .flat_map(|k| std::iter::once(k.keyword).chain(k.aliases.iter().copied()))
        .collect();
    // Case does not make a spelling: `maxPool2D` is close to `MaxPool2D`.
    let lower: Vec<String> = spellings.iter().map(|s| s.to_lowercase()).collect();
    let lower_refs: Vec<&str> = lower.iter().map(String::as_str).collect();
    let best = crate::diag::closest(&word.to_lowercase(), &lower_refs)?;
    let i = lower_refs.iter().position(|s| *s == best)?;
    find(spellings[i]).map(|k| k.keyword)
}
