//! A quantized model as its weights file holds it (format in
//! `cnn_spec::quant::file`): safetensors with int8 weights, int32 biases
//! and f32 scales under PyTorch-style names, and the preprocessing of the
//! f32 model it was quantized from (`preprocess.*` tensors and metadata,
//! as in f32 model files: [`crate::data::preprocessing`]).

use std::collections::HashMap;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use cnn_spec::quant::file::{self, FileDtype, TensorInfo};
use cnn_spec::quant::QParams;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::data::preprocessing::KIND_KEY;
use crate::data::Preprocessing;
use crate::error::Error;
use crate::io::safetensors::{SafetensorsFile, PREPROCESS_PREFIX};

/// One tensor of a quantized model.
#[derive(Clone, Debug, PartialEq)]
pub struct QTensor {
    /// Its name, e.g. `conv1.weight`.
    pub name: String,
    /// Its element type.
    pub dtype: FileDtype,
    /// Its shape (`[]` for a scalar).
    pub shape: Vec<usize>,
    /// Its little-endian bytes.
    pub data: Vec<u8>,
}

impl QTensor {
    /// An int8 tensor.
    pub fn i8(name: &str, shape: &[usize], v: &[i8]) -> Self {
        let data = v.iter().map(|&x| x as u8).collect();
        QTensor::new(name, FileDtype::I8, shape, data)
    }

    /// An int32 tensor.
    pub fn i32(name: &str, shape: &[usize], v: &[i32]) -> Self {
        let data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        QTensor::new(name, FileDtype::I32, shape, data)
    }

    /// An f32 tensor.
    pub fn f32(name: &str, shape: &[usize], v: &[f32]) -> Self {
        let data = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        QTensor::new(name, FileDtype::F32, shape, data)
    }

    fn new(name: &str, dtype: FileDtype, shape: &[usize], data: Vec<u8>) -> Self {
        QTensor {
            name: name.to_string(),
            dtype,
            shape: shape.to_vec(),
            data,
        }
    }

    /// The values of an int8 tensor.
    pub fn as_i8(&self) -> Vec<i8> {
        self.data.iter().map(|&b| b as i8).collect()
    }

    /// The values of an int32 tensor.
    pub fn as_i32(&self) -> Vec<i32> {
        self.data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    /// The values of an f32 tensor.
    pub fn as_f32(&self) -> Vec<f32> {
        self.data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }

    fn info(&self) -> TensorInfo<'_> {
        TensorInfo {
            dtype: self.dtype,
            shape: &self.shape,
            data: &self.data,
        }
    }
}

/// A quantized model: its tensors and the file's metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantizedModel {
    /// The tensors, in the order they were added.
    pub tensors: Vec<QTensor>,
    /// The file's metadata (`format`, `version`, and anything else).
    pub metadata: Vec<(String, String)>,
}

