//! Every tuning constant of the runtime and the macro, in one place.
//!
//! Each entry says what it trades and how it was chosen. The figures quoted
//! were measured on the machine described in `BENCHMARKS.md` (Zen 4, 2
//! vCPUs, AVX-512, 32 KiB L1d and 1 MiB L2 per core); sizes are in `f32`
//! values ("floats") unless they say bytes.
//!
//! Register blocks depend on the vector width, so they are tables keyed by
//! `lanes` (1 scalar, 4 NEON, 8 AVX2, 16 AVX-512). A kernel instantiates
//! one copy per block size a table can name (block sizes are const
//! generics); a table entry without an instantiation is a bug the kernel
//! reports (`unreachable!`), never a silent fallback.

use core::time::Duration;

use crate::limits::MAX_LANES;

// ---- convolution algorithm --------------------------------------------------

/// Layers with at most this many input channels run the direct convolution
/// ([`crate::choose_algo`]). With few channels an im2col column is short
/// (`c * kh * kw`: 25 for LeNet's conv1, 27 for an RGB 3x3 layer), so a GEMM
/// tile would be mostly padding, while the direct kernels vectorise over
/// output columns or channels regardless of `c`. 8 covers single-channel
/// and RGB inputs and LeNet's conv2 (6 channels).
pub const FEW_INPUT_CHANNELS: usize = 8;

/// Largest packed weight block (floats, output channels rounded up to the
/// vector) of a channel-vectorised direct convolution; larger layers use
/// im2col. 65,536 floats = 256 KiB, a quarter of the L2 cache, leaving room
/// for the input rows a block of outputs reads: VGG's 64→64 3x3 layer
/// (36,864 floats) runs direct and needs no im2col columns (1.8 M floats
/// at 56x56), while a 128→128 3x3 layer (147,456) would not stay in cache
/// and uses im2col.
pub const CV_MAX_PACKED: usize = 65536;

/// Largest packed weight block (floats) the direct kernels keep in a stack
/// buffer; larger blocks (up to [`CV_MAX_PACKED`]) go to the layer's
/// scratch (`scratch::direct_pack_len`). 8,192 floats = 32 KiB, the L1 data
/// cache: LeNet-sized layers (conv2: 2,400 weights, 2,400 packed) need no
/// scratch, which keeps heap-free arenas small, and the buffer is never
/// cleared (only the packed part is written).
pub const CV_MAX_WEIGHTS: usize = 8192;

/// Tiles per chunk of Winograd's F(4x4, 3x3) convolution
/// ([`crate::winograd`]): the columns of each of its 36 matrix products.
/// 96 is two panels of the AVX-512 GEMM tile (and whole panels at every
/// narrower level), and keeps a chunk's transformed inputs of a 64-channel
/// layer (36 x 64 x 96 floats, 864 KiB) near the L2 cache.
pub const WINOGRAD_TILES: usize = 96;

/// Fewest 4x4 output tiles of a layer that runs Winograd's F(4x4, 3x3)
/// ([`crate::choose_algo`]). Its weights take 36 floats per filter
/// instead of 9 and are read again for every chunk of tiles (and in
/// training transformed on every call), which small outputs do not
/// repay: batch 1, one thread, weights transformed on every call
/// (`cargo bench --bench winograd`), 512→512 at 28x28 (49 tiles) took
/// 32 ms against im2col's 44 ms and 128→128 at 28x28 2.3 ms against
/// 3.1 ms, while 256→256 at 14x14 (16 tiles) took 5.8 ms against 3.6 ms
/// and 512→512 at 14x14 20 ms against 12 ms.
pub const WINOGRAD_MIN_TILES: usize = 49;

// ---- register blocks of the direct kernels ----------------------------------

