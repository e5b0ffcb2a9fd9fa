//! The per-sample arena regions generated code passes to the runtime.

use core::ops::Range;

/// A region `[start, end)` of a per-sample arena: for `n` samples it
/// covers `[n * start, n * end)` (the samples' copies of the value sit
/// side by side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First element, per sample.
    pub start: usize,
    /// One past the last element, per sample.
    pub end: usize,
}

impl Region {
    /// The region `[start, end)`.
    pub const fn new(start: usize, end: usize) -> Self {
        Region { start, end }
    }

    /// The elements it covers for `n` samples.
    #[inline]
    pub fn scaled(self, n: usize) -> Range<usize> {
        n * self.start..n * self.end
    }
}
