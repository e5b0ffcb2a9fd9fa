//! Limits the kernels are built for.

/// The argmax byte of a pooled output whose window has no winner: a fused
/// conv → ReLU → max-pool layer records it where the ReLU output is not
/// positive (the gradient is then zero). Every other argmax byte is the
/// winning cell's index inside its window, row-major.
pub const INACTIVE: u8 = u8::MAX;

/// Most cells a max-pool window may have: every cell's index must fit an
/// argmax byte below [`INACTIVE`].
pub const MAX_POOL_WINDOW: usize = INACTIVE as usize;

/// Lanes of the widest vector any SIMD level has (AVX-512: 16 `f32`).
/// Buffers that hold one vector of any level, and channel counts padded
/// for every level, use it.
pub const MAX_LANES: usize = 16;
