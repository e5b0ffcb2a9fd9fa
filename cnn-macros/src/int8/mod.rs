//! Int8 networks: `#[cnn(weights = "file.safetensors", dtype = "int8")]`.
//!
//! The network is lowered to int8 steps ([`lower`]); the quantized weights
//! file (the format of `cnn_spec::quant::file`: int8 weights, per-channel
//! scales, int32 biases, each layer's output scale and zero point, the
//! input's under `quant.`) is read when the macro expands, every tensor
//! checked for its dtype and shape (each mismatch a compile error spanned
//! on its layer), and packed into the parameter blob by the same
//! `cnn_spec::quant` code the runtime uses. The generated type holds no
//! f32 weights and no training: it runs single-sample inference in a byte
//! arena through `cnn_runtime`'s int8 kernels (`QChain`), without heap.
//!
//! Preprocessing the file carries (`preprocess.*`, the f32 model's, which
//! calibration copies) is compiled in as for f32 networks
//! ([`crate::preprocess`]): `PREPROCESSING`, `RAW_LEN`, and `quantize_raw`
//! / `infer_raw`, which preprocess and quantize a raw sample value by
//! value into the arena's int8 input, with no f32 buffer.

mod emit;
mod lower;

use std::path::PathBuf;

use cnn_spec::quant::file::{self, FileDtype, TensorInfo};
use cnn_spec::quant::{blob_region_start, pack_conv, pack_dense, QConv, QDense, QParams};
use proc_macro2::TokenStream;
use safetensors::tensor::{Dtype, SafeTensors};

use crate::ast::NetworkDecl;
use crate::diag::Diagnostics;
use crate::graph::Network;
use lower::Step;

/// Whether the declaration asks for int8.
pub fn wanted(decl: &NetworkDecl) -> bool {
    decl.options
        .dtype
        .as_ref()
        .is_some_and(|d| d.value() == "int8")
}

/// A step with its quantization and blob offset.
#[derive(Clone, Debug)]
pub enum QStep {
    Conv(QConv, usize),
    Dense(QDense, usize),
    MaxPool(cnn_spec::PoolGeom),
    AvgPool(cnn_spec::PoolGeom, i8),
}

/// The int8 network, ready to emit.
pub struct Quantized {
    pub steps: Vec<QStep>,
    pub blob: Vec<u8>,
    pub input: QParams,
    pub output: QParams,
    pub softmax: bool,
    /// The weights file, relative and absolute.
    pub relative: String,
    pub path: PathBuf,
    /// `PREPROCESSING` and `RAW_LEN`, if the file carries preprocessing.
    pub preprocess: Option<TokenStream>,
}

/// The generated items of an int8 network, or `None` after errors
/// (recorded).
pub fn expand(decl: &NetworkDecl, net: &Network, diag: &mut Diagnostics) -> Option<TokenStream> {
    let dtype = decl.options.dtype.as_ref()?;
    let Some(lit) = &decl.options.weights else {
        diag.error(
            dtype,
            "`dtype = \"int8\"` needs the quantized weights file: add \
             `weights = \"file.safetensors\"`",
        );
        return None;
    };
    let lowered = match lower::lower(net) {
        Ok(l) => l,
        Err(errors) => {
            for (node, message) in errors {
                match net.nodes.get(node) {
                    Some(n) => diag.error(&n.tokens, message),
                    None => diag.error(&net.name, message),
                }
            }
            return None;
        }
    };
    let relative = lit.value();
    let base = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let path = base.join(&relative);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            diag.error(
                lit,
                format!(
                    "cannot read the quantized weights file `{relative}` ({e}); the path is \
                     relative to the crate's directory (CARGO_MANIFEST_DIR)"
                ),
            );
            return None;
        }
    };
    let q = quantize(decl, net, lit, &relative, &bytes, &lowered, diag)?;
    let found = crate::preprocess::read(lit, &relative, &bytes, net.input(), diag)?;
    let rt = crate::emit::runtime(&net.krate);
    let preprocess = crate::preprocess::constants(&rt, &relative, &path, &found).map(|(c, _)| c);
    Some(emit::emit(
        &emit::Header::of(net),
        &Quantized {
            relative,
            path,
            preprocess,
            ..q
        },
    ))
}

