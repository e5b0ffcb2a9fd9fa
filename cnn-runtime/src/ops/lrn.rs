//! Local response normalisation across channels (AlexNet's "LRN"), with the
//! semantics of PyTorch's `torch.nn.LocalResponseNorm`.
//!
//! For one sample `x: [C, H, W]` and every pixel, channel `c` is divided by
//! a power of the sum of squares over a window of `size` neighbouring
//! channels:
//!
//! ```text
//! W(c)  = { c' : c - size/2 <= c' <= c + (size-1)/2 }      (integer division)
//! s_c   = k + (alpha / size) * sum_{c' in W(c)} x_{c'}^2   (channels outside [0, C) count as 0)
//! y_c   = x_c * s_c^(-beta)
//! ```
//!
//! The divisor is always `size`, also where the window is cut off at the
//! first or last channels, and an even `size` reaches one channel further
//! before `c` than after it, both as in PyTorch (AlexNet: `size = 5`,
//! `alpha = 1e-4`, `beta = 0.75`, `k = 2`).
//!
//! Backward, the gradient of `sum(y * dy)`: channel `c` lies in the windows
//! `W(j)` of `j = c - (size-1)/2 ..= c + size/2`, so
//!
//! ```text
//! dx_c = dy_c * s_c^(-beta)
//!      - (2 alpha beta / size) * x_c * sum_{j : c in W(j)} dy_j * x_j * s_j^(-beta-1)
//! ```
//!
//! Both passes slide their window sum over the channels (one addition and
//! one subtraction per element and channel step, whatever `size` is),
//! accumulating in f64 (see Accuracy below). They work on chunks of up
//! to [`CHUNK`] pixels at a time, walking every channel plane of a chunk
//! contiguously, and need no memory beyond small stack buffers (`no_std`).
//! A pixel whose window meets an infinite or NaN value is recomputed with
//! direct window sums, so a NaN makes exactly the outputs whose window
//! contains it NaN, as in PyTorch.
//!
//! `s^(-beta)` is `1 / s` for `beta = 1`, Newton steps on a bit-level
//! `1 / sqrt(s)` for `beta = 1/2` and `3/4` (`s^(-3/4) = r sqrt(r)`,
//! `r = 1 / sqrt(s)`; within 4e-7 relative), and `exp(-beta ln(s))`
//! otherwise (relative error about `1e-7 |beta ln(s)|`), in loops that
//! vectorise; see `power.rs`. `core` has no `powf`, so this builds without
//! `std`.
//!
//! Accuracy: the squares of f32 values are exact in f64, so the window sums
//! only round in their additions and subtractions. A sliding sum carries
//! the rounding of the largest squares it has seen, so `s` is off by at most
//! about `C 2^-53 (alpha/size) max x^2` (the maximum over the pixel's
//! channels); that stays below the f32 rounding of `s >= k` while
//! `(alpha/size) max x^2 < 5e8 k / C` (AlexNet's first LRN: `|x| < 7e5`).

mod power;

use super::args::check_len;
use power::Power;

/// Pixels per chunk: each chunk keeps one f64 window sum per pixel.
pub const CHUNK: usize = 256;

/// Floats of the backward pass's ring of window terms (`min(size, C)` rows
/// of a chunk's width); 8 KiB of stack.
const RING: usize = 2048;

/// A local response normalisation layer on samples of `[c, h, w]`.
///
/// ```
/// use cnn_runtime::ops::lrn::{self, Lrn};
/// // AlexNet's first LRN.
/// const LRN1: Lrn = Lrn::new(96, 55, 55, 5, 1e-4, 0.75, 2.0);
/// const _: () = assert!(LRN1.len() == 96 * 55 * 55);
///
/// let l = Lrn::new(3, 1, 1, 3, 1.0, 1.0, 1.0);
/// let x = [1.0, 2.0, 3.0];
/// let mut y = [0.0; 3];
/// lrn::forward(&l, &x, &mut y, None, 1);
/// // Channel 0: s = 1 + (1 + 4) / 3.
/// assert!((y[0] - 1.0 / (1.0 + 5.0 / 3.0)).abs() < 1e-6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Lrn {
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels in the window (at least 1).
    pub size: usize,
    /// Scale of the sum of squares (divided by `size`).
    pub alpha: f32,
    /// Exponent.
    pub beta: f32,
    /// Additive constant.
    pub k: f32,
}

