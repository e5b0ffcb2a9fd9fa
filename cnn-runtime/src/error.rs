//! The crate's error type.

use std::fmt;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

/// Everything that can go wrong in loading, saving, data handling and
/// training. Each message names the file, tensor, layer or value involved
/// and, where it applies, the shapes.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file is not valid safetensors (bad header, truncated data, ...).
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor the network needs is not in the file.
    MissingTensor {
        /// The file.
        path: PathBuf,
        /// The tensor's name, e.g. `conv1.weight`.
        tensor: String,
        /// The shape the network expects.
        expected: Vec<usize>,
    },
    /// A tensor in the file has the wrong shape.
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// The shape the network expects.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
        /// Where the network's shape comes from, when its tables tell:
        /// for the first dense layer after `flatten`, the upstream shapes
        /// and what input size or padding would give the file's.
        reason: Option<Box<str>>,
    },
    /// A tensor in the file is not float32.
    DtypeMismatch {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        tensor: String,
        /// The shape the network expects.
        expected: Vec<usize>,
        /// The tensor's shape in the file.
        shape: Vec<usize>,
        /// The dtype in the file.
        found: String,
    },
    /// The file has tensors the network does not (see `LoadOptions::ignore_unknown`).
    UnknownTensors {
        /// The file.
        path: PathBuf,
        /// Their names.
        tensors: Vec<String>,
    },
    /// A parameter buffer of the wrong length.
    WeightCount {
        /// The network.
        network: &'static str,
        /// Its parameter count.
        expected: usize,
        /// The buffer's length.
        found: usize,
    },
    /// A batch buffer whose length is not a whole number of samples, or an
    /// output buffer that does not match its input.
    BatchLength {
        /// The network.
        network: &'static str,
        /// Which buffer: `input`, `output`, `labels`, ...
        what: &'static str,
        /// Its length.
        len: usize,
        /// Values per sample (or the expected length, see `message`).
        sample_len: usize,
        /// Explanation.
        message: String,
    },
    /// A layer name that the network does not have.
    UnknownLayer {
        /// The network.
        network: &'static str,
        /// The name asked for.
        name: String,
        /// The names it has.
        layers: Vec<&'static str>,
    },
    /// A layer whose output is not stored: it is computed inside a fused
    /// step (see [`layer_output`](crate::layer_output)), and the call
    /// cannot compute it.
    LayerNotStored {
        /// The network.
        network: &'static str,
        /// The layer asked for.
        layer: String,
        /// The fused step's layers, e.g. `conv1 + relu1 + max_pool1`.
        step: &'static str,
    },
    /// Bad or inconsistent data: labels out of range, counts that differ,
    /// an empty dataset, a malformed IDX file.
    Data {
        /// The file, if the data came from one.
        path: Option<PathBuf>,
        /// What is wrong.
        message: String,
    },
    /// A configuration value that cannot work (batch size 0, ...).
    Config {
        /// What is wrong.
        message: String,
    },
    /// Whitening would divide by the square root of a covariance
    /// eigenvalue that is zero (or negative): the data do not span every
    /// kept direction and `eps` is 0.
    SingularCovariance {
        /// The component, 0-based, in order of decreasing variance.
        component: usize,
        /// Its eigenvalue.
        eigenvalue: f64,
        /// The regularisation in use.
        eps: f64,
        /// Samples the covariance was computed from.
        samples: usize,
        /// Values per sample.
        dim: usize,
    },
    /// The loss became NaN or infinite. From `fit`, the network is back at
    /// its weights after the previous epoch (those of the last checkpoint,
    /// which is left as it was); from `Session::step`, the step was not
    /// taken.
    NonFiniteLoss {
        /// Epoch (1-based; 0 for a step outside `fit`).
        epoch: usize,
        /// Step within the epoch (1-based), or the session's step count.
        step: usize,
        /// The value.
        loss: f32,
    },
    /// Training diverged at the end of an epoch: the weights after its
    /// last step are not finite, or the loss at them (on the epoch's last
    /// batch, or on the validation set) is NaN or infinite. The network is
    /// back at its weights after the previous epoch and the checkpoint was
    /// not written.
    Diverged {
        /// Epoch (1-based).
        epoch: usize,
        /// What was found, e.g. `the validation loss is NaN`.
        what: String,
    },
    /// Threads could not be started.
    Threads {
        /// How many were asked for.
        threads: usize,
        /// The operating system's error.
        message: String,
    },
}

