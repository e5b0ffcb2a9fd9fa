//! Training: the forward pass that keeps what the backward pass reads, and
//! the backward pass, as straight-line kernel calls on named regions of
//! the training arenas.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::quote;

use super::module::{Module, Names};
use super::tokens::{lit, mentions, module_name, runtime, Borrows, View};
use crate::graph::{Network, ValueId, INPUT};
use crate::layers::{Backward, Data, Exec, Forward, Grad, GradFlow, TapInner};
use crate::plan::{GradDest, GradHow, Loc, Plan, Step, TrainStepIo};

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
    fn len(&self, v: ValueId) -> usize {
        self.net.values[v].shape.len()
    }

    /// The view of value `v` (or its gradient, `sub` = "grad") at `loc`.
    fn view(&self, module: &mut Module, sub: &'static str, v: ValueId, loc: Loc) -> View {
        let name = self.names.value(self.net, v);
        match loc {
            Loc::Arena(r) => View::Region(module.region(sub, &name, r)),
            Loc::Slot { concat, slot } => {
                let c = self.net.values[v].consumers[0];
                let concat_name = self.names.value(self.net, self.net.nodes[c].output);
                View::Slot {
                    concat: module.region(sub, &concat_name, concat),
                    slot: module.region(sub, &name, slot),
                }
            }
            Loc::Input => View::Caller(quote!(input)),
            Loc::Output => {
                let len = lit(self.len(v));
                View::Caller(quote!(&mut dlogits[..n * #len]))
            }
        }
    }

    /// The slot of a concatenation (value `c`) that input `u` fills, in
    /// the arena `sub` ("train" or "grad") whose concatenation is at
    /// `concat`, `offset` values into each sample.
    fn slot_of(
        &self,
        module: &mut Module,
        sub: &'static str,
        (c, u): (ValueId, ValueId),
        concat: Loc,
        offset: usize,
    ) -> View {
        match concat {
            Loc::Arena((start, end)) => View::Slot {
                concat: module.region(sub, &self.names.value(self.net, c), (start, end)),
                slot: module.region(
                    sub,
                    &self.names.slot(self.net, u),
                    (start + offset, start + offset + self.len(u)),
                ),
            },
            // The caller's gradient of a network ending with a
            // concatenation.
            _ => unreachable!("a concatenation the network returns is copied whole"),
        }
    }

    /// `(&mut stats[stats::X], stats::X.start)` for a step that keeps
    /// statistics.
    fn stats(
        &self,
        module: &mut Module,
        step: &Step,
        io: &TrainStepIo,
    ) -> Option<(TokenStream, TokenStream)> {
        let at = io.stats?;
        let range = module.stats(self.names, step, (at, step.layer.stats(step.shapes)));
        Some((quote!(&mut stats[#range]), quote!(#range.start)))
    }

    /// `&w[param::..]` for each tensor of `step`.
    fn params(&self, plan: &Plan, step: &Step, module: &mut Module) -> Vec<TokenStream> {
        plan.params_of(step)
            .into_iter()
            .map(|p| {
                let r = module.param(self.names, p);
                quote!(&w[#r])
            })
            .collect()
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
    let after = after_step(&cx, plan, module);
    let fwd_unused = unused(
        &forward,
        &["w", "input", "f", "m", "scratch", "stats", "ctx"],
    );
    let bwd_unused = unused(
        &backward,
        &[
            "w", "input", "dlogits", "f", "m", "scratch", "stats", "grads", "ctx",
        ],
    );
    let after_unused = unused(&after, &["w", "stats"]);
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
            let v1::TrainArena { f, m, scratch, stats } = arena;
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
            let v1::TrainArena { f, m, scratch, stats } = arena;
            #bwd_unused
            #backward
        }

        /// After a training step: updates the buffers among the parameters
        /// (running statistics) from the step's statistics.
        #[doc(hidden)]
        pub fn update_buffers_impl(w: &mut [f32], stats: &[f64]) {
            #[allow(unused_imports)]
            use #v1;
            #[allow(unused_imports)]
            use #path::*;
            #after_unused
            #after
        }
    }
}

fn forward_body(cx: &Cx<'_>, plan: &Plan, module: &mut Module) -> TokenStream {
    let rt = &cx.rt;
    let tp = &plan.train;
    let mut calls = Vec::new();
    for (s, (step, io)) in tp.steps.iter().zip(&tp.io).enumerate() {
        let exec = step.exec(true);
        match exec {
            Exec::View => continue,
            Exec::Concat => {
                let mut offset = 0;
                for (&u, &loc) in step
                    .inputs
                    .iter()
                    .zip(std::iter::once(&io.input).chain(&io.others))
                {
                    let at = offset;
                    offset += cx.len(u);
                    if loc.is_slot() {
                        continue;
                    }
                    let mut b = Borrows::new();
                    let x = b.read("x", "f", cx.view(module, "train", u, loc), cx.len(u));
                    let into = cx.slot_of(module, "train", (step.output, u), io.output, at);
                    let y = b.write("y", "f", into, cx.len(u));
                    let run = b.run(rt, quote!(#y.copy_from_slice(#x);));
                    calls.push(quote!({ #run }));
                }
                continue;
            }
            _ => {}
        }
        let mut b = Borrows::new();
        let data = match (exec, io.input, io.output) {
            (Exec::InPlace, Loc::Arena(a), Loc::Arena(o)) if a == o => {
                let v = cx.view(module, "train", step.output, io.output);
                Data::InPlace(b.write("y", "f", v, step.out_len()))
            }
            _ => {
                let v = cx.view(module, "train", step.input(), io.input);
                let x = b.read("x", "f", v, step.in_len());
                let v = cx.view(module, "train", step.output, io.output);
                Data::Separate {
                    x,
                    y: b.write("y", "f", v, step.out_len()),
                }
            }
        };
        let others = step.inputs[1..]
            .iter()
            .zip(&io.others)
            .enumerate()
            .map(|(i, (&u, &loc))| {
                let v = cx.view(module, "train", u, loc);
                b.read(&format!("x{}", i + 2), "f", v, cx.len(u))
            })
            .collect();
        let aux = io.aux.map(|r| {
            let path = module.region("bytes", &cx.names.value(cx.net, step.output), r);
            b.write("aux", "m", View::Region(path), step.out_len())
        });
        let side = io.side.map(|r| {
            let path = module.region("side", &cx.names.value(cx.net, step.output), r);
            b.write("side", "f", View::Region(path), step.out_len())
        });
        let salt = Literal::u64_suffixed(0x5EED_0000 + s as u64);
        let stats = cx.stats(module, step, io);
        let call = step.layer.forward(
            step.shapes,
            Forward {
                rt,
                data,
                aux,
                side,
                others,
                params: cx.params(plan, step, module),
                desc: module.kernel(cx.names, step),
                seed: Some(quote!(ctx.seed ^ #salt)),
                stats,
                prepared: None,
            },
        );
        let run = b.run(rt, call);
        calls.push(quote!({ #run }));
    }
    let len = lit(tp.logits_len);
    let copy = match tp.output {
        Loc::Arena(r) => {
            let out = tp.steps.last().map_or(0, |s| s.output);
            let path = module.region("train", &cx.names.value(cx.net, out), r);
            quote!(logits[..n * #len].copy_from_slice(#rt::region(f, n, #path));)
        }
        _ => quote!(logits[..n * #len].copy_from_slice(&input[..n * #len]);),
    };
    quote!(#(#calls)* #copy)
}

fn backward_body(cx: &Cx<'_>, plan: &Plan, module: &mut Module) -> TokenStream {
    let tp = &plan.train;
    let mut out = Vec::new();
    for (step, io) in tp.steps.iter().zip(&tp.io).rev() {
        let has_params = !plan.params_of(step).is_empty();
        let wanted = io.d_inputs.iter().any(Option::is_some);
        let last = module.layer(cx.names, *step.nodes.last().expect("a step has a node"));
        let tap = tap(cx, step, io, &last, module);
        let body = if !wanted && !has_params {
            None
        } else {
            match step.layer.gradient() {
                GradFlow::Computed => computed(cx, plan, step, io, module),
                GradFlow::Passed | GradFlow::Sliced => placed(cx, step, io, module),
            }
        };
        // A step that only passes the gradient on to the network's input
        // runs when the input's gradient is asked for.
        let body = match body {
            Some(body) if !has_params && step.inputs.iter().all(|&v| v == INPUT) => {
                Some(quote!(if ctx.input_grad { #body }))
            }
            Some(body) => Some(quote!({ #body })),
            None => None,
        };
        out.push(quote! {
            if !ctx.needs_backward(#last) {
                return;
            }
            #tap
            #body
        });
    }
    quote!(#(#out)*)
}

/// Hands the gradient of `step`'s output, complete when the step's
/// backward pass starts, to the context's gradient tap; for a fused step
/// also the gradients of the outputs of the layers before its last.
fn tap(
    cx: &Cx<'_>,
    step: &Step,
    io: &TrainStepIo,
    last: &TokenStream,
    module: &mut Module,
) -> TokenStream {
    let rt = &cx.rt;
    let len = lit(step.out_len());
    let (output, dy) = match cx.view(module, "grad", step.output, io.d_output) {
        View::Region(r) => (
            quote!(#rt::tap(ctx, #last, f, n, #r);),
            quote!(#rt::Samples::region(f, n, #r)),
        ),
        View::Slot { concat, slot } => (
            quote!(#rt::tap_slot(ctx, #last, f, n, #concat, #slot);),
            quote!(#rt::Samples::slot(f, n, #concat, #slot)),
        ),
        View::Caller(_) => (
            quote!(ctx.tap(#last, dlogits, n, #len);),
            quote!(#rt::Samples::whole(dlogits, n, #len)),
        ),
    };
    let [inner @ .., _] = &step.nodes[..] else {
        return output;
    };
    if inner.is_empty() {
        return output;
    }
    let layers = inner
        .iter()
        .map(|&node| module.layer(cx.names, node))
        .collect();
    let y = if step.saves().output {
        match cx.view(module, "train", step.output, io.output) {
            View::Region(r) => Some(quote!(#rt::Samples::region(f, n, #r))),
            View::Slot { concat, slot } => Some(quote!(#rt::Samples::slot(f, n, #concat, #slot))),
            // Not a step's output (the network's input): no inner layers.
            View::Caller(_) => return output,
        }
    } else {
        None
    };
    let aux = io.aux.map(|r| {
        let path = module.region("bytes", &cx.names.value(cx.net, step.output), r);
        quote!(#rt::region(m, n, #path))
    });
    let inner = step.layer.tap_inner(
        step.shapes,
        TapInner {
            rt,
            layers,
            dy,
            y,
            aux,
            desc: module.kernel(cx.names, step),
        },
    );
    quote!(#output #inner)
}

/// A kernel's backward pass: it writes the input gradient (or a partial
/// one, then added to it) and the parameter gradients.
fn computed(
    cx: &Cx<'_>,
    plan: &Plan,
    step: &Step,
    io: &TrainStepIo,
    module: &mut Module,
) -> Option<TokenStream> {
    let rt = &cx.rt;
    let dest = io.d_inputs[0];
    if step.exec(true) == Exec::View {
        // The gradient flows through unchanged; only a second consumer's
        // contribution needs adding.
        return accumulate_view(cx, step, io, dest?, module);
    }
    let first = module.layer(cx.names, step.nodes[0]);
    let saves = step.saves();
    let slots = plan.params_of(step);
    let has_params = !slots.is_empty();
    let mut b = Borrows::new();
    let x = saves.input.then(|| {
        let v = cx.view(module, "train", step.input(), io.input);
        b.read("x", "f", v, step.in_len())
    });
    let y = saves.output.then(|| {
        let v = cx.view(module, "train", step.output, io.output);
        b.read("y", "f", v, step.out_len())
    });
    let aux = io.aux.map(|r| {
        let path = module.region("bytes", &cx.names.value(cx.net, step.output), r);
        b.read("aux", "m", View::Region(path), step.out_len())
    });
    let side = io.side.map(|r| {
        let path = module.region("side", &cx.names.value(cx.net, step.output), r);
        b.read("side", "f", View::Region(path), step.out_len())
    });
    let (in_len, out_len) = (step.in_len(), step.out_len());
    // The input gradient goes to the value's gradient, or to a partial one
    // added to it when another consumer's backward pass wrote it first.
    let (target, partial) = match dest {
        Some(GradDest {
            how: GradHow::Partial(p),
            loc,
        }) => (Some(Loc::Arena(p)), Some(loc)),
        Some(d) => (Some(d.loc), None),
        None => (None, None),
    };
    let grad = if !has_params && target == Some(io.d_output) && !io.d_output.is_slot() {
        let v = cx.view(module, "grad", step.output, io.d_output);
        Grad::InPlace(b.write("d", "f", v, out_len))
    } else {
        let v = cx.view(module, "grad", step.output, io.d_output);
        let dy = b.write("dy", "f", v, out_len);
        let dx = target.map(|loc| {
            let v = match (loc, partial) {
                (Loc::Arena(p), Some(_)) => {
                    View::Region(module.region("partial", &cx.names.value(cx.net, step.input()), p))
                }
                _ => cx.view(module, "grad", step.input(), loc),
            };
            b.write("dx", "f", v, in_len)
        });
        let dx = match (dx, has_params) {
            (Some(dx), true) => {
                quote!(if ctx.needs_input_grad(#first) { Some(#dx) } else { None })
            }
            (None, true) => quote!(None),
            (Some(dx), false) => dx,
            (None, false) => return None,
        };
        Grad::Separate { dy, dx }
    };
    let trained: Vec<_> = slots.iter().filter(|p| p.spec.role.is_trained()).collect();
    let (grads_bind, grads) = if !trained.is_empty() {
        let owner = module.layer(cx.names, trained[0].node);
        let ranges: Vec<TokenStream> = trained.iter().map(|p| module.param(cx.names, p)).collect();
        let names: Vec<Ident> = trained
            .iter()
            .map(|p| ident(&format!("d_{}", p.spec.suffix)))
            .collect();
        if b.per_sample() {
            // Each sample's call borrows the gradients again.
            let bind = quote! {
                let [#(mut #names),*] = #rt::param_grads(grads, ctx.is_trainable(#owner), [#(#ranges),*]);
            };
            (
                bind,
                names.iter().map(|n| quote!(#n.as_deref_mut())).collect(),
            )
        } else {
            let bind = quote! {
                let [#(#names),*] = #rt::param_grads(grads, ctx.is_trainable(#owner), [#(#ranges),*]);
            };
            (bind, names.iter().map(|n| quote!(#n)).collect())
        }
    } else {
        (quote!(), Vec::new())
    };
    let call = step.layer.backward(
        step.shapes,
        Backward {
            rt,
            x,
            y,
            aux,
            side,
            grad,
            params: cx.params(plan, step, module),
            grads,
            desc: module.kernel(cx.names, step),
            stats: cx.stats(module, step, io),
        },
    );
    let run = b.run(rt, call);
    let accumulate = match (partial, target) {
        (Some(sum), Some(Loc::Arena(p))) => {
            let mut b = Borrows::new();
            let v = step.input();
            let part = View::Region(module.region("partial", &cx.names.value(cx.net, v), p));
            let part = b.read("partial", "f", part, cx.len(v));
            let into = cx.view(module, "grad", v, sum);
            let sum = b.write("sum", "f", into, cx.len(v));
            b.run(rt, quote!(#rt::add_assign(#sum, #part);))
        }
        _ => quote!(),
    };
    Some(quote! {
        #grads_bind
        #run
        #accumulate
    })
}

/// A view's backward pass: nothing, unless its input's gradient was
/// written by another consumer, to which its gradient is then added.
fn accumulate_view(
    cx: &Cx<'_>,
    step: &Step,
    io: &TrainStepIo,
    dest: GradDest,
    module: &mut Module,
) -> Option<TokenStream> {
    if dest.how != GradHow::Accumulate {
        return None;
    }
    let rt = &cx.rt;
    let mut b = Borrows::new();
    let v = cx.view(module, "grad", step.output, io.d_output);
    let dy = b.read("dy", "f", v, step.out_len());
    let v = cx.view(module, "grad", step.input(), dest.loc);
    let sum = b.write("sum", "f", v, step.in_len());
    Some(b.run(rt, quote!(#rt::add_assign(#sum, #dy);)))
}

/// The backward pass of a merge: each input's gradient is the output's
/// (a sum) or its slot of it (a concatenation), kept where it is, copied
/// or added.
fn placed(cx: &Cx<'_>, step: &Step, io: &TrainStepIo, module: &mut Module) -> Option<TokenStream> {
    let rt = &cx.rt;
    let sliced = step.layer.gradient() == GradFlow::Sliced;
    let mut parts = Vec::new();
    let mut offset = 0;
    for (&u, dest) in step.inputs.iter().zip(&io.d_inputs) {
        let at = offset;
        offset += cx.len(u);
        let Some(dest) = dest else { continue };
        let op = match dest.how {
            GradHow::Alias => continue,
            GradHow::Copy => quote!(copy_from_slice),
            GradHow::Accumulate => quote!(add_assign),
            GradHow::Write | GradHow::Partial(_) => unreachable!("a merge has no kernel"),
        };
        let mut b = Borrows::new();
        let from = if sliced {
            cx.slot_of(module, "grad", (step.output, u), io.d_output, at)
        } else {
            cx.view(module, "grad", step.output, io.d_output)
        };
        let dy = b.read("dy", "f", from, cx.len(u));
        let into = cx.view(module, "grad", u, dest.loc);
        let dx = b.write("dx", "f", into, cx.len(u));
        let call = if dest.how == GradHow::Copy {
            quote!(#dx.#op(#dy);)
        } else {
            quote!(#rt::#op(#dx, #dy);)
        };
        let run = b.run(rt, call);
        parts.push(quote!({ #run }));
    }
    (!parts.is_empty()).then(|| quote!(#(#parts)*))
}

/// The updates after a training step, of every step that has one.
fn after_step(cx: &Cx<'_>, plan: &Plan, module: &mut Module) -> TokenStream {
    let tp = &plan.train;
    let mut out = Vec::new();
    for (step, io) in tp.steps.iter().zip(&tp.io) {
        let params = plan
            .params_of(step)
            .into_iter()
            .map(|p| module.param(cx.names, p))
            .collect();
        let at = match io.stats {
            Some(at) => {
                let range = module.stats(cx.names, step, (at, step.layer.stats(step.shapes)));
                quote!(#range.start)
            }
            None => quote!(0),
        };
        let update = step.layer.after_step(
            step.shapes,
            crate::layers::AfterStep {
                rt: &cx.rt,
                params,
                at,
                desc: module.kernel(cx.names, step),
            },
        );
        if let Some(update) = update {
            out.push(quote!({ #update }));
        }
    }
    quote!(#(#out)*)
}
