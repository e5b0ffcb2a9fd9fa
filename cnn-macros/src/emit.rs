//! Pass 4: the generated Rust.
//!
//! For `struct Name { ... }` the macro emits:
//!
//! - the struct, holding its parameters (`Weights`);
//! - `const` items: shapes, lengths, `PARAM_COUNT`, `MACS`, `ARENA_LEN`,
//!   `ARENA_BYTES`, `WEIGHT_BYTES`, and the `LAYERS`, `PARAMS`, `PLAN` tables;
//! - one private `const` descriptor per kernel call (`CONV1: ops::Conv`, ...)
//!   with literal sizes, so identical shapes share one kernel instantiation;
//! - straight-line functions that call the runtime kernels on arena regions
//!   the plan fixed: inference, training forward, backward;
//! - `infer` / `infer_with` (heap-free, caller's arena), `predict`, and with
//!   the runtime's `std` feature: constructors, safetensors, batches and the
//!   `Network` impl the trainer uses;
//! - `type NameArena = Arena<{ Name::ARENA_LEN }>`.

use std::collections::HashMap;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use syn::Ident;

use crate::graph::{Network, Shape};
use crate::plan::{Act, Algo, Head, Loc, Plan, Region, Step, StepOp, TrainStepIo, Window};

// Arenas up to this size live on the stack in `predict`.
use cnn_spec::tuning::STACK_ARENA_BYTES;

fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// `n * a..n * b` for a per-sample region.
fn scaled((a, b): Region) -> TokenStream {
    let (la, lb) = (lit(a), lit(b));
    if a == 0 {
        quote!(0..n * #lb)
    } else {
        quote!(n * #la..n * #lb)
    }
}

fn fixed((a, b): (usize, usize)) -> TokenStream {
    let (la, lb) = (lit(a), lit(b));
    quote!(#la..#lb)
}

fn act_tokens(k: &TokenStream, a: Act) -> TokenStream {
    match a {
        Act::Identity => quote!(#k::ops::Act::Identity),
        Act::Relu => quote!(#k::ops::Act::Relu),
        Act::Sigmoid => quote!(#k::ops::Act::Sigmoid),
        Act::Tanh => quote!(#k::ops::Act::Tanh),
    }
}

fn pool_geom(k: &TokenStream, p: &Window) -> TokenStream {
    let Window {
        c,
        h,
        w,
        kh,
        kw,
        sh,
        sw,
        ph,
        pw,
    } = *p;
    let [c, h, w, kh, kw, sh, sw, ph, pw] = [c, h, w, kh, kw, sh, sw, ph, pw].map(lit);
    quote!(#k::ops::PoolGeom::new(#c, #h, #w, (#kh, #kw), (#sh, #sw), (#ph, #pw)))
}

/// The descriptor constant of a step: (type, value), or `None` if the
/// step's kernel takes its sizes inline.
fn descriptor(k: &TokenStream, op: &StepOp) -> Option<(TokenStream, TokenStream)> {
    match op {
        StepOp::Conv {
            geom,
            out_channels,
            algo,
            act,
            pool,
            bias,
            ..
        } => {
            let Window {
                c,
                h,
                w,
                kh,
                kw,
                sh,
                sw,
                ph,
                pw,
            } = *geom;
            let [c, h, w, kk, kh, kw, sh, sw, ph, pw] =
                [c, h, w, *out_channels, kh, kw, sh, sw, ph, pw].map(lit);
            let algo = match algo {
                Algo::Direct => quote!(#k::ops::ConvAlgo::Direct),
                Algo::Im2col => quote!(#k::ops::ConvAlgo::Im2col),
                Algo::Pointwise => quote!(#k::ops::ConvAlgo::Pointwise),
            };
            let act = act_tokens(k, *act);
            let pool = match pool {
                Some(p) => {
                    let g = pool_geom(k, p);
                    quote!(Some(#g))
                }
                None => quote!(None),
            };
            Some((
                quote!(#k::ops::Conv),
                quote!(#k::ops::Conv {
                    geom: #k::ops::ConvGeom::new(#c, #h, #w, #kk, (#kh, #kw), (#sh, #sw), (#ph, #pw)),
                    algo: #algo,
                    act: #act,
                    pool: #pool,
                    bias: #bias,
                    groups: 1,
                }),
            ))
        }
        StepOp::Dense {
            inputs,
            outputs,
            act,
            bias,
            ..
        } => {
            let (i, o) = (lit(*inputs), lit(*outputs));
            let act = act_tokens(k, *act);
            Some((
                quote!(#k::ops::Dense),
                quote!(#k::ops::Dense { inputs: #i, outputs: #o, act: #act, bias: #bias }),
            ))
        }
        StepOp::MaxPool(p) | StepOp::AvgPool(p) => {
            Some((quote!(#k::ops::PoolGeom), pool_geom(k, p)))
        }
        _ => None,
    }
}

/// Names and defines the descriptor constants of both plans.
struct Descriptors {
    items: Vec<TokenStream>,
    infer: Vec<Option<Ident>>,
    train: Vec<Option<Ident>>,
}

fn descriptors(net: &Network, plan: &Plan) -> Descriptors {
    let k = &net.krate;
    let mut items = Vec::new();
    let mut by_name: HashMap<String, String> = HashMap::new();
    let mut name_for = |step: &Step, prefix: &str, items: &mut Vec<TokenStream>| {
        let (ty, value) = descriptor(k, &step.op)?;
        // `KERNEL_` keeps these apart from the public constants (`PLAN`, ...).
        let base = format!(
            "{prefix}KERNEL_{}",
            net.nodes[step.nodes[0]].name.to_uppercase()
        );
        let text = value.to_string();
        let mut name = base.clone();
        let mut i = 2;
        loop {
            match by_name.get(&name) {
                Some(existing) if *existing == text => return Some(format_ident!("{}", name)),
                Some(_) => {
                    name = format!("{base}_{i}");
                    i += 1;
                }
                None => break,
            }
        }
        by_name.insert(name.clone(), text);
        let ident = format_ident!("{}", name);
        items.push(quote!(const #ident: #ty = #value;));
        Some(ident)
    };
    let infer = plan
        .infer
        .steps
        .iter()
        .map(|s| name_for(s, "", &mut items))
        .collect();
    let train = plan
        .train
        .steps
        .iter()
        .map(|s| name_for(s, "", &mut items))
        .collect();
    Descriptors {
        items,
        infer,
        train,
    }
}

/// The weight and bias of a parameterised step: `&w[a..b]`, `Some(&w[c..d])`.
fn params_of(plan: &Plan, node: usize) -> (TokenStream, TokenStream, Region, Option<Region>) {
    let np = plan.node_params[node];
    let wr = np.weight.expect("a parameterised layer has a weight");
    let w = fixed(wr);
    let b = match np.bias {
        Some(r) => {
            let r = fixed(r);
            quote!(Some(&w[#r]))
        }
        None => quote!(None),
    };
    (quote!(&w[#w]), b, wr, np.bias)
}

pub fn emit(net: &Network, plan: &Plan, embedded: Option<TokenStream>) -> TokenStream {
    let k = &net.krate;
    let name = &net.name;
    let vis = &net.vis;
    let attrs = &net.attrs;
    let arena_ty = format_ident!("{}Arena", name);
    let desc = descriptors(net, plan);
    let descriptor_items = &desc.items;

    let input = net.input();
    let output = net.output();
    let in_len = lit(input.len());
    let out_len = lit(output.len());
    let in_dims: Vec<Literal> = input.dims().into_iter().map(lit).collect();
    let out_dims: Vec<Literal> = output.dims().into_iter().map(lit).collect();
    let in_rank = lit(in_dims.len());
    let out_rank = lit(out_dims.len());
    let param_count = lit(plan.param_count);
    let macs = Literal::u64_unsuffixed(plan.macs);
    let act_len = lit(plan.infer.arena_len);
    let fused = net.fuse;
    let name_str = name.to_string();

    let layers = layer_table(net, plan);
    let params = param_table(net, plan);
    let plan_table = plan_table(net, plan);
    let scratch = scratch_expr(k, &plan.infer.steps, &desc.infer, false);
    let train_scratch = scratch_expr(k, &plan.train.steps, &desc.train, true);

    let forward_body = inference_body(net, plan, &desc.infer);
    let train_forward_body = train_forward_body(net, plan, &desc.train);
    let backward_body = backward_body(net, plan, &desc.train);

    let (i0, i1) = plan.infer.input;
    let (o0, o1) = plan.infer.output;
    let (in_range, out_range) = (fixed((i0, i1)), fixed((o0, o1)));
    let (li0, li1, lo0, lo1) = (lit(i0), lit(i1), lit(o0), lit(o1));

    let doc = format!(
        " Input `{:?}`, output `{:?}`; {} parameters, {} multiply-accumulates per sample.\n \
         See [`{name}::summary`] for the layers and the inference plan.",
        input.dims(),
        output.dims(),
        plan.param_count,
        plan.macs,
    );
    let arena_doc = format!(
        " Memory for one [`{name}::infer`] call: [`{name}::ARENA_BYTES`] bytes holding every \
         activation (input included) and the kernels' scratch."
    );
    let head = match plan.train.head {
        Head::None => quote!(#k::Head::None),
        Head::Softmax => quote!(#k::Head::Softmax),
        Head::Sigmoid => quote!(#k::Head::Sigmoid),
    };
    let logits_len = lit(plan.train.logits_len);
    let (tf, tu) = (lit(plan.train.f32_len), lit(plan.train.u8_len));

    let stack_predict = plan.infer.arena_len * 4 <= STACK_ARENA_BYTES;
    let predict = if stack_predict {
        quote! {
            /// Runs one sample. The arena lives on the stack: no heap allocation.
            pub fn predict(&self, input: &[f32; #in_len]) -> [f32; #out_len] {
                let mut arena = #arena_ty::new();
                self.infer(input, &mut arena)
            }
        }
    } else {
        quote! {
            #k::__private::std_only! {
                /// Runs one sample. This network's arena is too large for the
                /// stack, so it is allocated for the call; use
                /// [`Self::infer`] with a reused arena to avoid that.
                pub fn predict(&self, input: &[f32; #in_len]) -> [f32; #out_len] {
                    let mut arena = #k::__private::zeroed(Self::ARENA_LEN);
                    Self::run_one(self.weights.as_slice(), input, &mut arena)
                }
            }
        }
    };

    quote! {
        #(#attrs)*
        #[doc = ""]
        #[doc = #doc]
        #[derive(Clone, Debug)]
        #vis struct #name {
            weights: #k::Weights,
        }

        #[doc = #arena_doc]
        #vis type #arena_ty = #k::Arena<{ #name::ARENA_LEN }>;

        #[allow(clippy::all, clippy::pedantic, unused_variables, unused_mut, non_upper_case_globals)]
        impl #name {
            /// Shape of one input sample.
            pub const INPUT_SHAPE: [usize; #in_rank] = [#(#in_dims),*];
            /// Values in one input sample.
            pub const INPUT_LEN: usize = #in_len;
            /// Shape of one output sample.
            pub const OUTPUT_SHAPE: [usize; #out_rank] = [#(#out_dims),*];
            /// Values in one output sample.
            pub const OUTPUT_LEN: usize = #out_len;
            /// Number of parameters (weights and biases).
            pub const PARAM_COUNT: usize = #param_count;
            /// Bytes of parameters (f32).
            pub const WEIGHT_BYTES: usize = #param_count * 4;
            /// Multiply-accumulates of one forward pass for one sample.
            pub const MACS: u64 = #macs;
            /// Activation floats of the inference arena (input included).
            pub const ACTIVATION_LEN: usize = #act_len;
            /// Scratch floats the inference kernels need.
            pub const SCRATCH_LEN: usize = #scratch;
            /// Floats of the inference arena: activations, then scratch.
            pub const ARENA_LEN: usize = Self::ACTIVATION_LEN + Self::SCRATCH_LEN;
            /// Bytes of the inference arena.
            pub const ARENA_BYTES: usize = Self::ARENA_LEN * 4;
            /// Whether conv→ReLU→max-pool and similar chains run as fused kernels.
            pub const FUSED: bool = #fused;
            /// The layers, in order.
            pub const LAYERS: &'static [#k::LayerInfo] = &[#(#layers),*];
            /// The weight and bias tensors, with PyTorch names and layouts.
            pub const PARAMS: &'static [#k::ParamInfo] = &[#(#params),*];
            /// The kernel calls of single-sample inference and their arena regions.
            pub const PLAN: &'static [#k::PlanStep] = &[#(#plan_table),*];
            const TRAIN_SCRATCH_LEN: usize = #train_scratch;

            #(#descriptor_items)*

            /// The per-layer table, totals and inference plan, printable
            /// like Keras' `model.summary()`.
            pub const fn summary() -> #k::Summary {
                #k::Summary {
                    name: #name_str,
                    input_shape: &Self::INPUT_SHAPE,
                    layers: Self::LAYERS,
                    plan: Self::PLAN,
                    params: Self::PARAM_COUNT,
                    macs: Self::MACS,
                    fused: Self::FUSED,
                    activation_floats: Self::ACTIVATION_LEN,
                    scratch_floats: Self::SCRATCH_LEN,
                }
            }

            /// A network using a static parameter buffer (no copy).
            pub const fn from_static(weights: &'static [f32; #param_count]) -> Self {
                #name { weights: #k::Weights::from_static(weights) }
            }

            /// The parameters: every tensor of [`Self::PARAMS`] at its offset.
            pub fn weights(&self) -> &[f32] {
                self.weights.as_slice()
            }

            /// Runs one sample in a caller-supplied arena. Allocates nothing
            /// and cannot panic on any input: NaN in gives NaN out.
            pub fn infer(&self, input: &[f32; #in_len], arena: &mut #arena_ty) -> [f32; #out_len] {
                Self::run_one(self.weights.as_slice(), input, arena.as_mut_slice())
            }

            /// As [`Self::infer`], with parameters from any buffer.
            pub fn infer_with(
                weights: &[f32; #param_count],
                input: &[f32; #in_len],
                arena: &mut #arena_ty,
            ) -> [f32; #out_len] {
                Self::run_one(weights, input, arena.as_mut_slice())
            }

            /// The input region of `arena`: write a sample here and call
            /// [`Self::infer_in_place`] to skip the copy [`Self::infer`] makes.
            pub fn arena_input(arena: &mut #arena_ty) -> &mut [f32; #in_len] {
                let region: &mut [f32] = &mut arena.as_mut_slice()[#in_range];
                match region.try_into() {
                    Ok(input) => input,
                    // The region has exactly INPUT_LEN floats by construction.
                    Err(_) => unreachable!(),
                }
            }

            /// Runs the sample already in [`Self::arena_input`]. Allocates
            /// nothing and cannot panic on any input.
            pub fn infer_in_place(&self, arena: &mut #arena_ty) -> [f32; #out_len] {
                let arena = arena.as_mut_slice();
                Self::forward_arena_impl(self.weights.as_slice(), arena, 1);
                let mut output = [0.0f32; #out_len];
                output.copy_from_slice(&arena[#out_range]);
                output
            }

            #predict

            fn run_one(weights: &[f32], input: &[f32; #in_len], arena: &mut [f32]) -> [f32; #out_len] {
                arena[#in_range].copy_from_slice(input);
                Self::forward_arena_impl(weights, arena, 1);
                let mut output = [0.0f32; #out_len];
                output.copy_from_slice(&arena[#out_range]);
                output
            }

            /// Inference of `n` samples in an arena of `n * ACTIVATION_LEN`
            /// floats (inputs at `n * input region`) followed by scratch.
            #[doc(hidden)]
            pub fn forward_arena_impl(w: &[f32], arena: &mut [f32], n: usize) {
                let (a, scratch) = arena.split_at_mut(n * Self::ACTIVATION_LEN);
                #forward_body
            }

            #embedded
        }

        #k::__private::std_only! {
            #[allow(clippy::all, clippy::pedantic, unused_variables, unused_mut)]
            impl #name {
                /// A network initialised by `init`, reproducibly from `seed`.
                pub fn new(init: #k::Init, seed: u64) -> Self {
                    let mut weights = #k::__private::Vec::new();
                    weights.resize(Self::PARAM_COUNT, 0.0f32);
                    #k::init::initialize(&mut weights, Self::PARAMS, init, seed);
                    #name { weights: #k::Weights::from_vec(weights) }
                }

                /// A network with every parameter zero.
                pub fn zeros() -> Self {
                    Self::new(#k::Init::Zeros, 0)
                }

                /// A network owning `weights`, which must hold [`Self::PARAM_COUNT`] values.
                pub fn from_weights(weights: #k::__private::Vec<f32>) -> #k::Result<Self> {
                    if weights.len() != Self::PARAM_COUNT {
                        return Err(#k::Error::WeightCount {
                            network: #name_str,
                            expected: Self::PARAM_COUNT,
                            found: weights.len(),
                        });
                    }
                    Ok(#name { weights: #k::Weights::from_vec(weights) })
                }

                /// The parameters, mutably (a static buffer is copied first).
                pub fn weights_mut(&mut self) -> &mut [f32] {
                    self.weights.make_mut()
                }

                /// Re-initialises one layer's parameters (by layer name).
                pub fn reinitialize_layer(&mut self, layer: &str, init: #k::Init, seed: u64) -> #k::Result<()> {
                    let index = <Self as #k::Network>::layer_index(layer)?;
                    let weights = self.weights.make_mut();
                    for (i, p) in Self::PARAMS.iter().enumerate().filter(|(_, p)| p.layer == index) {
                        #k::init::initialize_tensor(&mut weights[p.range()], p, i, init, seed);
                    }
                    Ok(())
                }

                /// A network with parameters read from a safetensors file
                /// with PyTorch `state_dict` names.
                pub fn from_safetensors(path: impl AsRef<#k::__private::Path>) -> #k::Result<Self> {
                    let weights = #k::io::safetensors::load(
                        path.as_ref(),
                        Self::PARAMS,
                        Self::PARAM_COUNT,
                        #k::LoadOptions::default(),
                    )?;
                    Ok(#name { weights: #k::Weights::from_vec(weights) })
                }

                /// Replaces the parameters with those of a safetensors file.
                /// All or nothing: on error the network is unchanged.
                pub fn load_safetensors(&mut self, path: impl AsRef<#k::__private::Path>) -> #k::Result<()> {
                    self.load_safetensors_with(path, #k::LoadOptions::default())
                }

                /// As [`Self::load_safetensors`], with options (for example
                /// [`LoadOptions::ignore_unknown`](#k::LoadOptions::ignore_unknown)).
                pub fn load_safetensors_with(
                    &mut self,
                    path: impl AsRef<#k::__private::Path>,
                    options: #k::LoadOptions,
                ) -> #k::Result<()> {
                    let weights = #k::io::safetensors::load(path.as_ref(), Self::PARAMS, Self::PARAM_COUNT, options)?;
                    self.weights.replace(weights);
                    Ok(())
                }

                /// Writes the parameters as safetensors, atomically (a crash
                /// leaves the old file whole).
                pub fn save_safetensors(&self, path: impl AsRef<#k::__private::Path>) -> #k::Result<()> {
                    #k::io::safetensors::save(path.as_ref(), Self::PARAMS, self.weights.as_slice())
                }

                /// Runs a batch `[n, INPUT_SHAPE...]`, returning `[n, OUTPUT_SHAPE...]`.
                /// Large batches are split across threads (see [`cnn::set_threads`](#k::set_threads)).
                pub fn predict_batch(&self, inputs: &[f32]) -> #k::Result<#k::__private::Vec<f32>> {
                    #k::batch::predict(self, inputs)
                }

                /// Runs a batch into a caller-supplied output buffer.
                pub fn forward_batch(&self, inputs: &[f32], outputs: &mut [f32]) -> #k::Result<()> {
                    #k::batch::forward(self, inputs, outputs)
                }
            }

            #[allow(clippy::all, clippy::pedantic, unused_variables, unused_mut)]
            impl #k::Network for #name {
                const NAME: &'static str = #name_str;
                const INPUT_SHAPE: &'static [usize] = &#name::INPUT_SHAPE;
                const OUTPUT_SHAPE: &'static [usize] = &#name::OUTPUT_SHAPE;
                const INPUT_LEN: usize = #in_len;
                const OUTPUT_LEN: usize = #out_len;
                const PARAM_COUNT: usize = #param_count;
                const MACS: u64 = #macs;
                const LAYERS: &'static [#k::LayerInfo] = #name::LAYERS;
                const PARAMS: &'static [#k::ParamInfo] = #name::PARAMS;
                const HEAD: #k::Head = #head;
                const INFER: #k::network::InferLayout = #k::network::InferLayout {
                    act_len: #act_len,
                    scratch_len: #name::SCRATCH_LEN,
                    input: (#li0, #li1),
                    output: (#lo0, #lo1),
                };
                const TRAIN: #k::network::TrainLayout = #k::network::TrainLayout {
                    f32_len: #tf,
                    u8_len: #tu,
                    scratch_len: #name::TRAIN_SCRATCH_LEN,
                };

                fn from_weight_vec(weights: #k::__private::Vec<f32>) -> Self {
                    #name { weights: #k::Weights::from_vec(weights) }
                }
                fn weights(&self) -> &[f32] {
                    self.weights.as_slice()
                }
                fn weights_mut(&mut self) -> &mut [f32] {
                    self.weights.make_mut()
                }
                fn summary() -> #k::Summary {
                    #name::summary()
                }
                fn logits_len() -> usize {
                    #logits_len
                }
                fn forward_arena(weights: &[f32], arena: &mut [f32], n: usize) {
                    #name::forward_arena_impl(weights, arena, n)
                }
                fn forward_train(
                    w: &[f32],
                    x: &[f32],
                    logits: &mut [f32],
                    n: usize,
                    arena: #k::network::TrainArena<'_>,
                    ctx: &#k::network::StepContext<'_>,
                ) {
                    let #k::network::TrainArena { f, m, scratch } = arena;
                    #train_forward_body
                }
                fn backward(
                    w: &[f32],
                    x: &[f32],
                    dlogits: &mut [f32],
                    n: usize,
                    arena: #k::network::TrainArena<'_>,
                    grads: &mut [f32],
                    ctx: &#k::network::StepContext<'_>,
                ) {
                    let #k::network::TrainArena { f, m, scratch } = arena;
                    #backward_body
                }
            }
        }
    }
}

/// `max(a, max(b, ...))` over the kernels' scratch needs.
fn scratch_expr(
    k: &TokenStream,
    steps: &[Step],
    names: &[Option<Ident>],
    backward: bool,
) -> TokenStream {
    let mut terms = Vec::new();
    for (step, name) in steps.iter().zip(names) {
        if let (StepOp::Conv { .. }, Some(name)) = (&step.op, name) {
            terms.push(quote!(#k::ops::conv::forward_scratch(&Self::#name)));
            if backward {
                terms.push(quote!(#k::ops::conv::backward_scratch(&Self::#name)));
            }
        }
    }
    terms
        .into_iter()
        .fold(quote!(0), |acc, t| quote!(#k::__private::max(#acc, #t)))
}

fn layer_table(net: &Network, plan: &Plan) -> Vec<TokenStream> {
    let k = &net.krate;
    let mut step_of = vec![0usize; net.nodes.len()];
    for (i, s) in plan.infer.steps.iter().enumerate() {
        for &n in &s.nodes {
            step_of[n] = i;
        }
    }
    net.nodes[1..]
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let name = &node.name;
            let kind = node.op.keyword();
            let type_name = node.op.type_name();
            let shape: Vec<Literal> = node.out_shape.dims().into_iter().map(lit).collect();
            let params = lit(node.param_count());
            let macs = Literal::u64_unsuffixed(node.macs());
            let step = lit(step_of[i + 1]);
            quote!(#k::LayerInfo {
                name: #name,
                kind: #kind,
                type_name: #type_name,
                output_shape: &[#(#shape),*],
                params: #params,
                macs: #macs,
                step: #step,
            })
        })
        .collect()
}

fn param_table(net: &Network, plan: &Plan) -> Vec<TokenStream> {
    let k = &net.krate;
    plan.params
        .iter()
        .map(|p| {
            let node = &net.nodes[p.node];
            let (fan_in, fan_out) = match (node.op, node.in_shape) {
                (crate::graph::Op::Conv(c), Shape::Image { c: cin, .. }) => {
                    (cin * c.kh * c.kw, c.out * c.kh * c.kw)
                }
                (crate::graph::Op::Dense { out, .. }, Shape::Flat(i)) => (i, out),
                _ => (1, 1),
            };
            let name = &p.name;
            let layer = lit(p.node - 1);
            let shape: Vec<Literal> = p.shape.iter().copied().map(lit).collect();
            let (offset, len) = (lit(p.offset), lit(p.len));
            let (fan_in, fan_out) = (lit(fan_in), lit(fan_out));
            quote!(#k::ParamInfo {
                name: #name,
                layer: #layer,
                shape: &[#(#shape),*],
                offset: #offset,
                len: #len,
                fan_in: #fan_in,
                fan_out: #fan_out,
            })
        })
        .collect()
}

fn plan_table(net: &Network, plan: &Plan) -> Vec<TokenStream> {
    let k = &net.krate;
    plan.infer
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let layers = s.nodes.iter().map(|&n| net.nodes[n].name.as_str()).collect::<Vec<_>>().join(" + ");
            let kernel = match s.op {
                StepOp::Flatten | StepOp::Dropout(_) => "none (a view)".to_string(),
                _ => s.op.describe(),
            };
            let (a, b) = plan.infer.inputs[i];
            let (c, d) = plan.infer.outputs[i];
            let [a, b, c, d] = [a, b, c, d].map(lit);
            quote!(#k::PlanStep { layers: #layers, kernel: #kernel, input: (#a, #b), output: (#c, #d) })
        })
        .collect()
}

/// Borrows of the f32 arena a kernel call needs, split with `carve`.
struct Borrows {
    reads: Vec<(Ident, Region)>,
    writes: Vec<(Ident, Region)>,
}

impl Borrows {
    fn new() -> Self {
        Borrows {
            reads: vec![],
            writes: vec![],
        }
    }
    /// An argument reading `loc`: the caller's input, or a carved region.
    fn read(&mut self, name: &str, loc: Loc, external: TokenStream) -> TokenStream {
        match loc {
            Loc::Arena(r) => {
                let id = format_ident!("{}", name);
                self.reads.push((id.clone(), r));
                quote!(#id)
            }
            Loc::Input | Loc::Output => external,
        }
    }
    fn write(&mut self, name: &str, loc: Loc, external: TokenStream) -> TokenStream {
        match loc {
            Loc::Arena(r) => {
                let id = format_ident!("{}", name);
                self.writes.push((id.clone(), r));
                quote!(#id)
            }
            Loc::Input | Loc::Output => external,
        }
    }
    /// `let ([..], [..]) = carve(&mut *buf, [..], [..]);`
    fn bind(&self, k: &TokenStream, buf: TokenStream) -> TokenStream {
        if self.reads.is_empty() && self.writes.is_empty() {
            return quote!();
        }
        let rn = self.reads.iter().map(|(i, _)| i);
        let rr = self.reads.iter().map(|(_, r)| scaled(*r));
        let wn = self.writes.iter().map(|(i, _)| i);
        let wr = self.writes.iter().map(|(_, r)| scaled(*r));
        quote!(let ([#(#rn),*], [#(#wn),*]) = #k::__private::carve(&mut *#buf, [#(#rr),*], [#(#wr),*]);)
    }
}

fn inference_body(net: &Network, plan: &Plan, names: &[Option<Ident>]) -> TokenStream {
    let k = &net.krate;
    let mut out = Vec::new();
    for (i, step) in plan.infer.steps.iter().enumerate() {
        let inp = Loc::Arena(plan.infer.inputs[i]);
        let outp = Loc::Arena(plan.infer.outputs[i]);
        let mut b = Borrows::new();
        let call = match &step.op {
            StepOp::Flatten | StepOp::Dropout(_) => continue,
            StepOp::Act(a) => {
                let r = scaled(plan.infer.outputs[i]);
                let act = act_tokens(k, *a);
                quote!(#k::ops::activation::forward_in_place(#act, &mut a[#r], None);)
            }
            op => {
                let x = b.read("x", inp, quote!());
                let y = b.write("y", outp, quote!());
                kernel_forward(k, plan, op, names[i].as_ref(), x, y, quote!(None))
            }
        };
        let bind = b.bind(k, quote!(a));
        out.push(quote!({ #bind #call }));
    }
    quote!(#(#out)*)
}

/// A conv step as the runtime describes it (for its kernel choice).
fn conv_spec(
    geom: &Window,
    out_channels: usize,
    algo: Algo,
    act: Act,
    pool: &Option<Window>,
    bias: bool,
) -> cnn_spec::Conv {
    let g = cnn_spec::ConvGeom::new(
        geom.c,
        geom.h,
        geom.w,
        out_channels,
        (geom.kh, geom.kw),
        (geom.sh, geom.sw),
        (geom.ph, geom.pw),
    );
    let pool = pool
        .map(|p| cnn_spec::PoolGeom::new(p.c, p.h, p.w, (p.kh, p.kw), (p.sh, p.sw), (p.ph, p.pw)));
    cnn_spec::Conv {
        geom: g,
        algo: match algo {
            Algo::Direct => cnn_spec::ConvAlgo::Direct,
            Algo::Im2col => cnn_spec::ConvAlgo::Im2col,
            Algo::Pointwise => cnn_spec::ConvAlgo::Pointwise,
        },
        act: match act {
            Act::Identity => cnn_spec::Act::Identity,
            Act::Relu => cnn_spec::Act::Relu,
            Act::Sigmoid => cnn_spec::Act::Sigmoid,
            Act::Tanh => cnn_spec::Act::Tanh,
        },
        pool,
        bias,
        groups: 1,
    }
}

/// The forward kernel call of a non-elementwise step.
fn kernel_forward(
    k: &TokenStream,
    plan: &Plan,
    op: &StepOp,
    desc: Option<&Ident>,
    x: TokenStream,
    y: TokenStream,
    aux: TokenStream,
) -> TokenStream {
    match op {
        StepOp::Conv {
            node,
            geom,
            out_channels,
            algo,
            act,
            pool,
            bias,
        } => {
            let (w, b, _, _) = params_of(plan, *node);
            // The kernel's own entry point, so a binary links only the
            // kernels its network uses.
            let f: TokenStream = conv_spec(geom, *out_channels, *algo, *act, pool, *bias)
                .kernel()
                .entry_point()
                .parse()
                .expect("a runtime path");
            quote! {
                #k::ops::#f(
                    &Self::#desc,
                    #k::ops::Params { weight: #w, bias: #b },
                    #k::ops::Forward { x: #x, y: #y, aux: #aux, n },
                    &mut *scratch,
                );
            }
        }
        StepOp::Dense { node, .. } => {
            let (w, b, _, _) = params_of(plan, *node);
            quote! {
                #k::ops::dense::forward(
                    &Self::#desc,
                    #k::ops::Params { weight: #w, bias: #b },
                    #k::ops::Forward { x: #x, y: #y, aux: #aux, n },
                );
            }
        }
        StepOp::MaxPool(_) => quote!(#k::ops::pool::max_forward(&Self::#desc, #x, #y, #aux, n);),
        StepOp::AvgPool(_) => quote!(#k::ops::pool::avg_forward(&Self::#desc, #x, #y, n);),
        StepOp::Softmax(len) => {
            let len = lit(*len);
            quote!(#k::ops::softmax::forward(#len, #x, #y, n);)
        }
        StepOp::Act(_) | StepOp::Dropout(_) | StepOp::Flatten => {
            unreachable!("element-wise steps are emitted by the caller")
        }
    }
}

fn aux_mut(r: Option<Region>) -> TokenStream {
    match r {
        Some(r) => {
            let r = scaled(r);
            quote!(Some(&mut m[#r]))
        }
        None => quote!(None),
    }
}

fn aux_ref(r: Option<Region>) -> TokenStream {
    match r {
        Some(r) => {
            let r = scaled(r);
            quote!(Some(&m[#r]))
        }
        None => quote!(None),
    }
}

fn train_forward_body(net: &Network, plan: &Plan, names: &[Option<Ident>]) -> TokenStream {
    let k = &net.krate;
    let t = &plan.train;
    let mut out = Vec::new();
    for (i, (step, io)) in t.steps.iter().zip(&t.io).enumerate() {
        let mut b = Borrows::new();
        let call = match &step.op {
            StepOp::Flatten => continue,
            StepOp::Act(a) => {
                let act = act_tokens(k, *a);
                let mask = aux_mut(io.aux);
                if io.input == io.output {
                    let Loc::Arena(r) = io.output else {
                        unreachable!()
                    };
                    let r = scaled(r);
                    quote!(#k::ops::activation::forward_in_place(#act, &mut f[#r], #mask);)
                } else {
                    let x = b.read("x_in", io.input, quote!(x));
                    let y = b.write("y", io.output, quote!());
                    quote!(#k::ops::activation::forward(#act, #x, #y, #mask);)
                }
            }
            StepOp::Dropout(p) => {
                let mask = io.aux.map(scaled).expect("dropout keeps a mask");
                let salt = Literal::u64_suffixed(0x5EED_0000 + i as u64);
                let len = lit(step.out_len);
                if io.input == io.output {
                    let Loc::Arena(r) = io.output else {
                        unreachable!()
                    };
                    let r = scaled(r);
                    quote!(#k::ops::dropout::forward_in_place(#p, ctx.seed ^ #salt, ctx.first_sample, #len, &mut f[#r], &mut m[#mask], n);)
                } else {
                    let x = b.read("x_in", io.input, quote!(x));
                    let y = b.write("y", io.output, quote!());
                    quote! {
                        #y.copy_from_slice(&#x[..n * #len]);
                        #k::ops::dropout::forward_in_place(#p, ctx.seed ^ #salt, ctx.first_sample, #len, #y, &mut m[#mask], n);
                    }
                }
            }
            op => {
                let x = b.read("x_in", io.input, quote!(x));
                let y = b.write("y", io.output, quote!());
                kernel_forward(k, plan, op, names[i].as_ref(), x, y, aux_mut(io.aux))
            }
        };
        let bind = b.bind(k, quote!(f));
        out.push(quote!({ #bind #call }));
    }
    let len = lit(t.logits_len);
    let last = t.io.last().map_or(Loc::Input, |io| io.output);
    let copy = match last {
        Loc::Arena(r) => {
            let r = scaled(r);
            quote!(logits[..n * #len].copy_from_slice(&f[#r]);)
        }
        _ => quote!(logits[..n * #len].copy_from_slice(&x[..n * #len]);),
    };
    quote!(#(#out)* #copy)
}

fn backward_body(net: &Network, plan: &Plan, names: &[Option<Ident>]) -> TokenStream {
    let k = &net.krate;
    let t = &plan.train;
    let mut out = Vec::new();
    for (s, (step, io)) in t.steps.iter().zip(&t.io).enumerate().rev() {
        let first_layer = lit(step.nodes[0] - 1);
        let last_layer = lit(step.nodes.last().unwrap() - 1);
        let has_params = matches!(step.op, StepOp::Conv { .. } | StepOp::Dense { .. });
        if io.d_input.is_none() && !has_params {
            continue;
        }
        let call = backward_step(k, plan, step, io, names[s].as_ref(), &first_layer);
        let Some((bind, call)) = call else { continue };
        out.push(quote! {
            if ctx.first_trainable > #last_layer {
                return;
            }
            { #bind #call }
        });
    }
    quote!(#(#out)*)
}

/// The `carve` binding and the kernel call of one step's backward pass.
fn backward_step(
    k: &TokenStream,
    plan: &Plan,
    step: &Step,
    io: &TrainStepIo,
    desc: Option<&Ident>,
    first_layer: &Literal,
) -> Option<(TokenStream, TokenStream)> {
    let mut b = Borrows::new();
    let out_len = lit(step.out_len);
    let dlog = quote!(&mut dlogits[..n * #out_len]);
    let call = match &step.op {
        StepOp::Flatten => return None,
        StepOp::Conv { node, act, .. } | StepOp::Dense { node, act, .. } => {
            let is_conv = matches!(step.op, StepOp::Conv { .. });
            let (w, _, wr, br) = params_of(plan, *node);
            let x = b.read("x_in", io.input, quote!(x));
            let needs_y = act.needs_output() && !(is_conv && pool_is_some(&step.op));
            let y = if needs_y {
                let y = b.read("y", io.output, quote!());
                quote!(Some(#y))
            } else {
                quote!(None)
            };
            let dy = b.write("dy", io.d_output, dlog.clone());
            let dx = match io.d_input {
                Some(loc) => {
                    let dx = b.write("dx", loc, quote!());
                    quote!(if ctx.first_trainable < #first_layer { Some(#dx) } else { None })
                }
                None => quote!(None),
            };
            let layer = lit(node - 1);
            let wr = fixed(wr);
            let br = match br {
                Some(r) => {
                    let r = fixed(r);
                    quote!(Some(#r))
                }
                None => quote!(None),
            };
            let aux = aux_ref(io.aux);
            let grads = quote!(let (dw, db) = #k::__private::param_grads(grads, #wr, #br, ctx.trainable[#layer]););
            let io = quote!(#k::ops::Backward { x: #x, y: #y, aux: #aux, dy: #dy, dx: #dx, n });
            let g = quote!(#k::ops::Grads { weight: dw, bias: db });
            if is_conv {
                quote! {
                    #grads
                    #k::ops::conv::backward(&Self::#desc, #w, #io, #g, &mut *scratch);
                }
            } else {
                quote! {
                    #grads
                    #k::ops::dense::backward(&Self::#desc, #w, #io, #g);
                }
            }
        }
        op => {
            let d_in = io.d_input?;
            match op {
                StepOp::Act(a) => {
                    let act = act_tokens(k, *a);
                    let y = if a.needs_output() {
                        let y = b.read("y", io.output, quote!());
                        quote!(Some(#y))
                    } else {
                        quote!(None)
                    };
                    let mask = aux_ref(io.aux);
                    if d_in == io.d_output {
                        let d = b.write("d", d_in, quote!());
                        quote!(#k::ops::activation::backward_in_place(#act, #y, #mask, #d);)
                    } else {
                        let dy = b.write("dy", io.d_output, dlog.clone());
                        let dx = b.write("dx", d_in, quote!());
                        quote!(#k::ops::activation::backward(#act, #y, #mask, #dy, #dx);)
                    }
                }
                StepOp::Dropout(p) => {
                    let mask = scaled(io.aux.expect("dropout keeps a mask"));
                    let mask = quote!(&m[#mask]);
                    if d_in == io.d_output {
                        let d = b.write("d", d_in, quote!());
                        quote!(#k::ops::dropout::backward_in_place(#p, #mask, #d);)
                    } else {
                        let dy = b.write("dy", io.d_output, dlog.clone());
                        let dx = b.write("dx", d_in, quote!());
                        quote! {
                            #dx.copy_from_slice(#dy);
                            #k::ops::dropout::backward_in_place(#p, #mask, #dx);
                        }
                    }
                }
                StepOp::MaxPool(_) => {
                    let dy = b.write("dy", io.d_output, dlog.clone());
                    let dx = b.write("dx", d_in, quote!());
                    let mask = scaled(io.aux.expect("max-pool keeps its argmax"));
                    quote!(#k::ops::pool::max_backward(&Self::#desc, &m[#mask], #dy, #dx, n);)
                }
                StepOp::AvgPool(_) => {
                    let dy = b.write("dy", io.d_output, dlog.clone());
                    let dx = b.write("dx", d_in, quote!());
                    quote!(#k::ops::pool::avg_backward(&Self::#desc, #dy, #dx, n);)
                }
                StepOp::Softmax(len) => {
                    let len = lit(*len);
                    let y = b.read("y", io.output, quote!());
                    let dy = b.write("dy", io.d_output, dlog.clone());
                    let dx = b.write("dx", d_in, quote!());
                    quote!(#k::ops::softmax::backward(#len, #y, #dy, #dx, n);)
                }
                _ => unreachable!("handled above"),
            }
        }
    };
    Some((b.bind(k, quote!(f)), call))
}

fn pool_is_some(op: &StepOp) -> bool {
    matches!(op, StepOp::Conv { pool: Some(_), .. })
}

/// What the macro emits for a declaration that has errors: the struct
/// alone, so the user sees the macro's errors rather than a cascade of
/// "cannot find type" errors elsewhere.
pub fn emit_stub(vis: &syn::Visibility, name: &Ident) -> TokenStream {
    quote!(#vis struct #name;)
}