/// What stands in for an int8 network with errors: the int8 type with
/// every item, the shapes that could be told and no steps, so that code
/// using it adds no errors of its own.
pub fn stub(decl: &NetworkDecl, known: crate::graph::Partial) -> TokenStream {
    let krate = decl.options.krate();
    let dims = |s: Option<crate::shape::Shape>| s.map_or_else(|| vec![0], |s| s.dims());
    let header = emit::Header {
        attrs: &decl.attrs,
        vis: &decl.vis,
        name: &decl.name,
        krate,
        input: dims(known.input),
        output: dims(known.output),
        param_count: 0,
        macs: 0,
    };
    let empty = Quantized {
        steps: Vec::new(),
        blob: Vec::new(),
        input: QParams::new(1.0, 0),
        output: QParams::new(1.0, 0),
        softmax: false,
        relative: String::new(),
        path: PathBuf::new(),
        preprocess: None,
    };
    emit::emit(&header, &empty)
}

/// A tensor of the file.
struct Tensor {
    name: String,
    dtype: FileDtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn file_dtype(d: Dtype) -> FileDtype {
    match d {
        Dtype::I8 => FileDtype::I8,
        Dtype::I32 => FileDtype::I32,
        Dtype::F32 => FileDtype::F32,
        Dtype::F64 => FileDtype::F64,
        _ => FileDtype::Other,
    }
}

/// Looks `prefix.suffix` up in `tensors`.
fn lookup_in<'a>(tensors: &'a [Tensor]) -> impl Fn(&str, &str) -> Option<TensorInfo<'a>> + 'a {
    move |prefix, suffix| {
        let name = format!("{prefix}.{suffix}");
        tensors.iter().find(|t| t.name == name).map(|t| TensorInfo {
            dtype: t.dtype,
            shape: &t.shape,
            data: &t.data,
        })
    }
}

