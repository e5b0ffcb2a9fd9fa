//! Single-sample inference of an int8 chain network, as `network!`
//! generates it for `#[cnn(weights = "...", dtype = "int8")]`: a table of
//! [`QStep`]s with literal descriptors, a parameter blob, and an arena of
//! bytes (`no_std`, no allocation).
//!
//! # The arena
//!
//! `[ping: QChain::ping][pong: QChain::pong][scratch: QChain::scratch]`,
//! bytes. The int8 input sits at the start of `ping`; step `i` reads the
//! value at the start of `ping` (`i` even) or `pong` (`i` odd) and writes
//! the other, so `ping` is the largest value at an even position (the input
//! included) and `pong` the largest at an odd one. The scratch is the
//! largest [`conv_scratch_len`] of the convolutions (none on targets
//! without an int8 SIMD level).

use super::int8::{
    avg_pool_forward, conv_forward, conv_scratch_len, dense_forward, max_pool_forward, QConv,
    QDense, QForward, QParams,
};
use cnn_spec::PoolGeom;

/// One step of an int8 chain.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum QStep {
    /// A convolution (→ ReLU → max-pool), with its blob region's offset.
    Conv(QConv, usize),
    /// A dense layer (→ ReLU), with its blob region's offset.
    Dense(QDense, usize),
    /// A max-pool on its own (the scale and zero point are kept).
    MaxPool(PoolGeom),
    /// An average pool (the scale is kept), with the zero point of its
    /// input.
    AvgPool(PoolGeom, i8),
}

impl QStep {
    /// Bytes of the step's output, one sample.
    pub const fn out_len(&self) -> usize {
        match self {
            QStep::Conv(l, _) => l.out_len(),
            QStep::Dense(l, _) => l.outputs,
            QStep::MaxPool(g) | QStep::AvgPool(g, _) => g.out_len(),
        }
    }

    /// Scratch bytes the step needs on this target.
    pub const fn scratch_len(&self) -> usize {
        match self {
            QStep::Conv(l, _) => conv_scratch_len(l),
            _ => 0,
        }
    }

    /// The step's descriptor check (`QConv::check`, `QDense::check`), for
    /// a `const` assertion in generated code.
    pub const fn check(&self) -> Result<(), &'static str> {
        match self {
            QStep::Conv(l, _) => l.check(),
            QStep::Dense(l, _) => l.check(),
            QStep::MaxPool(_) | QStep::AvgPool(..) => Ok(()),
        }
    }
}

/// An int8 chain network: its steps, blob and arena layout.
#[derive(Clone, Copy, Debug)]
pub struct QChain<'a> {
    /// The steps, in order.
    pub steps: &'a [QStep],
    /// The parameter blob (regions at multiples of 64 bytes).
    pub blob: &'a [u8],
    /// Bytes of the input, one sample.
    pub input_len: usize,
    /// The network input's quantization.
    pub input: QParams,
    /// The last step's output quantization.
    pub output: QParams,
    /// Bytes of the arena's first region.
    pub ping: usize,
    /// Bytes of the arena's second region.
    pub pong: usize,
    /// Bytes of the arena's scratch region.
    pub scratch: usize,
}

/// The largest [`QStep::scratch_len`] of `steps`.
pub const fn max_scratch(steps: &[QStep]) -> usize {
    let mut i = 0;
    let mut most = 0;
    while i < steps.len() {
        let s = steps[i].scratch_len();
        if s > most {
            most = s;
        }
        i += 1;
    }
    most
}

/// Bytes of the arena's `ping` (`second = false`: the input and the
/// outputs of the odd steps) or `pong` (`second = true`: the outputs of
/// the even steps).
pub const fn region_len(steps: &[QStep], input_len: usize, second: bool) -> usize {
    let odd = second;
    let mut most = if odd { 0 } else { input_len };
    let mut i = 0;
    while i < steps.len() {
        // Step `i` writes the region that step `i + 1` reads.
        if (i % 2 == 1) != odd {
            let n = steps[i].out_len();
            if n > most {
                most = n;
            }
        }
        i += 1;
    }
    most
}