/// Output channels per register block of the column-vectorised direct
/// forward kernel (blocks of `KB` channels times one or two vectors of
/// output columns; the first size that fits the channels left is used).
/// As many as the registers hold: 8 x 2 accumulators of AVX-512's 32
/// registers, 4 x 2 of AVX2's 16.
#[inline]
pub const fn column_channel_blocks(lanes: usize) -> &'static [usize] {
    match lanes {
        16 => &[8, 6, 4, 2, 1],
        8 => &[4, 2, 1],
        _ => &[4, 1],
    }
}

/// Output channels per register block of the column-vectorised fused
/// conv → ReLU → 2x2 max-pool kernel, which keeps two conv rows of two
/// vectors per channel. With AVX-512, blocks of 6 channels (24
/// accumulators plus inputs and weights) spilled and ran LeNet's conv1
/// block 1.4× slower than blocks of 3 (5.7 → 4.0 µs per sample).
#[inline]
pub const fn column_pool_channel_blocks(lanes: usize) -> &'static [usize] {
    match lanes {
        16 => &[3, 2, 1],
        8 => &[2, 1],
        _ => &[4, 2, 1],
    }
}

/// Input channels per register block of the column-vectorised dense input
/// gradient (one vector of input columns per channel).
#[inline]
pub const fn column_dx_channel_blocks(lanes: usize) -> &'static [usize] {
    match lanes {
        16 => &[8, 6, 4, 2, 1],
        8 => &[6, 4, 2, 1],
        _ => &[4, 1],
    }
}

/// Output channels per block of the column-vectorised dense weight
/// gradient (one accumulator per channel and tap, reduced at the end).
#[inline]
pub const fn dw_channel_blocks(_lanes: usize) -> &'static [usize] {
    &[4, 1]
}

/// Output pixels per register block of the channel-vectorised direct
/// forward kernel, for blocks of `kv` vectors of output channels
/// (`pixels x kv` accumulators): 12 x 1 and 6 x 2 with AVX-512's 32
/// registers, half that with 16.
#[inline]
pub const fn channel_vector_pixels(lanes: usize, kv: usize) -> usize {
    match (kv, lanes) {
        (1, 16) => 12,
        (1, _) => 8,
        (2, 16) => 6,
        (2, _) => 4,
        (3, _) => 4,
        (_, 16) => 4,
        _ => 2,
    }
}

/// Pooled outputs along a row per register block of the channel-vectorised
/// fused conv → ReLU → 2x2 max-pool kernel, for blocks of `kv` vectors of
/// output channels (each pooled output needs 4 conv pixels, so `4 * q * kv`
/// accumulators).
#[inline]
pub const fn channel_vector_pool_windows(lanes: usize, kv: usize) -> usize {
    match (kv, lanes) {
        (1, 16) => 5,
        (1, _) => 2,
        (2, 16) => 3,
        _ => 1,
    }
}

/// Most vectors of output channels one channel-vectorised block takes.
pub const CHANNEL_VECTORS_PER_BLOCK: usize = 4;

// ---- sparse backward pass of fused direct layers ----------------------------

/// Accumulator registers of one band of the sparse input gradient's
/// register block (`rows * (kw + 1)` cells are used, see
/// [`sparse_dx_band_rows`]): 24 of AVX-512's 32 registers, leaving room
/// for the weight vector and the gradient.
pub const BAND_CELLS: usize = 24;

/// Rows of the `(kh + 1) x (kw + 1)` block of input cells the sparse input
/// gradient accumulates in registers at a time: 3 rows of a 5x5 kernel (18
/// accumulators) with AVX-512, 2 (12) with 16 registers; 2 rows of a 3x3
/// kernel (8).
#[inline]
pub const fn sparse_dx_band_rows(lanes: usize, kh: usize) -> usize {
    if kh == 5 && lanes >= 16 {
        3
    } else {
        2
    }
}

