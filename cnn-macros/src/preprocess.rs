//! Preprocessing compiled in with the weights: a weights file whose
//! metadata says `preprocess = "per_sample"`, `"per_channel"` (with the
//! tensors `preprocess.mean` and `preprocess.std`, F32 `[C]`) or
//! `"whitening"` (with `preprocess.whitening.matrix`, F32 `[dim, out]`, and
//! the mean, components and variances it was made from) gives the network
//! a `PREPROCESSING` constant, `RAW_LEN` and an `infer_raw` method that
//! applies it before inference (and, for the standardisations, which work
//! in place, `infer_raw_in_place`). The file format is the runtime's
//! (`cnn_runtime::data::preprocessing`); every problem is a compile error
//! on the `weights = "..."` literal naming the tensor and the shapes.
//!
//! A whitening matrix can be large (`dim x out` values: 2.4 MB of `f32`
//! for a ZCA of 28x28 images, 37 MB for 3x32x32), so it is not written out
//! as tokens: the generated code `include_bytes!`s the file and copies the
//! matrix's bytes out of it at compile time into a `static` of exactly
//! those bytes (the rest of the file is not linked), which the runtime
//! reads as little-endian `f32`s. The mean (`dim` values) is embedded as a
//! byte string.

use proc_macro2::{Literal, TokenStream};
use quote::quote;
use safetensors::tensor::{Dtype, SafeTensors};

use crate::diag::Diagnostics;
use crate::graph::Network;
use crate::shape::Shape;

mod whitening;

/// The prefix of the preprocessing tensors.
pub const PREFIX: &str = "preprocess.";
const MEAN: &str = "preprocess.mean";
const STD: &str = "preprocess.std";
const W_MEAN: &str = "preprocess.whitening.mean";
const W_COMPONENTS: &str = "preprocess.whitening.components";
const W_VARIANCE: &str = "preprocess.whitening.variance";
const W_MATRIX: &str = "preprocess.whitening.matrix";
const W_KIND: &str = "preprocess.whitening.kind";
/// The format versions read.
const VERSION: u32 = 2;

