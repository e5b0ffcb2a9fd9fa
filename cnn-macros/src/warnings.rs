//! Warnings: advice about a network that compiles but may not train as
//! expected. A proc macro cannot emit a warning on stable Rust, so each one
//! is the use of a deprecated item whose note is the advice, spanned on the
//! layer concerned; `#[cnn(allow(name))]` silences it.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::NetworkDecl;
use crate::graph::{Network, NodeId};
use crate::layers::{BatchNorm, Dropout};

/// The warnings of `net`, as items to put next to its generated code.
pub fn warnings(decl: &NetworkDecl, net: &Network) -> TokenStream {
    let mut out = TokenStream::new();
    let allowed = |name: &str| decl.options.allow.iter().any(|a| a == name);
    if !allowed("batch_norm_with_dropout") {
        if let Some((dropout, norm)) = dropout_before_batch_norm(net) {
            let note = format!(
                "network `{}`: dropout `{}` comes before batch norm `{}`. Dropout scales the \
                 values it keeps by 1/(1-p) in training only, so the variance the batch norm's \
                 running statistics learn in training is not the one it sees in inference (a \
                 \"variance shift\" that costs accuracy), and batch norm regularises on its \
                 own. Remove the dropout or move it after the last batch norm (as ResNet and \
                 GoogLeNet place theirs, before the classifier); silence this warning with \
                 #[cnn(allow(batch_norm_with_dropout))]",
                net.name, net.nodes[dropout].name, net.nodes[norm].name
            );
            let span = net.nodes[dropout].tokens.span();
            out.extend(warning("batch_norm_with_dropout", &note, span));
        }
    }
    out
}

/// The first dropout node with a batch norm downstream of it, and that
/// batch norm.
fn dropout_before_batch_norm(net: &Network) -> Option<(NodeId, NodeId)> {
    let is = |n: NodeId, f: fn(&dyn std::any::Any) -> bool| f(net.nodes[n].layer.as_any());
    (0..net.nodes.len())
        .filter(|&d| is(d, |l| l.is::<Dropout>()))
        .find_map(|d| {
            // Nodes only read values produced before them: a forward walk.
            let mut reached = vec![false; net.nodes.len()];
            reached[d] = true;
            (d + 1..net.nodes.len())
                .find(|&n| {
                    reached[n] = net.nodes[n]
                        .inputs
                        .iter()
                        .any(|&v| net.values[v].producer.is_some_and(|p| reached[p]));
                    reached[n] && is(n, |l| l.is::<BatchNorm>())
                })
                .map(|n| (d, n))
        })
}

/// A deprecated unit struct named `name`, used at `span`: rustc warns there
/// with `note`.
fn warning(name: &str, note: &str, span: Span) -> TokenStream {
    let ident = syn::Ident::new(name, Span::call_site());
    let used = syn::Ident::new(name, span);
    let use_it = quote_spanned!(span=> let _ = #used;);
    quote! {
        const _: () = {
            #[deprecated(note = #note)]
            #[allow(non_camel_case_types)]
            struct #ident;
            #use_it
        };
    }
}