impl Lrn {
    /// A layer on `[c, h, w]` samples; panics (at compile time in a `const`)
    /// if `size` is 0.
    pub const fn new(
        c: usize,
        h: usize,
        w: usize,
        size: usize,
        alpha: f32,
        beta: f32,
        k: f32,
    ) -> Self {
        assert!(
            size > 0,
            "cnn-runtime: an LRN window needs at least one channel"
        );
        Lrn {
            c,
            h,
            w,
            size,
            alpha,
            beta,
            k,
        }
    }

    /// Floats in one sample (input, output and scale alike): `c * h * w`.
    pub const fn len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Whether a sample holds no values.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Channels of the window before its own: `size / 2`.
    const fn before(&self) -> usize {
        self.size / 2
    }

    /// Channels of the window after its own: `(size - 1) / 2`.
    const fn after(&self) -> usize {
        (self.size - 1) / 2
    }
}

/// Forward pass on `n` samples: `y = x * s^(-beta)`; with `scale`, keeps
/// `s` for [`backward`] (training).
///
/// `x`, `y`, `scale`: `[n, c, h, w]`.
pub fn forward(l: &Lrn, x: &[f32], y: &mut [f32], mut scale: Option<&mut [f32]>, n: usize) {
    let len = l.len();
    check_sizes(l);
    check_len("LRN input", x.len(), n * len);
    check_len("LRN output", y.len(), n * len);
    if let Some(s) = &scale {
        check_len("LRN scale", s.len(), n * len);
    }
    let hw = l.h * l.w;
    for i in 0..n {
        let x = &x[i * len..][..len];
        let y = &mut y[i * len..][..len];
        let mut scale = scale.as_deref_mut().map(|s| &mut s[i * len..][..len]);
        let mut p0 = 0;
        while p0 < hw {
            let m = CHUNK.min(hw - p0);
            forward_chunk(l, x, y, scale.as_deref_mut(), p0..p0 + m);
            p0 += m;
        }
    }
}

/// Backward pass on `n` samples: writes `dx` (formula in the module docs)
/// from the input `x`, the `scale` that [`forward`] kept and `dy`.
///
/// `x`, `scale`, `dy`, `dx`: `[n, c, h, w]`.
pub fn backward(l: &Lrn, x: &[f32], scale: &[f32], dy: &[f32], dx: &mut [f32], n: usize) {
    let len = l.len();
    check_sizes(l);
    check_len("LRN input", x.len(), n * len);
    check_len("LRN scale", scale.len(), n * len);
    check_len("LRN output gradient", dy.len(), n * len);
    check_len("LRN input gradient", dx.len(), n * len);
    let hw = l.h * l.w;
    let rows = l.size.min(l.c);
    let width = CHUNK.min(RING / rows.max(1));
    for i in 0..n {
        let t = Tensors {
            x: &x[i * len..][..len],
            scale: &scale[i * len..][..len],
            dy: &dy[i * len..][..len],
        };
        let dx = &mut dx[i * len..][..len];
        if width == 0 {
            // A window wider than the ring: direct sums for every pixel.
            (0..hw).for_each(|q| backward_pixel(l, &t, dx, q));
            continue;
        }
        let mut p0 = 0;
        while p0 < hw {
            let m = width.min(hw - p0);
            backward_chunk(l, &t, dx, p0..p0 + m);
            p0 += m;
        }
    }
}

fn check_sizes(l: &Lrn) {
    assert!(
        l.size > 0,
        "cnn-runtime: an LRN window needs at least one channel"
    );
}

