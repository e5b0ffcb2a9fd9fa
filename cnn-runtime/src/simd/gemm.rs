//! Single-precision GEMM on the vector abstraction: `C = A B + beta C` on
//! strided views, with no heap allocation (packing buffers live on the
//! stack), so inference and training steps stay allocation-free.
//!
//! Blocking: `k` in blocks of `GEMM_KC`; `m` in chunks of up to `GEMM_MC`
//! rows whose `A` block is packed once (panels of `MR` rows, zero-padded);
//! `n` in panels of `NR = NV * LANES` columns, read in place when `B`'s
//! rows are contiguous, the panel is whole and fewer than
//! `GEMM_PACK_B_ROWS` rows of `A` read it, packed otherwise. The
//! micro-kernel keeps an `MR x NR` tile in registers over a whole `k`
//! block and only then touches `C` (the first block applies `beta`). The
//! sizes are in `cnn_spec::tuning`.

use cnn_spec::tuning::{
    gemm_tile, GEMM_KC as KC, GEMM_MC as MC, GEMM_NR_MAX as NR_MAX, GEMM_PACK_B_ROWS,
};

use super::args::{Layout, Matrix};
use super::vector::Simd;

/// `c = a b + beta c`; `a` is `m x k`, `b` is `k x n`, `c` is `m x n`.
#[inline(always)]
pub fn gemm<S: Simd>(s: S, a: Matrix, b: Matrix, beta: f32, c: &mut [f32], lc: Layout) {
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
    b: Matrix,
    beta: f32,
    c: &mut [f32],
    lc: Layout,
) {
    let (la, lb) = (a.layout, b.layout);
    let (m, k, n) = (la.rows, la.cols, lb.cols);
    if k == 0 {
        scale(c, lc, beta);
        return;
    }
    let nr = NV * S::LANES;
    let mut apack = [0.0f32; MC * KC];
    let mut bpack = [0.0f32; KC * NR_MAX];
    let chunk = MC / MR * MR;
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        let first = k0 == 0;
        for i0 in (0..m).step_by(chunk) {
            let mc = chunk.min(m - i0);
            pack_a::<MR>(a, (i0, mc), (k0, kc), &mut apack);
            for j0 in (0..n).step_by(nr) {
                let ncols = nr.min(n - j0);
                // B's panel in place when its rows are contiguous and whole
                // and few row tiles read it; otherwise packed contiguously,
                // so that it stays in L1 across the row tiles (rows of a
                // large B in place lie a page apart, in few cache sets).
                let in_place = lb.cs == 1 && ncols == nr && mc < GEMM_PACK_B_ROWS;
                let (panel, prs): (&[f32], usize) = if in_place {
                    (&b.data[k0 * lb.rs + j0..], lb.rs)
                } else {
                    pack_b(b, (k0, kc), (j0, ncols), nr, &mut bpack);
                    (&bpack[..], nr)
                };
                // A last panel narrower than a tile runs a narrower tile
                // (e.g. 49 columns: 48 + 16, not 48 + 48).
                let vecs = ncols.div_ceil(S::LANES);
                for r0 in (0..mc).step_by(MR) {
                    let rows = MR.min(mc - r0);
                    let ap = &apack[r0 * kc..(r0 + MR) * kc];
                    let beta = if first { beta } else { 1.0 };
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

/// One tile's operands: `MR` packed rows of A over `kc` steps, the B
/// panel (rows `prs` apart), where the tile goes and the `beta` it applies.
#[derive(Clone, Copy)]
struct Tile<'a> {
    kc: usize,
    ap: &'a [f32],
    panel: &'a [f32],
    prs: usize,
    at: TileAt,
    beta: f32,
}

/// Computes a tile of `NVX` vectors of columns and writes it into `c`.
#[inline(always)]
fn tile_into<S: Simd, const MR: usize, const NVX: usize>(s: S, t: Tile, c: &mut [f32], lc: Layout) {
    let acc = micro::<S, MR, NVX>(s, t.kc, t.ap, t.panel, t.prs);
    update::<S, MR, NVX>(s, &acc, c, lc, t.at, t.beta);
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
/// rows, zero-padded to `nr` columns.
fn pack_b(
    b: Matrix,
    (k0, kc): (usize, usize),
    (j0, ncols): (usize, usize),
    nr: usize,
    bp: &mut [f32],
) {
    let (lb, b) = (b.layout, b.data);
    for (p, row) in bp[..kc * nr].chunks_exact_mut(nr).enumerate() {
        let base = (k0 + p) * lb.rs + j0 * lb.cs;
        if lb.cs == 1 {
            row[..ncols].copy_from_slice(&b[base..base + ncols]);
            row[ncols..].fill(0.0);
            continue;
        }
        for (j, v) in row.iter_mut().enumerate() {
            *v = if j < ncols { b[base + j * lb.cs] } else { 0.0 };
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
