//! A training step split into parts, one per thread: the sums that
//! batch-wide layers (batch normalisation) need over the whole step.

/// Sums over the parts of a training step: each thread works on a part of
/// the batch, and batch normalisation's statistics are the whole batch's.
pub trait Reduce: Sync {
    /// Replaces `values`, this part's sums, with the sums over every part
    /// of the step, added in the parts' order (so every thread gets the
    /// same bits). `at` is where the values sit in the step's statistics
    /// layout (`TrainLayout::stats_len`). Every part calls it for the
    /// same `at`s in the same order.
    fn all_reduce(&self, at: usize, values: &mut [f64]);
}

/// The reduction of a step done in one part: the sums are this part's.
#[derive(Clone, Copy, Debug, Default)]
pub struct OnePart;

impl Reduce for OnePart {
    fn all_reduce(&self, _at: usize, _values: &mut [f64]) {}
}
