//! Saving and loading a [`Whitening`] as safetensors.
//!
//! Format version 1:
//!
//! | tensor | dtype | shape |
//! | --- | --- | --- |
//! | `whitening.mean` | F64 | `[dim]` |
//! | `whitening.components` | F64 | `[k, dim]`, rows by decreasing variance |
//! | `whitening.variance` | F64 | `[k]`, the eigenvalues |
//!
//! and the metadata `format = "cnn.whitening"`, `version = "1"`,
//! `kind = "pca" | "zca"`, `eps`, `samples`, `total_variance` (numbers
//! written with Rust's shortest round-trip formatting, so loading gives
//! back exactly what was saved). The whitening matrices are rebuilt on
//! load. Loading also accepts F32 tensors (e.g. written from NumPy).

use std::collections::HashMap;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::{Whitening, WhiteningKind};
use crate::data::dataset::shape_string;
use crate::{parallel, Error};

const FORMAT: &str = "cnn.whitening";
const VERSION: u32 = 1;
const MEAN: &str = "whitening.mean";
const COMPONENTS: &str = "whitening.components";
const VARIANCE: &str = "whitening.variance";

fn file_error(path: &Path, message: String) -> Error {
    Error::Data {
        path: Some(path.to_path_buf()),
        message,
    }
}

