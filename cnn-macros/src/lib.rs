//! The `network!` procedural macro. See the `cnn` crate for the grammar
//! and the generated API.
//!
//! The macro is a pipeline of passes, each in its own module and each unit
//! tested on `proc_macro2` token streams without the compiler:
//! `parse` (grammar → AST with spans), `graph` (DAG, shape inference,
//! semantic checks), `plan` (fusion, parameter layout, memory plans),
//! `weights` (compile-time safetensors), `emit` (the generated Rust).

use proc_macro::TokenStream;

mod args;
mod diag;
mod emit;
mod graph;
mod parse;
mod plan;
mod weights;

/// Declares one or more convolutional networks. See the `cnn` crate's
/// documentation for the grammar and what is generated.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    expand(input.into()).into()
}

fn expand(input: proc_macro2::TokenStream) -> proc_macro2::TokenStream {
    let mut diag = diag::Diagnostics::default();
    let invocation = parse::parse_invocation(input, &mut diag);
    let mut out = proc_macro2::TokenStream::new();
    let mut seen: Vec<String> = Vec::new();
    for decl in &invocation.networks {
        let name = decl.name.to_string();
        if seen.contains(&name) {
            diag.error(
                &decl.name,
                format!("network `{name}` is declared twice in this invocation"),
            );
            continue;
        }
        seen.push(name);
        let errors_before = diag.len();
        let generated = graph::build(decl, &mut diag).and_then(|net| {
            let plan = plan::plan(&net);
            let embedded = weights::embed(decl, &net, &plan, &mut diag)?;
            Some(emit::emit(&net, &plan, embedded))
        });
        match generated {
            Some(tokens) if diag.len() == errors_before => out.extend(tokens),
            _ => out.extend(emit::emit_stub(&decl.vis, &decl.name)),
        }
    }
    out.extend(diag.to_compile_errors());
    out
}
