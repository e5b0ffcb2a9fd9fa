//! The `LAYERS`, `PARAMS` and `PLAN` tables.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::tokens::lit;
use crate::graph::Network;
use crate::layers::Exec;
use crate::plan::{Loc, Plan};

/// One `LayerInfo` per layer.
pub fn layers(net: &Network, plan: &Plan, rt: &TokenStream) -> Vec<TokenStream> {
    let mut step_of = vec![0usize; net.nodes.len()];
    for (i, s) in plan.infer.steps.iter().enumerate() {
        for &n in &s.nodes {
            step_of[n] = i;
        }
    }
    net.nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let name = &node.name;
            let kind = node.layer.keyword();
            let type_name = node.layer.type_name();
            let shape = net.out_shape(i).dims().into_iter().map(lit);
            let params = lit(net.param_count(i));
            let macs = Literal::u64_unsuffixed(net.macs(i));
            let step = lit(step_of[i]);
            quote!(#rt::LayerInfo {
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

/// One `ParamInfo` per parameter tensor.
pub fn params(plan: &Plan, rt: &TokenStream) -> Vec<TokenStream> {
    plan.params
        .iter()
        .map(|p| {
            let name = &p.name;
            let layer = lit(p.node);
            let role = p.spec.role.tokens(rt);
            let dtype = match p.spec.dtype {
                crate::layers::Dtype::F32 => quote!(#rt::Dtype::F32),
                crate::layers::Dtype::I64 => quote!(#rt::Dtype::I64),
            };
            let shape = p.spec.shape.iter().copied().map(lit);
            let (offset, len) = (lit(p.offset), lit(p.len));
            let (fan_in, fan_out) = (lit(p.spec.fan_in), lit(p.spec.fan_out));
            quote!(#rt::ParamInfo {
                name: #name,
                layer: #layer,
                role: #role,
                dtype: #dtype,
                shape: &[#(#shape),*],
                offset: #offset,
                len: #len,
                fan_in: #fan_in,
                fan_out: #fan_out,
            })
        })
        .collect()
}

/// One `PlanStep` per inference step.
pub fn plan(net: &Network, plan: &Plan, rt: &TokenStream) -> Vec<TokenStream> {
    let ip = &plan.infer;
    ip.steps
        .iter()
        .map(|s| {
            let layers = s
                .nodes
                .iter()
                .map(|&n| net.nodes[n].name.as_str())
                .collect::<Vec<_>>()
                .join(" + ");
            let kernel = match s.exec(false) {
                Exec::View => "none (a view)".to_string(),
                _ => s.layer.describe(s.shapes),
            };
            let (a, b) = ip.region(s.input());
            let (c, d) = ip.region(s.output);
            let (e, f) = match ip.place(s.output) {
                Loc::Slot { concat, .. } => concat,
                _ => (c, d),
            };
            let [a, b, c, d, e, f] = [a, b, c, d, e, f].map(lit);
            quote!(#rt::PlanStep {
                layers: #layers,
                kernel: #kernel,
                input: (#a, #b),
                output: (#c, #d),
                output_within: (#e, #f),
            })
        })
        .collect()
}
