//! The input and output transforms of Winograd's F(4x4, 3x3) convolution
//! (Lavin and Gray's matrices), vectorised over tiles.
//!
//! A tile is 4x4 outputs of one channel, computed from the 6x6 inputs
//! around it: with `d` the inputs and `g` a 3x3 filter,
//! `y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`. The product `⊙` over all channels is
//! 36 matrix products, one per position `ξ = 6 i + j` of the 6x6
//! transformed tile (`cnn_runtime::ops::winograd` runs them); this module
//! computes `V = Bᵀ d B` for every tile and channel and turns the products
//! back into output rows.
//!
//! Tiles are numbered row by row (`tw` to a row: tile `(tr, tx)` is
//! `tr * tw + tx`). Layouts, for a chunk of tiles `p0..p1`, `n = p1 - p0`
//! (tile `p` is column `p - p0`):
//! - `v`: `[36]` matrices `c x n` of transformed inputs, each in the
//!   GEMM's panel layout (`PackedB`), so that the products pack nothing;
//! - `m`: `[k][36][n]`, the products.

use cnn_spec::winograd::{phase_len, tiles, POSITIONS, SPAN, TILE};

/// The tile rows of tiles `p0..p1` and, for each, its tiles `tx0..tx1`.
#[inline(always)]
fn tile_rows(tw: usize, (p0, p1): (usize, usize)) -> impl Iterator<Item = (usize, usize, usize)> {
    (p0 / tw..p1.div_ceil(tw)).map(move |tr| {
        let first = tr * tw;
        (tr, p0.max(first) - first, p1.min(first + tw) - first)
    })
}
use cnn_spec::ConvGeom;

use crate::simd::gemm::{packed_b_index, packed_b_len, panel_width};
use crate::simd::vector::{Simd, Window};

/// `Bᵀ v` for six vectors (one column or row of a tile):
/// `[4 -5 1] .. [4 -5 1]` as in Lavin and Gray.
#[inline(always)]
fn bt<S: Simd>(s: S, v: [S::V; SPAN]) -> [S::V; SPAN] {
    let (m1, m2, m4, m5) = (s.splat(-1.0), s.splat(-2.0), s.splat(-4.0), s.splat(-5.0));
    let p2 = s.splat(2.0);
    let p4 = s.splat(4.0);
    // v4 - 4 v2, v3 - 4 v1, v4 - v2, v3 - v1.
    let t1 = s.mul_add(v[2], m4, v[4]);
    let t2 = s.mul_add(v[1], m4, v[3]);
    let t3 = s.mul_add(v[2], m1, v[4]);
    let t4 = s.mul_add(v[1], m1, v[3]);
    [
        s.mul_add(v[0], p4, s.mul_add(v[2], m5, v[4])),
        s.add(t1, t2),
        s.mul_add(t2, m1, t1),
        s.mul_add(t4, p2, t3),
        s.mul_add(t4, m2, t3),
        s.mul_add(v[1], p4, s.mul_add(v[3], m5, v[5])),
    ]
}

/// `Aᵀ m` for six vectors: four outputs.
#[inline(always)]
fn at<S: Simd>(s: S, m: [S::V; SPAN]) -> [S::V; TILE] {
    let m1 = s.splat(-1.0);
    let a = s.add(m[1], m[2]);
    let b = s.mul_add(m[2], m1, m[1]);
    let c = s.add(m[3], m[4]);
    let d = s.mul_add(m[4], m1, m[3]);
    [
        s.add(s.add(m[0], a), c),
        s.mul_add(d, s.splat(2.0), b),
        s.mul_add(c, s.splat(4.0), a),
        s.add(s.mul_add(d, s.splat(8.0), b), m[5]),
    ]
}

