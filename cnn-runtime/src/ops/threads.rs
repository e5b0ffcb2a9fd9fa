//! Threads inside one layer: a large layer's output rows (output channels)
//! split into contiguous parts, one per thread.
//!
//! A kernel splits only when it runs on a thread of a rayon pool (batched
//! inference, `crate::batch`, runs every sample there once a network is
//! large enough) and its work reaches
//! [`LAYER_MACS_PER_THREAD`](cnn_spec::tuning::LAYER_MACS_PER_THREAD) per part;
//! the parts then run through `rayon::join`, which keeps its jobs on the
//! stack and in the pool's own queues. Anywhere else (a generated
//! `predict`, a training step on its own threads, `no_std`) a kernel runs
//! on the calling thread. Every output value is computed by the same
//! operations in the same order whatever the split, so the result does not
//! depend on the number of threads.

use core::ops::Range;

#[cfg(feature = "std")]
use cnn_spec::tuning::layer_parts;
use cnn_spec::variants::use_channel_vectors;
use cnn_spec::{ConvGeom, MAX_LANES};

/// How many parts a layer of `macs` multiply-accumulates over `rows`
/// output rows splits into on this thread: 1 outside a thread pool.
#[inline]
pub(crate) fn parts(macs: u64, rows: usize) -> usize {
    #[cfg(feature = "std")]
    {
        if rayon::current_thread_index().is_some() {
            return layer_parts(macs, rows, rayon::current_num_threads());
        }
    }
    let _ = (macs, rows);
    1
}

/// How many parts a direct convolution of one sample splits into: whole
/// multiples of [`MAX_LANES`] output channels each, and only when the
/// layer and every part run on the channel-vectorised kernels at every
/// vector width (`g.k` a multiple of [`MAX_LANES`]), whose outputs are
/// each summed in one fixed order whatever the block they fall in.
#[inline]
pub(crate) fn direct_parts(g: &ConvGeom) -> usize {
    if !g.k.is_multiple_of(MAX_LANES) || !use_channel_vectors(g, MAX_LANES) {
        return 1;
    }
    let macs = (g.patch_len() * g.k) as u64 * g.out_pixels() as u64;
    parts(macs, g.k / MAX_LANES)
}

/// Calls `f(rows, c_part)` for up to `split.parts` contiguous ranges of
/// the `rows` rows of `c` (`row_len` floats each), on the threads of the
/// current pool; see [`Split`] for where the ranges end.
pub(crate) fn for_row_parts<F>(c: &mut [f32], row_len: usize, rows: usize, split: Split, f: &F)
where
    F: Fn(Range<usize>, &mut [f32]) + Sync,
{
    let both = Rows {
        c,
        row_len,
        scratch: &mut [],
        scratch_row: 0,
    };
    run(both, 0..rows, split, &|r, c, _| f(r, c))
}

/// [`for_row_parts`] that also hands each range its own share of
/// `scratch`: `scratch_row` floats per row (the last range gets the rest,
/// the others at most what `scratch` holds).
pub(crate) fn for_row_parts_with<F>(
    (c, row_len): (&mut [f32], usize),
    (scratch, scratch_row): (&mut [f32], usize),
    rows: usize,
    split: Split,
    f: &F,
) where
    F: Fn(Range<usize>, &mut [f32], &mut [f32]) + Sync,
{
    let both = Rows {
        c,
        row_len,
        scratch,
        scratch_row,
    };
    run(both, 0..rows, split, f)
}

/// How [`for_row_parts`] splits `n` rows: into at most `parts` ranges of
/// nearly equal shares, each but the last a multiple of `align` rows and
/// at least `align` (so when `n` is a multiple of `align`, every range is).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Split {
    /// Most parts (1: no split).
    pub parts: usize,
    /// Row multiple of every range but the last.
    pub align: usize,
}

/// The buffers split by rows.
struct Rows<'a> {
    c: &'a mut [f32],
    row_len: usize,
    scratch: &'a mut [f32],
    scratch_row: usize,
}

fn run<F>(b: Rows, rows: Range<usize>, split: Split, f: &F)
where
    F: Fn(Range<usize>, &mut [f32], &mut [f32]) + Sync,
{
    let n = rows.len();
    let align = split.align.max(1);
    let left = split.parts / 2;
    // The equal share of the left half, to the nearest multiple of
    // `align`, leaving at least `align` rows on each side.
    let share = if left == 0 { 0 } else { n * left / split.parts };
    let mid =
        ((share + align / 2) / align * align).clamp(align, n.saturating_sub(align).max(align));
    if left == 0 || mid >= n {
        return f(rows, b.c, b.scratch);
    }
    let (ca, cb) = b.c.split_at_mut(mid * b.row_len);
    let at = (mid * b.scratch_row).min(b.scratch.len());
    let (sa, sb) = b.scratch.split_at_mut(at);
    let a = Rows {
        c: ca,
        row_len: b.row_len,
        scratch: sa,
        scratch_row: b.scratch_row,
    };
    let bb = Rows {
        c: cb,
        row_len: b.row_len,
        scratch: sb,
        scratch_row: b.scratch_row,
    };
    let (ra, rb) = (rows.start..rows.start + mid, rows.start + mid..rows.end);
    let sa = Split { parts: left, align };
    let sb = Split {
        parts: split.parts - left,
        align,
    };
    join(|| run(a, ra, sa, f), || run(bb, rb, sb, f));
}

#[cfg(feature = "std")]
fn join(a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    rayon::join(a, b);
}

#[cfg(not(feature = "std"))]
fn join(a: impl FnOnce() + Send, b: impl FnOnce() + Send) {
    a();
    b();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_row_once_at_aligned_boundaries() {
        for (rows, parts, align) in [
            (10, 3, 1),
            (128, 2, 16),
            (70, 4, 16),
            (5, 8, 1),
            (16, 2, 16),
            (72, 2, 8),
            (64, 3, 16),
        ] {
            let mut c = vec![0.0f32; rows * 3];
            let split = Split { parts, align };
            let seen = std::sync::Mutex::new(Vec::new());
            for_row_parts(
                &mut c,
                3,
                rows,
                split,
                &|r: Range<usize>, part: &mut [f32]| {
                    assert_eq!(part.len(), r.len() * 3);
                    part.iter_mut().for_each(|v| *v += 1.0);
                    seen.lock().unwrap().push(r);
                },
            );
            assert!(c.iter().all(|&v| v == 1.0));
            let mut seen = seen.into_inner().unwrap();
            seen.sort_by_key(|r| r.start);
            assert_eq!((seen[0].start, seen[seen.len() - 1].end), (0, rows));
            for w in seen.windows(2) {
                assert_eq!(w[0].end, w[1].start);
                assert_eq!(w[0].len() % align, 0);
                assert!(w[0].len() >= align && !w[1].is_empty());
            }
            assert!(seen.len() <= parts.max(1));
        }
    }

    #[test]
    fn outside_a_pool_a_layer_stays_on_its_thread() {
        assert_eq!(parts(u64::MAX, 1024), 1);
    }
}
