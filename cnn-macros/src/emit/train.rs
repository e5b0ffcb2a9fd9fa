//! Training: the forward pass that keeps what the backward pass reads, and
//! the backward pass, as straight-line kernel calls on named regions of
//! the training arenas.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;

use super::module::{Module, Names};
use super::tokens::{lit, mentions, module_name, runtime, Borrows};
use crate::graph::Network;
use crate::layers::{Backward, Data, Exec, Forward, Grad};
use crate::plan::{Loc, Plan, Region, Step, TrainStepIo};

/// Ident `name`.
fn ident(name: &str) -> Ident {
    Ident::new(name, Span::call_site())
}

/// `let _ = name;` for each parameter `body` does not use, so that no
/// lint has to be silenced.
fn unused(body: &TokenStream, params: &[&str]) -> TokenStream {
    let unused = params
        .iter()
        .filter(|p| !mentions(body, p))
        .map(|p| ident(p));
    quote!(#(let _ = #unused;)*)
}

/// The generated code's names for the arenas and the caller's buffers.
struct Cx<'a> {
    net: &'a Network,
    names: &'a Names,
    rt: TokenStream,
}

impl Cx<'_> {
    /// A read-only view of a value at `loc`: the caller's batch, or a
    /// carved region of the `f32` arena (submodule `sub`).
    fn read(
        &self,
        b: &mut Borrows,
        module: &mut Module,
        name: &str,
        (sub, v): (&'static str, usize),
        loc: Loc,
    ) -> TokenStream {
        match loc {
            Loc::Arena(r) => b.read(name, module.region(sub, &self.names.value(self.net, v), r)),
            Loc::Input => quote!(input),
            Loc::Output => unreachable!("the caller's gradient is not read"),
        }
    }

    /// A mutable view: a carved region, or the caller's logits gradient.
    fn write(
        &self,
        b: &mut Borrows,
        module: &mut Module,
        name: &str,
        (sub, v): (&'static str, usize),
        loc: Loc,
        len: usize,
    ) -> TokenStream {
        match loc {
            Loc::Arena(r) => b.write(name, module.region(sub, &self.names.value(self.net, v), r)),
            Loc::Output => {
                let len = lit(len);
                quote!(&mut dlogits[..n * #len])
            }
            Loc::Input => unreachable!("the caller's batch is not written"),
        }
    }

    /// A byte-arena region kept by step `step`: `v1::region_mut(m, n, ...)`.
    fn bytes(&self, module: &mut Module, step: &Step, r: Region, mutable: bool) -> TokenStream {
        let rt = &self.rt;
        let path = module.region("bytes", &self.names.value(self.net, step.output), r);
        if mutable {
            quote!(#rt::region_mut(m, n, #path))
        } else {
            quote!(#rt::region(m, n, #path))
        }
    }
}

pub fn emit(net: &Network, plan: &Plan, names: &Names, module: &mut Module) -> TokenStream {
    let cx = Cx {
        net,
        names,
        rt: quote!(v1),
    };
    let forward = forward_body(&cx, plan, module);
    let backward = backward_body(&cx, plan, module);
    let v1 = runtime(&net.krate);
    let path = module_name(net);
    let fwd_unused = unused(&forward, &["w", "input", "f", "m", "scratch", "ctx"]);
    let bwd_unused = unused(
        &backward,
        &["w", "input", "dlogits", "f", "m", "scratch", "grads", "ctx"],
    );
    quote! {
        /// The training forward pass of `n` samples: writes the logits
        /// (the output before a loss head) and keeps what
        /// [`Self::backward_impl`] reads.
        #[doc(hidden)]
        pub fn forward_train_impl(
            w: &[f32],
            input: &[f32],
            logits: &mut [f32],
            n: usize,
            arena: #v1::TrainArena<'_>,
            ctx: &#v1::StepContext<'_>,
        ) {
            use #v1;
            #[allow(unused_imports)]
            use #path::*;
            let v1::TrainArena { f, m, scratch } = arena;
            #fwd_unused
            #forward
        }

        /// The backward pass after [`Self::forward_train_impl`] on the same
        /// arena: adds the parameter gradients into `grads`.
        #[doc(hidden)]
        pub fn backward_impl(
            w: &[f32],
            input: &[f32],
            dlogits: &mut [f32],
            n: usize,
            arena: #v1::TrainArena<'_>,
            grads: &mut [f32],
            ctx: &#v1::StepContext<'_>,
        ) {
            use #v1;
            #[allow(unused_imports)]
            use #path::*;
            let v1::TrainArena { f, m, scratch } = arena;
            #bwd_unused
            #backward
        }
    }
}

fn forward_body(cx: &Cx<'_>, plan: &Plan, module: &mut Module) -> TokenStream {
    let rt = &cx.rt;
    let tp = &plan.train;
    let f = ident("f");
    let mut calls = Vec::new();
    for (s, (step, io)) in tp.steps.iter().zip(&tp.io).enumerate() {
        let exec = step.exec(true);
        if exec == Exec::View {
            continue;
        }
        let mut b = Borrows::new();
        let data = match (exec, io.input, io.output) {
            (Exec::InPlace, Loc::Arena(a), Loc::Arena(o)) if a == o => {
                let r = module.region("train", &cx.names.value(cx.net, step.output), o);
                Data::InPlace(quote!(#rt::region_mut(#f, n, #r)))
            }
            _ => Data::Separate {
                x: cx.read(&mut b, module, "x", ("train", step.input), io.input),
                y: cx.write(&mut b, module, "y", ("train", step.output), io.output, 0),
            },
        };
        let aux = io.aux.map(|r| cx.bytes(module, step, r, true));
        let side = io.side.map(|r| {
            let path = module.region("side", &cx.names.value(cx.net, step.output), r);
            b.write("side", path)
        });
        let params = params(cx, plan, step, module);
        let desc = module.kernel(cx.names, step);
        let salt = Literal::u64_suffixed(0x5EED_0000 + s as u64);
        let call = step.layer.forward(
            step.shapes,
            Forward {
                rt,
                data,
                aux,
                side,
                params,
                desc,
                seed: Some(quote!(ctx.seed ^ #salt)),
            },
        );
        let bind = b.bind(rt, &f);
        calls.push(quote!({ #bind #call }));
    }
    let len = lit(tp.logits_len);
    let copy = match tp.output {
        Loc::Arena(r) => {
            let out = tp.steps.last().map_or(0, |s| s.output);
            let path = module.region("train", &cx.names.value(cx.net, out), r);
            quote!(logits[..n * #len].copy_from_slice(#rt::region(#f, n, #path));)
        }
        _ => quote!(logits[..n * #len].copy_from_slice(&input[..n * #len]);),
    };
    quote!(#(#calls)* #copy)
}

/// `&w[param::..]` for each tensor of `step`.
fn params(cx: &Cx<'_>, plan: &Plan, step: &Step, module: &mut Module) -> Vec<TokenStream> {
    plan.params_of(step)
        .into_iter()
        .map(|p| {
            let r = module.param(cx.names, p);
            quote!(&w[#r])
        })
        .collect()
}

fn backward_body(cx: &Cx<'_>, plan: &Plan, module: &mut Module) -> TokenStream {
    let tp = &plan.train;
    let mut out = Vec::new();
    for (step, io) in tp.steps.iter().zip(&tp.io).rev() {
        let has_params = !plan.params_of(step).is_empty();
        if (io.d_input.is_none() && !has_params) || step.exec(true) == Exec::View {
            continue;
        }
        out.push(backward_step(cx, plan, step, io, module));
    }
    quote!(#(#out)*)
}

/// The backward pass of one step, gated on whether the backward pass
/// reaches it (nothing trainable at or before its layers: stop).
fn backward_step(
    cx: &Cx<'_>,
    plan: &Plan,
    step: &Step,
    io: &TrainStepIo,
    module: &mut Module,
) -> TokenStream {
    let rt = &cx.rt;
    let f = ident("f");
    let first = module.layer(cx.names, step.nodes[0]);
    let last = module.layer(cx.names, *step.nodes.last().expect("a step has a node"));
    let saves = step.saves();
    let slots = plan.params_of(step);
    let has_params = !slots.is_empty();
    let mut b = Borrows::new();
    let x = saves
        .input
        .then(|| cx.read(&mut b, module, "x", ("train", step.input), io.input));
    let y = saves
        .output
        .then(|| cx.read(&mut b, module, "y", ("train", step.output), io.output));
    let aux = io.aux.map(|r| cx.bytes(module, step, r, false));
    let side = io.side.map(|r| {
        let path = module.region("side", &cx.names.value(cx.net, step.output), r);
        b.read("side", path)
    });
    // The input gradient goes to the value's gradient, or to a partial
    // one added to it when another consumer's backward pass wrote it first.
    let dx_target = match (io.d_input, io.d_input_partial) {
        (_, Some(p)) => Some(Loc::Arena(p)),
        (d, None) => d,
    };
    let (in_len, out_len) = (step.in_len(), step.out_len());
    let grad = if !has_params && dx_target == Some(io.d_output) {
        Grad::InPlace(cx.write(
            &mut b,
            module,
            "d",
            ("grad", step.output),
            io.d_output,
            out_len,
        ))
    } else {
        let dy = cx.write(
            &mut b,
            module,
            "dy",
            ("grad", step.output),
            io.d_output,
            out_len,
        );
        let dx = dx_target.map(|loc| {
            let partial = if io.d_input_partial.is_some() {
                "partial"
            } else {
                "grad"
            };
            cx.write(&mut b, module, "dx", (partial, step.input), loc, in_len)
        });
        let dx = match (dx, has_params) {
            (Some(dx), true) => {
                quote!(if ctx.needs_input_grad(#first) { Some(#dx) } else { None })
            }
            (None, true) => quote!(None),
            (Some(dx), false) => dx,
            (None, false) => unreachable!("skipped: nothing to compute"),
        };
        Grad::Separate { dy, dx }
    };
    let params = params(cx, plan, step, module);
    let (grads_bind, grads) = if has_params {
        let owner = module.layer(cx.names, slots[0].node);
        let ranges: Vec<TokenStream> = slots.iter().map(|p| module.param(cx.names, p)).collect();
        let names: Vec<Ident> = slots
            .iter()
            .map(|p| ident(&format!("d_{}", p.spec.suffix)))
            .collect();
        let bind = quote! {
            let [#(#names),*] = #rt::param_grads(grads, ctx.is_trainable(#owner), [#(#ranges),*]);
        };
        (bind, names.iter().map(|n| quote!(#n)).collect())
    } else {
        (quote!(), Vec::new())
    };
    let desc = module.kernel(cx.names, step);
    let call = step.layer.backward(
        step.shapes,
        Backward {
            rt,
            x,
            y,
            aux,
            side,
            grad,
            params,
            grads,
            desc,
        },
    );
    let bind = b.bind(rt, &f);
    let accumulate = match (io.d_input, io.d_input_partial) {
        (Some(Loc::Arena(target)), Some(p)) => {
            let v = cx.names.value(cx.net, step.input);
            let target = module.region("grad", &v, target);
            let partial = module.region("partial", &v, p);
            quote! {
                let ([partial], [sum]) = #rt::carve(#f, n, [#partial], [#target]);
                #rt::add_assign(sum, partial);
            }
        }
        _ => quote!(),
    };
    quote! {
        if !ctx.needs_backward(#last) {
            return;
        }
        {
            #grads_bind
            #bind
            #call
            #accumulate
        }
    }
}
