//! Single-precision GEMM on the vector abstraction: `C = A B + beta C` on
//! strided views, with no heap allocation (packing buffers live on the
//! stack), so inference and training steps stay allocation-free.
//!
//! Blocking: `k` in blocks of `GEMM_KC`. `A` with contiguous rows (a
//! layer's weights) is read in place, `MR` rows per tile, and never packed;
//! only a last, partial tile of rows is packed (zero-padded). A transposed
//! `A` is packed in chunks of up to `GEMM_MC` rows (panels of `MR` rows).
//! `n` runs in panels of `NR = NV * LANES` columns, read in place when
//! `B`'s rows are contiguous, the panel is whole and fewer than
//! `GEMM_PACK_B_ROWS` rows of `A` read it, packed otherwise; a `B` that
//! comes packed ([`PackedB`], written so by a convolution's im2col) is
//! read as it is. The micro-kernel keeps an `MR x NR` tile in registers
//! over a whole `k` block and only then touches `C` (the first block
//! applies `beta`). The sizes are in `cnn_spec::tuning`.

use cnn_spec::tuning::{
    gemm_tile, GEMM_KC as KC, GEMM_MC as MC, GEMM_NR_MAX as NR_MAX, GEMM_PACK_B_ROWS,
};

use super::args::{Layout, Matrix};
use super::vector::Simd;

/// A `k x n` matrix `B` already in the GEMM's panel layout (what a
/// convolution's im2col writes directly, so that the GEMM packs nothing):
/// `k` in blocks of `GEMM_KC` rows, each block `nr`-column panels of `kc`
/// rows of `nr` values, the columns past `n` zero. Element `(p, j)` is at
/// [`packed_b_index`]; the whole takes [`packed_b_len`] floats.
#[derive(Clone, Copy, Debug)]
pub struct PackedB<'a> {
    /// The packed values.
    pub data: &'a [f32],
    /// Rows.
    pub k: usize,
    /// Columns.
    pub n: usize,
    /// Panel width: [`crate::simd::gemm_panel_width`] at the level that
    /// runs the GEMM.
    pub nr: usize,
}

/// Floats a [`PackedB`] of `k x n` in panels of `nr` columns takes.
#[inline]
pub const fn packed_b_len(k: usize, n: usize, nr: usize) -> usize {
    k * n.next_multiple_of(nr)
}

/// Where element `(p, j)` of a [`PackedB`] lies: the `GEMM_KC`-row block
/// of `p` (`n` rounded up to `nr` floats per row), the panel of `j` in it
/// (`kc * nr` floats each, `kc` the block's rows), the row in the panel.
#[inline]
pub const fn packed_b_index(k: usize, n: usize, nr: usize, p: usize, j: usize) -> usize {
    let k0 = p / KC * KC;
    let kc = if k - k0 < KC { k - k0 } else { KC };
    k0 * n.next_multiple_of(nr) + j / nr * kc * nr + (p - k0) * nr + j % nr
}

/// The panel width of the GEMM's tile at `lanes` lanes.
#[inline]
pub const fn panel_width(lanes: usize) -> usize {
    gemm_tile(lanes).1 * lanes
}

