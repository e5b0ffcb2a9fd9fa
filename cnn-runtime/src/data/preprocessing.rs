//! The preprocessing a model file carries next to its weights.
//!
//! Format (in the same safetensors file as the weights; a file without
//! these is a weights-only file and loads as one):
//!
//! | kind | metadata | tensors |
//! | --- | --- | --- |
//! | per-sample standardisation | `preprocess = "per_sample"` | none |
//! | per-channel standardisation | `preprocess = "per_channel"` | `preprocess.mean` F32 `[C]`, `preprocess.std` F32 `[C]` |
//! | PCA or ZCA whitening | `preprocess = "whitening"`, `preprocess.whitening.kind` (`pca` or `zca`), `preprocess.whitening.eps`, `preprocess.whitening.samples`, `preprocess.whitening.total_variance` | `preprocess.whitening.mean` F64 `[dim]`, `preprocess.whitening.components` F64 `[k, dim]`, `preprocess.whitening.variance` F64 `[k]`, `preprocess.whitening.matrix` F32 `[dim, out]` |
//!
//! and `preprocess.version`: `"2"` for whitening, `"1"` for the others
//! (the lowest version that describes the file, so that older readers
//! still read files without whitening). Version 2 added the whitening
//! matrix, `W` in `y = (x - mean) W` ([`Whitening::matrix`]; `out` is `k`
//! for PCA, `dim` for ZCA): the values applied, which a network compiled in
//! from the file embeds as they are. A version 1 whitening has no matrix
//! and rebuilds it from the components when it loads. `C` is the network's input channels
//! for a `[C, H, W]` input, 1 for inputs of other ranks (as
//! [`Standardizer`] fits them); a whitening's output (`k` values for PCA,
//! `dim` for ZCA) must be the network's whole input. Loading weights alone
//! (`from_safetensors`, `load_safetensors`) skips every `preprocess.`
//! tensor.

use std::collections::HashMap;
use std::io::{Read, Seek};
use std::string::{String, ToString};
use std::vec::Vec;

use safetensors::tensor::Dtype;

use super::covariance::check_finite;
use super::dataset::shape_string;
use super::normalize::Standardizer;
use super::whiten::{file as whiten_file, Whitening};
use crate::error::Error;
use crate::io::safetensors::{RawTensor, SafetensorsFile, PREPROCESS_PREFIX};
use crate::preprocess::Preprocess;

/// The metadata key naming the kind.
pub const KIND_KEY: &str = "preprocess";
/// The metadata key of the format version.
pub const VERSION_KEY: &str = "preprocess.version";
/// The newest format version, read and written (for whitening; files
/// without whitening are written as version 1).
pub const VERSION: u32 = 2;
/// The per-channel means.
pub const MEAN: &str = "preprocess.mean";
/// The per-channel standard deviations.
pub const STD: &str = "preprocess.std";
const WHITENING: [&str; 3] = [
    "preprocess.whitening.mean",
    "preprocess.whitening.components",
    "preprocess.whitening.variance",
];
const WHITENING_META: &str = "preprocess.whitening.";
/// The whitening matrix, F32 `[dim, out]` (version 2).
pub const WHITENING_MATRIX: &str = "preprocess.whitening.matrix";

/// What a model does to a raw sample before its first layer; saved in
/// and loaded from the model's weights file (see the
/// [module documentation](self) for the format, and `Model`).
///
/// ```
/// use cnn_runtime::data::{Preprocessing, Standardizer};
///
/// let p = Preprocessing::PerChannel(Standardizer { mean: vec![0.5], std: vec![0.25] });
/// p.check(&[1, 2, 2])?;
/// assert_eq!(p.apply(&[0.5, 0.75, 0.25, 1.0], &[1, 2, 2])?, [0.0, 1.0, -1.0, 2.0]);
/// // Three channels of statistics do not fit a one-channel input.
/// let rgb = Preprocessing::PerChannel(Standardizer { mean: vec![0.0; 3], std: vec![1.0; 3] });
/// assert!(rgb.check(&[1, 2, 2]).is_err());
/// # Ok::<(), cnn_runtime::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Preprocessing {
    /// Each sample standardised on its own, as [`super::scale_each_sample`].
    PerSample,
    /// Standardised per channel with a training set's statistics.
    PerChannel(Standardizer),
    /// PCA or ZCA whitening. A network compiled in from the file embeds
    /// the whitening matrix (`dim x out` values: 2.4 MB of `f32` for a ZCA
    /// of 28x28 images, 37 MB for 3x32x32).
    Whitening(Whitening),
}