/// Most output channels the register-blocked sparse input gradient takes:
/// it sorts each pooled position's channels by winning cell into stack
/// lists (`5 * MAX_BANDED_K` channel indices and gradients, 7.5 KiB);
/// wider layers use the per-winner kernel.
pub const MAX_BANDED_K: usize = 256;

/// Kernel rows whose taps the sparse weight gradient keeps in registers
/// at a time: all 5 rows of a 5x5 kernel (25 accumulators) with AVX-512's
/// 32 registers, 2 rows (10) with 16; all 3 rows of a 3x3 kernel.
#[inline]
pub const fn sparse_dw_band_rows(lanes: usize, kh: usize) -> usize {
    if kh == 5 && lanes < 16 {
        2
    } else {
        kh
    }
}

/// Winners the sparse weight gradient lists at a time (their patch offsets
/// and gradients, 3 KiB on the stack, in L1) before it runs the FMAs: the
/// list is built without branches, so random winners cost no mispredicted
/// jumps, and long enough that the loop over it dominates.
pub const WINNER_CHUNK: usize = 256;

// ---- dense layers ------------------------------------------------------------

/// Samples per block of the dense forward kernel (each weight vector loaded
/// feeds that many dot products), given the samples left: 4 with SIMD,
/// else 2.
#[inline]
pub const fn dense_sample_block(lanes: usize, left: usize) -> usize {
    if left >= 4 && lanes > 1 {
        4
    } else if left >= 2 {
        2
    } else {
        1
    }
}

/// Outputs per block of the dense forward kernel, given the block's
/// samples and the outputs left: 4 x 4 or 2 x 8 (1 x 8) dot products in
/// registers.
#[inline]
pub const fn dense_output_block(samples: usize, left: usize) -> usize {
    if samples == 4 {
        if left >= 4 {
            4
        } else {
            1
        }
    } else if left >= 8 {
        8
    } else if left >= 4 {
        4
    } else {
        1
    }
}

// ---- GEMM -------------------------------------------------------------------

/// Depth of a `k` block of the GEMM: an `MR x GEMM_KC` panel of `A` and a
/// `GEMM_KC x NR` panel of `B` (48 KiB at 48 columns) stay in L1/L2 while a
/// tile accumulates in registers.
pub const GEMM_KC: usize = 256;

/// Rows of a transposed `A` the GEMM packs at once (rounded down to a
/// multiple of the tile's rows; an `A` with contiguous rows is read in
/// place): the packed block (`GEMM_MC * GEMM_KC` floats, 96 KiB) is on the
/// stack and stays in L2 while every column panel of `B` passes.
pub const GEMM_MC: usize = 96;

/// The GEMM's register tile at `lanes` lanes: `(rows, vectors of
/// columns)`. 8 x 3 vectors (24 accumulators of AVX-512's 32 registers),
/// 6 x 2 (12 of AVX2's 16; also NEON), 4 x 2 for the scalar level.
#[inline]
pub const fn gemm_tile(lanes: usize) -> (usize, usize) {
    match lanes {
        16 => (8, 3),
        8 | 4 => (6, 2),
        _ => (4, 2),
    }
}

/// A GEMM reads a column panel of `B` in place (when its rows are
/// contiguous) only for chunks of fewer rows of `A` than this; for more,
/// it packs the panel first: the rows of a large `B` lie far apart, often
/// a multiple of 4 KiB, so in place they map to few L1 sets and are read
/// again from L2 by every row tile.
pub const GEMM_PACK_B_ROWS: usize = 32;

/// Row multiple at which a GEMM split between threads divides its rows:
/// the AVX-512 micro-kernel's tile ([`gemm_tile`]), so that on that level
/// no part but the last ends in a partial tile.
pub const GEMM_ROW_ALIGN: usize = gemm_tile(MAX_LANES).0;

/// Widest column panel of the GEMM (floats): the AVX-512 tile's. Every
/// level's panel width divides it, so a buffer sized for it holds columns
/// packed for any level (checked below).
pub const GEMM_NR_MAX: usize = gemm_tile(MAX_LANES).1 * MAX_LANES;