/// Where the GEMM reads `B` from.
#[derive(Clone, Copy)]
enum BSrc<'a> {
    /// A strided view, packed as needed.
    View(Matrix<'a>),
    /// Already packed.
    Packed(PackedB<'a>),
}

/// `c = a b + beta c`; `a` is `m x k`, `b` is `k x n`, `c` is `m x n`.
#[inline(always)]
pub fn gemm<S: Simd>(s: S, a: Matrix, b: Matrix, beta: f32, c: &mut [f32], lc: Layout) {
    tiles::<S>(s, a, BSrc::View(b), beta, c, lc)
}

/// [`gemm`] with `B` packed ([`PackedB`]); its panel width must be this
/// level's ([`panel_width`]).
#[inline(always)]
pub fn gemm_packed<S: Simd>(s: S, a: Matrix, b: PackedB, beta: f32, c: &mut [f32], lc: Layout) {
    assert_eq!(
        b.nr,
        panel_width(S::LANES),
        "gemm: B packed in panels of {} columns, the kernel at {} lanes runs {}",
        b.nr,
        S::LANES,
        panel_width(S::LANES)
    );
    assert!(b.k == a.layout.cols && b.data.len() >= packed_b_len(b.k, b.n, b.nr));
    tiles::<S>(s, a, BSrc::Packed(b), beta, c, lc)
}

#[inline(always)]
fn tiles<S: Simd>(s: S, a: Matrix, b: BSrc, beta: f32, c: &mut [f32], lc: Layout) {
    match gemm_tile(S::LANES) {
        (8, 3) => gemm_tiles::<S, 8, 3>(s, a, b, beta, c, lc),
        (6, 2) => gemm_tiles::<S, 6, 2>(s, a, b, beta, c, lc),
        (4, 2) => gemm_tiles::<S, 4, 2>(s, a, b, beta, c, lc),
        (mr, nv) => unreachable!("a GEMM tile of {mr} rows by {nv} vectors"),
    }
}

#[inline(always)]
fn gemm_tiles<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    a: Matrix,
    b: BSrc,
    beta: f32,
    c: &mut [f32],
    lc: Layout,
) {
    let la = a.layout;
    let (m, k) = (la.rows, la.cols);
    let n = match b {
        BSrc::View(b) => b.layout.cols,
        BSrc::Packed(b) => b.n,
    };
    if k == 0 {
        scale(c, lc, beta);
        return;
    }
    let nr = NV * S::LANES;
    // A with contiguous rows (weights, activations) is read in place, whole
    // row panels at a time, so its rows form one chunk; a transposed A is
    // packed in chunks of `MC` rows.
    let a_in_place = la.cs == 1;
    let chunk = if a_in_place { m } else { MC / MR * MR };
    // Packing buffers, cleared on first use only (a product whose operands
    // are all read in place clears nothing).
    let mut apack_store: Option<[f32; MC * KC]> = None;
    let mut bpack_store: Option<[f32; KC * NR_MAX]> = None;
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        let beta = if k0 == 0 { beta } else { 1.0 };
        for i0 in (0..m).step_by(chunk) {
            let mc = chunk.min(m - i0);
            // Rows of the chunk read in place, then the packed ones.
            let whole = if a_in_place { mc / MR * MR } else { 0 };
            let apack: &[f32] = if whole < mc {
                let ap = apack_store.get_or_insert([0.0; MC * KC]);
                pack_a::<MR>(a, (i0 + whole, mc - whole), (k0, kc), ap);
                &ap[..]
            } else {
                &[]
            };
            for j0 in (0..n).step_by(nr) {
                let ncols = nr.min(n - j0);
                let (panel, prs): (&[f32], usize) = match b {
                    BSrc::Packed(b) => (&b.data[packed_b_index(k, n, nr, k0, j0)..], nr),
                    // B's panel in place when its rows are contiguous, it
                    // is whole and few row tiles read it; otherwise packed
                    // contiguously, so that it stays in L1 across the row
                    // tiles (rows of a large B in place lie a page apart, in
                    // few cache sets).
                    BSrc::View(b) if b.layout.cs == 1 && ncols == nr && mc < GEMM_PACK_B_ROWS => {
                        (&b.data[k0 * b.layout.rs + j0..], b.layout.rs)
                    }
                    BSrc::View(b) => {
                        let bp = bpack_store.get_or_insert([0.0; KC * NR_MAX]);
                        pack_b(b, (k0, kc), (j0, ncols), nr, bp);
                        (&bp[..], nr)
                    }
                };
                // A last panel narrower than a tile runs a narrower tile
                // (e.g. 49 columns: 48 + 16, not 48 + 48).
                let vecs = ncols.div_ceil(S::LANES);
                for r0 in (0..mc).step_by(MR) {
                    let rows = MR.min(mc - r0);
                    let ap = if r0 < whole {
                        ARows::InPlace {
                            a: &a.data[(i0 + r0) * la.rs + k0..],
                            lda: la.rs,
                        }
                    } else {
                        ARows::Packed(&apack[(r0 - whole) * kc..][..MR * kc])
                    };
                    let at = TileAt {
                        i0: i0 + r0,
                        rows,
                        j0,
                        ncols,
                    };
                    let tile = Tile {
                        kc,
                        ap,
                        panel,
                        prs,
                        at,
                        beta,
                    };
                    match vecs {
                        1 if NV > 1 => tile_into::<S, MR, 1>(s, tile, c, lc),
                        2 if NV > 2 => tile_into::<S, MR, 2>(s, tile, c, lc),
                        _ => tile_into::<S, MR, NV>(s, tile, c, lc),
                    }
                }
            }
        }
    }
}

