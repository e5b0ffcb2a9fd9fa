//! Loading and saving parameters as safetensors with PyTorch `state_dict`
//! names (`conv1.weight`, `conv1.bias`, `fc1.weight`, ...), so a model saved
//! with `safetensors.torch.save_file(model.state_dict(), path)` loads
//! unchanged.

use std::collections::HashMap;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::Error;
use crate::summary::ParamInfo;

/// Options for loading weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Skip tensors the network does not have instead of failing.
    pub ignore_unknown: bool,
}

impl LoadOptions {
    /// Loading that skips tensors the network does not have (for example
    /// a file holding a larger model, or optimizer state).
    pub fn ignore_unknown() -> Self {
        LoadOptions {
            ignore_unknown: true,
        }
    }
}

/// The file's type of a tensor.
fn stored_as(p: &ParamInfo) -> Dtype {
    match p.dtype {
        crate::summary::Dtype::F32 => Dtype::F32,
        crate::summary::Dtype::I64 => Dtype::I64,
    }
}

/// Reads the parameters in `params` from `path` into a new buffer of
/// `total` values. Nothing is modified on error: the caller swaps the
/// buffer in only when this returns `Ok`.
pub fn load(
    path: &Path,
    params: &[ParamInfo],
    total: usize,
    options: LoadOptions,
) -> Result<Vec<f32>, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    read(path, &bytes, params, total, options)
}

/// As [`load`], from bytes already in memory (`path` is used in messages).
pub fn read(
    path: &Path,
    bytes: &[u8],
    params: &[ParamInfo],
    total: usize,
    options: LoadOptions,
) -> Result<Vec<f32>, Error> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors {
        path: path.into(),
        message: e.to_string(),
    })?;
    if !options.ignore_unknown {
        let mut unknown: Vec<String> = file
            .names()
            .into_iter()
            .filter(|n| !params.iter().any(|p| p.name == *n))
            .map(|n| n.to_string())
            .collect();
        if !unknown.is_empty() {
            unknown.sort();
            return Err(Error::UnknownTensors {
                path: path.into(),
                tensors: unknown,
            });
        }
    }
    let mut out = vec![0.0f32; total];
    for p in params {
        let tensor = file.tensor(p.name).map_err(|_| Error::MissingTensor {
            path: path.into(),
            tensor: p.name.into(),
            expected: p.shape.to_vec(),
        })?;
        if tensor.dtype() != stored_as(p) {
            return Err(Error::DtypeMismatch {
                path: path.into(),
                tensor: p.name.into(),
                expected: p.shape.to_vec(),
                shape: tensor.shape().to_vec(),
                found: format!("{:?}", tensor.dtype()),
            });
        }
        if tensor.shape() != p.shape {
            return Err(Error::ShapeMismatch {
                path: path.into(),
                tensor: p.name.into(),
                expected: p.shape.to_vec(),
                found: tensor.shape().to_vec(),
            });
        }
        let data = tensor.data();
        match p.dtype {
            crate::summary::Dtype::F32 => {
                for (v, chunk) in out[p.range()].iter_mut().zip(data.chunks_exact(4)) {
                    *v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                }
            }
            // Counters: exact in f32 up to 2^24.
            crate::summary::Dtype::I64 => {
                for (v, chunk) in out[p.range()].iter_mut().zip(data.chunks_exact(8)) {
                    let mut bytes = [0u8; 8];
                    bytes.copy_from_slice(chunk);
                    *v = i64::from_le_bytes(bytes) as f32;
                }
            }
        }
    }
    Ok(out)
}

/// The safetensors bytes of `weights` (tensors named as in `params`, with
/// PyTorch's `{"format": "pt"}` metadata).
pub fn to_bytes(path: &Path, params: &[ParamInfo], weights: &[f32]) -> Result<Vec<u8>, Error> {
    let data: Vec<(String, Vec<u8>)> = params
        .iter()
        .map(|p| {
            let values = weights[p.range()].iter();
            let bytes = match p.dtype {
                crate::summary::Dtype::F32 => values.flat_map(|v| v.to_le_bytes()).collect(),
                crate::summary::Dtype::I64 => values
                    .flat_map(|&v| (v.round() as i64).to_le_bytes())
                    .collect(),
            };
            (p.name.to_string(), bytes)
        })
        .collect();
    let views = data
        .iter()
        .zip(params)
        .map(|((name, bytes), p)| {
            TensorView::new(stored_as(p), p.shape.to_vec(), bytes).map(|v| (name.as_str(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Safetensors {
            path: path.into(),
            message: e.to_string(),
        })?;
    let metadata: HashMap<String, String> = [("format".to_string(), "pt".to_string())].into();
    safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Safetensors {
        path: path.into(),
        message: e.to_string(),
    })
}

/// Writes `weights` to `path` atomically (see [`crate::io::write_atomic`]).
pub fn save(path: &Path, params: &[ParamInfo], weights: &[f32]) -> Result<(), Error> {
    let bytes = to_bytes(path, params, weights)?;
    super::write_atomic(path, &bytes)
}