/// `Bᵀ d` for one vector of columns `w` of the six input rows `rows`
/// (`None`: zero padding).
#[inline(always)]
fn column<S: Simd>(s: S, rows: &[Option<&[f32]>; SPAN], w: Window) -> [S::V; SPAN] {
    bt(
        s,
        [
            load_row(s, rows[0], w),
            load_row(s, rows[1], w),
            load_row(s, rows[2], w),
            load_row(s, rows[3], w),
            load_row(s, rows[4], w),
            load_row(s, rows[5], w),
        ],
    )
}

/// Columns `w` of `row`, zeros for a row in the padding. (A function, not
/// a closure: a closure would not inherit the kernel's target features,
/// and the intrinsics in it would not inline.)
#[inline(always)]
fn load_row<S: Simd>(s: S, row: Option<&[f32]>, w: Window) -> S::V {
    match row {
        Some(r) => s.load_window(r, w),
        None => s.zero(),
    }
}

/// Rows `is.0..is.1` of `v = Bᵀ d B` (positions `ξ = 6 i + j` of those
/// rows `i`) of tiles `range.0..range.1` and every channel of `xs` (one
/// sample, `[c, h, w]`): for each such `ξ` in turn, the `c x n` matrix
/// `V[ξ]` in the GEMM's panel layout (`PackedB`, panels of this level's
/// width), `packed_b_len(c, n, nr)` floats each. `phases` holds
/// `4 * (is.1 - is.0) * cnn_spec::winograd::phase_len` floats at this
/// level's lanes. Stride 1 and a 3x3 kernel; the zero padding is `g.ph`,
/// `g.pw`.
#[inline(always)]
pub fn input<S: Simd>(
    s: S,
    g: &ConvGeom,
    xs: &[f32],
    range: (usize, usize),
    is: (usize, usize),
    v: &mut [f32],
    phases: &mut [f32],
) {
    let l = S::LANES;
    let nr = panel_width(l);
    let (_, tw) = tiles(g);
    let n = range.1 - range.0;
    let vlen = packed_b_len(g.c, n, nr);
    let plen = phase_len(g, l);
    let rows = is.1 - is.0;
    let phases = &mut phases[..rows * TILE * plen];
    for c in 0..g.c {
        let plane = &xs[c * g.h * g.w..][..g.h * g.w];
        for (tr, tx0, tx1) in tile_rows(tw, range) {
            // The six input rows of this tile row (`None` in the padding).
            let top = (tr * TILE) as isize - g.ph as isize;
            let row = |j: usize| {
                let y = top + j as isize;
                (y >= 0 && (y as usize) < g.h).then(|| &plane[y as usize * g.w..][..g.w])
            };
            let rows6: [Option<&[f32]>; SPAN] = core::array::from_fn(row);
            // Bᵀ down the columns, four vectors of columns at a time, each
            // row of the result split into its four phases (columns 4q + r),
            // up to column tx1 (the last tile's shifted taps).
            for q in tx0 / l..=tx1 / l {
                let x = (q * TILE * l) as isize - g.pw as isize;
                let cols = [
                    column(s, &rows6, Window::new(x, g.w, l)),
                    column(s, &rows6, Window::new(x + l as isize, g.w, l)),
                    column(s, &rows6, Window::new(x + 2 * l as isize, g.w, l)),
                    column(s, &rows6, Window::new(x + 3 * l as isize, g.w, l)),
                ];
                for i in is.0..is.1 {
                    let (e01, o01) = s.deinterleave(cols[0][i], cols[1][i]);
                    let (e23, o23) = s.deinterleave(cols[2][i], cols[3][i]);
                    let (p0, p2) = s.deinterleave(e01, e23);
                    let (p1, p3) = s.deinterleave(o01, o23);
                    for (r, p) in [p0, p1, p2, p3].into_iter().enumerate() {
                        s.store(&mut phases[((i - is.0) * TILE + r) * plen + q * l..], p);
                    }
                }
            }
            // Bᵀ along the rows, up to `l` tiles at a time, never across
            // a panel of the packed layout.
            let mut tx = tx0;
            while tx < tx1 {
                // The tile's column in the chunk (`tr * tw + tx >= range.0`).
                let col = tr * tw + tx - range.0;
                let cnt = l.min(tx1 - tx).min(nr - col % nr);
                let at = packed_b_index(g.c, n, nr, c, col);
                for i in is.0..is.1 {
                    let row = &phases[(i - is.0) * TILE * plen + tx..];
                    let taps = [
                        s.load(row),
                        s.load(&row[plen..]),
                        s.load(&row[2 * plen..]),
                        s.load(&row[3 * plen..]),
                        s.load(&row[1..]),
                        s.load(&row[plen + 1..]),
                    ];
                    let out = bt(s, taps);
                    for (j, o) in out.into_iter().enumerate() {
                        let at = ((i - is.0) * SPAN + j) * vlen + at;
                        s.store_part(&mut v[at..at + cnt], cnt, o);
                    }
                }
                tx += cnt;
            }
        }
    }
}

