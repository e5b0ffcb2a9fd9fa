//! Element-wise activations: ReLU, sigmoid, tanh (and identity).
//!
//! Forward `y = act(x)`. Backward `dx = dy * act'(x)`, with the derivative
//! taken from what the forward pass kept: for ReLU a one-byte mask
//! (`y > 0`), for sigmoid `y (1 - y)`, for tanh `1 - y^2`.
//!
//! ReLU keeps NaN: `relu(NaN) = NaN`, never a silent 0.

use cnn_spec::{sigmoid, tanh, Act};

use crate::simd;

/// `y = act(y)` in place; for ReLU, `mask[i] = (y[i] > 0)` when given.
pub fn forward_in_place(act: Act, y: &mut [f32], mask: Option<&mut [u8]>) {
    match act {
        Act::Identity => {}
        Act::Relu => simd::relu_in_place(y),
        Act::Sigmoid => y.iter_mut().for_each(|v| *v = sigmoid(*v)),
        Act::Tanh => y.iter_mut().for_each(|v| *v = tanh(*v)),
    }
    if let (Act::Relu, Some(mask)) = (act, mask) {
        write_mask(y, mask);
    }
}

/// `y = act(x)`; for ReLU, `mask[i] = (y[i] > 0)` when given.
pub fn forward(act: Act, x: &[f32], y: &mut [f32], mask: Option<&mut [u8]>) {
    let y = &mut y[..x.len()];
    y.copy_from_slice(x);
    forward_in_place(act, y, mask);
}

/// Writes `mask[i] = 1` where `y[i] > 0`, else 0.
pub fn write_mask(y: &[f32], mask: &mut [u8]) {
    for (m, &v) in mask[..y.len()].iter_mut().zip(y) {
        *m = u8::from(v > 0.0);
    }
}

/// `d = d * act'` in place. `y` is the forward output (sigmoid, tanh);
/// `mask` the ReLU mask.
///
/// Panics if the activation needs `y` or `mask` and it is not given.
pub fn backward_in_place(act: Act, y: Option<&[f32]>, mask: Option<&[u8]>, d: &mut [f32]) {
    match act {
        Act::Identity => {}
        Act::Relu => {
            let mask = mask.expect("relu backward needs its mask");
            let len = d.len();
            for (g, &m) in d.iter_mut().zip(&mask[..len]) {
                if m == 0 {
                    *g = 0.0;
                }
            }
        }
        Act::Sigmoid | Act::Tanh => {
            let y = y.expect("sigmoid and tanh backward need their output");
            let len = d.len();
            for (g, &v) in d.iter_mut().zip(&y[..len]) {
                *g *= act.grad_from_output(v);
            }
        }
    }
}

/// `dx = dy * act'`, out of place.
pub fn backward(act: Act, y: Option<&[f32]>, mask: Option<&[u8]>, dy: &[f32], dx: &mut [f32]) {
    let dx = &mut dx[..dy.len()];
    dx.copy_from_slice(dy);
    backward_in_place(act, y, mask, dx);
}