/// What the file asks for.
#[derive(Debug, PartialEq)]
pub enum Found {
    None,
    PerSample,
    PerChannel {
        mean: Vec<f32>,
        std: Vec<f32>,
    },
    Whitening {
        /// `pca` or `zca`.
        kind: String,
        /// Values in and out.
        dim: usize,
        out: usize,
        /// The mean, rounded to `f32` as the runtime rounds it.
        mean: Vec<f32>,
        /// Where the matrix's `dim * out * 4` bytes start in the file.
        matrix_start: usize,
    },
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
    let (Ok((header_len, header)), Ok(file)) = (
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
    let Some(version) = version
        .parse::<u32>()
        .ok()
        .filter(|v| (1..=VERSION).contains(v))
    else {
        return error(format!(
            "`{shown}` has preprocessing format version `{version}`; this build reads versions \
             1 to {VERSION}"
        ));
    };
    let expected: &[&str] = match kind.as_str() {
        "per_sample" => &[],
        "per_channel" => &[MEAN, STD],
        "whitening" => &[W_MEAN, W_COMPONENTS, W_VARIANCE, W_MATRIX],
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
    match kind.as_str() {
        "per_sample" => return Some(Found::PerSample),
        "whitening" => {
            let stored = whitening::Stored {
                shown,
                file: &file,
                header: &header,
                data_start: 8 + header_len,
                version,
            };
            return match whitening::whitening(&stored, &meta, input) {
                Ok(found) => Some(found),
                Err(message) => error(message),
            };
        }
        _ => {}
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

/// The items `found` adds to the network's `impl` block; `path` is the
/// file's absolute path.
pub fn items(net: &Network, shown: &str, path: &std::path::Path, found: &Found) -> TokenStream {
    let rt = crate::emit::runtime(&net.krate);
    let name = &net.name;
    let Some((constants, in_place)) = constants(&rt, shown, path, found) else {
        return TokenStream::new();
    };
    let raw_in_place = in_place.then(|| {
        quote! {
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
    });
    quote! {
        #constants

        /// Runs one raw sample: applies [`Self::PREPROCESSING`] to it,
        /// writing the result into the arena's input, then runs the network
        /// as [`Self::infer`] does. `infer` itself takes preprocessed input.
        /// Allocates nothing and cannot panic.
        pub fn infer_raw(
            &self,
            raw: &[f32; Self::RAW_LEN],
            arena: &mut #rt::Arena<{ #name::ARENA_LEN }>,
        ) -> [f32; Self::OUTPUT_LEN] {
            Self::PREPROCESSING.apply_into(raw, Self::arena_input(arena));
            self.infer_in_place(arena)
        }

        #raw_in_place
    }
}

/// The constants `PREPROCESSING` and `RAW_LEN` of `found` (`None` for a
/// file without preprocessing) and whether it works in place (everything
/// but whitening); `rt` is the runtime's path, `path` the file's absolute
/// path.
pub fn constants(
    rt: &TokenStream,
    shown: &str,
    path: &std::path::Path,
    found: &Found,
) -> Option<(TokenStream, bool)> {
    let bits = |v: &[f32]| -> Vec<TokenStream> {
        v.iter()
            .map(|x| {
                let b = Literal::u32_suffixed(x.to_bits());
                quote!(f32::from_bits(#b))
            })
            .collect()
    };
    let mut raw_len = quote!(Self::INPUT_LEN);
    let mut in_place = true;
    let (value, doc) = match found {
        Found::None => return None,
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
        Found::Whitening {
            kind,
            dim,
            out,
            mean,
            matrix_start,
        } => {
            let abs = path.to_string_lossy().to_string();
            let len = Literal::usize_unsuffixed(dim * out * 4);
            let start = Literal::usize_unsuffixed(*matrix_start);
            let mean_bytes: Vec<u8> = mean.iter().flat_map(|m| m.to_le_bytes()).collect();
            let mean_len = Literal::usize_unsuffixed(mean_bytes.len());
            let mean_bytes = Literal::byte_string(&mean_bytes);
            let (d, o) = (
                Literal::usize_unsuffixed(*dim),
                Literal::usize_unsuffixed(*out),
            );
            let changed = format!("`{shown}` changed while the network was compiled: build again");
            raw_len = quote!(#d);
            in_place = false;
            (
                quote! {{
                    // The file, for the matrix's bytes: only those are linked.
                    const FILE: &[u8] = include_bytes!(#abs);
                    static MATRIX: [u8; #len] = match FILE.split_at_checked(#start) {
                        Some((_, rest)) => match rest.first_chunk::<#len>() {
                            Some(matrix) => *matrix,
                            None => panic!(#changed),
                        },
                        None => panic!(#changed),
                    };
                    static MEAN: [u8; #mean_len] = *#mean_bytes;
                    #rt::preprocess::Preprocess::Whitening(#rt::preprocess::Whiten {
                        mean: #rt::preprocess::Floats::Le(&MEAN),
                        matrix: #rt::preprocess::Floats::Le(&MATRIX),
                        dim: #d,
                        out: #o,
                        stride: #o,
                    })
                }},
                format!(
                    " The preprocessing compiled in from `{shown}`: {kind} whitening, `y = (x - \
                     mean) W`, of {dim} raw values into the network's {out} inputs (`W` is \
                     `preprocess.whitening.matrix`, {dim}x{out}, embedded from the file)."
                ),
            )
        }
    };
    let raw_doc = if in_place {
        " Values in one raw sample, before [`Self::PREPROCESSING`]: [`Self::INPUT_LEN`]."
    } else {
        " Values in one raw sample, before [`Self::PREPROCESSING`] whitens them into the \
         network's [`Self::INPUT_LEN`] inputs."
    };
    let constants = quote! {
        #[doc = #doc]
        pub const PREPROCESSING: #rt::preprocess::Preprocess<'static> = #value;

        #[doc = #raw_doc]
        pub const RAW_LEN: usize = #raw_len;
    };
    Some((constants, in_place))
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::TensorView;
    use std::collections::HashMap;

    /// A file with a weight `fc.weight`, `tensors` and the metadata `meta`.
    fn file(tensors: &[(&str, Vec<usize>, Vec<f32>)], meta: &[(&str, &str)]) -> Vec<u8> {
        file_with(tensors, meta, Dtype::F32)
    }

    /// As [`file`], with the tensors as `dtype` (F32 or F64).
    fn file_with(
        tensors: &[(&str, Vec<usize>, Vec<f32>)],
        meta: &[(&str, &str)],
        dtype: Dtype,
    ) -> Vec<u8> {
        let mut tensors = tensors.to_vec();
        tensors.push(("fc.weight", vec![1], vec![0.5]));
        let f64s =
            |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|&x| f64::from(x).to_le_bytes()).collect() };
        let f32s = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let dtypes: Vec<Dtype> = tensors
            .iter()
            .map(|(n, _, _)| {
                if *n == W_MATRIX || *n == "fc.weight" {
                    Dtype::F32
                } else {
                    dtype
                }
            })
            .collect();
        let data: Vec<Vec<u8>> = tensors
            .iter()
            .zip(&dtypes)
            .map(|((_, _, v), d)| if *d == Dtype::F64 { f64s(v) } else { f32s(v) })
            .collect();
        let views: Vec<(&str, TensorView)> = tensors
            .iter()
            .zip(&data)
            .zip(&dtypes)
            .map(|(((n, s, _), b), d)| (*n, TensorView::new(*d, s.clone(), b).unwrap()))
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
        assert!(e[0].contains("no `preprocess.whitening.kind`"), "{e:?}");
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

    /// A whitening of 3 values into `k`: its tensors (the matrix `[3, out]`
    /// holding 0.5, 1.5, 2.5, ...) and metadata.
    fn whitening(kind: &str, k: usize) -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
        let out = if kind == "pca" { k } else { 3 };
        vec![
            (W_MEAN, vec![3], vec![0.1, 0.2, 0.3]),
            (W_COMPONENTS, vec![k, 3], vec![0.0; 3 * k]),
            (W_VARIANCE, vec![k], vec![1.0; k]),
            (
                W_MATRIX,
                vec![3, out],
                (0..3 * out).map(|i| i as f32 + 0.5).collect(),
            ),
        ]
    }

    #[test]
    fn whitening_is_read_with_its_matrix_offset() {
        let meta = [
            ("preprocess", "whitening"),
            ("preprocess.version", "2"),
            ("preprocess.whitening.kind", "pca"),
        ];
        let bytes = file_with(&whitening("pca", 2), &meta, Dtype::F64);
        let Ok(Found::Whitening {
            kind,
            dim,
            out,
            mean,
            matrix_start,
        }) = read_file(&bytes, Shape::Flat(2))
        else {
            panic!("{:?}", read_file(&bytes, Shape::Flat(2)))
        };
        assert_eq!((kind.as_str(), dim, out), ("pca", 3, 2));
        assert_eq!(mean, [0.1f64 as f32, 0.2f64 as f32, 0.3f64 as f32]);
        let matrix: Vec<f32> = bytes[matrix_start..matrix_start + 24]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        assert_eq!(matrix, [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]);
        // F32 statistics are read too (as the runtime reads them).
        let bytes = file_with(&whitening("pca", 2), &meta, Dtype::F32);
        assert!(read_file(&bytes, Shape::Flat(2)).is_ok());
    }

    #[test]
    fn whitening_errors_name_the_tensor_and_the_shapes() {
        let zca = [
            ("preprocess", "whitening"),
            ("preprocess.version", "2"),
            ("preprocess.whitening.kind", "zca"),
        ];
        let e = read_file(&file_with(&whitening("zca", 3), &zca, Dtype::F64), IMAGE).unwrap_err();
        assert_eq!(
            e,
            [
                "the zca whitening in `m.safetensors` turns [3] values (`preprocess.whitening.mean` \
                 [3]) into [3] (`preprocess.whitening.matrix` [3, 3]), but the network's input \
                 [2, 3, 3] takes 18 values"
            ]
        );
        let mut t = whitening("zca", 3);
        t[3] = (W_MATRIX, vec![3, 2], vec![0.0; 6]);
        let e = read_file(&file_with(&t, &zca, Dtype::F64), Shape::Flat(3)).unwrap_err();
        assert_eq!(
            e,
            [
                "tensor `preprocess.whitening.matrix` in `m.safetensors` is F32 with shape [3, 2]; \
                 the zca whitening of [3] values into the network's input [3] needs F32 with \
                 shape [3, 3]"
            ]
        );
        t[3].1 = vec![3, 3];
        t[3].2 = vec![0.0, 1.0, f32::INFINITY, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let e = read_file(&file_with(&t, &zca, Dtype::F64), Shape::Flat(3)).unwrap_err();
        assert!(e[0].contains("not finite at flat index 2"), "{e:?}");
        let v1 = [
            ("preprocess", "whitening"),
            ("preprocess.whitening.kind", "zca"),
        ];
        let e = read_file(
            &file_with(&whitening("zca", 3)[..3], &v1, Dtype::F64),
            Shape::Flat(3),
        )
        .unwrap_err();
        assert!(
            e[0].contains("no tensor `preprocess.whitening.matrix` (F32 with shape [3, 3]")
                && e[0].contains("version 1"),
            "{e:?}"
        );
        let mut t = whitening("pca", 2);
        t[1].1 = vec![3, 2];
        let pca = [
            ("preprocess", "whitening"),
            ("preprocess.whitening.kind", "pca"),
        ];
        let e = read_file(&file_with(&t, &pca, Dtype::F64), Shape::Flat(2)).unwrap_err();
        assert!(e[0].contains("`preprocess.whitening.components`") && e[0].contains("[2, 3]"));
        let e = read_file(
            &file_with(
                &whitening("pca", 2),
                &[
                    ("preprocess", "whitening"),
                    ("preprocess.whitening.kind", "x"),
                ],
                Dtype::F64,
            ),
            Shape::Flat(2),
        )
        .unwrap_err();
        assert!(e[0].contains("unknown whitening kind `x`"), "{e:?}");
    }
}
