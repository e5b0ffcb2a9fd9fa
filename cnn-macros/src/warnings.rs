//! Warnings: advice about a network that compiles but may not train as
//! expected. A proc macro cannot emit a warning on stable Rust, so each one
//! is the use of a deprecated item whose note is the advice, spanned on the
//! layer concerned; `#[cnn(allow(name))]` silences it.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::ast::NetworkDecl;
use crate::graph::Network;
use crate::layers::{BatchNorm, Dropout};

/// The warnings of `net`, as items to put next to its generated code.
pub fn warnings(decl: &NetworkDecl, net: &Network) -> TokenStream {
    let mut out = TokenStream::new();
    let allowed = |name: &str| decl.options.allow.iter().any(|a| a == name);
    let first = |is: fn(&dyn std::any::Any) -> bool| {
        net.nodes
            .iter()
            .find(|n| is(n.layer.as_any()))
            .map(|n| (n.name.clone(), n.tokens.span()))
    };
    let norm = first(|l| l.is::<BatchNorm>());
    let dropout = first(|l| l.is::<Dropout>());
    if let (Some((norm, _)), Some((dropout, span)), false) =
        (norm, dropout, allowed("batch_norm_with_dropout"))
    {
        let note = format!(
            "network `{}` has both batch norm (`{norm}`) and dropout (`{dropout}`): a dropout \
             before a batch norm changes the variance of the values it sees in training but not \
             in inference, so its running statistics no longer fit (a \"variance shift\"), and \
             batch norm regularises on its own, so dropout is often unnecessary. Remove the \
             dropout, or keep it only after the last batch norm and silence this warning with \
             #[cnn(allow(batch_norm_with_dropout))]",
            net.name
        );
        out.extend(warning("batch_norm_with_dropout", &note, span));
    }
    out
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