const _: () = {
    let mut lanes = 1;
    while lanes <= MAX_LANES {
        assert!(GEMM_NR_MAX.is_multiple_of(gemm_tile(lanes).1 * lanes));
        lanes *= 2;
    }
};

// ---- threads and memory -----------------------------------------------------

/// Below this many multiply-accumulates per thread, batched inference
/// stays on one thread: handing a share to another thread costs tens of
/// microseconds on a virtual machine, about what 4 M MACs take (LeNet-5
/// has 416,520 per sample, so batches under 20 run on one thread).
pub const MIN_MACS_PER_THREAD: u64 = 4_000_000;

/// Below this many multiply-accumulates per part, a layer's kernel does
/// not split its output channels between threads (`ops::threads`): a
/// part handed to another thread of the pool costs a few to tens of
/// microseconds, about what 2 M MACs take on one AVX-512 core. LeNet-5's
/// largest layer has 240,000 per sample and always stays on one thread.
pub const LAYER_MACS_PER_THREAD: u64 = 2_000_000;

/// How many parts (threads) a layer of `macs` multiply-accumulates over
/// `rows` output rows splits into when `threads` threads are available:
/// at most one per [`LAYER_MACS_PER_THREAD`], per row and per thread, and
/// at least 1.
#[inline]
pub const fn layer_parts(macs: u64, rows: usize, threads: usize) -> usize {
    let by_work = macs / LAYER_MACS_PER_THREAD;
    let mut parts = if threads < rows { threads } else { rows };
    if (parts as u64) > by_work {
        parts = by_work as usize;
    }
    if parts == 0 {
        1
    } else {
        parts
    }
}

/// Arena budget (floats) of one sub-batch of batched inference: 256 KiB,
/// so a sub-batch's activations stay in L2.
pub const CHUNK_FLOATS: usize = 1 << 16;

/// Most samples in one sub-batch of batched inference, however small the
/// network.
pub const MAX_CHUNK_SAMPLES: usize = 256;

/// A batch tail (the trailing dense layers of a plan) reading at least
/// this many weights (4 MiB, more than an L2 cache holds) runs on groups
/// of samples when the steps before it run fewer samples at a time: each
/// group then reads the weights once, where one sample at a time reads
/// them once per sample. AlexNet's tail has 58.6 M, VGG-16's 123.6 M,
/// GoogLeNet's 1.0 M (under the bar: its weights fit in L3), LeNet-5's
/// 59 K (whose sub-batches already hold 256 samples).
pub const BATCH_TAIL_MIN_PARAMS: usize = 1 << 20;

/// Arena budget (floats, of address space) of one group of samples
/// through a batch tail: the group's arena is as large as a whole
/// `n`-sample arena, but only the tail's values in it are ever touched
/// (it is allocated zeroed, so the untouched pages are never mapped).
pub const TAIL_GROUP_FLOATS: usize = 1 << 26;

/// How long a training thread polls for the next step before it sleeps on
/// a condition variable. Waking a sleeping thread costs tens of
/// microseconds on a virtual machine; polling for up to 200 µs took a
/// batch-32 step on 2 threads from a median 0.76 ms to 0.71 ms (best of 10
/// A/B), while a session left idle sleeps within a fraction of a
/// millisecond.
pub const TEAM_POLL: Duration = Duration::from_micros(200);

/// `spin_loop` hints between two checks of a polling training thread.
pub const TEAM_POLL_SPINS: usize = 32;

/// Arenas up to this many bytes live on the stack in a generated
/// `predict`; larger ones on the heap. 256 KiB holds LeNet-5's arena
/// (7.8 KB) many times over and stays well inside the smallest default
/// thread stack (2 MiB for threads Rust spawns).
pub const STACK_ARENA_BYTES: usize = 256 * 1024;