impl Preprocessing {
    /// The kind, as stored in the metadata: `per_sample`, `per_channel`
    /// or `whitening`.
    pub fn name(&self) -> &'static str {
        match self {
            Preprocessing::PerSample => "per_sample",
            Preprocessing::PerChannel(_) => "per_channel",
            Preprocessing::Whitening(_) => "whitening",
        }
    }

    /// The allocation-free kernel that applies it (the one compiled-in
    /// networks run).
    pub fn kernel(&self) -> Preprocess<'_> {
        match self {
            Preprocessing::PerSample => Preprocess::PerSample,
            Preprocessing::PerChannel(s) => Preprocess::PerChannel {
                mean: &s.mean,
                std: &s.std,
            },
            Preprocessing::Whitening(w) => Preprocess::Whitening(w.kernel()),
        }
    }

    /// The format version that describes it: 2 for whitening (which
    /// stores its matrix), 1 otherwise.
    pub fn version(&self) -> u32 {
        match self {
            Preprocessing::Whitening(_) => 2,
            _ => 1,
        }
    }

    /// Values per raw sample for a network whose input has
    /// `input_len` values: the whitening's input dimension, or `input_len`.
    pub fn raw_len(&self, input_len: usize) -> usize {
        match self {
            Preprocessing::Whitening(w) => w.dim(),
            _ => input_len,
        }
    }

    /// Checks that it fits a network whose input shape is `input_shape`.
    ///
    /// Errors ([`Error::Config`]) name the statistics and both shapes: a
    /// per-channel standardisation with a different number of channels,
    /// means and standard deviations of different lengths, a statistic
    /// that is not finite or a negative standard deviation; a whitening
    /// whose output is not the network's input length.
    pub fn check(&self, input_shape: &[usize]) -> Result<(), Error> {
        self.problem(input_shape)
            .map_or(Ok(()), |message| Err(Error::Config { message }))
    }

    /// What makes it unfit for `input_shape`, with tensor names.
    fn problem(&self, input_shape: &[usize]) -> Option<String> {
        let input_len: usize = input_shape.iter().product();
        match self {
            Preprocessing::PerSample => None,
            Preprocessing::PerChannel(s) => {
                let channels = channels(input_shape);
                if s.mean.len() != channels || s.std.len() != channels {
                    return Some(format!(
                        "`{MEAN}` has shape [{}] and `{STD}` [{}], but the network's input \
                         {} takes [{channels}] ({})",
                        s.mean.len(),
                        s.std.len(),
                        shape_string(input_shape),
                        if input_shape.len() == 3 {
                            "one value per channel"
                        } else {
                            "one global value for an input that is not [C, H, W]"
                        }
                    ));
                }
                let bad = s
                    .mean
                    .iter()
                    .zip(&s.std)
                    .position(|(m, d)| !m.is_finite() || !d.is_finite() || *d < 0.0)?;
                Some(format!(
                    "`{MEAN}` and `{STD}` at channel {bad} are {} and {}: statistics must be \
                     finite, standard deviations >= 0",
                    s.mean[bad], s.std[bad]
                ))
            }
            Preprocessing::Whitening(w) => (w.output_dim() != input_len).then(|| {
                format!(
                    "the whitening (`{}` {}) turns [{}] values into {}, but the network's input \
                     {} takes {input_len}",
                    WHITENING[0],
                    w.kind().name(),
                    w.dim(),
                    w.output_dim(),
                    shape_string(input_shape)
                )
            }),
        }
    }

    /// Preprocesses a batch of raw samples, `[n, raw_len]` →
    /// `[n, input_shape...]`, each by [`Preprocessing::kernel`]: bit for
    /// bit what a compiled-in network's `infer_raw` gives its layers. (A
    /// whitening applied this way agrees with [`Whitening::transform`],
    /// the GEMM used on whole data sets, to rounding: a few ulps.)
    ///
    /// Errors: [`Error::Config`] as [`Preprocessing::check`];
    /// [`Error::Data`] if `raw` is not a whole number of samples (or, for
    /// whitening, holds NaN or infinity).
    pub fn apply(&self, raw: &[f32], input_shape: &[usize]) -> Result<Vec<f32>, Error> {
        self.check(input_shape)?;
        let input_len: usize = input_shape.iter().product();
        let raw_len = self.raw_len(input_len);
        if raw_len == 0 || !raw.len().is_multiple_of(raw_len) {
            return Err(Error::Data {
                path: None,
                message: format!(
                    "{} raw values are not a whole number of samples of {raw_len} values \
                     (preprocessing `{}` for the input {})",
                    raw.len(),
                    self.name(),
                    shape_string(input_shape)
                ),
            });
        }
        match self.kernel() {
            Preprocess::Whitening(w) => {
                check_finite(raw, raw_len, "whitening")?;
                let mut out = vec![0.0; raw.len() / raw_len * input_len];
                w.apply_batch(raw, &mut out);
                Ok(out)
            }
            kernel => {
                let mut out = raw.to_vec();
                for sample in out.chunks_exact_mut(raw_len) {
                    kernel.apply(sample);
                }
                Ok(out)
            }
        }
    }

    /// The tensors and metadata that store it.
    pub(crate) fn to_tensors(&self) -> (Vec<RawTensor>, HashMap<String, String>) {
        let mut meta = HashMap::new();
        meta.insert(KIND_KEY.to_string(), self.name().to_string());
        meta.insert(VERSION_KEY.to_string(), self.version().to_string());
        let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let f64s = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let tensors = match self {
            Preprocessing::PerSample => Vec::new(),
            Preprocessing::PerChannel(s) => vec![
                (
                    MEAN.to_string(),
                    Dtype::F32,
                    vec![s.mean.len()],
                    f32s(&s.mean),
                ),
                (STD.to_string(), Dtype::F32, vec![s.std.len()], f32s(&s.std)),
            ],
            Preprocessing::Whitening(w) => {
                for (key, value) in [
                    ("kind", w.kind().name().to_string()),
                    ("eps", w.eps().to_string()),
                    ("samples", w.samples().to_string()),
                    ("total_variance", w.total_variance().to_string()),
                ] {
                    meta.insert(format!("{WHITENING_META}{key}"), value);
                }
                let (k, d) = (w.kept(), w.dim());
                vec![
                    (
                        WHITENING[0].to_string(),
                        Dtype::F64,
                        vec![d],
                        f64s(w.mean()),
                    ),
                    (
                        WHITENING[1].to_string(),
                        Dtype::F64,
                        vec![k, d],
                        f64s(w.components()),
                    ),
                    (
                        WHITENING[2].to_string(),
                        Dtype::F64,
                        vec![k],
                        f64s(w.explained_variance()),
                    ),
                    (
                        WHITENING_MATRIX.to_string(),
                        Dtype::F32,
                        vec![d, w.output_dim()],
                        f32s(&w.matrix()),
                    ),
                ]
            }
        };
        (tensors, meta)
    }

    /// The preprocessing stored in `file` (`None` for a weights-only
    /// file), checked against `input_shape`. Errors name the file, the
    /// tensor or metadata key and the shapes.
    pub(crate) fn read<R: Read + Seek>(
        file: &mut SafetensorsFile<R>,
        input_shape: &[usize],
    ) -> Result<Option<Preprocessing>, Error> {
        let path = file.path().to_path_buf();
        let err = |message: String| Error::Data {
            path: Some(path.clone()),
            message,
        };
        let meta = file.metadata().cloned().unwrap_or_default();
        let stored: Vec<String> = file
            .names()
            .into_iter()
            .filter(|n| n.starts_with(PREPROCESS_PREFIX))
            .collect();
        let Some(kind) = meta.get(KIND_KEY) else {
            if stored.is_empty() {
                return Ok(None);
            }
            return Err(err(format!(
                "the file has preprocessing tensors ({}) but no `{KIND_KEY}` metadata naming \
                 their kind",
                quoted(&stored)
            )));
        };
        let version_text = meta.get(VERSION_KEY).map(String::as_str).unwrap_or("1");
        let version = match version_text.parse::<u32>() {
            Ok(v) if (1..=VERSION).contains(&v) => v,
            _ => {
                return Err(err(format!(
                    "preprocessing format version `{version_text}`; this build reads versions \
                     1 to {VERSION}"
                )))
            }
        };
        let expected: &[&str] = match kind.as_str() {
            "per_sample" => &[],
            "per_channel" => &[MEAN, STD],
            "whitening" => &WHITENING_TENSORS,
            other => {
                return Err(err(format!(
                    "unknown preprocessing `{other}` (metadata `{KIND_KEY}`); this build reads \
                     `per_sample`, `per_channel` and `whitening`"
                )))
            }
        };
        let unexpected: Vec<String> = stored
            .iter()
            .filter(|n| !expected.contains(&n.as_str()))
            .cloned()
            .collect();
        if !unexpected.is_empty() {
            return Err(err(format!(
                "unexpected tensors {} for preprocessing `{kind}` (it has {})",
                quoted(&unexpected),
                if expected.is_empty() {
                    "none".to_string()
                } else {
                    quoted(&expected.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                }
            )));
        }
        let preprocessing = match kind.as_str() {
            "per_sample" => Preprocessing::PerSample,
            "per_channel" => {
                let channels = channels(input_shape);
                let mut read = |name: &str| -> Result<Vec<f32>, Error> {
                    let Some(info) = file.info(name).cloned() else {
                        return Err(Error::MissingTensor {
                            path: path.clone(),
                            tensor: name.to_string(),
                            expected: vec![channels],
                        });
                    };
                    if info.dtype != Dtype::F32 {
                        return Err(Error::DtypeMismatch {
                            path: path.clone(),
                            tensor: name.to_string(),
                            expected: vec![channels],
                            shape: info.shape.clone(),
                            found: format!("{:?}", info.dtype),
                        });
                    }
                    if info.shape != [channels] {
                        return Err(Error::ShapeMismatch {
                            path: path.clone(),
                            tensor: name.to_string(),
                            expected: vec![channels],
                            found: info.shape.clone(),
                            reason: Some(
                                format!(
                                    "one value per channel of the network's input {}",
                                    shape_string(input_shape)
                                )
                                .into_boxed_str(),
                            ),
                        });
                    }
                    file.f32_vec(name, channels)
                        .unwrap_or_else(|| Ok(Vec::new()))
                };
                let mean = read(MEAN)?;
                let std = read(STD)?;
                Preprocessing::PerChannel(Standardizer { mean, std })
            }
            _ => {
                let mut get = |name: &str| -> Result<Option<whiten_file::StoredTensor>, Error> {
                    let Some(info) = file.info(name).cloned() else {
                        return Ok(None);
                    };
                    let bytes = file.bytes(name).unwrap_or_else(|| Ok(Vec::new()))?;
                    Ok(Some((info.dtype, info.shape, bytes)))
                };
                let w = whiten_file::assemble(&path, WHITENING, WHITENING_META, &meta, &mut get)?;
                Preprocessing::Whitening(read_matrix(file, w, version)?)
            }
        };
        if let Some(message) = preprocessing.problem(input_shape) {
            return Err(err(message));
        }
        Ok(Some(preprocessing))
    }
}

