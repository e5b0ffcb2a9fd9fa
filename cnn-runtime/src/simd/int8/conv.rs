//! The channel-span int8 convolution (`QConvKernel::ChannelSpans`) on the
//! vector abstraction: output channels in the lanes.
//!
//! Each sample is first written zero-padded and channels-last as `u8`
//! (`x + 128`, padding `zp_in + 128`), so the `kw * C` taps of one kernel
//! row at one output pixel are contiguous bytes. For each pixel, kernel
//! row and group of four of those bytes, the group is broadcast to every
//! lane and `vpdpbusd` multiplies it by four taps of a vector of output
//! channels (the packed weights `[kh][G][K][4]`) into that pixel's
//! accumulators. A block holds several pixels (all cells of one or more
//! pooling windows) times up to four vectors of channels in registers.
//!
//! With a max-pool, each window's maximum is taken on the accumulators and
//! requantized once: requantization and the clamp are monotone, so this
//! equals pooling the requantized outputs (the scalar reference's order).
//! The folded bias is per channel, so it is added after the maximum.

use cnn_spec::quant::tuning::{span_pixels, SPAN_CHANNEL_VECTORS};
use cnn_spec::quant::{BlobLayout, QConv, QConvKernel};
use cnn_spec::{PoolGeom, MAX_POOL_WINDOW};

use super::vector::{narrow, store_lanes, QSimd};

/// What a block of the kernel reads.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    l: &'a QConv,
    /// Packed weights `[kh][G][K][4]`.
    w: &'a [u8],
    /// The blob region (for the tables).
    blob: &'a [u8],
    t: BlobLayout,
    /// The padded channels-last input.
    xp: &'a [i8],
    /// Groups of four taps per kernel row.
    groups: usize,
    /// First channel of the block.
    k0: usize,
}

/// Writes sample `xs` (`[C, H, W]`) zero-padded and channels-last as
/// `u8` into `xp` (`l.scratch_len()` bytes).
///
/// Rows are written in order, and a row's pixels may overrun into the
/// bytes after it (whole 16-pixel blocks): every byte past a row is
/// written again later (the next rows' padding and pixels, then the
/// bottom padding), so only the last word counts.
#[inline(always)]
pub fn pad_channels_last(l: &QConv, xs: &[i8], xp: &mut [i8]) {
    let g = &l.geom;
    let pad = (l.input.zero_point as u8 ^ 0x80) as i8;
    let prow = l.padded_row();
    let plane = g.h * g.w;
    xp[..g.ph * prow].fill(pad);
    for iy in 0..g.h {
        let start = (iy + g.ph) * prow;
        xp[start..start + g.pw * g.c].fill(pad);
        let inside = start + g.pw * g.c;
        let dst = &mut xp[inside..];
        let src = &xs[iy * g.w..];
        match g.c {
            1 => interleave::<1>(dst, src, plane, g.w),
            2 => interleave::<2>(dst, src, plane, g.w),
            3 => interleave::<3>(dst, src, plane, g.w),
            4 => interleave::<4>(dst, src, plane, g.w),
            6 => interleave::<6>(dst, src, plane, g.w),
            8 => interleave::<8>(dst, src, plane, g.w),
            c => {
                // One channel at a time, stores strided by the channels.
                for ch in 0..c {
                    let from = &src[ch * plane..][..g.w];
                    for (o, &v) in dst[ch..c * g.w].iter_mut().step_by(c).zip(from) {
                        *o = v ^ i8::MIN;
                    }
                }
            }
        }
        xp[inside + g.w * g.c..start + prow].fill(pad);
    }
    xp[(g.ph + g.h) * prow..].fill(pad);
}

