//! Inference: one straight-line function calling the kernels of the
//! inference plan on named regions of the caller's arena.

use proc_macro2::TokenStream;
use quote::quote;

use super::module::{Module, Names};
use super::tokens::{lit, mentions, module_name, runtime, Borrows, View};
use crate::graph::{Network, ValueId};
use crate::layers::{Data, Exec, Forward, InnerForward};
use crate::plan::{Loc, ParamSlot, Plan};

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
    let ip = &plan.infer;
    let mut calls = Vec::new();
    for (k, step) in ip.steps.iter().enumerate() {
        let exec = step.exec(false);
        if exec == Exec::View {
            continue;
        }
        // `forward_steps_impl` stops before the first step after `last`,
        // and skips the steps before `first`.
        let at = lit(k);
        if k > 0 {
            calls.push(quote!(if last < #at { return; }));
        }
        let run = step_calls(net, plan, names, module, step);
        let from = if k == 0 {
            quote!(first == 0)
        } else {
            quote!(first <= #at)
        };
        calls.push(quote!(if #from { #(#run)* }));
    }
    let fold = fold(net, plan, names, module);
    let inner = inner(net, plan, names, module);
    let v1 = runtime(&net.krate);
    let module = module_name(net);
    let body = quote!(#(#calls)*);
    let scratch = if mentions(&body, "scratch") {
        quote!(scratch)
    } else {
        quote!(_)
    };
    let unused_w = (!mentions(&body, "w")).then(|| quote!(let _ = w;));
    let unused_last = (!mentions(&body, "last")).then(|| quote!(let _ = last;));
    let unused_first = (!mentions(&body, "first")).then(|| quote!(let _ = first;));
    quote! {
        #fold

        /// Inference of `n` samples in an arena of `n * ACTIVATION_LEN`
        /// floats (the inputs at `n *` their region) and then the scratch.
        /// `w` holds the inference parameters (`INFER_PARAM_COUNT`).
        #[doc(hidden)]
        #[inline]
        pub fn forward_arena_impl(w: &[f32], arena: &mut [f32], n: usize) {
            Self::forward_until_impl(w, arena, n, usize::MAX)
        }

        /// As `forward_arena_impl`, stopping after step `last` of `PLAN`.
        #[doc(hidden)]
        #[inline]
        pub fn forward_until_impl(w: &[f32], arena: &mut [f32], n: usize, last: usize) {
            Self::forward_steps_impl(w, arena, n, 0, last)
        }

        /// As `forward_until_impl`, starting at step `first` of `PLAN`:
        /// what the steps before it wrote must already be in `arena`.
        #[doc(hidden)]
        pub fn forward_steps_impl(w: &[f32], arena: &mut [f32], n: usize, first: usize, last: usize) {
            use #v1;
            #[allow(unused_imports)]
            use #module::*;
            #unused_w
            #unused_last
            #unused_first
            let (a, #scratch) = arena.split_at_mut(n * Self::ACTIVATION_LEN);
            #body
        }

        #inner
    }
}

/// The kernel calls of inference step `step` (not a view).
fn step_calls(
    net: &Network,
    plan: &Plan,
    names: &Names,
    module: &mut Module,
    step: &crate::plan::Step,
) -> Vec<TokenStream> {
    let rt = quote!(v1);
    let ip = &plan.infer;
    let len = |v: ValueId| net.values[v].shape.len();
    let exec = step.exec(false);
    let (input, output) = (ip.place(step.input()), ip.place(step.output));
    let mut calls = Vec::new();
    if exec == Exec::Concat {
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
        return calls;
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
    let params = weight_refs(names, module, plan.infer_params_of(step));
    let prepared = plan.prepared_of(step).map(|p| {
        let r = module.param(names, &p.slot);
        quote!(&w[#r])
    });
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
            prepared,
        },
    );
    let run = b.run(&rt, call);
    calls.push(quote!({ #run }));
    calls
}

/// `forward_inner_impl(w, arena, n, layer, out)`: the output of a layer
/// inside a fused step (index `layer` in `LAYERS`), which inference never
/// stores, for the `n` samples whose step input `forward_until_impl` left
/// in `arena`, written to `out`; `false` for any other layer.
fn inner(net: &Network, plan: &Plan, names: &Names, module: &mut Module) -> TokenStream {
    let rt = quote!(v1);
    let ip = &plan.infer;
    let mut arms = Vec::new();
    let mut inner_nodes = Vec::new();
    for step in &ip.steps {
        let Some((_, inner)) = step.nodes.split_last() else {
            continue;
        };
        if inner.is_empty() || step.exec(false) != Exec::Call {
            continue;
        }
        let own = weight_refs(
            names,
            module,
            plan.params.iter().filter(|p| p.node == step.nodes[0]),
        );
        let params = weight_refs(names, module, plan.infer_params_of(step));
        let desc = module.kernel(names, step);
        for (at, &node) in inner.iter().enumerate() {
            let len = net.values[net.nodes[node].output].shape.len();
            let mut b = Borrows::new();
            let v = view(net, names, module, step.input(), ip.place(step.input()));
            let x = b.read("x", "a", v, step.in_len());
            let y = b.write("y", "a", View::Caller(quote!(&mut *out)), len);
            let call = step.layer.inner_forward(
                step.shapes,
                InnerForward {
                    rt: &rt,
                    at,
                    folded: step.folded == Some(node),
                    x,
                    y,
                    own: own.clone(),
                    params: params.clone(),
                    desc: desc.clone(),
                },
            );
            if let Some(call) = call {
                let run = b.run(&rt, call);
                let node = lit(node);
                arms.push(quote!(#node => { #run }));
                inner_nodes.push(node);
            }
        }
    }
    let v1 = runtime(&net.krate);
    let module = module_name(net);
    let known = if inner_nodes.is_empty() {
        quote!(false)
    } else {
        quote!(matches!(layer, #(#inner_nodes)|*))
    };

    quote! {
        #v1::std_only! {
            /// The output of layer `layer` (its index in `LAYERS`) inside a
            /// fused step, which inference never stores, for the `n` samples
            /// whose step input `forward_until_impl` left in `arena`: written
            /// to `out` (`n` times the layer's output). Whether it can
            /// compute the layer (with `n == 0`, computes nothing).
            #[doc(hidden)]
            #[allow(unused_variables)]
            pub fn forward_inner_impl(
                w: &[f32],
                arena: &mut [f32],
                n: usize,
                layer: usize,
                out: &mut [f32],
            ) -> bool {
                use #v1;
                #[allow(unused_imports)]
                use #module::*;
                let known = #known;
                if n == 0 || !known {
                    return known;
                }
                let (a, _) = arena.split_at_mut(n * Self::ACTIVATION_LEN);
                match layer {
                    #(#arms)*
                    _ => {}
                }
                true
            }
        }
    }
}

/// `fold_impl(w, out)`, for a network with folded batch normalisations
/// or prepared weights: the inference parameters from the network's, `w`
/// then the folded tensors, then the prepared ones, computed as the
/// runtime's `fold_batch_norm` and `winograd_weights` compute them.
fn fold(net: &Network, plan: &Plan, names: &Names, module: &mut Module) -> Option<TokenStream> {
    if !plan.derives() {
        return None;
    }
    let p = plan.param_count;
    let folds = plan.folds.iter().map(|f| {
        let [wa, wb, ba, bb] = [
            f.weight.offset - p,
            f.weight.offset - p + f.weight.len,
            f.bias.offset - p,
            f.bias.offset - p + f.bias.len,
        ]
        .map(lit);
        let source_weight = module.param(names, &f.source[0]);
        let source_bias = match f.source.get(1) {
            Some(b) => {
                let r = module.param(names, b);
                quote!(bias.copy_from_slice(&w[#r]);)
            }
            None => quote!(bias.fill(0.0);),
        };
        let [gamma, beta, mean, var] = [0, 1, 2, 3].map(|i| module.param(names, &f.stats[i]));
        let (per, eps) = (lit(f.per_channel), f.eps);
        quote! {
            {
                let [weight, bias] = v1::params_mut(folded, [#wa..#wb, #ba..#bb]);
                weight.copy_from_slice(&w[#source_weight]);
                #source_bias
                v1::fold_batch_norm(
                    weight,
                    bias,
                    #per,
                    v1::BatchNormParams {
                        gamma: &w[#gamma],
                        beta: &w[#beta],
                        mean: &w[#mean],
                        var: &w[#var],
                        eps: #eps,
                    },
                );
            }
        }
    });
    let folds: Vec<TokenStream> = folds.collect();
    // Each prepared tensor lies after its source (the network's weight or
    // a folded one).
    let prepared = plan.prepared.iter().map(|p| {
        let source = module.param(names, &p.source);
        let slot = module.param(names, &p.slot);
        quote! {
            {
                let (before, after) = out.split_at_mut(#slot.start);
                v1::winograd_weights(&before[#source], &mut after[..#slot.len()]);
            }
        }
    });
    let prepared: Vec<TokenStream> = prepared.collect();
    let v1 = runtime(&net.krate);
    let path = module_name(net);
    Some(quote! {
        /// The inference parameters (`INFER_PARAM_COUNT`) from the
        /// network's: the same values, then each batch normalisation folded
        /// into the conv or dense layer before it, then the weights
        /// prepared once (Winograd's transformed weights).
        #[doc(hidden)]
        pub fn fold_impl(w: &[f32], out: &mut [f32]) {
            use #v1;
            #[allow(unused_imports)]
            use #path::*;
            let (raw, folded) = out.split_at_mut(Self::PARAM_COUNT);
            raw.copy_from_slice(w);
            #(#folds)*
            #(#prepared)*
        }
    })
}

/// `&w[range]` of each parameter tensor, in order.
fn weight_refs<'p>(
    names: &Names,
    module: &mut Module,
    params: impl IntoIterator<Item = &'p ParamSlot>,
) -> Vec<TokenStream> {
    params
        .into_iter()
        .map(|p| {
            let r = module.param(names, p);
            quote!(&w[#r])
        })
        .collect()
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
