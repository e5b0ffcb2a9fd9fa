//! Preprocessing compiled in with the weights: a weights file whose
//! metadata says `preprocess = "per_sample"` or `"per_channel"` (with the
//! tensors `preprocess.mean` and `preprocess.std`, F32 `[C]`) gives the
//! network a `PREPROCESSING` constant and `infer_raw` /
//! `infer_raw_in_place` methods that apply it before inference. The file
//! format is the runtime's (`cnn_runtime::data::preprocessing`); every
//! problem is a compile error on the `weights = "..."` literal naming the
//! tensor and the shapes.

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use safetensors::tensor::{Dtype, SafeTensors};

use crate::diag::Diagnostics;
use crate::graph::Network;
use crate::shape::Shape;

/// The prefix of the preprocessing tensors.
pub const PREFIX: &str = "preprocess.";
const MEAN: &str = "preprocess.mean";
const STD: &str = "preprocess.std";
/// The format versions read.
const VERSION: u32 = 1;

/// What the file asks for.
#[derive(Debug, PartialEq)]
pub enum Found {
    None,
    PerSample,
    PerChannel { mean: Vec<f32>, std: Vec<f32> },
}

fn shape_text(s: &[usize]) -> String {
    let parts: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

/// Reads the preprocessing of the safetensors `bytes` (already known to be
/// valid) for a network whose input is `input`; errors are recorded on
/// `lit` and give `None`.
pub fn read(
    lit: &syn::LitStr,
    shown: &str,
    bytes: &[u8],
    input: Shape,
    diag: &mut Diagnostics,
) -> Option<Found> {
    let mut error = |message: String| {
        diag.error(lit, message);
        None
    };
    let (Ok((_, header)), Ok(file)) = (
        SafeTensors::read_metadata(bytes),
        SafeTensors::deserialize(bytes),
    ) else {
        return error(format!("`{shown}` is not a valid safetensors file"));
    };
    let stored: Vec<String> = {
        let mut n: Vec<String> = file
            .names()
            .into_iter()
            .filter(|n| n.starts_with(PREFIX))
            .map(|n| n.to_string())
            .collect();
        n.sort();
        n
    };
    let quoted = |names: &[String]| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let meta = header.metadata().clone().unwrap_or_default();
    let Some(kind) = meta.get("preprocess") else {
        if stored.is_empty() {
            return Some(Found::None);
        }
        return error(format!(
            "`{shown}` has preprocessing tensors ({}) but no `preprocess` metadata naming their \
             kind",
            quoted(&stored)
        ));
    };
    let version = meta
        .get("preprocess.version")
        .map(String::as_str)
        .unwrap_or("1");
    if !version
        .parse::<u32>()
        .is_ok_and(|v| (1..=VERSION).contains(&v))
    {
        return error(format!(
            "`{shown}` has preprocessing format version `{version}`; this build reads versions \
             1 to {VERSION}"
        ));
    }
    let expected: &[&str] = match kind.as_str() {
        "per_sample" => &[],
        "per_channel" => &[MEAN, STD],
        "whitening" => {
            return error(format!(
                "`{shown}` carries whitening preprocessing, which cannot be compiled in (a ZCA \
                 matrix has dim x dim values: 37 MB for 3x32x32 images); load the file at run \
                 time with `cnn::Model::load`, or save the model with per-channel preprocessing"
            ))
        }
        other => {
            return error(format!(
                "`{shown}` has unknown preprocessing `{other}` (metadata `preprocess`); this \
                 build reads `per_sample`, `per_channel` and `whitening`"
            ))
        }
    };
    let unexpected: Vec<String> = stored
        .iter()
        .filter(|n| !expected.contains(&n.as_str()))
        .cloned()
        .collect();
    if !unexpected.is_empty() {
        return error(format!(
            "`{shown}` has unexpected tensors {} for preprocessing `{kind}`",
            quoted(&unexpected)
        ));
    }
    if kind == "per_sample" {
        return Some(Found::PerSample);
    }
    let channels = match input {
        Shape::Image { c, .. } => c,
        Shape::Flat(_) => 1,
    };
    let what = match input {
        Shape::Image { .. } => "one value per channel",
        Shape::Flat(_) => "one global value for an input that is not [C, H, W]",
    };
    let mut values = Vec::new();
    for name in [MEAN, STD] {
        let Ok(t) = file.tensor(name) else {
            return error(format!(
                "`{shown}` has per-channel preprocessing but no tensor `{name}` (F32 with shape \
                 [{channels}], {what} of the input {})",
                shape_text(&input.dims())
            ));
        };
        if t.dtype() != Dtype::F32 || t.shape() != [channels] {
            return error(format!(
                "tensor `{name}` in `{shown}` is {:?} with shape {}; the network's input {} \
                 needs F32 with shape [{channels}] ({what})",
                t.dtype(),
                shape_text(t.shape()),
                shape_text(&input.dims())
            ));
        }
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        values.push(v);
    }
    let std = values.pop().unwrap_or_default();
    let mean = values.pop().unwrap_or_default();
    if let Some(c) = mean
        .iter()
        .zip(&std)
        .position(|(m, s)| !m.is_finite() || !s.is_finite() || *s < 0.0)
    {
        return error(format!(
            "`{MEAN}` and `{STD}` in `{shown}` are {} and {} at channel {c}: statistics must be \
             finite, standard deviations >= 0",
            mean[c], std[c]
        ));
    }
    Some(Found::PerChannel { mean, std })
}

/// The items `found` adds to the network's `impl` block.
pub fn items(net: &Network, shown: &str, found: &Found) -> TokenStream {
    let rt = crate::emit::runtime(&net.krate);
    let name = &net.name;
    let bits = |v: &[f32]| -> Vec<TokenStream> {
        v.iter()
            .map(|x| {
                let b = Literal::u32_suffixed(x.to_bits());
                quote!(f32::from_bits(#b))
            })
            .collect()
    };
    let (value, doc) = match found {
        Found::None => return TokenStream::new(),
        Found::PerSample => (
            quote!(#rt::preprocess::Preprocess::PerSample),
            format!(
                " The preprocessing compiled in from `{shown}`: each sample standardised \
                 with its own mean and standard deviation."
            ),
        ),
        Found::PerChannel { mean, std } => {
            let (m, s) = (bits(mean), bits(std));
            (
                quote!(#rt::preprocess::Preprocess::PerChannel { mean: &[#(#m),*], std: &[#(#s),*] }),
                format!(
                    " The preprocessing compiled in from `{shown}`: `x = (x - mean[c]) / \
                     (std[c] + 1e-8)` per channel, with mean {mean:?} and std {std:?}."
                ),
            )
        }
    };
    quote! {
        #[doc = #doc]
        pub const PREPROCESSING: #rt::preprocess::Preprocess<'static> = #value;

        /// Runs one raw sample: applies [`Self::PREPROCESSING`] to it, then
        /// runs the network as [`Self::infer`] does. `infer` itself takes
        /// preprocessed input. Allocates nothing and cannot panic.
        pub fn infer_raw(
            &self,
            raw: &[f32; Self::INPUT_LEN],
            arena: &mut #rt::Arena<{ #name::ARENA_LEN }>,
        ) -> [f32; Self::OUTPUT_LEN] {
            *Self::arena_input(arena) = *raw;
            self.infer_raw_in_place(arena)
        }

        /// As [`Self::infer_raw`], for the raw sample already written to
        /// [`Self::arena_input`]: preprocesses it there and runs the network.
        pub fn infer_raw_in_place(
            &self,
            arena: &mut #rt::Arena<{ #name::ARENA_LEN }>,
        ) -> [f32; Self::OUTPUT_LEN] {
            Self::PREPROCESSING.apply(Self::arena_input(arena));
            self.infer_in_place(arena)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;
    use std::collections::HashMap;

    /// A file with a weight `fc.weight`, `tensors` and the metadata `meta`.
    fn file(tensors: &[(&str, Vec<usize>, Vec<f32>)], meta: &[(&str, &str)]) -> Vec<u8> {
        let mut tensors = tensors.to_vec();
        tensors.push(("fc.weight", vec![1], vec![0.5]));
        let data: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect();
        let views: Vec<(&str, TensorView)> = tensors
            .iter()
            .zip(&data)
            .map(|((n, s, _), b)| (*n, TensorView::new(Dtype::F32, s.clone(), b).unwrap()))
            .collect();
        let meta: HashMap<String, String> = meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        safetensors::serialize(views, Some(meta)).unwrap()
    }

    fn read_file(bytes: &[u8], input: Shape) -> Result<Found, Vec<String>> {
        let mut diag = Diagnostics::default();
        let lit: syn::LitStr = syn::parse_quote!("m.safetensors");
        match read(&lit, "m.safetensors", bytes, input, &mut diag) {
            Some(found) if diag.is_empty() => Ok(found),
            _ => Err(diag.messages()),
        }
    }

    const IMAGE: Shape = Shape::Image { c: 2, h: 3, w: 3 };

    #[test]
    fn kinds() {
        assert_eq!(read_file(&file(&[], &[]), IMAGE), Ok(Found::None));
        let per_sample = file(&[], &[("preprocess", "per_sample")]);
        assert_eq!(read_file(&per_sample, IMAGE), Ok(Found::PerSample));
        let stats = [
            ("preprocess.mean", vec![2], vec![1.0, 2.0]),
            ("preprocess.std", vec![2], vec![0.5, 0.0]),
        ];
        let per_channel = file(&stats, &[("preprocess", "per_channel")]);
        assert_eq!(
            read_file(&per_channel, IMAGE),
            Ok(Found::PerChannel {
                mean: vec![1.0, 2.0],
                std: vec![0.5, 0.0]
            })
        );
    }

    #[test]
    fn errors_name_the_tensor_and_the_shapes() {
        let three = [
            ("preprocess.mean", vec![3], vec![0.0; 3]),
            ("preprocess.std", vec![3], vec![1.0; 3]),
        ];
        let e = read_file(&file(&three, &[("preprocess", "per_channel")]), IMAGE).unwrap_err();
        assert_eq!(
            e,
            [
                "tensor `preprocess.mean` in `m.safetensors` is F32 with shape [3]; the network's \
              input [2, 3, 3] needs F32 with shape [2] (one value per channel)"
            ]
        );
        // A flat input takes one global value.
        let e = read_file(
            &file(&three, &[("preprocess", "per_channel")]),
            Shape::Flat(6),
        );
        assert!(e.unwrap_err()[0].contains("shape [1] (one global value"));
        let e = read_file(&file(&three[..1], &[]), IMAGE).unwrap_err();
        assert!(e[0].contains("no `preprocess` metadata"), "{e:?}");
        let e = read_file(&file(&[], &[("preprocess", "whitening")]), IMAGE).unwrap_err();
        assert!(e[0].contains("cannot be compiled in"), "{e:?}");
        let e = read_file(&file(&[], &[("preprocess", "x")]), IMAGE).unwrap_err();
        assert!(e[0].contains("unknown preprocessing `x`"), "{e:?}");
        let newer = [("preprocess", "per_sample"), ("preprocess.version", "9")];
        let e = read_file(&file(&[], &newer), IMAGE).unwrap_err();
        assert!(e[0].contains("version `9`"), "{e:?}");
        let nan = [
            ("preprocess.mean", vec![2], vec![0.0, f32::NAN]),
            ("preprocess.std", vec![2], vec![1.0; 2]),
        ];
        let e = read_file(&file(&nan, &[("preprocess", "per_channel")]), IMAGE).unwrap_err();
        assert!(
            e[0].contains("at channel 1") && e[0].contains("finite"),
            "{e:?}"
        );
        let e = read_file(&file(&nan[..1], &[("preprocess", "per_channel")]), IMAGE).unwrap_err();
        assert!(e[0].contains("no tensor `preprocess.std`"), "{e:?}");
    }
}