/// Writes `w` pixels of `C` channels channels-last to the start of `dst`,
/// flipping the sign bit: pixel `x` of channel `c` is `src[c * plane +
/// x]`. Sixteen pixels at a time through fixed-size blocks, which the
/// compiler turns into byte shuffles and whole-vector loads and stores:
/// where `src` and `dst` are long enough, a block reads and writes all
/// sixteen pixels even past `w` (the bytes after `C * w` in `dst` are the
/// caller's to overwrite).
#[inline(always)]
fn interleave<const C: usize>(dst: &mut [i8], src: &[i8], plane: usize, w: usize) {
    const B: usize = 16;
    let mut x = 0;
    while x < w {
        let n = (w - x).min(B);
        let mut block = [[0i8; B]; C];
        for (c, b) in block.iter_mut().enumerate() {
            let from = &src[c * plane + x..];
            match from.get(..B) {
                Some(all) => b.copy_from_slice(all),
                None => b[..n].copy_from_slice(&from[..n]),
            }
        }
        let mut out = [[0i8; C]; B];
        for (p, o) in out.iter_mut().enumerate() {
            for (c, v) in o.iter_mut().enumerate() {
                *v = block[c][p] ^ i8::MIN;
            }
        }
        let out = out.as_flattened();
        let to = &mut dst[C * x..];
        match to.get_mut(..C * B) {
            Some(all) => all.copy_from_slice(out),
            None => to[..C * n].copy_from_slice(&out[..C * n]),
        }
        x += n;
    }
}

/// The int8 convolution of the samples of `x` into `y` by the layer's
/// kernel (`QConv::kernel`); `scratch` holds `l.scratch_len()` bytes.
#[inline(always)]
pub fn conv<S: QSimd>(s: S, l: &QConv, blob: &[u8], x: &[i8], y: &mut [i8], scratch: &mut [i8]) {
    match l.kernel() {
        QConvKernel::ChannelSpans => conv_spans(s, l, blob, x, y, scratch),
        QConvKernel::PixelRows => super::rows::conv_rows(s, l, blob, x, y, scratch),
    }
}

/// The channel-span convolution of the samples of `x` into `y`;
/// `scratch` holds `l.scratch_len()` bytes.
#[inline(always)]
fn conv_spans<S: QSimd>(s: S, l: &QConv, blob: &[u8], x: &[i8], y: &mut [i8], scratch: &mut [i8]) {
    let g = &l.geom;
    let t = l.layout();
    let n = x.len() / g.in_len();
    let xp = &mut scratch[..l.scratch_len()];
    for i in 0..n {
        let xs = &x[i * g.in_len()..][..g.in_len()];
        let ys = &mut y[i * l.out_len()..][..l.out_len()];
        pad_channels_last(l, xs, xp);
        let mut k0 = 0;
        while k0 < g.k {
            let kv = (g.k - k0).div_ceil(S::LANES).min(SPAN_CHANNEL_VECTORS);
            let cx = Ctx {
                l,
                w: &blob[..t.weight_len],
                blob,
                t,
                xp,
                groups: l.row_groups(),
                k0,
            };
            match (kv, span_pixels(S::LANES, kv)) {
                (1, 8) => units::<S, 8, 1>(s, &cx, ys),
                (2, 6) => units::<S, 6, 2>(s, &cx, ys),
                (2, 4) => units::<S, 4, 2>(s, &cx, ys),
                (3, 4) => units::<S, 4, 3>(s, &cx, ys),
                (3, 3) => units::<S, 3, 3>(s, &cx, ys),
                (4, 4) => units::<S, 4, 4>(s, &cx, ys),
                (4, 2) => units::<S, 2, 4>(s, &cx, ys),
                (kv, p) => unreachable!("a block of {p} pixels by {kv} vectors"),
            }
            k0 += kv * S::LANES;
        }
    }
}

/// Lanes of vector `v` of a block starting at `k0` that are channels.
#[inline(always)]
fn lanes_in<S: QSimd>(k: usize, k0: usize, v: usize) -> usize {
    k.saturating_sub(k0 + v * S::LANES).min(S::LANES)
}