/// The tensors of a whitening.
const WHITENING_TENSORS: [&str; 4] = [WHITENING[0], WHITENING[1], WHITENING[2], WHITENING_MATRIX];

/// `w` with the matrix stored in `file`: required from version 2, F32
/// `[dim, out]`, finite; a version 1 file without one keeps the matrix
/// rebuilt from the components.
fn read_matrix<R: Read + Seek>(
    file: &mut SafetensorsFile<R>,
    w: Whitening,
    version: u32,
) -> Result<Whitening, Error> {
    let path = file.path().to_path_buf();
    let expected = vec![w.dim(), w.output_dim()];
    let Some(info) = file.info(WHITENING_MATRIX).cloned() else {
        if version < 2 {
            return Ok(w);
        }
        return Err(Error::MissingTensor {
            path,
            tensor: WHITENING_MATRIX.to_string(),
            expected,
        });
    };
    if info.dtype != Dtype::F32 {
        return Err(Error::DtypeMismatch {
            path,
            tensor: WHITENING_MATRIX.to_string(),
            expected,
            shape: info.shape.clone(),
            found: format!("{:?}", info.dtype),
        });
    }
    if info.shape != expected {
        return Err(Error::ShapeMismatch {
            path,
            tensor: WHITENING_MATRIX.to_string(),
            found: info.shape.clone(),
            reason: Some(
                format!(
                    "the {} whitening of `{}` turns [{}] values into {}",
                    w.kind().name(),
                    WHITENING[0],
                    w.dim(),
                    w.output_dim()
                )
                .into_boxed_str(),
            ),
            expected,
        });
    }
    let len = w.dim() * w.output_dim();
    let matrix = file
        .f32_vec(WHITENING_MATRIX, len)
        .unwrap_or_else(|| Ok(Vec::new()))?;
    if let Some(i) = matrix.iter().position(|v| !v.is_finite()) {
        return Err(Error::Data {
            path: Some(path),
            message: format!(
                "tensor `{WHITENING_MATRIX}` (shape {}) holds {} at flat index {i}",
                shape_string(&expected),
                matrix[i]
            ),
        });
    }
    Ok(w.with_matrix(&matrix))
}

/// Statistics per sample for an input of `shape`: its channels for
/// `[C, H, W]`, one otherwise.
fn channels(shape: &[usize]) -> usize {
    if shape.len() == 3 {
        shape[0]
    } else {
        1
    }
}

fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