/// The inputs of the backward pass for one sample, each `[c, h, w]`.
struct Tensors<'a> {
    x: &'a [f32],
    scale: &'a [f32],
    dy: &'a [f32],
}

/// `acc += v^2` element-wise (the squares of f32 values are exact in f64).
#[inline]
fn add_squares(acc: &mut [f64], v: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(v) {
        let v = f64::from(v);
        *a += v * v;
    }
}

/// `acc -= v^2` element-wise.
#[inline]
fn sub_squares(acc: &mut [f64], v: &[f32]) {
    for (a, &v) in acc.iter_mut().zip(v) {
        let v = f64::from(v);
        *a -= v * v;
    }
}

/// Forward pass of the pixels `px` of one sample.
fn forward_chunk(
    l: &Lrn,
    x: &[f32],
    y: &mut [f32],
    mut scale: Option<&mut [f32]>,
    px: core::ops::Range<usize>,
) {
    let (hw, m, p0) = (l.h * l.w, px.len(), px.start);
    let (before, after) = (l.before(), l.after());
    let power = Power::of(l.beta);
    let (k, a) = (f64::from(l.k), f64::from(l.alpha) / l.size as f64);
    let row = |c: usize| &x[c * hw + p0..][..m];
    let mut acc = [0.0f64; CHUNK];
    let acc = &mut acc[..m];
    let mut s = [0.0f32; CHUNK];
    let s = &mut s[..m];
    let mut p = [0.0f32; CHUNK];
    let p = &mut p[..m];
    // The window of channel 0 without its last channel, which the loop adds.
    for c in 0..after.min(l.c) {
        add_squares(acc, row(c));
    }
    for c in 0..l.c {
        if c + after < l.c {
            add_squares(acc, row(c + after));
        }
        if c > before {
            sub_squares(acc, row(c - before - 1));
        }
        for (s, &a_sum) in s.iter_mut().zip(acc.iter()) {
            *s = (k + a * a_sum) as f32;
        }
        power.inv_row(s, p);
        let out = &mut y[c * hw + p0..][..m];
        for ((o, &v), &p) in out.iter_mut().zip(row(c)).zip(p.iter()) {
            *o = v * p;
        }
        if let Some(scale) = scale.as_deref_mut() {
            scale[c * hw + p0..][..m].copy_from_slice(s);
        }
    }
    // A non-finite value poisons a sliding sum for the rest of the sweep
    // (NaN stays NaN, inf - inf is NaN): redo those pixels directly.
    for (i, a_sum) in acc.iter().enumerate() {
        if !a_sum.is_finite() {
            forward_pixel(l, x, y, scale.as_deref_mut(), p0 + i);
        }
    }
}

/// Forward pass of pixel `q` of one sample with direct window sums.
fn forward_pixel(l: &Lrn, x: &[f32], y: &mut [f32], mut scale: Option<&mut [f32]>, q: usize) {
    let hw = l.h * l.w;
    let power = Power::of(l.beta);
    let (k, a) = (f64::from(l.k), f64::from(l.alpha) / l.size as f64);
    for c in 0..l.c {
        let (lo, hi) = (c.saturating_sub(l.before()), (c + l.after()).min(l.c - 1));
        let sum: f64 = (lo..=hi)
            .map(|j| f64::from(x[j * hw + q]) * f64::from(x[j * hw + q]))
            .sum();
        let s = (k + a * sum) as f32;
        y[c * hw + q] = x[c * hw + q] * power.inv(s);
        if let Some(scale) = scale.as_deref_mut() {
            scale[c * hw + q] = s;
        }
    }
}