/// Checks that the operands of an asm micro-kernel ([`Simd::gemm_micro`])
/// hold every element it reads over `kc >= 1` steps: `a[r * lda + p *
/// astep]` for `r < rows`, and `b[p * bs..p * bs + width]`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn assert_micro_operands(
    kc: usize,
    (a, lda, astep): (&[f32], usize, usize),
    rows: usize,
    (b, bs): (&[f32], usize),
    width: usize,
) {
    assert!(
        kc >= 1 && rows >= 1,
        "a micro-kernel runs at least one step and row"
    );
    assert!(
        a.len() > (rows - 1) * lda + (kc - 1) * astep,
        "A's tile is inside `a`"
    );
    assert!(b.len() >= (kc - 1) * bs + width, "B's panel is inside `b`");
}

/// An asm micro-kernel's accumulators, `[row 0 vector 0, row 0 vector 1,
/// .., row 1 vector 0, ..]`, as the GEMM's tile.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn tile_rows<V: Copy, const MR: usize, const NV: usize>(acc: &[V]) -> [[V; NV]; MR] {
    core::array::from_fn(|r| core::array::from_fn(|v| acc[r * NV + v]))
}

/// Where a tile's `MR` rows of `A` are read from.
#[derive(Clone, Copy)]
enum ARows<'a> {
    /// A packed panel (see [`pack_a`]).
    Packed(&'a [f32]),
    /// The rows themselves: row `r` at `a[r * lda..]`, `kc` values each.
    InPlace { a: &'a [f32], lda: usize },
}

/// One tile's operands: `MR` rows of A over `kc` steps, the B panel (rows
/// `prs` apart), where the tile goes and the `beta` it applies.
#[derive(Clone, Copy)]
struct Tile<'a> {
    kc: usize,
    ap: ARows<'a>,
    panel: &'a [f32],
    prs: usize,
    at: TileAt,
    beta: f32,
}

/// Computes a tile of `NVX` vectors of columns and writes it into `c`.
#[inline(always)]
fn tile_into<S: Simd, const MR: usize, const NVX: usize>(s: S, t: Tile, c: &mut [f32], lc: Layout) {
    // The tile's rows of `C` are read (or written) only after the `kc`
    // steps; asking for them now hides the cache misses of a large `C`
    // behind the arithmetic.
    let at = t.at;
    for r in 0..at.rows {
        let base = (at.i0 + r) * lc.rs + at.j0 * lc.cs;
        s.prefetch(&c[base..]);
        s.prefetch(&c[base + (at.ncols - 1) * lc.cs..]);
    }
    // The level's own micro-kernel for its full tile, where it has one.
    let (a, lda, astep) = match t.ap {
        ARows::Packed(ap) => (ap, 1, MR),
        ARows::InPlace { a, lda } => (a, lda, 1),
    };
    let own = s.gemm_micro::<MR, NVX>(t.kc, (a, lda, astep), (t.panel, t.prs));
    let acc = match (own, t.ap) {
        (Some(acc), _) => acc,
        (None, ARows::Packed(ap)) => micro::<S, MR, NVX>(s, t.kc, ap, t.panel, t.prs),
        (None, ARows::InPlace { a, lda }) => {
            let rows = core::array::from_fn(|r| &a[r * lda..]);
            micro_rows::<S, MR, NVX>(s, t.kc, rows, t.panel, t.prs)
        }
    };
    update::<S, MR, NVX>(s, &acc, c, lc, t.at, t.beta);
}

/// [`micro`] on `MR` rows of `A` read in place.
#[inline(always)]
fn micro_rows<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    kc: usize,
    rows: [&[f32]; MR],
    panel: &[f32],
    prs: usize,
) -> [[S::V; NV]; MR] {
    let l = S::LANES;
    let mut acc = [[s.zero(); NV]; MR];
    let rows: [&[f32]; MR] = core::array::from_fn(|r| &rows[r][..kc]);
    for p in 0..kc {
        let brow = &panel[p * prs..p * prs + NV * l];
        let bv: [S::V; NV] = core::array::from_fn(|v| s.load(&brow[v * l..]));
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let av = s.splat(rows[r][p]);
            for v in 0..NV {
                acc_r[v] = s.mul_add(av, bv[v], acc_r[v]);
            }
        }
    }
    acc
}

/// Where a tile goes in `C`: rows `i0..i0 + rows`, columns `j0..j0 + ncols`
/// (its valid part).
#[derive(Clone, Copy)]
struct TileAt {
    i0: usize,
    rows: usize,
    j0: usize,
    ncols: usize,
}

