//! Checkpoints: a network's weights written to a safetensors file.

use std::path::Path;

use crate::error::Error;
use crate::network::Network;

/// Writes `net`'s weights to `path` atomically (a crash leaves the old file).
pub fn save_checkpoint<N: Network>(net: &N, path: &Path) -> Result<(), Error> {
    crate::io::safetensors::save(path, N::PARAMS, net.weights())
}
