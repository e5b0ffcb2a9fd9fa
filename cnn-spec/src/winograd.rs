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

/// Scratch floats of a Winograd forward call with the weights already
/// transformed ([`transform_weights`]): [`scratch_len`] without their
/// share.
#[inline]
pub const fn prepared_scratch_len(g: &ConvGeom) -> usize {
    scratch_len(g) - weights_len(g)
}

/// Winograd's `G` for F(4x4, 3x3) (6 x 3): the weight transform
/// `U = G g Gᵀ` of a 3x3 filter `g`.
pub const G: [[f64; 3]; SPAN] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

/// Floats of a layer's transformed weights, `[36][k][c]`.
#[inline]
pub const fn weights_len(g: &ConvGeom) -> usize {
    POSITIONS * g.k * g.c
}

/// The transformed weights of a 3x3 layer, once for its lifetime: `u[ξ][k][c]
/// = (G g Gᵀ)[ξ]` for the filters `g = w[k, c]` (`w` is `[k, c, 3, 3]`, `u`
/// `[36][k][c]`), computed in `f64` and rounded once. The macro prepares
/// compiled-in weights with this function and the runtime loaded ones, so
/// both give the same bits.
///
/// ```
/// use cnn_spec::winograd::transform_weights;
/// // A filter that only passes the centre tap: `G g Gᵀ` is `G[:,1] G[:,1]ᵀ`.
/// let mut w = [0.0f32; 9];
/// w[4] = 1.0;
/// let mut u = [0.0f32; 36];
/// transform_weights(&w, &mut u);
/// assert_eq!(u[0], 0.0); // G[0][1] = 0
/// assert_eq!(u[6 + 1], 1.0 / 36.0); // (-1/6)²
/// ```
pub fn transform_weights(w: &[f32], u: &mut [f32]) {
    let filters = w.len() / 9;
    assert!(
        w.len() == filters * 9 && u.len() == POSITIONS * filters,
        "winograd: {} weights are not whole 3x3 filters, or {} transformed values are not 36 per filter",
        w.len(),
        u.len()
    );
    for (f, g) in w.chunks_exact(9).enumerate() {
        // G g (6 x 3), then (G g) Gᵀ (6 x 6).
        let mut gg = [[0.0f64; 3]; SPAN];
        for (i, row) in gg.iter_mut().enumerate() {
            for (b, v) in row.iter_mut().enumerate() {
                *v = (0..3).map(|a| G[i][a] * f64::from(g[3 * a + b])).sum();
            }
        }
        for i in 0..SPAN {
            for j in 0..SPAN {
                let v: f64 = (0..3).map(|b| gg[i][b] * G[j][b]).sum();
                u[(i * SPAN + j) * filters + f] = v as f32;
            }
        }
    }
}
