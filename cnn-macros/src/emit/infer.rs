//! Inference: one straight-line function calling the kernels of the
//! inference plan on named regions of the caller's arena.

use proc_macro2::TokenStream;
use quote::quote;

use super::module::{Module, Names};
use super::tokens::{mentions, module_name, runtime, Borrows, View};
use crate::graph::{Network, ValueId};
use crate::layers::{Data, Exec, Forward};
use crate::plan::{Loc, Plan};

/// The view of value `v` at `loc` in the inference arena.
fn view(net: &Network, names: &Names, module: &mut Module, v: ValueId, loc: Loc) -> View {
    let name = names.value(net, v);
    match loc {
        Loc::Arena(r) => View::Region(module.region("infer", &name, r)),
        Loc::Slot { concat, slot } => {
            let c = net.values[v].consumers[0];
            let concat_name = names.value(net, net.nodes[c].output);
            View::Slot {
                concat: module.region("infer", &concat_name, concat),
                slot: module.region("infer", &name, slot),
            }
        }
        Loc::Input | Loc::Output => unreachable!("inference keeps everything in the arena"),
    }
}

pub fn emit(net: &Network, plan: &Plan, names: &Names, module: &mut Module) -> TokenStream {
    let rt = quote!(v1);
    let ip = &plan.infer;
    let len = |v: ValueId| net.values[v].shape.len();
    let mut calls = Vec::new();
    for step in &ip.steps {
        let exec = step.exec(false);
        let (input, output) = (ip.place(step.input()), ip.place(step.output));
        match exec {
            Exec::View => continue,
            Exec::Concat => {
                // The inputs not already in their slots are copied there.
                let mut offset = 0;
                for &u in &step.inputs {
                    let at = offset;
                    offset += len(u);
                    if ip.place(u).is_slot() {
                        continue;
                    }
                    let (start, _) = ip.region(step.output);
                    let slot = Loc::Slot {
                        concat: ip.region(step.output),
                        slot: (start + at, start + at + len(u)),
                    };
                    let mut b = Borrows::new();
                    let x = b.read("x", "a", view(net, names, module, u, ip.place(u)), len(u));
                    let into = slot_view(net, names, module, step.output, u, slot);
                    let y = b.write("y", "a", into, len(u));
                    calls.push(b.run(&rt, quote!(#y.copy_from_slice(#x);)));
                }
                continue;
            }
            _ => {}
        }
        let mut b = Borrows::new();
        let data = if exec == Exec::InPlace && input == output && !input.is_slot() {
            let v = view(net, names, module, step.output, output);
            Data::InPlace(b.write("y", "a", v, step.out_len()))
        } else {
            let v = view(net, names, module, step.input(), input);
            let x = b.read("x", "a", v, step.in_len());
            let v = view(net, names, module, step.output, output);
            Data::Separate {
                x,
                y: b.write("y", "a", v, step.out_len()),
            }
        };
        let others = step.inputs[1..]
            .iter()
            .enumerate()
            .map(|(i, &u)| {
                let v = view(net, names, module, u, ip.place(u));
                b.read(&format!("x{}", i + 2), "a", v, len(u))
            })
            .collect();
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
                others,
                params,
                desc,
                seed: None,
                stats: None,
            },
        );
        let run = b.run(&rt, call);
        calls.push(quote!({ #run }));
    }
    let v1 = runtime(&net.krate);
    let module = module_name(net);
    let body = quote!(#(#calls)*);
    let scratch = if mentions(&body, "scratch") {
        quote!(scratch)
    } else {
        quote!(_)
    };
    let unused_w = (!mentions(&body, "w")).then(|| quote!(let _ = w;));
    quote! {
        /// Inference of `n` samples in an arena of `n * ACTIVATION_LEN`
        /// floats (the inputs at `n *` their region) and then the scratch.
        #[doc(hidden)]
        pub fn forward_arena_impl(w: &[f32], arena: &mut [f32], n: usize) {
            use #v1;
            #[allow(unused_imports)]
            use #module::*;
            #unused_w
            let (a, #scratch) = arena.split_at_mut(n * Self::ACTIVATION_LEN);
            #body
        }
    }
}

/// The view of the slot of `concat_value` that input `u` fills.
pub fn slot_view(
    net: &Network,
    names: &Names,
    module: &mut Module,
    concat_value: ValueId,
    u: ValueId,
    slot: Loc,
) -> View {
    let Loc::Slot { concat, slot } = slot else {
        unreachable!("a slot")
    };
    View::Slot {
        concat: module.region("infer", &names.value(net, concat_value), concat),
        slot: module.region("infer", &names.slot(net, u), slot),
    }
}
