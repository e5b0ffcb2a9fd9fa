//! Layer kernels, each with its forward and backward pass side by side.
//!
//! Every kernel works on a batch of `n` samples laid out contiguously:
//! activations are `[n, C, H, W]` (NCHW) or `[n, F]`, conv weights
//! `[K, C, kh, kw]` and dense weights `[out, in]`, as PyTorch stores them.
//! Backward kernels *add* parameter gradients into `dw`/`db` (so a batch can
//! be accumulated in pieces) and *overwrite* input gradients `dx`.
//!
//! Shapes are given as `const` descriptors ([`ConvGeom`], [`PoolGeom`],
//! [`Conv`], [`Dense`]) that the `network!` macro emits with literal sizes.

pub mod activation;
pub mod batch_norm;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod fused;
pub mod gemm;
pub mod lrn;
pub mod pool;
pub mod softmax;

/// Geometry of a 2-D convolution on one sample.
///
/// Input `[c, h, w]`, weights `[k, c, kh, kw]`, output `[k, oh, ow]` with
/// `oh = (h + 2 ph - kh) / sh + 1` and likewise for `ow`.
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
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        c: usize,
        h: usize,
        w: usize,
        k: usize,
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Self {
        let oh = (h + 2 * ph - kh) / sh + 1;
        let ow = (w + 2 * pw - kw) / sw + 1;
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
            oh,
            ow,
        }
    }
    /// Floats in one input sample.
    pub const fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Floats in one output sample.
    pub const fn out_len(&self) -> usize {
        self.k * self.oh * self.ow
    }
    /// Number of weights (without bias).
    pub const fn weight_len(&self) -> usize {
        self.k * self.c * self.kh * self.kw
    }
    /// Length of one im2col column: `c * kh * kw`.
    pub const fn patch_len(&self) -> usize {
        self.c * self.kh * self.kw
    }
    /// Output pixels per channel.
    pub const fn out_pixels(&self) -> usize {
        self.oh * self.ow
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
    pub const fn new(
        c: usize,
        h: usize,
        w: usize,
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Self {
        let oh = (h + 2 * ph - kh) / sh + 1;
        let ow = (w + 2 * pw - kw) / sw + 1;
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
            oh,
            ow,
        }
    }
    /// Floats in one input sample.
    pub const fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    /// Floats in one output sample.
    pub const fn out_len(&self) -> usize {
        self.c * self.oh * self.ow
    }
    /// Whether windows never share a cell (stride at least the window).
    pub const fn is_disjoint(&self) -> bool {
        self.sh >= self.kh && self.sw >= self.kw
    }
}

/// An element-wise activation applied after a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    /// `y = x`.
    Identity,
    /// `y = max(x, 0)`, NaN kept.
    Relu,
    /// `y = 1 / (1 + e^-x)`.
    Sigmoid,
    /// `y = tanh(x)`.
    Tanh,
}

impl Act {
    /// The activation of one value. ReLU keeps NaN (`NaN < 0` is false).
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Act::Identity => x,
            Act::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Act::Sigmoid => sigmoid(x),
            Act::Tanh => tanh(x),
        }
    }

    /// Derivative expressed through the output `y` (and the mask for ReLU).
    #[inline(always)]
    pub fn grad_from_output(self, y: f32) -> f32 {
        match self {
            Act::Identity => 1.0,
            Act::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Act::Sigmoid => y * (1.0 - y),
            Act::Tanh => 1.0 - y * y,
        }
    }

    /// Whether the backward pass needs the layer's output values (sigmoid,
    /// tanh) rather than a one-byte mask (ReLU) or nothing (identity).
    pub const fn needs_output(self) -> bool {
        matches!(self, Act::Sigmoid | Act::Tanh)
    }

    /// Whether the backward pass needs a one-byte mask per output.
    pub const fn needs_mask(self) -> bool {
        matches!(self, Act::Relu)
    }
}

/// How a convolution is computed; chosen by the macro from the layer's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvAlgo {
    /// Direct loops: for few input channels, where a GEMM tile would be mostly empty.
    Direct,
    /// im2col then GEMM: for wide layers.
    Im2col,
    /// 1x1 kernel, stride 1, no padding: a plain GEMM on the input.
    Pointwise,
}

/// A convolution layer as the generated code describes it: geometry,
/// algorithm, fused activation and an optional fused max-pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    /// The convolution's geometry.
    pub geom: ConvGeom,
    /// How it is computed.
    pub algo: ConvAlgo,
    /// Activation applied to the convolution's output.
    pub act: Act,
    /// A max-pool fused after the activation (only with `Act::Relu` or
    /// `Act::Identity`): the conv output is never stored.
    pub pool: Option<PoolGeom>,
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl Conv {
    /// Floats in one output sample (after the fused pool, if any).
    pub const fn out_len(&self) -> usize {
        match self.pool {
            Some(p) => p.out_len(),
            None => self.geom.out_len(),
        }
    }
}

/// A fully connected layer: `y = act(W x + b)`, `W` is `[outputs, inputs]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dense {
    /// Inputs per sample.
    pub inputs: usize,
    /// Outputs per sample.
    pub outputs: usize,
    /// Activation applied to the output.
    pub act: Act,
    /// Whether the layer has a bias.
    pub bias: bool,
}

/// Logistic sigmoid, stable for large |x|.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + crate::math::exp(-x))
    } else {
        let e = crate::math::exp(x);
        e / (1.0 + e)
    }
}

/// Hyperbolic tangent through the sigmoid: `tanh(x) = 2 sigmoid(2x) - 1`.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    // For |x| > 9, tanh(x) rounds to ±1 in f32.
    let t = x.clamp(-9.0, 9.0);
    let e = crate::math::exp(2.0 * t);
    (e - 1.0) / (e + 1.0)
}

/// Splits `n` samples of `len` floats out of a batch slice, checking the length.
#[inline]
pub(crate) fn check_len(what: &str, got: usize, want: usize) {
    assert!(
        got >= want,
        "cnn-runtime: {what} buffer holds {got} values, the layer needs {want}"
    );
}
