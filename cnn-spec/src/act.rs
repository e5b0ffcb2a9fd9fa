//! Element-wise activations and their derivatives.

use crate::math;

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
    #[inline]
    pub const fn needs_output(self) -> bool {
        matches!(self, Act::Sigmoid | Act::Tanh)
    }

    /// Whether the backward pass needs a one-byte mask per output.
    #[inline]
    pub const fn needs_mask(self) -> bool {
        matches!(self, Act::Relu)
    }
}

/// Logistic sigmoid, stable for large |x|.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + math::exp(-x))
    } else {
        let e = math::exp(x);
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
    let e = math::exp(2.0 * t);
    (e - 1.0) / (e + 1.0)
}
