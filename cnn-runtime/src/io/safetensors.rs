//! Loading and saving parameters as safetensors with PyTorch `state_dict`
//! names (`conv1.weight`, `conv1.bias`, `fc1.weight`, ...), so a model saved
//! with `safetensors.torch.save_file(model.state_dict(), path)` loads
//! unchanged.
//!
//! Loading reads with bounds: the header (its length is the file's first
//! eight bytes) must fit in the file and in [`header_limit`] before it is
//! read, its tensors must account for the file's length exactly, and only
//! the tensors the network has are read, each straight into the new
//! parameter buffer. A file therefore never makes the loader allocate more
//! than the network's parameters and a header of bounded size, whatever
//! its header claims.
//!
//! Tensors whose names start with [`TRAINING_PREFIX`] hold the training
//! state of a checkpoint (see `train::TrainConfig::checkpoint`), and those
//! starting with [`PREPROCESS_PREFIX`] a model's preprocessing (see
//! `Model`); loading weights skips both.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

use safetensors::tensor::{Dtype, Metadata, TensorInfo, TensorView};

use super::{io_error, mismatch, open_regular};
use crate::error::Error;
use crate::network::Network;
use crate::summary::ParamInfo;

/// The prefix of the tensors that hold a checkpoint's training state.
/// Loading a network's weights ignores them.
pub const TRAINING_PREFIX: &str = "__training__.";

/// The prefix of the tensors that hold a model's preprocessing (see
/// `data::Preprocessing`). Loading a network's weights ignores them.
pub const PREPROCESS_PREFIX: &str = "preprocess.";

/// The largest header a file with `tensors` tensors may have: 1 KiB per
/// tensor, and at least 1 MiB (a PyTorch `state_dict` header takes about
/// 100 bytes per tensor).
pub fn header_limit(tensors: usize) -> u64 {
    (tensors as u64).saturating_mul(1024).max(1 << 20)
}

/// Options for loading weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Skip tensors the network does not have instead of failing.
    pub ignore_unknown: bool,
}

impl LoadOptions {
    /// Loading that skips tensors the network does not have (for example
    /// a file holding a larger model). A checkpoint's training state is
    /// skipped without it.
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

/// Says why the network needs a tensor's shape, given the file's.
type Explain = dyn Fn(&ParamInfo, &[usize]) -> Option<String>;

/// A safetensors file whose header has been read and checked: the tensors
/// it lists fill its data section exactly. Tensors are read on demand.
pub struct SafetensorsFile<R> {
    source: R,
    path: PathBuf,
    /// Where the data section starts.
    data_start: u64,
    header: Metadata,
}

impl SafetensorsFile<std::fs::File> {
    /// Opens `path` (a regular file) and reads its header, refusing one
    /// longer than `limit` bytes.
    pub fn open(path: &Path, limit: u64) -> Result<Self, Error> {
        let (file, len) = open_regular(path)?;
        Self::new(file, len, path, limit)
    }
}

impl<R: Read + Seek> SafetensorsFile<R> {
    /// Reads the header of the `len` bytes of `source` (`path` names it in
    /// messages), refusing one longer than `limit` bytes.
    pub fn new(mut source: R, len: u64, path: &Path, limit: u64) -> Result<Self, Error> {
        let bad = |message: String| Error::Safetensors {
            path: path.into(),
            message,
        };
        let mut n = [0u8; 8];
        if len < 8 {
            return Err(bad(format!(
                "the file is {len} bytes long; a safetensors file starts with an 8-byte header \
                 length"
            )));
        }
        source.read_exact(&mut n).map_err(|e| io_error(path, e))?;
        let n = u64::from_le_bytes(n);
        if n > len - 8 {
            return Err(bad(format!(
                "the header length says {n} bytes, but the file holds only {} after it",
                len - 8
            )));
        }
        if n > limit {
            return Err(bad(format!(
                "the header is {n} bytes long, more than the {limit} bytes allowed here"
            )));
        }
        let mut text = vec![0u8; n as usize];
        source
            .read_exact(&mut text)
            .map_err(|e| io_error(path, e))?;
        let header: Metadata =
            serde_json::from_slice(&text).map_err(|e| bad(format!("bad header: {e}")))?;
        drop(text);
        let data_start = 8 + n;
        let data = len - data_start;
        if header.data_len() as u64 != data {
            return Err(bad(format!(
                "the header's tensors take {} bytes of data, the file holds {data} after the \
                 header",
                header.data_len()
            )));
        }
        Ok(SafetensorsFile {
            source,
            path: path.to_path_buf(),
            data_start,
            header,
        })
    }

