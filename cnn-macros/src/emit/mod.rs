//! Pass 4: the generated Rust, split by concern:
//!
//! - [`api`]: the struct, its arena type, the public constants and the
//!   runtime's `network_api!`, which writes everything that is the same
//!   for every network (constructors, `infer`, files, batches, the
//!   `Network` impl) once, in the runtime;
//! - [`tables`]: the `LAYERS`, `PARAMS` and `PLAN` tables;
//! - [`module`]: a hidden module of named constants: kernel descriptors
//!   with literal sizes, parameter ranges, layer indices, and the arena
//!   region of every value;
//! - [`infer`] and [`train`]: straight-line kernel calls on named regions;
//! - [`stub`]: what stands in for a network with errors.
//!
//! The generated code reaches the runtime only through one doc-hidden,
//! versioned path, `<crate>::__private::v1`.

mod api;
mod infer;
mod module;
mod stub;
mod tables;
mod tokens;
mod train;

use proc_macro2::{Ident, TokenStream};
use quote::quote;

use crate::graph::Network;
use crate::plan::Plan;

pub use stub::emit_stub;
pub use tokens::runtime;
use tokens::{lit, region_tokens};

pub fn emit(net: &Network, plan: &Plan, embedded: Option<TokenStream>) -> TokenStream {
    let names = module::Names::new(net, plan);
    let mut module = module::Module::new(net);
    let inference = infer::emit(net, plan, &names, &mut module);
    let training = train::emit(net, plan, &names, &mut module);
    layouts(net, plan, &mut module);
    let api = api::emit(net, plan, embedded);
    let module = module.emit();
    let name = &net.name;
    quote! {
        #api
        #module
        impl #name {
            #inference
            #training
        }
    }
}

/// The module's top constants the runtime's `network_api!` reads: where
/// the input and output are in the inference arena, and the training
/// plan's sizes and loss head.
fn layouts(net: &Network, plan: &Plan, module: &mut module::Module) {
    let rt = module.runtime().clone();
    let ip = &plan.infer;
    let input = region_tokens(&rt, ip.region(crate::graph::INPUT));
    let output = region_tokens(&rt, ip.region(net.output));
    module.top(
        "Where the input is in the inference arena.",
        "INPUT",
        quote!(#rt::Region),
        input,
    );
    module.top(
        "Where the output is in the inference arena.",
        "OUTPUT",
        quote!(#rt::Region),
        output,
    );
    let tail = match plan.batch_tail(net) {
        Some(t) => {
            let (step, params) = (lit(t.step), lit(t.params));
            let (a, b) = (lit(t.input.0), lit(t.input.1));
            quote!(::core::option::Option::Some(#rt::BatchTail {
                step: #step,
                input: (#a, #b),
                params: #params,
            }))
        }
        None => quote!(::core::option::Option::None),
    };
    module.top(
        "The last steps of the inference plan that batched inference runs on a whole group \
         of samples at once (the steps that read each weight at most once per sample).",
        "TAIL",
        quote!(::core::option::Option<#rt::BatchTail>),
        tail,
    );
    let tp = &plan.train;
    let (f, u, s, st) = (
        lit(tp.f32_len),
        lit(tp.u8_len),
        lit(tp.scratch),
        lit(tp.stats_len),
    );
    let input_grad = match tp.input_grad {
        Some((a, b)) => {
            let (a, b) = (lit(a), lit(b));
            quote!(::core::option::Option::Some((#a, #b)))
        }
        None => quote!(::core::option::Option::None),
    };
    module.top(
        "The training arenas: floats and bytes per sample, scratch floats, the `f64` \
         statistics of a step, and where the input's gradient is left.",
        "TRAIN",
        quote!(#rt::TrainLayout),
        quote!(#rt::TrainLayout {
            f32_len: #f,
            u8_len: #u,
            scratch_len: #s,
            stats_len: #st,
            input_grad: #input_grad,
        }),
    );
    let head = Ident::new(
        match tp.head {
            None => "None",
            Some(crate::layers::Head::Softmax) => "Softmax",
            Some(crate::layers::Head::Sigmoid) => "Sigmoid",
        },
        proc_macro2::Span::call_site(),
    );
    module.top(
        "The final activation the loss absorbs in training.",
        "HEAD",
        quote!(#rt::Head),
        quote!(#rt::Head::#head),
    );
    let logits = lit(tp.logits_len);
    module.top(
        "Values per sample of the training forward pass's result.",
        "LOGITS_LEN",
        quote!(usize),
        quote!(#logits),
    );
}
