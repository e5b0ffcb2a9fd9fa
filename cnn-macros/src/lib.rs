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
mod shape;
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
        let generated = graph::build(decl, &invocation.blocks, &mut diag).and_then(|net| {
            if int8::wanted(decl) {
                return int8::expand(decl, &net, &mut diag).ok_or(graph::Partial {
                    input: Some(net.input()),
                    output: Some(net.output()),
                });
            }
            let plan = plan::plan(&net);
            let embedded = weights::embed(decl, &net, &plan, &mut diag).ok_or(graph::Partial {
                input: Some(net.input()),
                output: Some(net.output()),
            })?;
            Ok(emit::emit(&net, &plan, embedded))
        });
        let stub = if int8::wanted(decl) {
            int8::stub
        } else {
            emit::emit_stub
        };
        match generated {
            Ok(tokens) if diag.len() == errors_before => out.extend(tokens),
            Ok(_) => out.extend(stub(decl, graph::Partial::default())),
            Err(known) => out.extend(stub(decl, known)),
        }
    }
    out.extend(diag.to_compile_errors());
    out
}

#[cfg(test)]
mod golden;
