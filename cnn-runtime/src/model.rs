//! [`Model`]: a network and the preprocessing its inputs need, saved in
//! and loaded from one safetensors file.
//!
//! The weights keep their PyTorch names; the preprocessing is stored as
//! `preprocess.*` tensors and metadata (format in
//! [`data::preprocessing`](crate::data::preprocessing)). Files written
//! without preprocessing (by `save_safetensors` or PyTorch) load as a
//! model without it, and a network's own `from_safetensors` reads a
//! model file's weights and skips its preprocessing.
//!
//! A network compiled in with `#[cnn(weights = "model.safetensors")]`
//! from a file with preprocessing (per-sample, per-channel or whitening)
//! gets an `infer_raw` method that applies it, bit for bit as
//! [`Model::predict_raw`] does: both run [`Preprocessing::kernel`].

use std::path::Path;
use std::vec::Vec;

use crate::data::Preprocessing;
use crate::error::Error;
use crate::io::safetensors::{
    header_limit, load_network_from, to_bytes_with, LoadOptions, SafetensorsFile,
};
use crate::network::Network;

/// A network with the preprocessing its raw inputs go through.
///
/// (Networks are declared with the `cnn` crate's macro, so this example is
/// compiled and run there, in the documentation of `network!`.)
///
/// ```ignore
/// use cnn_runtime::data::{Preprocessing, Standardizer};
/// use cnn_runtime::Model;
///
/// cnn::network! {
///     struct Tiny { input: [1, 2, 2], flatten, fc: dense(2) }
/// }
///
/// let standardizer = Standardizer { mean: vec![100.0], std: vec![20.0] };
/// let model = Model::new(
///     Tiny::new(cnn::Init::He, 7),
///     Some(Preprocessing::PerChannel(standardizer)),
/// )?;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("tiny.safetensors");
/// model.save(&path)?;
///
/// // Weights and preprocessing come back together...
/// let loaded = Model::<Tiny>::load(&path)?;
/// assert_eq!(loaded, model);
/// // ...and `predict_raw` standardises raw inputs before the network.
/// let raw = [90.0, 110.0, 100.0, 140.0];
/// let out = loaded.predict_raw(&raw)?;
/// assert_eq!(out, loaded.network.predict(&[-0.5, 0.5, 0.0, 2.0]));
///
/// // The weights alone load as before.
/// let net = Tiny::from_safetensors(&path)?;
/// assert_eq!(net.weights(), model.network.weights());
/// # Ok::<(), cnn_runtime::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Model<N> {
    /// The network.
    pub network: N,
    /// What raw inputs go through before the network, if anything.
    pub preprocessing: Option<Preprocessing>,
}

impl<N: Network> PartialEq for Model<N> {
    /// Same weights (bit for bit) and same preprocessing.
    fn eq(&self, other: &Self) -> bool {
        let bits = |w: &[f32]| w.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        bits(self.network.weights()) == bits(other.network.weights())
            && self.preprocessing == other.preprocessing
    }
}

impl<N: Network> Model<N> {
    /// A model of `network` and `preprocessing`, which must fit the
    /// network's input (see [`Preprocessing::check`]).
    pub fn new(network: N, preprocessing: Option<Preprocessing>) -> Result<Self, Error> {
        if let Some(p) = &preprocessing {
            p.check(N::INPUT_SHAPE)?;
        }
        Ok(Model {
            network,
            preprocessing,
        })
    }

    /// Loads the weights and the preprocessing (if the file has any)
    /// from `path`.
    ///
    /// Errors name the file and the tensor: those of the network's
    /// `from_safetensors` for the weights; for the preprocessing,
    /// [`Error::ShapeMismatch`] when `preprocess.mean` or `preprocess.std`
    /// does not have one value per channel of the network's input,
    /// [`Error::MissingTensor`] or [`Error::DtypeMismatch`] for a missing
    /// or non-F32 one, and [`Error::Data`] for an unknown kind, a newer
    /// format version, unexpected `preprocess.` tensors, statistics that
    /// are not finite, or a whitening whose output is not the network's
    /// input.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let mut file = SafetensorsFile::open(path, header_limit(N::PARAMS.len() + 16))?;
        let preprocessing = Preprocessing::read(&mut file, N::INPUT_SHAPE)?;
        let weights = load_network_from::<N, _>(&mut file, LoadOptions::default())?;
        Ok(Model {
            network: N::from_weight_vec(weights),
            preprocessing,
        })
    }

    /// Replaces the weights and the preprocessing with those of `path`.
    /// All or nothing: on error the model is unchanged.
    pub fn reload(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        *self = Self::load(path)?;
        Ok(())
    }

    /// Writes the weights (with their PyTorch names) and the
    /// preprocessing to `path`, atomically (a crash leaves the old file
    /// whole). Errors ([`Error::Config`]) before writing anything if the
    /// preprocessing does not fit the network's input.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let (tensors, metadata) = match &self.preprocessing {
            Some(p) => {
                p.check(N::INPUT_SHAPE)?;
                p.to_tensors()
            }
            None => Default::default(),
        };
        let bytes = to_bytes_with(path, N::PARAMS, self.network.weights(), &tensors, metadata)?;
        crate::io::write_atomic(path, &bytes)
    }

    /// Values per raw sample: the network's input length, or the
    /// whitening's input dimension.
    pub fn raw_len(&self) -> usize {
        self.preprocessing
            .as_ref()
            .map_or(N::INPUT_LEN, |p| p.raw_len(N::INPUT_LEN))
    }

    /// Preprocesses a batch of raw samples (`[n, raw_len]`) and runs the
    /// network: `[n, OUTPUT_SHAPE...]`. Without preprocessing this is the
    /// network's `predict_batch`.
    ///
    /// Errors as [`Preprocessing::apply`] and the network's
    /// `predict_batch` (a batch that is not a whole number of samples).
    pub fn predict_raw(&self, raw: &[f32]) -> Result<Vec<f32>, Error> {
        match &self.preprocessing {
            Some(p) => crate::batch::predict(&self.network, &p.apply(raw, N::INPUT_SHAPE)?),
            None => crate::batch::predict(&self.network, raw),
        }
    }
}
