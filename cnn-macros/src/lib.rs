//! The `network!` procedural macro. See the `cnn` crate for the grammar
//! and the generated API, and ARCHITECTURE.md for how the passes fit.
//!
//! The macro is a pipeline of passes, each in its own module and each unit
//! tested on `proc_macro2` token streams without the compiler:
//! `parse` (grammar → `ast` with spans), `graph` (the value graph, shape
//! inference, semantic checks, by the layer kinds in `layers`), `plan`
//! (fusion, parameter layout, memory plans), `weights` (compile-time
//! safetensors), `emit` (the generated Rust); `int8` lowers, checks, packs
//! and emits a network declared with `dtype = "int8"`.

use proc_macro::TokenStream;

mod args;
mod ast;
mod diag;
mod emit;
mod graph;
mod int8;
mod layers;
mod parse;
mod plan;
mod preprocess;
mod shape;
mod warnings;
mod weights;

/// Declares one or more convolutional networks.
///
/// Use it through the `cnn` crate (`cnn::network!`), whose documentation
/// of `network!` is the grammar reference: every layer, argument,
/// spelling and option, sequences, branches (`concat`, `add`), blocks,
/// `as "prefix"`, and the items generated on a network's type, with
/// examples that run.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    expand(input.into()).into()
}

/// Primitive types a network's name must not hide.
const PRIMITIVES: &[&str] = &[
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64",
    "i128", "isize", "f32", "f64",
];

fn expand(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let mut diag = diag::Diagnostics::default();
    let mut invocation = parse::parse_invocation(input, &mut diag);
    let mut out = proc_macro2::TokenStream::new();
    let mut seen: Vec<String> = Vec::new();
    for decl in &mut invocation.networks {
        // The items are generated `pub` inside the network's own module
        // and re-exported with the declared visibility (see `wrap`).
        let vis = std::mem::replace(&mut decl.vis, syn::parse_quote!(pub));
        let decl = &*decl;
        let name = decl.name.to_string();
        if seen.contains(&name) {
            diag.error(
                &decl.name,
                format!("network `{name}` is declared twice in this invocation"),
            );
            continue;
        }
        seen.push(name.clone());
        if PRIMITIVES.contains(&name.as_str()) {
            diag.error(
                &decl.name,
                format!(
                    "a network cannot be named `{name}`: the struct would hide the primitive \
                     type `{name}` that its generated code uses; choose another name"
                ),
            );
            continue;
        }
        let errors_before = diag.len();
        let generated = graph::build(decl, &invocation.blocks, &mut diag).and_then(|net| {
            if int8::wanted(decl) {
                return int8::expand(decl, &net, &mut diag).ok_or(graph::Partial {
                    input: Some(net.input()),
                    output: Some(net.output()),
                });
            }
            let warnings = warnings::warnings(decl, &net);
            let plan = plan::plan(&net);
            let embedded = weights::embed(decl, &net, &plan, &mut diag).ok_or(graph::Partial {
                input: Some(net.input()),
                output: Some(net.output()),
            })?;
            let mut tokens = emit::emit(&net, &plan, embedded);
            tokens.extend(warnings);
            Ok(tokens)
        });
        let stub = if int8::wanted(decl) {
            int8::stub
        } else {
            emit::emit_stub
        };
        let items = match generated {
            Ok(tokens) if diag.len() == errors_before => tokens,
            Ok(_) => stub(decl, graph::Partial::default()),
            Err(known) => stub(decl, known),
        };
        out.extend(wrap(decl, &vis, items));
    }
    out.extend(diag.to_compile_errors());
    out
}

/// Puts one network's generated items in a module of their own,
/// `__cnn_<Name>`, re-exported with a glob under the declared visibility.
///
/// A network declared twice in one scope (in two invocations) then makes
/// one error, the module's name defined twice, spanned on the second
/// declaration's name, instead of one per generated item: both globs name
/// the first module, and the second module's items and impls are its own.
/// A glob is shadowed silently by a user's item of the same name, so the
/// arena type's name is checked to be the network's (`ArenaOf`).
fn wrap(
    decl: &ast::NetworkDecl,
    vis: &syn::Visibility,
    items: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    use quote::{format_ident, quote};
    use syn::ext::IdentExt;
    let name = &decl.name;
    let module = format_ident!("__cnn_{}", name.unraw(), span = name.span());
    let arena = format_ident!("{}Arena", name.unraw(), span = name.span());
    let rt = emit::runtime(&decl.options.krate());
    // The module's whole definition carries the name's span, so that a
    // second definition is reported on the second declaration's name.
    let module_item = quote::quote_spanned! {name.span()=>
        #[allow(non_snake_case)]
        mod #module {
            #[allow(unused_imports)]
            use super::*;
            #items
            impl #rt::ArenaOf<#name> for #arena {}
        }
    };
    quote! {
        #module_item
        #[allow(unused_imports)]
        #vis use #module::*;
        const _: () = #rt::assert_arena::<#name, #arena>();
    }
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod golden;