/// `its weights after epoch {epoch}`, or `its initial weights`.
fn after_epoch(epoch: usize) -> String {
    match epoch {
        0 => "its initial weights".into(),
        e => format!("its weights after epoch {e}"),
    }
}

/// Short for `Result<T, cnn::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn shape(s: &[usize]) -> String {
    let parts: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Safetensors { path, message } => {
                write!(f, "{}: not a valid safetensors file: {message}", path.display())
            }
            Error::MissingTensor { path, tensor, expected } => write!(
                f,
                "{}: tensor `{tensor}` (shape {}) is missing",
                path.display(),
                shape(expected)
            ),
            Error::ShapeMismatch { path, tensor, expected, found, reason } => {
                write!(
                    f,
                    "{}: tensor `{tensor}` has shape {}, the network expects {}",
                    path.display(),
                    shape(found),
                    shape(expected)
                )?;
                match reason {
                    Some(r) => write!(f, ": {r}"),
                    None => Ok(()),
                }
            }
            Error::DtypeMismatch { path, tensor, expected, shape: s, found } => write!(
                f,
                "{}: tensor `{tensor}` (shape {}) is {found}, the network expects F32 with shape {}",
                path.display(),
                shape(s),
                shape(expected)
            ),
            Error::UnknownTensors { path, tensors } => write!(
                f,
                "{}: the network has no tensor{} {}; load with `LoadOptions::ignore_unknown()` to skip {}",
                path.display(),
                if tensors.len() == 1 { "" } else { "s" },
                tensors.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", "),
                if tensors.len() == 1 { "it" } else { "them" }
            ),
            Error::WeightCount { network, expected, found } => write!(
                f,
                "{network}: a weight buffer of {found} values was given, the network has {expected} parameters"
            ),
            Error::BatchLength { network, what, len, sample_len, message } => write!(
                f,
                "{network}: {what} of length {len} {message} ({sample_len} values per sample)"
            ),
            Error::UnknownLayer { network, name, layers } => write!(
                f,
                "{network} has no layer `{name}` (its layers: {})",
                layers.join(", ")
            ),
            Error::LayerNotStored { network, layer, step } => write!(
                f,
                "{network}: the output of `{layer}` is not stored: it is computed inside the \
                 fused step `{step}`, which stores only the output of its last layer; read that \
                 layer, or declare the network with #[cnn(fuse = false)] to store every layer's \
                 output"
            ),
            Error::Data { path: Some(path), message } => write!(f, "{}: {message}", path.display()),
            Error::Data { path: None, message } => f.write_str(message),
            Error::Config { message } => f.write_str(message),
            Error::SingularCovariance { component, eigenvalue, eps, samples, dim } => {
                write!(
                    f,
                    "whitening: the covariance is singular: component {component} (0-based, by \
                     decreasing variance) has eigenvalue {eigenvalue:e} with eps = {eps}, and \
                     whitening divides by its square root; use eps > 0 (e.g. 1e-5) or keep fewer \
                     components (Keep::Components or Keep::Variance)"
                )?;
                if samples <= dim {
                    write!(
                        f,
                        " ({samples} samples of {dim} values: the covariance has rank at most {})",
                        samples.saturating_sub(1)
                    )?;
                }
                Ok(())
            }
            Error::NonFiniteLoss { epoch: 0, step, loss } => write!(
                f,
                "the loss became {loss} at step {step}; the step was not taken (the network is \
                 unchanged)"
            ),
            Error::NonFiniteLoss { epoch, step, loss } => write!(
                f,
                "the loss became {loss} at epoch {epoch}, step {step}; training stopped, the \
                 network is back at {} and the last checkpoint is intact",
                after_epoch(*epoch - 1)
            ),
            Error::Diverged { epoch, what } => write!(
                f,
                "training diverged in epoch {epoch}: {what}; the network is back at {} and the \
                 checkpoint was not written (the last one is intact)",
                after_epoch(*epoch - 1)
            ),
            Error::Threads { threads, message } => {
                write!(f, "could not start {threads} threads: {message}")
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
