//! Weights compiled into the binary: `#[cnn(weights = "file.safetensors")]`.

use proc_macro2::TokenStream;

use crate::diag::Diagnostics;
use crate::graph::Network;
use crate::parse::NetworkDecl;
use crate::plan::Plan;

/// The items that embed the network's weights, `Some(empty)` when the
/// network has no `weights` option, `None` after an error.
pub fn embed(
    decl: &NetworkDecl,
    _net: &Network,
    _plan: &Plan,
    diag: &mut Diagnostics,
) -> Option<Option<TokenStream>> {
    match &decl.options.weights {
        None => Some(None),
        Some(path) => {
            diag.error(path, "compiled-in weights are not supported yet");
            None
        }
    }
}
