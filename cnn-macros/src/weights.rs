//! Weights compiled into the binary: `#[cnn(weights = "file.safetensors")]`.
//!
//! The file (relative to the crate's `CARGO_MANIFEST_DIR`) is read when the
//! macro expands. Every tensor the network needs must be there with its
//! PyTorch name, shape and dtype F32; each mismatch is a compile error
//! spanned on the layer. The values become a 64-byte-aligned `static` in
//! the network's parameter layout, and an `include_bytes!` of the file
//! (never used, so never linked) makes cargo rebuild when it changes.
//! Preprocessing stored in the file (`preprocess.*`) is compiled in too
//! (see [`crate::preprocess`]).

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
    let preprocessing = crate::preprocess::read(lit, &relative, &bytes, net.input(), diag)?;
    let values = fold(plan, values);
    let mut tokens = items(net, plan, &relative, &path, &values);
    tokens.extend(crate::preprocess::items(
        net,
        &relative,
        &path,
        &preprocessing,
    ));
    Some(Some(tokens))
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
        let dtype = match p.spec.dtype {
            crate::layers::Dtype::F32 => Dtype::F32,
            crate::layers::Dtype::I64 => Dtype::I64,
        };
        if tensor.dtype() != dtype || tensor.shape() != p.spec.shape.as_slice() {
            diag.error(
                &layer.tokens,
                format!(
                    "{}: tensor `{}` in `{shown}` is {:?} with shape {}; the layer needs {dtype:?} with shape {}",
                    layer.name,
                    p.name,
                    tensor.dtype(),
                    shape_text(tensor.shape()),
                    shape_text(&p.spec.shape)
                ),
            );
            continue;
        }
        let out = &mut values[p.offset..p.offset + p.len];
        if dtype == Dtype::I64 {
            // Counters (`num_batches_tracked`), held as floats.
            for (v, chunk) in out.iter_mut().zip(tensor.data().chunks_exact(8)) {
                *v = i64::from_le_bytes(chunk.try_into().expect("8 bytes")) as f32;
            }
        } else {
            for (v, chunk) in out.iter_mut().zip(tensor.data().chunks_exact(4)) {
                *v = f32::from_le_bytes(chunk.try_into().expect("4 bytes"));
            }
        }
    }
    let mut unknown: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| {
            !n.starts_with(crate::preprocess::PREFIX) && !plan.params.iter().any(|p| p.name == **n)
        })
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

/// The inference parameters: `values`, then the folded tensors, then the
/// prepared ones, computed by the same functions the runtime folds and
/// prepares loaded weights with.
fn fold(plan: &Plan, mut values: Vec<f32>) -> Vec<f32> {
    values.resize(plan.infer_param_count, 0.0);
    for f in &plan.folds {
        let range = |p: &crate::plan::ParamSlot| p.offset..p.offset + p.len;
        let [gamma, beta, mean, var] = f.stats.clone().map(|p| values[range(&p)].to_vec());
        let mut weight = values[range(&f.source[0])].to_vec();
        let mut bias = match f.source.get(1) {
            Some(b) => values[range(b)].to_vec(),
            None => vec![0.0; f.channels],
        };
        cnn_spec::fold_batch_norm(
            &mut weight,
            &mut bias,
            f.per_channel,
            cnn_spec::BatchNormParams {
                gamma: &gamma,
                beta: &beta,
                mean: &mean,
                var: &var,
                eps: f.eps,
            },
        );
        values[range(&f.weight)].copy_from_slice(&weight);
        values[range(&f.bias)].copy_from_slice(&bias);
    }
    for p in &plan.prepared {
        let (before, after) = values.split_at_mut(p.slot.offset);
        let source = &before[p.source.offset..p.source.offset + p.source.len];
        cnn_spec::winograd::transform_weights(source, &mut after[..p.slot.len]);
    }
    values
}

/// The `embedded()` constructor and its static: the inference parameters
/// as one byte string (little-endian `f32`s), which the compiler reads far
/// faster than one literal per value.
fn items(
    net: &Network,
    plan: &Plan,
    relative: &str,
    path: &std::path::Path,
    values: &[f32],
) -> TokenStream {
    let rt = crate::emit::runtime(&net.krate);
    let name = &net.name;
    let static_name = format_ident!(
        "__CNN_WEIGHTS_{}",
        syn::ext::IdentExt::unraw(name).to_string().to_uppercase()
    );
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let len = Literal::usize_unsuffixed(bytes.len());
    let data = Literal::byte_string(&bytes);
    let count = Literal::usize_unsuffixed(plan.param_count);
    let abs = path.to_string_lossy().to_string();
    let doc = format!(" The parameters compiled in from `{relative}`.");
    let construct = if !plan.derives() {
        quote!(Self::__with_weights(#rt::Weights::from_static_bytes(&#static_name.0)))
    } else {
        quote! {
            Self::__with_folded(
                #rt::Weights::from_static_bytes(#static_name.0.split_at(#count * 4).0),
                #rt::Folded::from_static_bytes(&#static_name.0),
            )
        }
    };
    quote! {
        #[doc = #doc]
        pub const fn embedded() -> Self {
            // The file is included (and never used) so cargo rebuilds when it changes.
            const _: &[u8] = include_bytes!(#abs);
            const _: () = assert!(
                cfg!(target_endian = "little"),
                "compiled-in weights are little-endian f32s"
            );
            static #static_name: #rt::Aligned<[u8; #len]> = #rt::Aligned(*#data);
            #construct
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
