//! Layer kernels, each with its forward and backward pass side by side.
//!
//! Every kernel works on a batch of `n` samples laid out contiguously:
//! activations are `[n, C, H, W]` (NCHW) or `[n, F]`, conv weights
//! `[K, C, kh, kw]` and dense weights `[out, in]`, as PyTorch stores them.
//! Backward kernels *add* parameter gradients into `dw`/`db` (so a batch can
//! be accumulated in pieces) and *overwrite* input gradients `dx`.
//!
//! Shapes are given as `const` descriptors ([`ConvGeom`], [`PoolGeom`],
//! [`Conv`], [`Dense`], defined in `cnn_spec`) that the `network!` macro
//! emits with literal sizes. The conv and dense kernels take their buffers
//! grouped by role: [`Params`], [`Forward`], [`Backward`], [`Grads`].

pub mod activation;
mod args;
pub mod batch_norm;
pub mod conv;
mod conv_sample;
pub mod dense;
pub mod dropout;
pub mod fused;
pub mod gemm;
mod groups;
pub mod int8;
pub mod int8_chain;
pub mod lrn;
pub mod merge;
pub mod parts;
pub mod pool;
pub mod softmax;
mod threads;
pub mod winograd;

pub use args::{Backward, Forward, Grads, Params};
pub use cnn_spec::{sigmoid, tanh, Act, Conv, ConvAlgo, ConvGeom, ConvKernel, Dense, PoolGeom};
