//! The struct, its arena type and its public constants; then the
//! runtime's `network_api!`, which writes the methods that are the same
//! for every network (constructors, `infer`, files, batches, the
//! `Network` impl) once.

use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

use super::tables;
use super::tokens::{lit, module_name, runtime};
use crate::graph::Network;
use crate::plan::Plan;

pub fn emit(net: &Network, plan: &Plan, embedded: Option<TokenStream>) -> TokenStream {
    let rt = runtime(&net.krate);
    let name = &net.name;
    let vis = &net.vis;
    let attrs = &net.attrs;
    let arena = format_ident!("{}Arena", name, span = name.span());
    let (input, output) = (net.input(), net.output());
    let ip = &plan.infer;
    // `predict` keeps a small arena on the stack, a large one on the heap.
    let arena_bytes = (ip.arena_len + ip.scratch) * 4;
    let predict = Ident::new(
        if arena_bytes <= cnn_spec::tuning::STACK_ARENA_BYTES {
            "stack"
        } else {
            "heap"
        },
        Span::call_site(),
    );
    let doc = format!(
        " Input `{:?}`, output `{:?}`; {} parameters, {} multiply-accumulates per sample.",
        input.dims(),
        output.dims(),
        plan.param_count,
        plan.macs,
    );
    let see = format!(" See [`{name}::summary`] for the layers and the inference plan.");
    let arena_doc = format!(
        " Memory for one [`{name}::infer`] call: [`{name}::ARENA_BYTES`] bytes holding every \
         activation (input included) and the kernels' scratch."
    );
    // Spanned on the network's name: a type of the same name elsewhere is
    // reported there.
    let arena_item = quote_spanned! {name.span()=>
        #[doc = #arena_doc]
        #[allow(dead_code)]
        #vis type #arena = #rt::Arena<{ #name::ARENA_LEN }>;
    };
    let constants = constants(net, plan, &rt);
    let module = module_name(net);
    // Inference reads the parameters as they are, or with batch
    // normalisations folded in (then the struct holds the folded values).
    let (fold, folded_field, with_weights) = if !plan.derives() {
        (
            quote!(plain),
            quote!(),
            quote! {
                #[doc(hidden)]
                pub const fn __with_weights(weights: #rt::Weights) -> Self {
                    #name { weights }
                }
            },
        )
    } else {
        (
            quote!(fold),
            quote!(folded: #rt::Folded,),
            quote! {
                #rt::std_only! {
                    #[doc(hidden)]
                    pub const fn __with_weights(weights: #rt::Weights) -> Self {
                        #name { weights, folded: #rt::Folded::lazy() }
                    }
                }
                #[doc(hidden)]
                pub const fn __with_folded(weights: #rt::Weights, folded: #rt::Folded) -> Self {
                    #name { weights, folded }
                }
            },
        )
    };
    quote! {
        #(#attrs)*
        #[doc = ""]
        #[doc = #doc]
        #[doc = #see]
        #[derive(Clone, Debug)]
        #vis struct #name {
            weights: #rt::Weights,
            #folded_field
        }

        #arena_item

        impl #name {
            #constants
            #embedded
            #with_weights
        }

        #rt::network_api!(#name, #arena, #module, #predict, #fold);
    }
}

/// The public constants: shapes, counts, the memory plan and the tables.
fn constants(net: &Network, plan: &Plan, rt: &TokenStream) -> TokenStream {
    let (input, output) = (net.input(), net.output());
    let in_dims: Vec<Literal> = input.dims().into_iter().map(lit).collect();
    let out_dims: Vec<Literal> = output.dims().into_iter().map(lit).collect();
    let (in_rank, out_rank) = (lit(in_dims.len()), lit(out_dims.len()));
    let (in_len, out_len) = (lit(input.len()), lit(output.len()));
    let params = lit(plan.param_count);
    let infer_params = lit(plan.infer_param_count);
    let trained = lit(plan
        .params
        .iter()
        .filter(|p| p.spec.role.is_trained())
        .map(|p| p.len)
        .sum());
    let macs = Literal::u64_unsuffixed(plan.macs);
    let fused = net.fuse;
    let (activation, scratch) = (lit(plan.infer.arena_len), lit(plan.infer.scratch));
    let layers = tables::layers(net, plan, rt);
    let tensors = tables::params(plan, rt);
    let steps = tables::plan(net, plan, rt);
    quote! {
        /// Shape of one input sample.
        pub const INPUT_SHAPE: [usize; #in_rank] = [#(#in_dims),*];
        /// Values in one input sample.
        pub const INPUT_LEN: usize = #in_len;
        /// Shape of one output sample.
        pub const OUTPUT_SHAPE: [usize; #out_rank] = [#(#out_dims),*];
        /// Values in one output sample.
        pub const OUTPUT_LEN: usize = #out_len;
        /// Number of parameters (weights, biases and buffers).
        pub const PARAM_COUNT: usize = #params;
        /// Number of trained parameters (weights, biases, batch norm
        /// scales and shifts; not buffers): what PyTorch counts as
        /// `sum(p.numel() for p in model.parameters())`.
        pub const TRAINED_PARAM_COUNT: usize = #trained;
        /// Number of parameters inference reads: [`Self::PARAM_COUNT`], then
        /// the weight and bias of each batch normalisation folded into the
        /// conv or dense layer before it, then the transformed weights of
        /// each Winograd convolution (see `inference_weights`).
        pub const INFER_PARAM_COUNT: usize = #infer_params;
        /// Bytes of parameters (f32).
        pub const WEIGHT_BYTES: usize = #params * 4;
        /// Multiply-accumulates of one forward pass for one sample.
        pub const MACS: u64 = #macs;
        /// Activation floats of the inference arena (input included).
        pub const ACTIVATION_LEN: usize = #activation;
        /// Scratch floats the inference kernels need.
        pub const SCRATCH_LEN: usize = #scratch;
        /// Floats of the inference arena: activations, then scratch.
        pub const ARENA_LEN: usize = Self::ACTIVATION_LEN + Self::SCRATCH_LEN;
        /// Bytes of the inference arena.
        pub const ARENA_BYTES: usize = Self::ARENA_LEN * 4;
        /// Whether conv→ReLU→max-pool and similar chains run as fused kernels.
        pub const FUSED: bool = #fused;
        /// The layers, in order.
        pub const LAYERS: &'static [#rt::LayerInfo] = &[#(#layers),*];
        /// The parameter tensors, with PyTorch names and layouts.
        pub const PARAMS: &'static [#rt::ParamInfo] = &[#(#tensors),*];
        /// The kernel calls of single-sample inference and their arena regions.
        pub const PLAN: &'static [#rt::PlanStep] = &[#(#steps),*];
    }
}