/// The outputs of tiles `range.0..range.1` from the products `m`
/// (`[kp][36][n]`): `y[k] = Aᵀ m A + bias[k]` for the `kp` channels of
/// `ys` (`[kp, oh, ow]`), whose biases are `bias` when given.
#[inline(always)]
pub fn output<S: Simd>(
    s: S,
    g: &ConvGeom,
    m: &[f32],
    bias: Option<&[f32]>,
    range: (usize, usize),
    ys: &mut [f32],
) {
    let l = S::LANES;
    let (_, tw) = tiles(g);
    let n = range.1 - range.0;
    let kp = ys.len() / (g.oh * g.ow);
    let zero = s.zero();
    for k in 0..kp {
        let b = s.splat(bias.map_or(0.0, |b| b[k]));
        let plane = &mut ys[k * g.oh * g.ow..][..g.oh * g.ow];
        let mk = &m[k * POSITIONS * n..][..POSITIONS * n];
        for (tr, tx0, tx1) in tile_rows(tw, range) {
            for tx in (tx0..tx1).step_by(l) {
                // The tile's column in the chunk (`tr * tw + tx >= range.0`).
                let at0 = tr * tw + tx - range.0;
                let cnt = l.min(tx1 - tx);
                // Aᵀ down each column j of the transformed tiles (loops, not
                // closures, as in `input`).
                let mut cols = [[zero; TILE]; SPAN];
                for (j, col) in cols.iter_mut().enumerate() {
                    let mut m = [zero; SPAN];
                    for (i, mi) in m.iter_mut().enumerate() {
                        let at = (i * SPAN + j) * n + at0;
                        *mi = s.load_part(&mk[at..at + cnt], cnt);
                    }
                    *col = at(s, m);
                }
                // The columns the tiles cover in this row of outputs.
                let x0 = tx * TILE;
                let width = (cnt * TILE).min(g.ow - x0);
                for a in 0..TILE.min(g.oh - tr * TILE) {
                    // Aᵀ along row a, the bias, then the four outputs of
                    // each tile side by side.
                    let mut row = [zero; SPAN];
                    for (r, col) in row.iter_mut().zip(&cols) {
                        *r = col[a];
                    }
                    let mut y = at(s, row);
                    for v in y.iter_mut() {
                        *v = s.add(*v, b);
                    }
                    let (lo02, hi02) = s.interleave(y[0], y[2]);
                    let (lo13, hi13) = s.interleave(y[1], y[3]);
                    let (v0, v1) = s.interleave(lo02, lo13);
                    let (v2, v3) = s.interleave(hi02, hi13);
                    let out = &mut plane[(tr * TILE + a) * g.ow + x0..][..width];
                    for (q, v) in [v0, v1, v2, v3].into_iter().enumerate() {
                        let start = q * l;
                        if start >= width {
                            break;
                        }
                        let len = l.min(width - start);
                        s.store_part(&mut out[start..start + len], len, v);
                    }
                }
            }
        }
    }
}