impl QChain<'_> {
    /// Bytes of the arena: `ping + pong + scratch`.
    pub const fn arena_len(&self) -> usize {
        self.ping + self.pong + self.scratch
    }

    /// The arena's input region (`input_len` bytes at its start).
    pub fn input<'b>(&self, arena: &'b mut [i8]) -> &'b mut [i8] {
        &mut arena[..self.input_len]
    }

    /// Runs every step on the int8 input at the start of `arena` and
    /// returns the int8 output (in the arena).
    ///
    /// # Panics
    /// If `arena` is shorter than [`QChain::arena_len`] or the blob than
    /// a step's region.
    pub fn forward<'b>(&self, arena: &'b mut [i8]) -> &'b [i8] {
        assert!(
            arena.len() >= self.arena_len(),
            "cnn-runtime: an int8 arena of {} bytes, the network needs {}",
            arena.len(),
            self.arena_len()
        );
        let (ping, rest) = arena.split_at_mut(self.ping);
        let (pong, scratch) = rest.split_at_mut(self.pong);
        let scratch = &mut scratch[..self.scratch];
        let mut len = self.input_len;
        for (i, step) in self.steps.iter().enumerate() {
            let (x, y) = if i % 2 == 0 {
                (&ping[..len], &mut pong[..])
            } else {
                (&pong[..len], &mut ping[..])
            };
            let out = step.out_len();
            let io = QForward {
                x,
                y: &mut y[..out],
                n: 1,
            };
            match step {
                QStep::Conv(l, at) => conv_forward(
                    l,
                    &self.blob[*at..],
                    io,
                    &mut scratch[..conv_scratch_len(l)],
                ),
                QStep::Dense(l, at) => dense_forward(l, &self.blob[*at..], io),
                QStep::MaxPool(g) => max_pool_forward(g, io),
                QStep::AvgPool(g, zp) => avg_pool_forward(g, *zp, io),
            }
            len = out;
        }
        if self.steps.len().is_multiple_of(2) {
            &ping[..len]
        } else {
            &pong[..len]
        }
    }

    /// Quantizes `x` (f32, `input_len` values) into the arena, runs
    /// [`QChain::forward`] and dequantizes the output into `y`, then takes
    /// its softmax if `softmax`.
    pub fn infer(&self, x: &[f32], arena: &mut [i8], y: &mut [f32], softmax: bool) {
        assert_eq!(x.len(), self.input_len, "cnn-runtime: int8 network input");
        super::int8::quantize(self.input, x, self.input(arena));
        self.infer_quantized(arena, y, softmax);
    }

    /// As [`QChain::infer`], for an input already quantized into the
    /// arena (through [`QChain::input`]).
    pub fn infer_quantized(&self, arena: &mut [i8], y: &mut [f32], softmax: bool) {
        let out = self.forward(arena);
        super::int8::dequantize(self.output, out, y);
        if softmax {
            softmax_in_place(y);
        }
    }
}

/// The softmax of `y` in place, as `softmax::row` computes it (the
/// dequantized logits are finite).
fn softmax_in_place(y: &mut [f32]) {
    let max = y.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0.0f32;
    for v in y.iter_mut() {
        *v = cnn_spec::math::exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in y.iter_mut() {
        *v *= inv;
    }
}

/// Caller-supplied memory for one int8 inference: `N` bytes (the
/// network's `ARENA_BYTES`), 64-byte aligned. `new()` is a `const fn`, so
/// an arena can live in a `static`.
#[repr(C, align(64))]
#[derive(Clone)]
pub struct Int8Arena<const N: usize> {
    buf: [i8; N],
}

impl<const N: usize> Int8Arena<N> {
    /// Bytes in the arena.
    pub const BYTES: usize = N;

    /// A zeroed arena.
    pub const fn new() -> Self {
        Int8Arena { buf: [0; N] }
    }

    /// The arena's memory.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [i8] {
        &mut self.buf
    }

    /// The arena's memory, read-only.
    #[inline]
    pub fn as_slice(&self) -> &[i8] {
        &self.buf
    }
}

impl<const N: usize> Default for Int8Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for Int8Arena<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Int8Arena<{N}>")
    }
}
