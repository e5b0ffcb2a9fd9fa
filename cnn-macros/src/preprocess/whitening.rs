//! Reading a whitening to compile in: its matrix (`preprocess.whitening.matrix`,
//! F32 `[dim, out]`) and mean, checked against the statistics it was made
//! from and the network's input.

use safetensors::tensor::{Dtype, SafeTensors};

use super::{shape_text, Found, W_COMPONENTS, W_KIND, W_MATRIX, W_MEAN, W_VARIANCE};
use crate::shape::Shape;

/// A file being read.
pub(super) struct Stored<'a> {
    pub shown: &'a str,
    pub file: &'a SafeTensors<'a>,
    pub header: &'a safetensors::tensor::Metadata,
    /// Where the tensor data starts in the file.
    pub data_start: usize,
    pub version: u32,
}

/// A tensor's values as `f64`, F64 or F32 (as the runtime reads the
/// whitening's statistics), with its shape.
fn floats(s: &Stored, name: &str, what: &str) -> Result<(Vec<f64>, Vec<usize>), String> {
    let shown = s.shown;
    let Ok(t) = s.file.tensor(name) else {
        return Err(format!(
            "`{shown}` has whitening preprocessing but no tensor `{name}` ({what})"
        ));
    };
    let values = match t.dtype() {
        Dtype::F64 => t
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
        Dtype::F32 => t
            .data()
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        other => {
            return Err(format!(
                "tensor `{name}` in `{shown}` is {other:?} with shape {}; the whitening needs \
                 F64 (or F32): {what}",
                shape_text(t.shape())
            ))
        }
    };
    Ok((values, t.shape().to_vec()))
}

/// The whitening of `s`, checked against the network's `input`: its
/// matrix's shape and dtype, the statistics' shapes, finite values, and an
/// output of the input's length.
pub(super) fn whitening(
    s: &Stored,
    meta: &std::collections::HashMap<String, String>,
    input: Shape,
) -> Result<Found, String> {
    let shown = s.shown;
    let kind = match meta.get(W_KIND).map(String::as_str) {
        Some(k @ ("pca" | "zca")) => k.to_string(),
        Some(other) => {
            return Err(format!(
                "`{shown}` has unknown whitening kind `{other}` (metadata `{W_KIND}`); expected \
                 `pca` or `zca`"
            ))
        }
        None => {
            return Err(format!(
                "`{shown}` has whitening preprocessing but no `{W_KIND}` metadata (`pca` or `zca`)"
            ))
        }
    };
    let (mean, mean_shape) = floats(s, W_MEAN, "[dim], the training set's mean")?;
    let (_, var_shape) = floats(s, W_VARIANCE, "[k], the variance of each kept component")?;
    let (_, comp_shape) = floats(s, W_COMPONENTS, "[k, dim], the kept components")?;
    let (dim, k) = match (&mean_shape[..], &var_shape[..]) {
        (&[dim], &[k]) if 1 <= k && k <= dim => (dim, k),
        _ => {
            return Err(format!(
                "tensor `{W_MEAN}` in `{shown}` has shape {} and `{W_VARIANCE}` {}: a whitening \
                 needs [dim] and [k] with 1 <= k <= dim",
                shape_text(&mean_shape),
                shape_text(&var_shape)
            ))
        }
    };
    if comp_shape != [k, dim] {
        return Err(format!(
            "tensor `{W_COMPONENTS}` in `{shown}` has shape {}; the whitening of `{W_MEAN}` \
             [{dim}] with `{W_VARIANCE}` [{k}] needs [{k}, {dim}]",
            shape_text(&comp_shape)
        ));
    }
    let out = if kind == "pca" { k } else { dim };
    if out != input.len() {
        return Err(format!(
            "the {kind} whitening in `{shown}` turns [{dim}] values (`{W_MEAN}` {}) into [{out}] \
             (`{W_MATRIX}` [{dim}, {out}]), but the network's input {} takes {} values",
            shape_text(&mean_shape),
            shape_text(&input.dims()),
            input.len()
        ));
    }
    let Some(info) = s.header.info(W_MATRIX) else {
        let hint = if s.version < 2 {
            "; the file is format version 1, which did not store it: load it with \
             `cnn::Model::load` and save it again to add it"
        } else {
            ""
        };
        return Err(format!(
            "`{shown}` has whitening preprocessing but no tensor `{W_MATRIX}` (F32 with shape \
             [{dim}, {out}], the matrix the network embeds){hint}"
        ));
    };
    if info.dtype != Dtype::F32 || info.shape != [dim, out] {
        return Err(format!(
            "tensor `{W_MATRIX}` in `{shown}` is {:?} with shape {}; the {kind} whitening of \
             [{dim}] values into the network's input {} needs F32 with shape [{dim}, {out}]",
            info.dtype,
            shape_text(&info.shape),
            shape_text(&input.dims())
        ));
    }
    let (start, end) = info.data_offsets;
    let bytes = s
        .file
        .tensor(W_MATRIX)
        .map(|t| t.data().to_vec())
        .unwrap_or_default();
    if end - start != dim * out * 4 || bytes.len() != dim * out * 4 {
        return Err(format!(
            "tensor `{W_MATRIX}` in `{shown}` does not hold {} bytes",
            dim * out * 4
        ));
    }
    let bad = bytes
        .chunks_exact(4)
        .position(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite());
    if let Some(i) = bad {
        return Err(format!(
            "tensor `{W_MATRIX}` in `{shown}` (shape [{dim}, {out}]) is not finite at flat \
             index {i}"
        ));
    }
    if let Some(i) = mean.iter().position(|m| !m.is_finite()) {
        return Err(format!(
            "tensor `{W_MEAN}` in `{shown}` (shape [{dim}]) is not finite at index {i}"
        ));
    }
    Ok(Found::Whitening {
        kind,
        dim,
        out,
        mean: mean.iter().map(|&m| m as f32).collect(),
        matrix_start: s.data_start + start,
    })
}