/// Every output (pooled, or conv pixel) of channels `k0..k0 + KV * LANES`,
/// `P` conv pixels per block: a window's cells may span blocks, and a
/// block may hold cells of several windows. A 2x2 stride-2 pool whose
/// windows all lie inside the conv output, with `P` a multiple of four,
/// takes whole windows per block instead ([`windows_2x2`]).
#[inline(always)]
fn units<S: QSimd, const P: usize, const KV: usize>(s: S, cx: &Ctx, ys: &mut [i8]) {
    let (l, g) = (cx.l, &cx.l.geom);
    if let Some(p) = &l.pool {
        if P.is_multiple_of(4) && p.is_2x2_stride_2() && 2 * p.oh <= g.oh && 2 * p.ow <= g.ow {
            return windows_2x2::<S, P, KV>(s, cx, *p, ys);
        }
    }
    let mut starts = [0usize; P];
    let mut unit_of = [0usize; P];
    let mut filled = 0;
    let mut run = Run::<S, KV> {
        unit: usize::MAX,
        best: [s.zero(); KV],
    };
    let units = match &l.pool {
        Some(p) => p.oh * p.ow,
        None => g.oh * g.ow,
    };
    let mut out = Out { ys, pixels: units };
    let mut cells = [0usize; MAX_POOL_WINDOW];
    for unit in 0..units {
        // No closure here: a closure would not inherit the caller's target
        // features, and the vector code in it would not inline.
        let count = unit_cells(l, unit, &mut cells);
        for &cell in &cells[..count] {
            starts[filled] = cell;
            unit_of[filled] = unit;
            filled += 1;
            if filled == P {
                let acc = accumulate::<S, P, KV>(s, cx, &starts);
                run.fold(s, cx, &acc, &unit_of, P, &mut out);
                filled = 0;
            }
        }
    }
    if filled > 0 {
        for i in filled..P {
            starts[i] = starts[0];
        }
        let acc = accumulate::<S, P, KV>(s, cx, &starts);
        run.fold(s, cx, &acc, &unit_of, filled, &mut out);
    }
    run.finish(s, cx, &mut out);
}

/// [`units`] for the layer's pool `p`, 2x2 stride 2 with every window
/// inside the conv output: `P / 4` whole windows per block, each window's
/// four cells maximised straight from the accumulators. The last block
/// repeats its last window to fill the block and writes only the real
/// ones.
#[inline(always)]
fn windows_2x2<S: QSimd, const P: usize, const KV: usize>(
    s: S,
    cx: &Ctx,
    p: PoolGeom,
    ys: &mut [i8],
) {
    let (l, g) = (cx.l, &cx.l.geom);
    let prow = l.padded_row();
    // Receptive-field starts of a window's cells, relative to its first.
    let (down, right) = (g.sh * prow, g.sw * g.c);
    let cells = [0, right, down, down + right];
    let units = p.oh * p.ow;
    let mut out = Out { ys, pixels: units };
    let (mut py, mut px) = (0, 0);
    let mut unit = 0;
    while unit < units {
        let n = (units - unit).min(P / 4);
        let mut starts = [0usize; P];
        for i in 0..P / 4 {
            if i < n {
                let first = 2 * py * down + 2 * px * right;
                for (c, &d) in cells.iter().enumerate() {
                    starts[4 * i + c] = first + d;
                }
                px += 1;
                if px == p.ow {
                    (py, px) = (py + 1, 0);
                }
            } else {
                for c in 0..4 {
                    starts[4 * i + c] = starts[4 * (n - 1) + c];
                }
            }
        }
        let acc = accumulate::<S, P, KV>(s, cx, &starts);
        for i in 0..n {
            let mut best = acc[4 * i];
            for (kv, b) in best.iter_mut().enumerate() {
                let top = s.max(*b, acc[4 * i + 1][kv]);
                *b = s.max(top, s.max(acc[4 * i + 2][kv], acc[4 * i + 3][kv]));
            }
            write_unit(s, cx, &best, unit + i, &mut out);
        }
        unit += n;
    }
}

/// The receptive-field starts (in the padded input) of the conv pixels
/// that output `unit` reads: its pool window's cells inside the conv
/// output, or the pixel itself. Returns how many.
#[inline(always)]
fn unit_cells(l: &QConv, unit: usize, cells: &mut [usize; MAX_POOL_WINDOW]) -> usize {
    let g = &l.geom;
    let prow = l.padded_row();
    let at = |oy: usize, ox: usize| oy * g.sh * prow + ox * g.sw * g.c;
    match &l.pool {
        None => {
            cells[0] = at(unit / g.ow, unit % g.ow);
            1
        }
        Some(p) => {
            let (py, px) = (unit / p.ow, unit % p.ow);
            let mut count = 0;
            for dy in 0..p.kh {
                let oy = (py * p.sh + dy).wrapping_sub(p.ph);
                for dx in 0..p.kw {
                    let ox = (px * p.sw + dx).wrapping_sub(p.pw);
                    if oy < g.oh && ox < g.ow {
                        cells[count] = at(oy, ox);
                        count += 1;
                    }
                }
            }
            count
        }
    }
}