impl Whitening {
    /// Saves to `path` as safetensors (written atomically: a temporary
    /// file renamed over `path`). See [`Whitening::load`].
    ///
    /// ```
    /// use cnn_runtime::data::Whitening;
    ///
    /// let data: Vec<f32> = (0..60).map(|i| ((i * 37 % 11) as f32).sin()).collect();
    /// let pca = Whitening::pca().fit(&data, 3)?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("pca.safetensors");
    /// pca.save(&path)?;
    /// assert_eq!(Whitening::load(&path)?, pca);
    /// # Ok::<(), cnn_runtime::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let bytes = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let (k, d) = (self.kept(), self.dim);
        let data = [
            (MEAN, bytes(&self.mean), vec![d]),
            (COMPONENTS, bytes(&self.components), vec![k, d]),
            (VARIANCE, bytes(&self.variance), vec![k]),
        ];
        let views = data
            .iter()
            .map(|(name, b, shape)| {
                TensorView::new(Dtype::F64, shape.clone(), b).map(|v| (*name, v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| file_error(path, e.to_string()))?;
        let metadata: HashMap<String, String> = [
            ("format", FORMAT.to_string()),
            ("version", VERSION.to_string()),
            ("kind", self.kind.name().to_string()),
            ("eps", self.eps.to_string()),
            ("samples", self.samples.to_string()),
            ("total_variance", self.total_variance.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let bytes =
            safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Safetensors {
                path: path.into(),
                message: e.to_string(),
            })?;
        crate::io::write_atomic(path, &bytes)
    }

    /// Loads a whitening saved by [`Whitening::save`].
    ///
    /// Errors name the file and, where it applies, the tensor and shapes:
    /// [`Error::Io`] if it cannot be read, [`Error::Safetensors`] if it is
    /// not safetensors, [`Error::Data`] for a missing, unknown or
    /// misshapen tensor, a dtype other than F64/F32, non-finite values, or
    /// missing or bad metadata (including a format version newer than this
    /// build reads); [`Error::SingularCovariance`] if `eps` is 0 and a
    /// variance is not positive.
    pub fn load(path: impl AsRef<Path>) -> Result<Whitening, Error> {
        let path = path.as_ref();
        // The header first, bounded: a file whose header claims more than
        // a whitening's three tensors need is refused before it is read.
        let limit = crate::io::safetensors::header_limit(3);
        crate::io::safetensors::SafetensorsFile::open(path, limit)?;
        let bytes = crate::io::read_limited(path, u64::MAX, "whitening file")?;
        read(path, &bytes)
    }
}

fn read(path: &Path, bytes: &[u8]) -> Result<Whitening, Error> {
    let safetensors_error = |e: safetensors::SafeTensorError| Error::Safetensors {
        path: path.into(),
        message: e.to_string(),
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(safetensors_error)?;
    let file = SafeTensors::deserialize(bytes).map_err(safetensors_error)?;
    let empty = HashMap::new();
    let meta = header.metadata().as_ref().unwrap_or(&empty);
    let field = |key: &str| -> Result<&str, Error> {
        meta.get(key).map(String::as_str).ok_or_else(|| {
            file_error(
                path,
                format!("not a whitening file: the metadata has no `{key}`"),
            )
        })
    };
    let format = field("format")?;
    if format != FORMAT {
        return Err(file_error(
            path,
            format!("not a whitening file: its format is `{format}`, not `{FORMAT}`"),
        ));
    }
    let version: u32 = field("version")?
        .parse()
        .map_err(|_| file_error(path, format!("bad version `{}`", meta["version"])))?;
    if version == 0 || version > VERSION {
        return Err(file_error(
            path,
            format!("whitening format version {version}; this build reads versions 1 to {VERSION}"),
        ));
    }
    let mut unknown: Vec<&str> = file
        .names()
        .into_iter()
        .filter(|n| ![MEAN, COMPONENTS, VARIANCE].contains(n))
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(file_error(
            path,
            format!(
                "unexpected tensor{} {} in a whitening file (it holds {MEAN}, {COMPONENTS} and \
                 {VARIANCE})",
                if unknown.len() == 1 { "" } else { "s" },
                unknown
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let mut get = |name: &str| -> Result<Option<StoredTensor>, Error> {
        Ok(file
            .tensor(name)
            .ok()
            .map(|t| (t.dtype(), t.shape().to_vec(), t.data().to_vec())))
    };
    assemble(path, [MEAN, COMPONENTS, VARIANCE], "", meta, &mut get)
}

/// A tensor as stored: dtype, shape, little-endian bytes.
pub(crate) type StoredTensor = (Dtype, Vec<usize>, Vec<u8>);

/// A whitening from its tensors `names` (mean, components, variance) and
/// the metadata keys `kind`, `eps`, `samples` and `total_variance`, each
/// after `meta_prefix`; `get` reads a tensor (`None` if it is missing).
/// Errors name `path`, the tensor or key, and the shapes.
pub(crate) fn assemble(
    path: &Path,
    names: [&str; 3],
    meta_prefix: &str,
    meta: &HashMap<String, String>,
    get: &mut dyn FnMut(&str) -> Result<Option<StoredTensor>, Error>,
) -> Result<Whitening, Error> {
    let [mean_name, components_name, variance_name] = names;
    let field = |key: &str| -> Result<&str, Error> {
        let key = format!("{meta_prefix}{key}");
        meta.get(&key).map(String::as_str).ok_or_else(|| {
            let what = if meta_prefix.is_empty() {
                "not a whitening file: "
            } else {
                ""
            };
            file_error(path, format!("{what}the metadata has no `{key}`"))
        })
    };
    let kind = match field("kind")? {
        "pca" => WhiteningKind::Pca,
        "zca" => WhiteningKind::Zca,
        other => {
            return Err(file_error(
                path,
                format!("unknown whitening kind `{other}` (expected `pca` or `zca`)"),
            ))
        }
    };
    let number = |key: &str| -> Result<f64, Error> {
        let text = field(key)?;
        let key = format!("{meta_prefix}{key}");
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| {
                file_error(
                    path,
                    format!("metadata `{key}` is `{text}`, not a finite number >= 0"),
                )
            })
    };
    let eps = number("eps")?;
    let total_variance = number("total_variance")?;
    let samples_text = field("samples")?;
    let samples: usize = samples_text.parse().map_err(|_| {
        file_error(
            path,
            format!("metadata `{meta_prefix}samples` is `{samples_text}`, not a count"),
        )
    })?;
    let (mean, mean_shape) = tensor(path, get, mean_name)?;
    let (components, comp_shape) = tensor(path, get, components_name)?;
    let (variance, var_shape) = tensor(path, get, variance_name)?;
    let [dim] = mean_shape[..] else {
        return Err(file_error(
            path,
            format!(
                "tensor `{mean_name}` has shape {}, expected [dim]",
                shape_string(&mean_shape)
            ),
        ));
    };
    let [k] = var_shape[..] else {
        return Err(file_error(
            path,
            format!(
                "tensor `{variance_name}` has shape {}, expected [k]",
                shape_string(&var_shape)
            ),
        ));
    };
    if dim == 0 || k == 0 || k > dim {
        return Err(file_error(
            path,
            format!(
                "tensor `{mean_name}` has shape {} and `{variance_name}` {}: expected [dim] and [k] with \
                 1 <= k <= dim",
                shape_string(&mean_shape),
                shape_string(&var_shape)
            ),
        ));
    }
    if comp_shape != [k, dim] {
        return Err(file_error(
            path,
            format!(
                "tensor `{components_name}` has shape {}, expected [{k}, {dim}] (k from `{variance_name}`, \
                 dim from `{mean_name}`)",
                shape_string(&comp_shape)
            ),
        ));
    }
    if eps == 0.0 {
        if let Some(c) = variance.iter().position(|&v| v <= 0.0) {
            return Err(Error::SingularCovariance {
                component: c,
                eigenvalue: variance[c],
                eps,
                samples,
                dim,
            });
        }
    }
    Ok(Whitening::from_parts(
        kind,
        eps,
        samples,
        mean,
        components,
        variance,
        total_variance,
        parallel::threads(),
    ))
}

/// A tensor's values as f64 and its shape; F64 or F32, finite.
fn tensor(
    path: &Path,
    get: &mut dyn FnMut(&str) -> Result<Option<StoredTensor>, Error>,
    name: &str,
) -> Result<(Vec<f64>, Vec<usize>), Error> {
    let Some((dtype, shape, data)) = get(name)? else {
        return Err(file_error(path, format!("tensor `{name}` is missing")));
    };
    let values: Vec<f64> = match dtype {
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect(),
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))))
            .collect(),
        other => {
            return Err(file_error(
                path,
                format!(
                    "tensor `{name}` (shape {}) is {other:?}; expected F64 (or F32)",
                    shape_string(&shape)
                ),
            ))
        }
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(file_error(
            path,
            format!(
                "tensor `{name}` (shape {}) holds {} at flat index {i}",
                shape_string(&shape),
                values[i]
            ),
        ));
    }
    Ok((values, shape))
}
