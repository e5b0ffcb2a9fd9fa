//! Weights compiled into the binary: `#[cnn(weights = "file.safetensors")]`.
//!
//! The file (relative to the crate's `CARGO_MANIFEST_DIR`) is read when the
//! macro expands. Every tensor the network needs must be there with its
//! PyTorch name, shape and dtype F32; each mismatch is a compile error
//! spanned on the layer. The values become a 64-byte-aligned `static` in
//! the network's parameter layout, and an `include_bytes!` of the file
//! (never used, so never linked) makes cargo rebuild when it changes.

use std::path::PathBuf;

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use safetensors::tensor::{Dtype, SafeTensors};

use crate::ast::NetworkDecl;
use crate::diag::Diagnostics;
use crate::graph::Network;
use crate::plan::Plan;

fn shape_text(s: &[usize]) -> String {
    let parts: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// The items that embed the network's weights: `Some(None)` when the
/// network has no `weights` option, `None` after an error (recorded).
pub fn embed(
    decl: &NetworkDecl,
    net: &Network,
    plan: &Plan,
    diag: &mut Diagnostics,
) -> Option<Option<TokenStream>> {
    let Some(lit) = &decl.options.weights else {
        return Some(None);
    };
    let relative = lit.value();
    let base = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = base.join(&relative);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            let e = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file".to_string(),
                _ => e.to_string(),
            };
            diag.error(
                lit,
                format!(
                    "cannot read the weights file `{relative}` ({e}); the path is relative \
                     to the crate's directory (CARGO_MANIFEST_DIR)"
                ),
            );
            return None;
        }
    };
    let values = check(lit, &relative, &bytes, decl, net, plan, diag)?;
    Some(Some(items(net, plan, &relative, &path, &values)))
}

/// The network's parameters from the safetensors `bytes`, every mismatch
/// recorded as an error on the layer (or on the attribute).
fn check(
    lit: &syn::LitStr,
    shown: &str,
    bytes: &[u8],
    decl: &NetworkDecl,
    net: &Network,
    plan: &Plan,
    diag: &mut Diagnostics,
) -> Option<Vec<f32>> {
    let file = match SafeTensors::deserialize(bytes) {
        Ok(f) => f,
        Err(e) => {
            diag.error(
                lit,
                format!("`{shown}` is not a valid safetensors file: {e}"),
            );
            return None;
        }
    };
    let before = diag.len();
    let mut values = vec![0.0f32; plan.param_count];
    for p in &plan.params {
        let layer = &net.nodes[p.node];
        let tensor = match file.tensor(&p.name) {
            Ok(t) => t,
            Err(_) => {
                diag.error(
                    &layer.tokens,
                    format!(
                        "{}: the weights file `{shown}` has no tensor `{}` (shape {})",
                        layer.name,
                        p.name,
                        shape_text(&p.spec.shape)
                    ),
                );
                continue;
            }
        };
        if tensor.dtype() != Dtype::F32 || tensor.shape() != p.spec.shape.as_slice() {
            diag.error(
                &layer.tokens,
                format!(
                    "{}: tensor `{}` in `{shown}` is {:?} with shape {}; the layer needs F32 with shape {}",
                    layer.name,
                    p.name,
                    tensor.dtype(),
                    shape_text(tensor.shape()),
                    shape_text(&p.spec.shape)
                ),
            );
            continue;
        }
        for (v, chunk) in values[p.offset..p.offset + p.len]
            .iter_mut()
            .zip(tensor.data().chunks_exact(4))
        {
            *v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
    }
    let mut unknown: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| !plan.params.iter().any(|p| p.name == **n))
        .map(|n| format!("`{n}`"))
        .collect();
    if !unknown.is_empty()
        && !decl
            .options
            .ignore_unknown
            .as_ref()
            .is_some_and(|b| b.value)
    {
        unknown.sort();
        diag.error(
            lit,
            format!(
                "`{shown}` has tensors the network does not: {}; add `ignore_unknown = true` \
                 to the #[cnn(...)] attribute to skip them",
                unknown.join(", ")
            ),
        );
    }
    (diag.len() == before).then_some(values)
}