/// One sample's output, `[K, pixels]`.
struct Out<'a> {
    ys: &'a mut [i8],
    pixels: usize,
}

/// The running maximum of the output being pooled.
struct Run<S: QSimd, const KV: usize> {
    unit: usize,
    best: [S::V; KV],
}

impl<S: QSimd, const KV: usize> Run<S, KV> {
    /// Folds the first `valid` pixels of a block into the running maxima,
    /// writing each output whose cells are done.
    #[inline(always)]
    fn fold<const P: usize>(
        &mut self,
        s: S,
        cx: &Ctx,
        acc: &[[S::V; KV]; P],
        unit_of: &[usize; P],
        valid: usize,
        out: &mut Out,
    ) {
        for p in 0..valid {
            if unit_of[p] == self.unit {
                for (best, &a) in self.best.iter_mut().zip(&acc[p]) {
                    *best = s.max(*best, a);
                }
            } else {
                self.finish(s, cx, out);
                self.unit = unit_of[p];
                self.best = acc[p];
            }
        }
    }

    /// Writes the output being pooled ([`write_unit`]), if any.
    #[inline(always)]
    fn finish(&self, s: S, cx: &Ctx, out: &mut Out) {
        if self.unit != usize::MAX {
            write_unit(s, cx, &self.best, self.unit, out);
        }
    }
}

/// Adds the bias to the maximum `best` of output `unit`, requantizes it
/// and writes it (channel `k` at `ys[k * out_pixels + unit]`).
#[inline(always)]
fn write_unit<S: QSimd, const KV: usize>(
    s: S,
    cx: &Ctx,
    best: &[S::V; KV],
    unit: usize,
    out: &mut Out,
) {
    let (k, r) = (cx.l.geom.k, cx.l.requant());
    for (kv, &b) in best.iter().enumerate() {
        let k0 = cx.k0 + kv * S::LANES;
        let nk = lanes_in::<S>(k, cx.k0, kv);
        let table = |at: usize| s.load_part(&cx.blob[at + 4 * k0..], nk);
        let v = s.add(b, table(cx.t.bias));
        let v = narrow(s, v, table(cx.t.multiplier), table(cx.t.shift), r);
        store_lanes(s, v, nk, |j, b| out.ys[(k0 + j) * out.pixels + unit] = b);
    }
}

/// The accumulators (bias excluded) of the `P` conv pixels whose receptive
/// fields start at `starts` in the padded input, for the block's channels.
#[inline(always)]
fn accumulate<S: QSimd, const P: usize, const KV: usize>(
    s: S,
    cx: &Ctx,
    starts: &[usize; P],
) -> [[S::V; KV]; P] {
    let (g, k) = (&cx.l.geom, cx.l.geom.k);
    let prow = cx.l.padded_row();
    let mut acc = [[s.zero(); KV]; P];
    let nk: [usize; KV] = core::array::from_fn(|kv| lanes_in::<S>(k, cx.k0, kv));
    // Every quad read below lies inside the padded input.
    let reach = (g.kh - 1) * prow + 4 * cx.groups;
    assert!(starts.iter().all(|&st| st + reach <= cx.xp.len()));
    let xp = cx.xp.as_ptr();
    for ky in 0..g.kh {
        for gi in 0..cx.groups {
            let base = ((ky * cx.groups + gi) * k + cx.k0) * 4;
            // (A loop, not `array::from_fn`: its closure would not inherit
            // the target features.)
            let mut wv = [s.zero(); KV];
            for kv in 0..KV {
                wv[kv] = s.load_part(&cx.w[base + kv * S::LANES * 4..], nk[kv]);
            }
            let row = ky * prow + 4 * gi;
            for p in 0..P {
                // SAFETY: `starts[p] + row + 4 <= starts[p] + reach`, which
                // the assertion above bounds by the input's length.
                let xq = unsafe { s.splat_quad(xp.add(starts[p] + row)) };
                for kv in 0..KV {
                    acc[p][kv] = s.dpbusd(acc[p][kv], xq, wv[kv]);
                }
            }
        }
    }
    acc
}
