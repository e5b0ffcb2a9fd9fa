//! The input gradient of a fused conv → ReLU → max-pool layer from each
//! pooling window's winner only: every active window's winning conv output
//! adds `dy * w[k, :, ky, kx]` to the `kh x kw` input cells it read, as
//! vectors over input channels (channels-last), then the result is
//! transposed back to planes.

use cnn_spec::tuning::{sparse_dx_band_rows, BAND_CELLS, MAX_BANDED_K};
use cnn_spec::variants::sparse_dx_banded;
use cnn_spec::{kernel_range, Conv, ConvGeom, PoolGeom, INACTIVE};

use super::ctx::{pool_of, window_cells};
use crate::simd::args::PooledGrad;
use crate::simd::vector::Simd;

/// `dx` (`[c, h, w]`, written) from the pooled gradient of one sample.
/// `wc` is the weights packed channels-last (`pack_channels_last`, input
/// channels padded to this level's lanes); the gradient is accumulated
/// channels-last in `dxc` (`h * w * cpad` floats) and then transposed.
#[inline(always)]
pub fn sparse_dx<S: Simd>(
    s: S,
    layer: &Conv,
    grad: PooledGrad,
    wc: &[f32],
    dx: &mut [f32],
    dxc: &mut [f32],
) {
    let (g, p) = (&layer.geom, pool_of(layer));
    let l = S::LANES;
    let cpad = g.c.next_multiple_of(l);
    let taps = g.kh * g.kw;
    let dxc = &mut dxc[..g.h * g.w * cpad];
    dxc.fill(0.0);
    // LeNet-style layers (stride-1 5x5 or 3x3 kernel, 2x2 pool, input
    // channels in one vector): the winners of one pooled position, across
    // all output channels, touch only a (KH+1)x(KW+1) block of cells, which
    // is accumulated in registers and written once.
    if sparse_dx_banded(g, p, l) {
        match (g.kh, sparse_dx_band_rows(l, g.kh)) {
            (5, 3) => banded::<S, 5, 5, 3>(s, g, p, grad, wc, dxc),
            (5, 2) => banded::<S, 5, 5, 2>(s, g, p, grad, wc, dxc),
            (3, 2) => banded::<S, 3, 3, 2>(s, g, p, grad, wc, dxc),
            (kh, rows) => unreachable!("bands of {rows} rows of a {kh}-row kernel"),
        }
        // The input channels fill one vector: `cpad == l`, a constant.
        return channels_last_to_planes(g, l, dxc, dx);
    }
    // The winner's offset in its window, by index (no division in the loop).
    let cell = window_cells(p);
    for k in 0..g.k {
        for py in 0..p.oh {
            for px in 0..p.ow {
                let i = (k * p.oh + py) * p.ow + px;
                let a = grad.argmax[i];
                if a == INACTIVE {
                    continue;
                }
                let gv = s.splat(grad.dy[i]);
                let (dy0, dx0) = cell[a as usize];
                let (oy, ox) = (py * p.sh + dy0 - p.ph, px * p.sw + dx0 - p.pw);
                let (ky0, ky1) = kernel_range(g.h, oy * g.sh, g.ph, g.kh);
                let (kx0, kx1) = kernel_range(g.w, ox * g.sw, g.pw, g.kw);
                // The cells a kernel row touches are adjacent, channels-last.
                let len = (kx1 - kx0) * cpad;
                for ky in ky0..ky1 {
                    let iy = oy * g.sh + ky - g.ph;
                    let at = (iy * g.w + ox * g.sw + kx0 - g.pw) * cpad;
                    let cells = &mut dxc[at..at + len];
                    let wrow = &wc[(k * taps + ky * g.kw + kx0) * cpad..][..len];
                    for (c, wv) in cells.chunks_exact_mut(l).zip(wrow.chunks_exact(l)) {
                        let acc = s.mul_add(gv, s.load(wv), s.load(c));
                        s.store(c, acc);
                    }
                }
            }
        }
    }
    channels_last_to_planes(g, cpad, dxc, dx);
}

/// `dx[c][j] = dxc[j * cpad + c]`.
#[inline(always)]
fn channels_last_to_planes(g: &ConvGeom, cpad: usize, dxc: &[f32], dx: &mut [f32]) {
    for c in 0..g.c {
        let plane = &mut dx[c * g.h * g.w..(c + 1) * g.h * g.w];
        for (j, d) in plane.iter_mut().enumerate() {
            *d = dxc[j * cpad + c];
        }
    }
}

