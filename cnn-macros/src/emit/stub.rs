//! What stands in for a network declaration with errors: every item the
//! declaration would have generated, with the sizes that could be told
//! and functions that do nothing, so that the user sees the macro's errors
//! and not a cascade of "no associated item" errors from the code that
//! uses the network.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::tokens::{lit, runtime, runtime_in_module};
use crate::ast::NetworkDecl;
use crate::graph::Partial;
use crate::shape::Shape;

pub fn emit_stub(decl: &NetworkDecl, known: Partial) -> TokenStream {
    let krate = decl.options.krate();
    let rt = runtime(&krate);
    let inner = runtime_in_module(&krate);
    let name = &decl.name;
    let vis = &decl.vis;
    let attrs = &decl.attrs;
    let arena = format_ident!("{}Arena", name, span = name.span());
    let module = format_ident!("__{}", name);
    let dims = |s: Option<Shape>| s.map_or_else(Vec::new, |s| s.dims());
    let len = |s: Option<Shape>| s.map_or(0, |s| s.len());
    let (in_len, out_len) = (len(known.input), len(known.output));
    let activation = lit(in_len + out_len);
    let in_dims: Vec<_> = dims(known.input).into_iter().map(lit).collect();
    let out_dims: Vec<_> = dims(known.output).into_iter().map(lit).collect();
    let (in_rank, out_rank) = (lit(in_dims.len()), lit(out_dims.len()));
    let (out_start, out_end) = (lit(in_len), lit(in_len + out_len));
    let (in_len, out_len) = (lit(in_len), lit(out_len));
    let embedded = decl.options.weights.as_ref().map(|_| {
        quote! {
            /// The compiled-in parameters.
            pub const fn embedded() -> Self {
                Self::from_static(&[])
            }

            /// The compiled-in preprocessing.
            pub const PREPROCESSING: #rt::preprocess::Preprocess<'static> =
                #rt::preprocess::Preprocess::None;

            /// Values in one raw sample.
            pub const RAW_LEN: usize = Self::INPUT_LEN;

            /// Runs one raw sample.
            pub fn infer_raw(
                &self,
                raw: &[f32; Self::RAW_LEN],
                arena: &mut #rt::Arena<{ #name::ARENA_LEN }>,
            ) -> [f32; Self::OUTPUT_LEN] {
                self.infer(raw, arena)
            }

            /// Runs the raw sample in the arena's input.
            pub fn infer_raw_in_place(
                &self,
                arena: &mut #rt::Arena<{ #name::ARENA_LEN }>,
            ) -> [f32; Self::OUTPUT_LEN] {
                self.infer_in_place(arena)
            }
        }
    });
    quote! {
        #(#attrs)*
        #[derive(Clone, Debug)]
        #vis struct #name {
            weights: #rt::Weights,
        }

        #[allow(dead_code)]
        #vis type #arena = #rt::Arena<{ #name::ARENA_LEN }>;

        #[allow(dead_code, unused_variables)]
        impl #name {
            pub const INPUT_SHAPE: [usize; #in_rank] = [#(#in_dims),*];
            pub const INPUT_LEN: usize = #in_len;
            pub const OUTPUT_SHAPE: [usize; #out_rank] = [#(#out_dims),*];
            pub const OUTPUT_LEN: usize = #out_len;
            pub const PARAM_COUNT: usize = 0;
            pub const TRAINED_PARAM_COUNT: usize = 0;
            pub const INFER_PARAM_COUNT: usize = 0;
            pub const WEIGHT_BYTES: usize = 0;
            pub const MACS: u64 = 0;
            pub const ACTIVATION_LEN: usize = #activation;
            pub const SCRATCH_LEN: usize = 0;
            pub const ARENA_LEN: usize = Self::ACTIVATION_LEN;
            pub const ARENA_BYTES: usize = Self::ARENA_LEN * 4;
            pub const FUSED: bool = true;
            pub const LAYERS: &'static [#rt::LayerInfo] = &[];
            pub const PARAMS: &'static [#rt::ParamInfo] = &[];
            pub const PLAN: &'static [#rt::PlanStep] = &[];
            #embedded

            pub fn forward_arena_impl(w: &[f32], arena: &mut [f32], n: usize) {}
            pub fn forward_until_impl(w: &[f32], arena: &mut [f32], n: usize, last: usize) {}
            pub fn forward_steps_impl(w: &[f32], arena: &mut [f32], n: usize, first: usize, last: usize) {}
            pub fn forward_inner_impl(w: &[f32], arena: &mut [f32], n: usize, layer: usize, out: &mut [f32]) -> bool { false }
            pub fn forward_train_impl(
                w: &[f32],
                input: &[f32],
                logits: &mut [f32],
                n: usize,
                arena: #rt::TrainArena<'_>,
                ctx: &#rt::StepContext<'_>,
            ) {
            }
            pub fn backward_impl(
                w: &[f32],
                input: &[f32],
                dlogits: &mut [f32],
                n: usize,
                arena: #rt::TrainArena<'_>,
                grads: &mut [f32],
                ctx: &#rt::StepContext<'_>,
            ) {
            }
            pub fn update_buffers_impl(w: &mut [f32], stats: &[f64]) {}
            #[doc(hidden)]
            pub const fn __with_weights(weights: #rt::Weights) -> Self {
                #name { weights }
            }
        }

        #[allow(non_snake_case)]
        mod #module {
            use #inner;
            pub const INPUT: v1::Region = v1::Region::new(0, #in_len);
            pub const OUTPUT: v1::Region = v1::Region::new(#out_start, #out_end);
            pub const TRAIN: v1::TrainLayout = v1::TrainLayout { f32_len: 0, u8_len: 0, scratch_len: 0, stats_len: 0, input_grad: None };
            pub const HEAD: v1::Head = v1::Head::None;
            pub const TAIL: ::core::option::Option<v1::BatchTail> = ::core::option::Option::None;
            pub const LOGITS_LEN: usize = #out_len;
        }

        #rt::network_api!(#name, #arena, #module, stack, plain);
    }
}