/// Backward pass of the pixels `px` of one sample.
///
/// The sum over `j` with `c in W(j)` runs over `j = c - after ..= c + before`;
/// sliding it, the term entering at channel step `c` (`j = c + before`) and
/// the one leaving (`j = c - after - 1`) are `size` channels apart, so a ring
/// indexed by `j % size` holds each term until it leaves (`min(size, l.c)`
/// rows: when `size > l.c`, `j % size = j`). `dx_j` holds `s_j^(-beta)` from
/// the step where `j` enters until step `j` overwrites it with the gradient.
fn backward_chunk(l: &Lrn, t: &Tensors, dx: &mut [f32], px: core::ops::Range<usize>) {
    let (hw, m, p0) = (l.h * l.w, px.len(), px.start);
    let (before, after) = (l.before(), l.after());
    let power = Power::of(l.beta);
    let coef = 2.0 * l.alpha * l.beta / l.size as f32;
    let mut ring = [0.0f32; RING];
    let mut acc = [0.0f64; CHUNK];
    let acc = &mut acc[..m];
    let sweep = Sweep {
        l,
        t,
        power,
        hw,
        p0,
        m,
    };
    for j in 0..before.min(l.c) {
        sweep.enter(j, dx, &mut ring, acc);
    }
    for c in 0..l.c {
        if c > after {
            let slot = &ring[((c - after - 1) % l.size) * m..][..m];
            for (a, &term) in acc.iter_mut().zip(slot) {
                *a -= f64::from(term);
            }
        }
        if c + before < l.c {
            sweep.enter(c + before, dx, &mut ring, acc);
        }
        let i0 = c * hw + p0;
        let (x, dy) = (&t.x[i0..][..m], &t.dy[i0..][..m]);
        for (((d, &g), &v), &a_sum) in dx[i0..][..m].iter_mut().zip(dy).zip(x).zip(acc.iter()) {
            *d = g * *d - coef * v * a_sum as f32;
        }
    }
    // As in the forward pass: pixels that met a non-finite term, directly.
    for (i, a_sum) in acc.iter().enumerate() {
        if !a_sum.is_finite() {
            backward_pixel(l, t, dx, p0 + i);
        }
    }
}

/// What entering a channel into the backward window needs.
struct Sweep<'a> {
    l: &'a Lrn,
    t: &'a Tensors<'a>,
    power: Power,
    hw: usize,
    p0: usize,
    m: usize,
}

impl Sweep<'_> {
    /// Channel `j` enters: `dx_j = s_j^(-beta)`, its ring slot and `acc` get
    /// `dy_j x_j s_j^(-beta-1)`.
    #[inline]
    fn enter(&self, j: usize, dx: &mut [f32], ring: &mut [f32], acc: &mut [f64]) {
        let (m, i0) = (self.m, j * self.hw + self.p0);
        let s = &self.t.scale[i0..][..m];
        let p = &mut dx[i0..][..m];
        self.power.inv_row(s, p);
        let (x, dy) = (&self.t.x[i0..][..m], &self.t.dy[i0..][..m]);
        let slot = &mut ring[(j % self.l.size) * m..][..m];
        for i in 0..m {
            let term = dy[i] * x[i] * p[i] / s[i];
            slot[i] = term;
            acc[i] += f64::from(term);
        }
    }
}

/// Backward pass of pixel `q` of one sample with direct window sums.
fn backward_pixel(l: &Lrn, t: &Tensors, dx: &mut [f32], q: usize) {
    let hw = l.h * l.w;
    let power = Power::of(l.beta);
    let coef = 2.0 * f64::from(l.alpha) * f64::from(l.beta) / l.size as f64;
    let term = |j: usize| {
        let i = j * hw + q;
        let s = t.scale[i];
        f64::from(t.dy[i] * t.x[i] * power.inv(s) / s)
    };
    for c in 0..l.c {
        let (lo, hi) = (c.saturating_sub(l.after()), (c + l.before()).min(l.c - 1));
        let sum: f64 = (lo..=hi).map(term).sum();
        let i = c * hw + q;
        dx[i] = t.dy[i] * power.inv(t.scale[i]) - (coef * f64::from(t.x[i]) * sum) as f32;
    }
}