/// The `embedded()` constructor and its static.
fn items(
    net: &Network,
    plan: &Plan,
    relative: &str,
    path: &std::path::Path,
    values: &[f32],
) -> TokenStream {
    let rt = crate::emit::runtime(&net.krate);
    let name = &net.name;
    let static_name = format_ident!("__CNN_WEIGHTS_{}", name.to_string().to_uppercase());
    let count = Literal::usize_unsuffixed(plan.param_count);
    let literals = values.iter().map(|&v| {
        if v.is_finite() {
            let l = Literal::f32_suffixed(v);
            quote!(#l)
        } else {
            let bits = Literal::u32_suffixed(v.to_bits());
            quote!(f32::from_bits(#bits))
        }
    });
    let abs = path.to_string_lossy().to_string();
    let doc = format!(" The parameters compiled in from `{relative}`.");
    quote! {
        #[doc = #doc]
        pub const fn embedded() -> Self {
            // The file is included (and never used) so cargo rebuilds when it changes.
            const _: &[u8] = include_bytes!(#abs);
            #[allow(clippy::approx_constant, clippy::excessive_precision)]
            static #static_name: #rt::Aligned<[f32; #count]> = #rt::Aligned([#(#literals),*]);
            Self::from_static(&#static_name.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_invocation;
    use quote::quote;
    use safetensors::tensor::TensorView;

    fn file(tensors: &[(&str, Dtype, Vec<usize>)]) -> Vec<u8> {
        let data: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, d, s)| vec![0u8; s.iter().product::<usize>() * d.bitsize() / 8])
            .collect();
        let views: Vec<(&str, TensorView)> = tensors
            .iter()
            .zip(&data)
            .map(|((n, d, s), b)| (*n, TensorView::new(*d, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn errors(tensors: &[(&str, Dtype, Vec<usize>)]) -> Vec<String> {
        let mut diag = Diagnostics::default();
        let inv = parse_invocation(
            quote! {
                #[cnn(weights = "w.safetensors")]
                struct Net { input: [2, 6, 6], conv1: conv(3, kernel = 3), relu, flatten, fc: dense(4) }
            },
            &mut diag,
        );
        let decl = &inv.networks[0];
        let net = crate::graph::build(decl, &[], &mut diag).ok().unwrap();
        let plan = crate::plan::plan(&net);
        let lit = decl.options.weights.as_ref().unwrap();
        let got = check(
            lit,
            "w.safetensors",
            &file(tensors),
            decl,
            &net,
            &plan,
            &mut diag,
        );
        assert_eq!(got.is_some(), diag.is_empty());
        diag.messages()
    }

    fn good() -> Vec<(&'static str, Dtype, Vec<usize>)> {
        vec![
            ("conv1.weight", Dtype::F32, vec![3, 2, 3, 3]),
            ("conv1.bias", Dtype::F32, vec![3]),
            ("fc.weight", Dtype::F32, vec![4, 48]),
            ("fc.bias", Dtype::F32, vec![4]),
        ]
    }

    #[test]
    fn a_matching_file_loads() {
        assert!(errors(&good()).is_empty());
    }

    #[test]
    fn every_mismatch_is_reported_on_its_layer() {
        let mut t = good();
        t[0].2 = vec![3, 2, 5, 5];
        t[3].1 = Dtype::F64;
        t.remove(2);
        t.push(("bn.weight", Dtype::F32, vec![3]));
        assert_eq!(
            errors(&t),
            [
                "conv1: tensor `conv1.weight` in `w.safetensors` is F32 with shape [3, 2, 5, 5]; the layer needs F32 with shape [3, 2, 3, 3]",
                "fc: the weights file `w.safetensors` has no tensor `fc.weight` (shape [4, 48])",
                "fc: tensor `fc.bias` in `w.safetensors` is F64 with shape [4]; the layer needs F32 with shape [4]",
                "`w.safetensors` has tensors the network does not: `bn.weight`; add `ignore_unknown = true` to the #[cnn(...)] attribute to skip them",
            ]
        );
    }

    #[test]
    fn not_safetensors() {
        let mut diag = Diagnostics::default();
        let inv = parse_invocation(
            quote! { #[cnn(weights = "w")] struct Net { input: [2], dense(1) } },
            &mut diag,
        );
        let decl = &inv.networks[0];
        let net = crate::graph::build(decl, &[], &mut diag).ok().unwrap();
        let plan = crate::plan::plan(&net);
        let lit = decl.options.weights.as_ref().unwrap();
        assert!(check(lit, "w", b"not a file", decl, &net, &plan, &mut diag).is_none());
        assert!(diag.messages()[0].starts_with("`w` is not a valid safetensors file"));
    }
}