/// Reads the file's tensors, checks them against the steps and packs the
/// blob; every problem is recorded, spanned on its layer.
fn quantize(
    decl: &NetworkDecl,
    net: &Network,
    lit: &syn::LitStr,
    shown: &str,
    bytes: &[u8],
    lowered: &lower::Lowered,
    diag: &mut Diagnostics,
) -> Option<Quantized> {
    // The weight shapes and names outlive the lookups that borrow them.
    let shapes: Vec<Vec<usize>> = lowered
        .steps
        .iter()
        .map(|s| match s {
            Step::Conv { geom: g, .. } => vec![g.k, g.c, g.kh, g.kw],
            Step::Dense {
                inputs, outputs, ..
            } => vec![*outputs, *inputs],
            _ => Vec::new(),
        })
        .collect();
    let parsed = match SafeTensors::deserialize(bytes) {
        Ok(f) => f,
        Err(e) => {
            diag.error(
                lit,
                format!("`{shown}` is not a valid safetensors file: {e}"),
            );
            return None;
        }
    };
    let tensors: Vec<Tensor> = parsed
        .tensors()
        .into_iter()
        .map(|(name, t)| Tensor {
            name,
            dtype: file_dtype(t.dtype()),
            shape: t.shape().to_vec(),
            data: t.data().to_vec(),
        })
        .collect();
    let lookup = lookup_in(&tensors);
    let mut used = vec![
        format!("{}.{}", file::INPUT_PREFIX, file::suffix::SCALE),
        format!("{}.{}", file::INPUT_PREFIX, file::suffix::ZERO_POINT),
    ];
    let input = match file::read_qparams(&lookup, file::INPUT_PREFIX) {
        Ok(q) => q,
        Err(e) => {
            diag.error(
                lit,
                format!("`{shown}`: {e} (the network input's quantization)"),
            );
            return None;
        }
    };
    let before = diag.len();
    let mut current = input;
    let mut steps = Vec::new();
    let mut end = 0;
    let mut raws = Vec::new();
    for (step, shape) in lowered.steps.iter().zip(&shapes) {
        let (node, bias) = match step {
            Step::Conv { node, bias, .. } | Step::Dense { node, bias, .. } => (*node, *bias),
            Step::MaxPool(g) => {
                steps.push(QStep::MaxPool(*g));
                continue;
            }
            Step::AvgPool(g) => {
                steps.push(QStep::AvgPool(*g, current.zero_point));
                continue;
            }
        };
        let layer = &net.nodes[node];
        let prefix = layer.tensors.as_str();
        for s in [
            file::suffix::WEIGHT,
            file::suffix::WEIGHT_SCALE,
            file::suffix::BIAS,
            file::suffix::SCALE,
            file::suffix::ZERO_POINT,
        ] {
            used.push(format!("{prefix}.{s}"));
        }
        let t = match file::read_layer(&lookup, prefix, shape, bias) {
            Ok(t) => t,
            Err(e) => {
                diag.error(&layer.tokens, format!("{}: {e} in `{shown}`", layer.name));
                continue;
            }
        };
        let q = match step {
            Step::Conv {
                geom, pool, relu, ..
            } => QStep::Conv(
                QConv {
                    geom: *geom,
                    pool: *pool,
                    relu: *relu,
                    bias,
                    input: current,
                    output: t.output,
                },
                0,
            ),
            Step::Dense {
                inputs,
                outputs,
                relu,
                ..
            } => QStep::Dense(
                QDense {
                    inputs: *inputs,
                    outputs: *outputs,
                    relu: *relu,
                    bias,
                    input: current,
                    output: t.output,
                },
                0,
            ),
            _ => unreachable!("pools are handled above"),
        };
        let (check, len) = match &q {
            QStep::Conv(l, _) => (l.check(), l.layout().len),
            QStep::Dense(l, _) => (l.check(), l.layout().len),
            _ => unreachable!("pools are handled above"),
        };
        if let Err(why) = check {
            diag.error(&layer.tokens, format!("{}: {why}", layer.name));
            continue;
        }
        let offset = blob_region_start(end);
        end = offset + len;
        let q = match q {
            QStep::Conv(l, _) => QStep::Conv(l, offset),
            QStep::Dense(l, _) => QStep::Dense(l, offset),
            other => other,
        };
        raws.push((node, t.raw, steps.len()));
        steps.push(q);
        current = t.output;
    }
    if diag.len() != before {
        return None;
    }
    let mut blob = vec![0u8; blob_region_start(end)];
    for (node, raw, i) in raws {
        let layer = &net.nodes[node];
        let packed = match &steps[i] {
            QStep::Conv(l, at) => pack_conv(l, raw, &mut blob[*at..*at + l.layout().len]),
            QStep::Dense(l, at) => pack_dense(l, raw, &mut blob[*at..*at + l.layout().len]),
            _ => unreachable!("only conv and dense layers have tensors"),
        };
        if let Err(e) = packed {
            diag.error(&layer.tokens, format!("{}: {e} (in `{shown}`)", layer.name));
        }
    }
    let mut unknown: Vec<String> = tensors
        .iter()
        .filter(|t| !used.contains(&t.name) && !t.name.starts_with(crate::preprocess::PREFIX))
        .map(|t| format!("`{}`", t.name))
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
                "`{shown}` has tensors the int8 network does not: {}; add \
                 `ignore_unknown = true` to the #[cnn(...)] attribute to skip them",
                unknown.join(", ")
            ),
        );
    }
    (diag.len() == before).then(|| Quantized {
        steps,
        blob,
        input,
        output: current,
        softmax: lowered.softmax,
        relative: String::new(),
        path: PathBuf::new(),
        preprocess: None,
    })
}