/// [`sparse_dx`] for a stride-1 `KH x KW` kernel under a 2x2 stride-2 pool
/// with the input channels in one vector (`cpad == LANES`). For each pooled
/// position, the winners of every output channel fall in its 2x2 window, so
/// their kernels cover a `(KH+1) x (KW+1)` block of input cells. The block
/// is accumulated in registers, `RB` rows at a time, and then added to
/// `dxc`, so each winner costs `KH * KW` register FMAs and no memory round
/// trip.
#[inline(always)]
fn banded<S: Simd, const KH: usize, const KW: usize, const RB: usize>(
    s: S,
    g: &ConvGeom,
    p: &PoolGeom,
    grad: PooledGrad,
    wc: &[f32],
    dxc: &mut [f32],
) {
    const { assert!(RB * (KW + 1) <= BAND_CELLS) };
    let plane = p.oh * p.ow;
    // The output channels whose winner sits in each cell of the window (and
    // a fifth list for inactive outputs), filled without branches so that a
    // random winner does not cost a mispredicted jump.
    let mut ks = [[0u16; MAX_BANDED_K]; 5];
    let mut gs = [[0f32; MAX_BANDED_K]; 5];
    for py in 0..p.oh {
        for px in 0..p.ow {
            let iy0 = (2 * py) as isize - g.ph as isize;
            let ix0 = (2 * px) as isize - g.pw as isize;
            let i0 = py * p.ow + px;
            let mut n = [0usize; 5];
            for k in 0..g.k {
                let i = k * plane + i0;
                let q = usize::from(grad.argmax[i]).min(4);
                ks[q][n[q]] = k as u16;
                gs[q][n[q]] = grad.dy[i];
                n[q] += 1;
            }
            let win = Winners {
                ks: &ks,
                gs: &gs,
                n,
            };
            // Bands of RB rows cover the block's KH + 1 rows.
            let mut r0 = 0;
            while r0 <= KH {
                let at = (iy0, ix0);
                match r0 {
                    0 => dx_band::<S, KH, KW, RB, 0>(s, g, wc, &win, dxc, at),
                    2 => dx_band::<S, KH, KW, RB, 2>(s, g, wc, &win, dxc, at),
                    3 => dx_band::<S, KH, KW, RB, 3>(s, g, wc, &win, dxc, at),
                    4 => dx_band::<S, KH, KW, RB, 4>(s, g, wc, &win, dxc, at),
                    _ => unreachable!("band start {r0}"),
                }
                r0 += RB;
            }
        }
    }
}

/// One pooled position's winners: `ks[q][..n[q]]` are the output channels
/// whose winner is cell `q` of the 2x2 window, `gs` their gradients.
struct Winners<'a> {
    ks: &'a [[u16; MAX_BANDED_K]; 5],
    gs: &'a [[f32; MAX_BANDED_K]; 5],
    n: [usize; 5],
}

/// Rows `R0..R0 + RB` of [`banded`]'s block; `(iy0, ix0)` is the block's
/// top-left input cell (possibly in the padding, whose cells are dropped).
#[inline(always)]
fn dx_band<S: Simd, const KH: usize, const KW: usize, const RB: usize, const R0: usize>(
    s: S,
    g: &ConvGeom,
    wc: &[f32],
    win: &Winners,
    dxc: &mut [f32],
    (iy0, ix0): (isize, isize),
) {
    let l = S::LANES;
    let mut acc = [s.zero(); BAND_CELLS];
    dx_cell::<S, KH, KW, RB, R0, 0, 0>(s, &mut acc, win, 0, wc);
    dx_cell::<S, KH, KW, RB, R0, 0, 1>(s, &mut acc, win, 1, wc);
    dx_cell::<S, KH, KW, RB, R0, 1, 0>(s, &mut acc, win, 2, wc);
    dx_cell::<S, KH, KW, RB, R0, 1, 1>(s, &mut acc, win, 3, wc);
    for r in 0..RB {
        let iy = iy0 + (R0 + r) as isize;
        if R0 + r > KH || iy < 0 || iy >= g.h as isize {
            continue;
        }
        for c in 0..=KW {
            let ix = ix0 + c as isize;
            if ix < 0 || ix >= g.w as isize {
                continue;
            }
            let cell = &mut dxc[(iy as usize * g.w + ix as usize) * l..][..l];
            let v = s.add(s.load(cell), acc[r * (KW + 1) + c]);
            s.store(cell, v);
        }
    }
}

/// The winners in cell `q = DY * 2 + DX` of the window, into the band.
#[inline(always)]
fn dx_cell<
    S: Simd,
    const KH: usize,
    const KW: usize,
    const RB: usize,
    const R0: usize,
    const DY: usize,
    const DX: usize,
>(
    s: S,
    acc: &mut [S::V; BAND_CELLS],
    win: &Winners,
    q: usize,
    wc: &[f32],
) {
    // Kernel rows DY + ky outside this band contribute nothing here.
    if DY + KH <= R0 || DY >= R0 + RB {
        return;
    }
    let l = S::LANES;
    let n = win.n[q];
    for (&k, &gv) in win.ks[q][..n].iter().zip(&win.gs[q][..n]) {
        let wk = &wc[usize::from(k) * KH * KW * l..][..KH * KW * l];
        band_taps::<S, KH, KW, RB, R0, DY, DX>(s, acc, s.splat(gv), wk);
    }
}

/// Adds one winner's kernel taps (`wk`, channels-last) times `gv` to the
/// band's accumulators; the winner sits at `(DY, DX)` in its 2x2 window.
#[inline(always)]
fn band_taps<
    S: Simd,
    const KH: usize,
    const KW: usize,
    const RB: usize,
    const R0: usize,
    const DY: usize,
    const DX: usize,
>(
    s: S,
    acc: &mut [S::V; BAND_CELLS],
    gv: S::V,
    wk: &[f32],
) {
    let l = S::LANES;
    for ky in 0..KH {
        let r = DY + ky;
        if r < R0 || r >= R0 + RB {
            continue;
        }
        for kx in 0..KW {
            let j = (r - R0) * (KW + 1) + DX + kx;
            acc[j] = s.mul_add(gv, s.load(&wk[(ky * KW + kx) * l..]), acc[j]);
        }
    }
}