/// `c *= beta` (`beta == 0` clears, so NaN in `c` does not survive).
fn scale(c: &mut [f32], lc: Layout, beta: f32) {
    if beta == 1.0 {
        return;
    }
    for i in 0..lc.rows {
        for j in 0..lc.cols {
            let v = &mut c[i * lc.rs + j * lc.cs];
            *v = if beta == 0.0 { 0.0 } else { *v * beta };
        }
    }
}

/// Packs rows `i0..i0+mc`, columns `k0..k0+kc` of `a` as panels of `MR`
/// rows: panel `q` holds `ap[q*MR*kc + p*MR + r] = a[i0 + q*MR + r, k0 + p]`.
fn pack_a<const MR: usize>(
    a: Matrix,
    (i0, mc): (usize, usize),
    (k0, kc): (usize, usize),
    ap: &mut [f32],
) {
    let (la, a) = (a.layout, a.data);
    for q in 0..mc.div_ceil(MR) {
        let panel = &mut ap[q * MR * kc..(q + 1) * MR * kc];
        let rows = MR.min(mc - q * MR);
        if la.cs == 1 && rows == MR {
            // A whole panel of contiguous rows: read the MR rows side by
            // side and write each column's MR values contiguously (one
            // pass over the panel, instead of MR strided passes).
            let src: [&[f32]; MR] = core::array::from_fn(|r| {
                let base = (i0 + q * MR + r) * la.rs + k0;
                &a[base..base + kc]
            });
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                for (d, row) in dst.iter_mut().zip(&src) {
                    *d = row[p];
                }
            }
            continue;
        }
        if la.rs == 1 && rows == MR {
            // A whole panel of a transposed A (the backward passes' `dz^T`,
            // `w^T`): each column's MR values are contiguous in `a`.
            for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                let base = i0 + q * MR + (k0 + p) * la.cs;
                let src: &[f32; MR] = a[base..base + MR].try_into().expect("MR values");
                let dst: &mut [f32; MR] = dst.try_into().expect("MR values");
                *dst = *src;
            }
            continue;
        }
        for r in 0..MR {
            if r >= rows {
                for dst in panel.chunks_exact_mut(MR) {
                    dst[r] = 0.0;
                }
                continue;
            }
            let base = (i0 + q * MR + r) * la.rs + k0 * la.cs;
            if la.cs == 1 {
                let src = &a[base..base + kc];
                for (dst, &v) in panel.chunks_exact_mut(MR).zip(src) {
                    dst[r] = v;
                }
            } else {
                for (p, dst) in panel.chunks_exact_mut(MR).enumerate() {
                    dst[r] = a[base + p * la.cs];
                }
            }
        }
    }
}

/// Packs rows `k0..k0+kc`, columns `j0..j0+ncols` of `b` into `kc x nr`
/// rows, zero-padded to `nr` columns, reading `b` along its contiguous
/// dimension.
fn pack_b(
    b: Matrix,
    (k0, kc): (usize, usize),
    (j0, ncols): (usize, usize),
    nr: usize,
    bp: &mut [f32],
) {
    let (lb, b) = (b.layout, b.data);
    let panel = &mut bp[..kc * nr];
    if lb.cs == 1 {
        // Whole panels of the usual widths copy as fixed-size arrays
        // (inline vector moves, not a call to `memcpy` per row).
        match (nr, ncols) {
            (8, 8) => return pack_rows::<8>(b, lb.rs, k0, j0, panel),
            (16, 16) => return pack_rows::<16>(b, lb.rs, k0, j0, panel),
            (48, 48) => return pack_rows::<48>(b, lb.rs, k0, j0, panel),
            _ => {}
        }
        for (p, row) in panel.chunks_exact_mut(nr).enumerate() {
            let base = (k0 + p) * lb.rs + j0;
            row[..ncols].copy_from_slice(&b[base..base + ncols]);
            row[ncols..].fill(0.0);
        }
        return;
    }
    if lb.rs == 1 {
        // A transposed B (the backward passes' `cols^T`, `x^T`): whole
        // panels read eight columns side by side.
        let cols = (lb.cs, k0, kc, j0);
        match (nr, ncols) {
            (8, 8) => return pack_cols::<8>(b, cols, panel),
            (16, 16) => return pack_cols::<16>(b, cols, panel),
            (48, 48) => return pack_cols::<48>(b, cols, panel),
            _ => {}
        }
    }
    for j in 0..nr {
        if j >= ncols {
            for row in panel.chunks_exact_mut(nr) {
                row[j] = 0.0;
            }
            continue;
        }
        let base = k0 * lb.rs + (j0 + j) * lb.cs;
        for (p, row) in panel.chunks_exact_mut(nr).enumerate() {
            row[j] = b[base + p * lb.rs];
        }
    }
}

