//! Geometry of sliding windows: convolutions and pooling on one sample.

/// Output positions of a sliding window along one axis: input length `len`,
/// window `k`, stride `s`, zero padding `p` on both sides:
/// `(len + 2 p - k) / s + 1`.
///
/// The window must fit the padded input (`len + 2 p >= k`) and `s >= 1`.
///
/// ```
/// assert_eq!(cnn_spec::out_size(28, 5, 1, 2), 28);
/// assert_eq!(cnn_spec::out_size(28, 2, 2, 0), 14);
/// ```
#[inline]
pub const fn out_size(len: usize, k: usize, s: usize, p: usize) -> usize {
    (len + 2 * p - k) / s + 1
}

/// The smaller of two sizes, in `const` context.
#[inline(always)]
const fn min(a: usize, b: usize) -> usize {
    if a < b {
        a
    } else {
        b
    }
}

/// [`out_size`] with PyTorch's `ceil_mode`: a last, partial window is
/// kept when it starts inside the input or its leading padding.
///
/// ```
/// // GoogLeNet's first pooling: 112 -> 56 (55 without ceil mode).
/// assert_eq!(cnn_spec::out_size_ceil(112, 3, 2, 0), 56);
/// assert_eq!(cnn_spec::out_size(112, 3, 2, 0), 55);
/// ```
#[inline]
pub const fn out_size_ceil(len: usize, k: usize, s: usize, p: usize) -> usize {
    let out = (len + 2 * p - k).div_ceil(s) + 1;
    // The last window must start inside the input or the left padding.
    if (out - 1) * s >= len + p {
        out - 1
    } else {
        out
    }
}

/// The range `[lo, hi)` of output positions `o` (of `out`) whose input
/// position `o * s + k - p` lies inside `[0, len)`: kernel offset `k`,
/// stride `s`, padding `p`.
#[inline(always)]
pub const fn valid_range(len: usize, out: usize, s: usize, k: usize, p: usize) -> (usize, usize) {
    // o*s + k >= p  <=>  o >= ceil((p - k) / s)
    let lo = if p > k { (p - k).div_ceil(s) } else { 0 };
    // o*s + k - p <= len - 1  <=>  o <= (len - 1 + p - k) / s
    let hi = if len + p > k {
        let last = (len - 1 + p - k) / s + 1;
        if last < out {
            last
        } else {
            out
        }
    } else {
        0
    };
    (if lo < hi { lo } else { hi }, hi)
}

/// The kernel offsets `[k0, k1)` (of a kernel of `k` taps) for which the
/// input position `start + offset - pad` lies inside `[0, len)`.
#[inline(always)]
pub const fn kernel_range(len: usize, start: usize, pad: usize, k: usize) -> (usize, usize) {
    let k0 = pad.saturating_sub(start);
    let k1 = if len + pad - start < k {
        len + pad - start
    } else {
        k
    };
    (if k0 < k1 { k0 } else { k1 }, k1)
}