impl QuantizedModel {
    /// Tensor `name`, if the model has it.
    pub fn get(&self, name: &str) -> Option<&QTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Looks tensors up for `cnn_spec::quant::file`'s readers.
    pub fn lookup<'a>(&'a self) -> impl Fn(&str, &str) -> Option<TensorInfo<'a>> + 'a {
        move |prefix, suffix| {
            self.tensors
                .iter()
                .find(|t| {
                    t.name.len() == prefix.len() + 1 + suffix.len()
                        && t.name.starts_with(prefix)
                        && t.name[prefix.len()..].starts_with('.')
                        && t.name.ends_with(suffix)
                })
                .map(QTensor::info)
        }
    }

    /// The network input's parameters (`quant.scale`, `quant.zero_point`).
    pub fn input(&self) -> Result<QParams, Error> {
        file::read_qparams(&self.lookup(), file::INPUT_PREFIX).map_err(|e| Error::Config {
            message: e.to_string(),
        })
    }

    /// Makes `preprocessing` the model's (`None`: no preprocessing),
    /// replacing any it had: the `preprocess.*` tensors and metadata an f32
    /// model file stores, so that the quantized file carries what its raw
    /// inputs go through, and a network compiled in from it (`dtype =
    /// "int8"`) applies it in `infer_raw`. Errors ([`Error::Config`]) if
    /// it does not fit the network's `input_shape`.
    ///
    /// ```
    /// use cnn_runtime::data::{Preprocessing, Standardizer};
    /// use cnn_runtime::quant::QuantizedModel;
    ///
    /// let p = Preprocessing::PerChannel(Standardizer { mean: vec![0.13], std: vec![0.31] });
    /// let mut model = QuantizedModel::default();
    /// model.set_preprocessing(Some(&p), &[1, 28, 28])?;
    /// assert!(model.get("preprocess.mean").is_some());
    /// let path = std::path::Path::new("model.safetensors");
    /// assert_eq!(model.preprocessing(path, &[1, 28, 28])?, Some(p));
    /// # Ok::<(), cnn_runtime::Error>(())
    /// ```
    pub fn set_preprocessing(
        &mut self,
        preprocessing: Option<&Preprocessing>,
        input_shape: &[usize],
    ) -> Result<(), Error> {
        let (tensors, metadata) = match preprocessing {
            Some(p) => {
                p.check(input_shape)?;
                p.to_tensors()
            }
            None => Default::default(),
        };
        self.tensors
            .retain(|t| !t.name.starts_with(PREPROCESS_PREFIX));
        self.metadata
            .retain(|(k, _)| k != KIND_KEY && !k.starts_with(PREPROCESS_PREFIX));
        for (name, dtype, shape, data) in tensors {
            let dtype = match dtype {
                Dtype::F64 => FileDtype::F64,
                _ => FileDtype::F32,
            };
            self.tensors.push(QTensor::new(&name, dtype, &shape, data));
        }
        let mut metadata: Vec<(String, String)> = metadata.into_iter().collect();
        metadata.sort();
        self.metadata.extend(metadata);
        Ok(())
    }

    /// The preprocessing the model carries (`None` if it has none),
    /// checked against the network's `input_shape` as `Model::load` checks
    /// an f32 model's; `path` names the model in errors.
    pub fn preprocessing(
        &self,
        path: &Path,
        input_shape: &[usize],
    ) -> Result<Option<Preprocessing>, Error> {
        let bytes = self.to_bytes()?;
        let len = bytes.len() as u64;
        let limit = crate::io::safetensors::header_limit(self.tensors.len() + 16);
        let mut file = SafetensorsFile::new(std::io::Cursor::new(bytes), len, path, limit)?;
        Preprocessing::read(&mut file, input_shape)
    }

    /// The safetensors bytes of the model.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let views = self
            .tensors
            .iter()
            .map(|t| {
                let dtype = match t.dtype {
                    FileDtype::I8 => Dtype::I8,
                    FileDtype::I32 => Dtype::I32,
                    FileDtype::F64 => Dtype::F64,
                    FileDtype::F32 | FileDtype::Other => Dtype::F32,
                };
                TensorView::new(dtype, t.shape.clone(), &t.data).map(|v| (t.name.as_str(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Config {
                message: format!("quantized model: {e}"),
            })?;
        let mut metadata: HashMap<String, String> = self.metadata.iter().cloned().collect();
        metadata.insert("format".into(), file::FORMAT.into());
        metadata.insert("version".into(), file::VERSION.into());
        safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Config {
            message: format!("quantized model: {e}"),
        })
    }

    /// Writes the model to `path` atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let bytes = self.to_bytes()?;
        crate::io::write_atomic(path.as_ref(), &bytes)
    }

    /// Reads a model written by [`QuantizedModel::save`] (or any
    /// safetensors file of int8, int32 and f32 tensors with `format =
    /// cnn-int8` metadata).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        QuantizedModel::from_bytes(path, &bytes)
    }

    /// As [`QuantizedModel::load`], from bytes (`path` names them in errors).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, Error> {
        let bad = |message: String| Error::Data {
            path: Some(path.into()),
            message,
        };
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| Error::Safetensors {
            path: path.into(),
            message: e.to_string(),
        })?;
        let metadata: Vec<(String, String)> = meta
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let format = metadata.iter().find(|(k, _)| k == "format").map(|(_, v)| v);
        if format.map(String::as_str) != Some(file::FORMAT) {
            return Err(bad(format!(
                "not a quantized model: its metadata `format` is {format:?}, expected \"{}\"",
                file::FORMAT
            )));
        }
        let file = SafeTensors::deserialize(bytes).map_err(|e| Error::Safetensors {
            path: path.into(),
            message: e.to_string(),
        })?;
        let mut names: Vec<String> = file.names().into_iter().map(|n| n.to_string()).collect();
        names.sort();
        let mut tensors = Vec::new();
        for name in names {
            let t = file.tensor(&name).map_err(|e| bad(e.to_string()))?;
            let dtype = match t.dtype() {
                Dtype::I8 => FileDtype::I8,
                Dtype::I32 => FileDtype::I32,
                Dtype::F32 => FileDtype::F32,
                Dtype::F64 if name.starts_with(PREPROCESS_PREFIX) => FileDtype::F64,
                other => {
                    return Err(bad(format!(
                        "tensor `{name}` is {other:?}; a quantized model holds I8, I32 and F32 \
                         tensors (and F64 preprocessing statistics)"
                    )))
                }
            };
            tensors.push(QTensor {
                name,
                dtype,
                shape: t.shape().to_vec(),
                data: t.data().to_vec(),
            });
        }
        Ok(QuantizedModel { tensors, metadata })
    }
}