    /// The file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names of the tensors, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names = self.header.offset_keys();
        names.sort();
        names
    }

    /// The tensor called `name`: its dtype, shape and place.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.header.info(name)
    }

    /// The file's `__metadata__` strings.
    pub fn metadata(&self) -> Option<&HashMap<String, String>> {
        self.header.metadata().as_ref()
    }

    /// Reads the bytes of tensor `info` into `out`, which holds exactly its size.
    fn read_raw(&mut self, info: &TensorInfo, out: &mut [u8]) -> Result<(), Error> {
        let (start, end) = info.data_offsets;
        debug_assert_eq!(end - start, out.len());
        let path = &self.path;
        self.source
            .seek(SeekFrom::Start(self.data_start + start as u64))
            .map_err(|e| io_error(path, e))?;
        self.source.read_exact(out).map_err(|e| io_error(path, e))
    }

    /// The bytes of tensor `name` (at most the file's length).
    pub fn bytes(&mut self, name: &str) -> Option<Result<Vec<u8>, Error>> {
        let info = self.header.info(name)?.clone();
        let mut out = vec![0u8; info.data_offsets.1 - info.data_offsets.0];
        Some(self.read_raw(&info, &mut out).map(|()| out))
    }

    /// Reads F32 tensor `name`, of `out.len()` values, into `out`
    /// (little-endian, as safetensors stores them), in pieces: nothing is
    /// allocated.
    fn read_f32(&mut self, info: &TensorInfo, out: &mut [f32]) -> Result<(), Error> {
        let mut buf = [0u8; 16384];
        let (start, _) = info.data_offsets;
        let path = &self.path;
        self.source
            .seek(SeekFrom::Start(self.data_start + start as u64))
            .map_err(|e| io_error(path, e))?;
        for chunk in out.chunks_mut(buf.len() / 4) {
            let bytes = &mut buf[..chunk.len() * 4];
            self.source
                .read_exact(bytes)
                .map_err(|e| io_error(path, e))?;
            for (v, b) in chunk.iter_mut().zip(bytes.chunks_exact(4)) {
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        Ok(())
    }

    /// Reads the tensors of `params` into `out` (the whole parameter
    /// buffer), checking each one's dtype and shape first. `explain`, if
    /// given, says why the network needs the shape it needs when the
    /// file's differs.
    fn read_params(
        &mut self,
        params: &[ParamInfo],
        out: &mut [f32],
        explain: Option<&Explain>,
    ) -> Result<(), Error> {
        for p in params {
            let Some(info) = self.header.info(p.name).cloned() else {
                return Err(Error::MissingTensor {
                    path: self.path.clone(),
                    tensor: p.name.into(),
                    expected: p.shape.to_vec(),
                });
            };
            if info.dtype != stored_as(p) {
                return Err(Error::DtypeMismatch {
                    path: self.path.clone(),
                    tensor: p.name.into(),
                    expected: p.shape.to_vec(),
                    shape: info.shape.clone(),
                    found: format!("{:?}", info.dtype),
                });
            }
            if info.shape != p.shape {
                return Err(Error::ShapeMismatch {
                    path: self.path.clone(),
                    tensor: p.name.into(),
                    expected: p.shape.to_vec(),
                    reason: explain
                        .and_then(|f| f(p, &info.shape))
                        .map(String::into_boxed_str),
                    found: info.shape,
                });
            }
            match p.dtype {
                crate::summary::Dtype::F32 => self.read_f32(&info, &mut out[p.range()])?,
                // Counters: exact in f32 up to 2^24.
                crate::summary::Dtype::I64 => {
                    let mut bytes = vec![0u8; p.range().len() * 8];
                    self.read_raw(&info, &mut bytes)?;
                    for (v, b) in out[p.range()].iter_mut().zip(bytes.chunks_exact(8)) {
                        let mut le = [0u8; 8];
                        le.copy_from_slice(b);
                        *v = i64::from_le_bytes(le) as f32;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads F32 tensor `name`, which must have `len` values, into a new
    /// buffer; `None` if the file has no such tensor.
    pub fn f32_vec(&mut self, name: &str, len: usize) -> Option<Result<Vec<f32>, Error>> {
        let info = self.header.info(name)?.clone();
        if info.dtype != Dtype::F32 || info.shape.iter().product::<usize>() != len {
            return Some(Err(Error::Safetensors {
                path: self.path.clone(),
                message: format!(
                    "tensor `{name}` is {:?} with shape {:?}, expected F32 with {len} values",
                    info.dtype, info.shape
                ),
            }));
        }
        let mut out = vec![0.0f32; len];
        Some(self.read_f32(&info, &mut out).map(|()| out))
    }

    /// The names in the file that are neither in `params` nor training
    /// state, sorted.
    fn unknown(&self, params: &[ParamInfo]) -> Vec<String> {
        self.names()
            .into_iter()
            .filter(|n| {
                !n.starts_with(TRAINING_PREFIX)
                    && !n.starts_with(PREPROCESS_PREFIX)
                    && !params.iter().any(|p| p.name == *n)
            })
            .collect()
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
    let mut file = SafetensorsFile::open(path, header_limit(params.len() + TRAINING_TENSORS))?;
    load_from(&mut file, params, total, options, None)
}

/// As [`load`], for network `N`: a tensor whose shape differs from the
/// network's gets an explanation of where the network's shape comes from
/// (see [`Error::ShapeMismatch`]).
pub fn load_network<N: Network>(path: &Path, options: LoadOptions) -> Result<Vec<f32>, Error> {
    let mut file = SafetensorsFile::open(path, header_limit(N::PARAMS.len() + TRAINING_TENSORS))?;
    load_network_from::<N, _>(&mut file, options)
}

/// As [`load_network`], from a file already open.
pub fn load_network_from<N: Network, R: Read + Seek>(
    file: &mut SafetensorsFile<R>,
    options: LoadOptions,
) -> Result<Vec<f32>, Error> {
    let explain = |p: &ParamInfo, found: &[usize]| {
        mismatch::explain(N::INPUT_SHAPE, N::LAYERS, N::PARAMS, p, found)
    };
    load_from(file, N::PARAMS, N::PARAM_COUNT, options, Some(&explain))
}

/// The most tensors of training state a checkpoint holds (see
/// `train::checkpoint`) and of preprocessing a model file holds, counted
/// in the header limit.
const TRAINING_TENSORS: usize = 8 + 3;

fn load_from<R: Read + Seek>(
    file: &mut SafetensorsFile<R>,
    params: &[ParamInfo],
    total: usize,
    options: LoadOptions,
    explain: Option<&Explain>,
) -> Result<Vec<f32>, Error> {
    if !options.ignore_unknown {
        let unknown = file.unknown(params);
        if !unknown.is_empty() {
            return Err(Error::UnknownTensors {
                path: file.path.clone(),
                tensors: unknown,
            });
        }
    }
    let mut out = vec![0.0f32; total];
    file.read_params(params, &mut out, explain)?;
    Ok(out)
}

/// As [`load`], from bytes already in memory (`path` is used in messages).
pub fn read(
    path: &Path,
    bytes: &[u8],
    params: &[ParamInfo],
    total: usize,
    options: LoadOptions,
) -> Result<Vec<f32>, Error> {
    let mut file = SafetensorsFile::new(
        std::io::Cursor::new(bytes),
        bytes.len() as u64,
        path,
        header_limit(params.len() + TRAINING_TENSORS),
    )?;
    load_from(&mut file, params, total, options, None)
}

/// A tensor to write: name, dtype, shape, little-endian bytes.
pub type RawTensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// The safetensors bytes of `weights` (tensors named as in `params`, with
/// PyTorch's `{"format": "pt"}` metadata).
pub fn to_bytes(path: &Path, params: &[ParamInfo], weights: &[f32]) -> Result<Vec<u8>, Error> {
    to_bytes_with(path, params, weights, &[], HashMap::new())
}

/// As [`to_bytes`], with more tensors and metadata (a checkpoint's
/// training state).
pub fn to_bytes_with(
    path: &Path,
    params: &[ParamInfo],
    weights: &[f32],
    extra: &[RawTensor],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>, Error> {
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
    let bad = |e: safetensors::SafeTensorError| Error::Safetensors {
        path: path.into(),
        message: e.to_string(),
    };
    let mut views = data
        .iter()
        .zip(params)
        .map(|((name, bytes), p)| {
            TensorView::new(stored_as(p), p.shape.to_vec(), bytes).map(|v| (name.as_str(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad)?;
    for (name, dtype, shape, bytes) in extra {
        views.push((
            name.as_str(),
            TensorView::new(*dtype, shape.clone(), bytes).map_err(bad)?,
        ));
    }
    let mut metadata = metadata;
    metadata.insert("format".to_string(), "pt".to_string());
    safetensors::serialize(views, Some(metadata)).map_err(bad)
}

/// Writes `weights` to `path` atomically (see [`crate::io::write_atomic`]).
pub fn save(path: &Path, params: &[ParamInfo], weights: &[f32]) -> Result<(), Error> {
    let bytes = to_bytes(path, params, weights)?;
    super::write_atomic(path, &bytes)
}