/// Geometry of a 2-D convolution on one sample.
///
/// Input `[c, h, w]`, weights `[k, c, kh, kw]`, output `[k, oh, ow]` with
/// `oh = (h + 2 ph - kh) / sh + 1` and likewise for `ow` ([`out_size`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeom {
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub k: usize,
    /// Kernel height.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Zero padding above and below.
    pub ph: usize,
    /// Zero padding left and right.
    pub pw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl ConvGeom {
    /// A geometry with the output size derived from the others.
    #[inline]
    pub const fn new(
        c: usize,
        h: usize,
        w: usize,
        k: usize,
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Self {
        ConvGeom {
            c,
            h,
            w,
            k,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            oh: out_size(h, kh, sh, ph),
            ow: out_size(w, kw, sw, pw),
        }
    }
    /// Floats in one input sample.
    #[inline]
    pub const fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Floats in one output sample.
    #[inline]
    pub const fn out_len(&self) -> usize {
        self.k * self.oh * self.ow
    }
    /// Number of weights (without bias).
    #[inline]
    pub const fn weight_len(&self) -> usize {
        self.k * self.c * self.kh * self.kw
    }
    /// Length of one im2col column: `c * kh * kw`.
    #[inline]
    pub const fn patch_len(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Output pixels per channel.
    #[inline]
    pub const fn out_pixels(&self) -> usize {
        self.oh * self.ow
    }
    /// Whether the kernel is 1x1 with stride 1 and no padding: the
    /// convolution is then a matrix product on the input as it is.
    #[inline]
    pub const fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }
}

/// Geometry of a pooling window on one sample: input `[c, h, w]`, output
/// `[c, oh, ow]`. Padded cells count as `-inf` for max pooling and as zeros
/// (included in the divisor) for average pooling, as in PyTorch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeom {
    /// Channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Window height.
    pub kh: usize,
    /// Window width.
    pub kw: usize,
    /// Vertical stride.
    pub sh: usize,
    /// Horizontal stride.
    pub sw: usize,
    /// Padding above and below.
    pub ph: usize,
    /// Padding left and right.
    pub pw: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl PoolGeom {
    /// A geometry with the output size derived from the others.
    #[inline]
    pub const fn new(
        c: usize,
        h: usize,
        w: usize,
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Self {
        PoolGeom {
            c,
            h,
            w,
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            oh: out_size(h, kh, sh, ph),
            ow: out_size(w, kw, sw, pw),
        }
    }
    /// As [`PoolGeom::new`] with PyTorch's `ceil_mode` ([`out_size_ceil`]):
    /// the last window of a row or column may hang past the padded input;
    /// its cells there are left out (of the maximum, and of an average's
    /// divisor).
    #[inline]
    pub const fn new_ceil(
        c: usize,
        h: usize,
        w: usize,
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Self {
        PoolGeom {
            oh: out_size_ceil(h, kh, sh, ph),
            ow: out_size_ceil(w, kw, sw, pw),
            ..PoolGeom::new(c, h, w, (kh, kw), (sh, sw), (ph, pw))
        }
    }
    /// Floats in one input sample.
    #[inline]
    pub const fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Floats in one output sample.
    #[inline]
    pub const fn out_len(&self) -> usize {
        self.c * self.oh * self.ow
    }
    /// The cells window `(oy, ox)` covers in the padded input, the
    /// divisor of an average (padding included, as PyTorch's default
    /// `count_include_pad`; a ceil-mode window's overhang past the padding
    /// left out).
    #[inline(always)]
    pub const fn window_area(&self, oy: usize, ox: usize) -> usize {
        let rows = min(oy * self.sh + self.kh, self.h + 2 * self.ph) - oy * self.sh;
        let cols = min(ox * self.sw + self.kw, self.w + 2 * self.pw) - ox * self.sw;
        rows * cols
    }
    /// Whether windows never share a cell (stride at least the window).
    #[inline]
    pub const fn is_disjoint(&self) -> bool {
        self.sh >= self.kh && self.sw >= self.kw
    }
    /// Whether this is the common 2x2 window with stride 2 and no padding.
    #[inline]
    pub const fn is_2x2_stride_2(&self) -> bool {
        self.kh == 2 && self.kw == 2 && self.sh == 2 && self.sw == 2 && self.ph == 0 && self.pw == 0
    }
    /// The input cell `(iy, ix)` of window `(oy, ox)` at in-window index
    /// `a` (row-major in the window, as the argmax bytes record it). The
    /// cell must lie inside the input.
    #[inline(always)]
    pub const fn window_cell(&self, oy: usize, ox: usize, a: u8) -> (usize, usize) {
        let (dy, dx) = (a as usize / self.kw, a as usize % self.kw);
        (oy * self.sh + dy - self.ph, ox * self.sw + dx - self.pw)
    }
    /// Rows `[r0, r1)` of the input that window row `oy` covers, clipped
    /// to the input.
    #[inline]
    pub const fn window_rows(&self, oy: usize) -> (usize, usize) {
        let top = oy * self.sh;
        let r0 = top.saturating_sub(self.ph);
        let r1 = top + self.kh - self.ph;
        (r0, if r1 < self.h { r1 } else { self.h })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_a_scan() {
        for len in 1..9 {
            for k in 0..4 {
                for s in 1..4 {
                    for p in 0..3 {
                        let out = 7;
                        let inside = |o: usize| {
                            let i = (o * s + k) as isize - p as isize;
                            i >= 0 && (i as usize) < len
                        };
                        let (lo, hi) = valid_range(len, out, s, k, p);
                        for o in 0..out {
                            assert_eq!(inside(o), o >= lo && o < hi, "{len} {k} {s} {p} {o}");
                        }
                    }
                }
            }
        }
        for len in 1..9 {
            for start in 0..len + 2 {
                for pad in 0..3 {
                    for k in 1..6 {
                        if start > len + pad {
                            continue;
                        }
                        let (k0, k1) = kernel_range(len, start, pad, k);
                        for o in 0..k {
                            let i = (start + o) as isize - pad as isize;
                            let inside = i >= 0 && (i as usize) < len;
                            assert_eq!(inside, o >= k0 && o < k1, "{len} {start} {pad} {k} {o}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn window_rows_are_clipped() {
        let p = PoolGeom::new(1, 7, 7, (3, 3), (2, 2), (1, 1));
        assert_eq!(p.window_rows(0), (0, 2));
        assert_eq!(p.window_rows(1), (1, 4));
        assert_eq!(p.window_rows(3), (5, 7));
        assert_eq!(p.window_cell(1, 1, 4), (2, 2));
    }
}