/// [`pack_b`] of a whole panel `NR` wide from a `B` with contiguous rows
/// `rs` apart.
#[inline(always)]
fn pack_rows<const NR: usize>(b: &[f32], rs: usize, k0: usize, j0: usize, panel: &mut [f32]) {
    for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
        let base = (k0 + p) * rs + j0;
        let src: &[f32; NR] = b[base..base + NR].try_into().expect("a whole row");
        let dst: &mut [f32; NR] = row.try_into().expect("a whole row");
        *dst = *src;
    }
}

/// [`pack_b`] of a whole panel `NR` wide (a multiple of 8) from a
/// transposed `B`: column `j` holds its `kc` values contiguously at
/// `b[(j0 + j) * cs + k0..]`. Eight columns are read side by side and
/// each row's eight values written contiguously (one pass over the panel
/// per eight columns, instead of a strided pass per column).
#[inline(always)]
fn pack_cols<const NR: usize>(
    b: &[f32],
    (cs, k0, kc, j0): (usize, usize, usize, usize),
    panel: &mut [f32],
) {
    const W: usize = 8;
    for jb in (0..NR).step_by(W) {
        let src: [&[f32]; W] = core::array::from_fn(|j| &b[(j0 + jb + j) * cs + k0..][..kc]);
        for (p, row) in panel[..kc * NR].chunks_exact_mut(NR).enumerate() {
            let dst: &mut [f32; W] = (&mut row[jb..jb + W]).try_into().expect("W values");
            for (d, col) in dst.iter_mut().zip(&src) {
                *d = col[p];
            }
        }
    }
}

/// The `MR x NV*LANES` tile `ap * panel` over `kc` steps, in registers.
#[inline(always)]
fn micro<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    kc: usize,
    ap: &[f32],
    panel: &[f32],
    prs: usize,
) -> [[S::V; NV]; MR] {
    let l = S::LANES;
    let mut acc = [[s.zero(); NV]; MR];
    let ap = &ap[..kc * MR];
    for (p, arow) in ap.chunks_exact(MR).enumerate() {
        let brow = &panel[p * prs..p * prs + NV * l];
        let bv: [S::V; NV] = core::array::from_fn(|v| s.load(&brow[v * l..]));
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let av = s.splat(arow[r]);
            for v in 0..NV {
                acc_r[v] = s.mul_add(av, bv[v], acc_r[v]);
            }
        }
    }
    acc
}

/// Writes a tile into `c`: `c = beta c + tile` for its valid part.
#[inline(always)]
fn update<S: Simd, const MR: usize, const NV: usize>(
    s: S,
    tile: &[[S::V; NV]; MR],
    c: &mut [f32],
    lc: Layout,
    at: TileAt,
    beta: f32,
) {
    let TileAt {
        i0,
        rows,
        j0,
        ncols,
    } = at;
    let l = S::LANES;
    for (r, t) in tile.iter().enumerate().take(rows) {
        let base = (i0 + r) * lc.rs + j0 * lc.cs;
        if lc.cs == 1 {
            let crow = &mut c[base..base + ncols];
            for (v, &tv) in t.iter().enumerate() {
                let start = v * l;
                if start >= ncols {
                    break;
                }
                let len = l.min(ncols - start);
                let part = &mut crow[start..];
                let out = if beta == 0.0 {
                    tv
                } else if beta == 1.0 {
                    s.add(s.load_part(part, len), tv)
                } else {
                    s.mul_add(s.splat(beta), s.load_part(part, len), tv)
                };
                s.store_part(part, len, out);
            }
        } else {
            let mut tmp = [0.0f32; NR_MAX];
            for (v, &tv) in t.iter().enumerate() {
                s.store(&mut tmp[v * l..], tv);
            }
            for (j, &v) in tmp.iter().enumerate().take(ncols) {
                let ci = &mut c[base + j * lc.cs];
                *ci = if beta == 0.0 { v } else { beta * *ci + v };
            }
        }
    }
}
