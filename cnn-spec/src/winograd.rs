//! The tiling of Winograd's F(4x4, 3x3) convolution ([`crate::ConvAlgo::Winograd`]):
//! outputs in 4x4 tiles, each computed from the 6x6 inputs around it,
//! numbered row by row and taken in chunks of [`WINOGRAD_TILES`].
//!
//! ```
//! use cnn_spec::{winograd, ConvGeom};
//! let g = ConvGeom::new(64, 56, 56, 64, (3, 3), (1, 1), (1, 1));
//! assert_eq!(winograd::tiles(&g), (14, 14));
//! assert_eq!(winograd::chunk_tiles(&g), 96);
//! ```

use crate::geom::ConvGeom;
use crate::limits::MAX_LANES;
use crate::tuning::{GEMM_NR_MAX, WINOGRAD_TILES};

/// Outputs per tile side.
pub const TILE: usize = 4;
/// Inputs per tile side.
pub const SPAN: usize = TILE + 2;
/// Positions of a transformed tile (`SPAN * SPAN`): the number of matrix
/// products a chunk of tiles takes.
pub const POSITIONS: usize = SPAN * SPAN;

/// Tile rows and tiles per row of the output: `(th, tw)`.
#[inline]
pub const fn tiles(g: &ConvGeom) -> (usize, usize) {
    (g.oh.div_ceil(TILE), g.ow.div_ceil(TILE))
}

/// Tiles in the largest chunk: [`WINOGRAD_TILES`], or all of them.
#[inline]
pub const fn chunk_tiles(g: &ConvGeom) -> usize {
    let (th, tw) = tiles(g);
    if th * tw < WINOGRAD_TILES {
        th * tw
    } else {
        WINOGRAD_TILES
    }
}

/// Values of one phase of the input transform's row buffer at `lanes`
/// lanes (the columns `4q + r` of one row, for one `r`): the tiles of a
/// row and one more, in whole chunks of `lanes`, and a vector to spare.
#[inline]
pub const fn phase_len(g: &ConvGeom, lanes: usize) -> usize {
    let (_, tw) = tiles(g);
    (TILE * tw + 2).div_ceil(TILE * lanes) * lanes + lanes
}

/// Floats of the input transform's row buffer for one row of a
/// transformed tile row: its four phases.
#[inline]
pub const fn phases_len(g: &ConvGeom, lanes: usize) -> usize {
    TILE * phase_len(g, lanes)
}

/// Scratch floats of one Winograd forward call: the transformed weights
/// (`[36][k][c]`), the transformed inputs of a chunk (36 `c x n` matrices
/// in the GEMM's panel layout, panels at most `GEMM_NR_MAX` wide), then
/// the products of a chunk (`[k][36][n]`), whose space first holds the
/// input transform's row buffers ([`phases_len`] for each of the 6 rows).
#[inline]
pub const fn scratch_len(g: &ConvGeom) -> usize {
    let n = chunk_tiles(g);
    let products = g.k * POSITIONS * n;
    let rows = SPAN * phases_len(g, MAX_LANES);
    let inputs = POSITIONS * g.c * n.next_multiple_of(GEMM_NR_MAX);
    POSITIONS * g.k * g.c + inputs + if products > rows { products } else { rows }
}
