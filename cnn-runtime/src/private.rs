//! Helpers for the code `network!` generates. Not a stable API.

use core::ops::Range;

#[cfg(feature = "std")]
pub use std::{path::Path, vec::Vec};

/// Expands its items when the runtime has the `std` feature, and to
/// nothing otherwise, so generated code can offer training and file I/O
/// exactly when the runtime supports them.
#[cfg(feature = "std")]
#[macro_export]
#[doc(hidden)]
macro_rules! __std_only {
    ($($item:tt)*) => { $($item)* };
}

/// See the `std` version.
#[cfg(not(feature = "std"))]
#[macro_export]
#[doc(hidden)]
macro_rules! __std_only {
    ($($item:tt)*) => {};
}

/// The opposite of [`__std_only`]: items for `no_std` builds only.
#[cfg(feature = "std")]
#[macro_export]
#[doc(hidden)]
macro_rules! __no_std_only {
    ($($item:tt)*) => {};
}

/// See the `std` version.
#[cfg(not(feature = "std"))]
#[macro_export]
#[doc(hidden)]
macro_rules! __no_std_only {
    ($($item:tt)*) => { $($item)* };
}

pub use crate::{__no_std_only as no_std_only, __std_only as std_only};

/// The larger of two sizes, usable in `const` items.
pub const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// Splits `buf` into read-only views of `reads` and mutable views of
/// `writes`. The planner places buffers so that these never overlap; an
/// overlap is a bug in the plan and panics.
#[inline]
pub fn carve<'a, T, const R: usize, const W: usize>(
    buf: &'a mut [T],
    reads: [Range<usize>; R],
    writes: [Range<usize>; W],
) -> ([&'a [T]; R], [&'a mut [T]; W]) {
    // Visit every range by start offset, splitting the rest of the buffer.
    let mut order: [(usize, usize, usize); 8] = [(usize::MAX, 0, 0); 8];
    assert!(R + W <= 8, "carve takes at most 8 ranges");
    for (i, r) in reads.iter().enumerate() {
        order[i] = (r.start, r.end, i);
    }
    for (i, r) in writes.iter().enumerate() {
        order[R + i] = (r.start, r.end, R + i);
    }
    let order = &mut order[..R + W];
    order.sort_unstable();
    let mut read_out: [Option<&'a [T]>; R] = [None; R];
    let mut write_out: [Option<&'a mut [T]>; W] = core::array::from_fn(|_| None);
    let mut rest = buf;
    let mut consumed = 0;
    for &(start, end, slot) in order.iter() {
        assert!(
            start >= consumed && end >= start,
            "cnn: overlapping buffers in a plan"
        );
        let (_, tail) = core::mem::take(&mut rest).split_at_mut(start - consumed);
        let (part, tail) = tail.split_at_mut(end - start);
        rest = tail;
        consumed = end;
        if slot < R {
            read_out[slot] = Some(part);
        } else {
            write_out[slot - R] = Some(part);
        }
    }
    (
        read_out.map(|p| p.unwrap_or(&[])),
        write_out.map(|p| p.unwrap_or(&mut [])),
    )
}

/// The weight and bias gradient slices of a layer, or `None` for a frozen one.
#[inline]
pub fn param_grads(
    grads: &mut [f32],
    weight: Range<usize>,
    bias: Option<Range<usize>>,
    trainable: bool,
) -> (Option<&mut [f32]>, Option<&mut [f32]>) {
    if !trainable {
        return (None, None);
    }
    match bias {
        // The planner puts a bias right after its weight.
        Some(b) => {
            let (w, rest) = grads[weight.start..b.end].split_at_mut(weight.end - weight.start);
            (Some(w), Some(rest))
        }
        None => (Some(&mut grads[weight]), None),
    }
}

#[cfg(all(test, feature = "std"))]
// One-range arrays are how `carve` is called.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    #[test]
    fn carve_splits_in_any_order() {
        let mut buf: std::vec::Vec<u32> = (0..10).collect();
        let ([a, b], [c]) = carve(&mut buf, [6..8, 0..2], [3..5]);
        assert_eq!(a, &[6, 7]);
        assert_eq!(b, &[0, 1]);
        c[0] = 99;
        assert_eq!(buf[3], 99);
    }

    #[test]
    #[should_panic(expected = "overlapping")]
    fn carve_rejects_overlap() {
        let mut buf = [0u8; 10];
        let _ = carve(&mut buf, [0..4], [3..5]);
    }
}

/// A zeroed heap buffer (for arenas too large for the stack).
#[cfg(feature = "std")]
pub fn zeroed(len: usize) -> Vec<f32> {
    std::vec![0.0; len]
}
