//! Inference: one straight-line function calling the kernels of the
//! inference plan on named regions of the caller's arena.

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::module::{Module, Names};
use super::tokens::{module_name, runtime, Borrows};
use crate::graph::Network;
use crate::layers::{Data, Exec, Forward};
use crate::plan::Plan;

pub fn emit(net: &Network, plan: &Plan, names: &Names, module: &mut Module) -> TokenStream {
    let rt = quote!(v1);
    let a = Ident::new("a", Span::call_site());
    let ip = &plan.infer;
    let mut calls = Vec::new();
    for step in &ip.steps {
        let exec = step.exec(false);
        if exec == Exec::View {
            continue;
        }
        let (input, output) = (ip.region(step.input), ip.region(step.output));
        let mut b = Borrows::new();
        let data = if exec == Exec::InPlace && input == output {
            let r = module.region("infer", &names.value(net, step.output), output);
            Data::InPlace(quote!(#rt::region_mut(#a, n, #r)))
        } else {
            let x = module.region("infer", &names.value(net, step.input), input);
            let y = module.region("infer", &names.value(net, step.output), output);
            Data::Separate {
                x: b.read("x", x),
                y: b.write("y", y),
            }
        };
        let params = plan
            .params_of(step)
            .into_iter()
            .map(|p| {
                let r = module.param(names, p);
                quote!(&w[#r])
            })
            .collect();
        let desc = module.kernel(names, step);
        let call = step.layer.forward(
            step.shapes,
            Forward {
                rt: &rt,
                data,
                aux: None,
                side: None,
                params,
                desc,
                seed: None,
            },
        );
        let bind = b.bind(&rt, &a);
        calls.push(quote!({ #bind #call }));
    }
    let v1 = runtime(&net.krate);
    let module = module_name(net);
    quote! {
        /// Inference of `n` samples in an arena of `n * ACTIVATION_LEN`
        /// floats (the inputs at `n *` their region) and then the scratch.
        #[doc(hidden)]
        pub fn forward_arena_impl(w: &[f32], arena: &mut [f32], n: usize) {
            use #v1;
            #[allow(unused_imports)]
            use #module::*;
            let (#a, scratch) = arena.split_at_mut(n * Self::ACTIVATION_LEN);
            #(#calls)*
        }
    }
}
