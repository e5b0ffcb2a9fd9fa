//! Single-precision GEMM on the vector abstraction: `C = A B + beta C` on
//! strided views, with no heap allocation (packing buffers live on the
//! stack), so inference and training steps stay allocation-free.
//!
//! Blocking: `k` in blocks of [`KC`]; `m` in chunks of up to [`MC`] rows
//! whose `A` block is packed once (row panels of `MR`, zero-padded); `n`
//! in panels of `NR = 2 * LANES` columns, read in place when `B`'s rows are
//! contiguous and packed otherwise. The micro-kernel keeps an `MR x NR`
//! tile of `C` in registers over a whole `k` block.

use super::vector::Simd;
use crate::ops::gemm::Layout;

/// Depth of a `k` block.
const KC: usize = 128;
/// Rows of `A` packed at once (a multiple of every `MR`).
const MC: usize = 96;
/// Widest column panel (AVX-512: 2 x 16).
const NR_MAX: usize = 32;

/// `c = a b + beta c`; `a` is `m x k`, `b` is `k x n`, `c` is `m x n`.
#[inline(always)]
pub fn gemm<S: Simd>(
    s: S,
    a: &[f32],
    la: Layout,
    b: &[f32],
    lb: Layout,
    beta: f32,
    c: &mut [f32],
    lc: Layout,
) {
    match S::LANES {
        16 => gemm_mr::<S, 12>(s, a, la, b, lb, beta, c, lc),
        8 => gemm_mr::<S, 6>(s, a, la, b, lb, beta, c, lc),
        4 => gemm_mr::<S, 6>(s, a, la, b, lb, beta, c, lc),
        _ => gemm_mr::<S, 4>(s, a, la, b, lb, beta, c, lc),
    }
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn gemm_mr<S: Simd, const MR: usize>(
    s: S,
    a: &[f32],
    la: Layout,
    b: &[f32],
    lb: Layout,
    beta: f32,
    c: &mut [f32],
    lc: Layout,
) {
    let (m, k, n) = (la.rows, la.cols, lb.cols);
    scale(c, lc, beta);
    if k == 0 {
        return;
    }
    let nr = 2 * S::LANES;
    let mut apack = [0.0f32; MC * KC];
    let mut bpack = [0.0f32; KC * NR_MAX];
    let chunk = MC / MR * MR;
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        for i0 in (0..m).step_by(chunk) {
            let mc = chunk.min(m - i0);
            pack_a::<MR>(a, la, i0, mc, k0, kc, &mut apack);
            for j0 in (0..n).step_by(nr) {
                let ncols = nr.min(n - j0);
                // B's panel in place when its rows are contiguous and whole.
                let (panel, prs): (&[f32], usize) = if lb.cs == 1 && ncols == nr {
                    (&b[k0 * lb.rs + j0..], lb.rs)
                } else {
                    pack_b(b, lb, k0, kc, j0, ncols, nr, &mut bpack);
                    (&bpack[..], nr)
                };
                for r0 in (0..mc).step_by(MR) {
                    let rows = MR.min(mc - r0);
                    let ap = &apack[r0 * kc..(r0 + MR) * kc];
                    micro::<S, MR>(s, kc, ap, panel, prs, c, lc, i0 + r0, rows, j0, ncols);
                }
            }
        }
    }
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
/// rows: panel `q` holds `ap[(q*MR*kc) + p*MR + r] = a[i0 + q*MR + r, k0 + p]`.
fn pack_a<const MR: usize>(
    a: &[f32],
    la: Layout,
    i0: usize,
    mc: usize,
    k0: usize,
    kc: usize,
    ap: &mut [f32],
) {
    for q in 0..mc.div_ceil(MR) {
        let panel = &mut ap[q * MR * kc..(q + 1) * MR * kc];
        for r in 0..MR {
            let i = i0 + q * MR + r;
            if q * MR + r >= mc {
                for p in 0..kc {
                    panel[p * MR + r] = 0.0;
                }
                continue;
            }
            let base = i * la.rs + k0 * la.cs;
            for p in 0..kc {
                panel[p * MR + r] = a[base + p * la.cs];
            }
        }
    }
}

/// Packs rows `k0..k0+kc`, columns `j0..j0+ncols` of `b` into `kc x nr`
/// rows, zero-padded to `nr` columns.
#[allow(clippy::too_many_arguments)]
fn pack_b(
    b: &[f32],
    lb: Layout,
    k0: usize,
    kc: usize,
    j0: usize,
    ncols: usize,
    nr: usize,
    bp: &mut [f32],
) {
    for p in 0..kc {
        let row = &mut bp[p * nr..(p + 1) * nr];
        let base = (k0 + p) * lb.rs + j0 * lb.cs;
        for (j, v) in row.iter_mut().enumerate() {
            *v = if j < ncols { b[base + j * lb.cs] } else { 0.0 };
        }
    }
}

/// `c[i0.., j0..] += ap * panel` for an `MR x 2 LANES` tile, writing back
/// `rows x ncols` of it.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn micro<S: Simd, const MR: usize>(
    s: S,
    kc: usize,
    ap: &[f32],
    panel: &[f32],
    prs: usize,
    c: &mut [f32],
    lc: Layout,
    i0: usize,
    rows: usize,
    j0: usize,
    ncols: usize,
) {
    let l = S::LANES;
    let mut acc = [[s.zero(); 2]; MR];
    for p in 0..kc {
        let brow = &panel[p * prs..p * prs + 2 * l];
        let b0 = s.load(brow);
        let b1 = s.load(&brow[l..]);
        let arow = &ap[p * MR..p * MR + MR];
        for r in 0..MR {
            let av = s.splat(arow[r]);
            acc[r][0] = s.mul_add(av, b0, acc[r][0]);
            acc[r][1] = s.mul_add(av, b1, acc[r][1]);
        }
    }
    for (r, tile) in acc.iter().enumerate().take(rows) {
        let base = (i0 + r) * lc.rs + j0 * lc.cs;
        if lc.cs == 1 {
            let crow = &mut c[base..base + ncols];
            for (h, &v) in tile.iter().enumerate() {
                let start = h * l;
                if start >= ncols {
                    break;
                }
                let len = l.min(ncols - start);
                let part = &mut crow[start..];
                if len == l {
                    let sum = s.add(s.load(part), v);
                    s.store(part, sum);
                } else {
                    let sum = s.add(s.load_part(part, len), v);
                    s.store_part(part, len, sum);
                }
            }
        } else {
            let mut tmp = [0.0f32; NR_MAX];
            s.store(&mut tmp, tile[0]);
            s.store(&mut tmp[l..], tile[1]);
            for (j, &v) in tmp.iter().enumerate().take(ncols) {
                c[base + j * lc.cs] += v;
            }
        }
    }
}
