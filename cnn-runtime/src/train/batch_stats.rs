//! What batch normalisation asks of a batch: more than one value per
//! channel to take statistics of, and enough samples for them to be steady.

use crate::error::Error;
use crate::network::Network;

/// Batches smaller than this give a batch norm noisy statistics: `fit`
/// warns below it. Its error grows quickly below 16 samples per batch
/// (Wu and He, "Group Normalization", 2018, figure 1; Ioffe and Szegedy
/// trained with 32).
pub const BATCH_NORM_MIN_BATCH: usize = 16;

/// The batch norm layer of `N` that sees the fewest values per channel in
/// a batch of `n` samples (`n` for one over features, `n·H·W` over the
/// channels of an image), and that count.
pub(super) fn fewest_values<N: Network>(n: usize) -> Option<(&'static str, usize)> {
    N::LAYERS
        .iter()
        .filter(|l| l.kind == "batch_norm")
        .map(|l| (l.name, n * l.output_shape.iter().skip(1).product::<usize>()))
        .min_by_key(|&(_, values)| values)
}

/// Whether a step of `n` samples gives some batch norm of `N` a single
/// value per channel.
pub(super) fn too_few<N: Network>(n: usize) -> bool {
    fewest_values::<N>(n).is_some_and(|(_, values)| values <= 1)
}

/// An error if a training step of `n` samples gives a batch norm of `N`
/// a single value per channel (its variance would be 0 and its output
/// its bias alone; PyTorch refuses it too).
pub(super) fn check<N: Network>(n: usize) -> Result<(), Error> {
    match fewest_values::<N>(n) {
        Some((layer, values)) if values <= 1 => Err(Error::Config {
            message: format!(
                "{}: batch norm `{layer}` takes the mean and variance of each channel over the \
                 batch, and a training step of {n} sample(s) gives it {values} value per \
                 channel (variance 0): train with batches of at least 2 samples, \
                 {BATCH_NORM_MIN_BATCH} or more for steady statistics",
                N::NAME
            ),
        }),
        _ => Ok(()),
    }
}

/// The warning for training `N` with batches of `batch` samples, if they
/// are too small for steady batch statistics.
pub(super) fn warning<N: Network>(batch: usize) -> Option<String> {
    let (layer, _) = fewest_values::<N>(batch)?;
    (batch < BATCH_NORM_MIN_BATCH).then(|| {
        format!(
            "{}: batches of {batch} samples give batch norm `{layer}` noisy statistics (fewer \
             than {BATCH_NORM_MIN_BATCH} samples); inference uses running averages of them, \
             so accuracy may suffer: use larger batches if memory allows",
            N::NAME
        )
    })
}
