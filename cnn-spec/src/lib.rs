//! What the `cnn` macro and its runtime agree on, defined once.
//!
//! The `network!` macro evaluates these functions while it expands a
//! network (to choose algorithms and size buffers), and the runtime's
//! kernels use the same ones when they run, so the two cannot drift apart:
//!
//! - shapes and geometry: [`ConvGeom`], [`PoolGeom`], the sliding-window
//!   rule [`out_size`], and the ranges [`valid_range`], [`kernel_range`];
//! - activations: [`Act`], [`sigmoid`], [`tanh`] and the scalar [`math`]
//!   they need (bit-identical with and without `std`);
//! - layer descriptors [`Conv`] (with groups) and [`Dense`], the algorithm
//!   choice [`choose_algo`] and the kernel that runs a layer,
//!   [`Conv::kernel`];
//! - the lanes-dependent choices of the SIMD kernels ([`variants`]);
//! - every scratch size ([`scratch`]);
//! - every tuning constant, documented ([`tuning`]).
//!
//! Everything here is a `const fn` or a constant where Rust allows it.
//!
//! ```
//! use cnn_spec::{choose_algo, scratch, Act, Conv, ConvGeom, ConvKernel, PoolGeom};
//!
//! // LeNet-5's second convolution, fused with ReLU and a 2x2 max-pool.
//! const GEOM: ConvGeom = ConvGeom::new(6, 14, 14, 16, (5, 5), (1, 1), (0, 0));
//! const CONV2: Conv = Conv {
//!     geom: GEOM,
//!     algo: choose_algo(&GEOM),
//!     act: Act::Relu,
//!     pool: Some(PoolGeom::new(16, 10, 10, (2, 2), (2, 2), (0, 0))),
//!     bias: true,
//!     groups: 1,
//! };
//! const _: () = assert!(matches!(CONV2.kernel(), ConvKernel::FusedDirectDisjoint));
//! const _: () = assert!(scratch::forward_scratch(&CONV2) == 0);
//! assert_eq!(CONV2.out_len(), 16 * 5 * 5);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod act;
mod fold;
mod geom;
mod layer;
mod limits;
pub mod math;
pub mod quant;
pub mod scratch;
pub mod tuning;
pub mod variants;
pub mod winograd;

pub use act::{sigmoid, tanh, Act};
pub use fold::{batch_norm_affine, fold_batch_norm, BatchNormParams};
pub use geom::{kernel_range, out_size, out_size_ceil, valid_range, ConvGeom, PoolGeom};
pub use layer::{choose_algo, fuses_pool, Conv, ConvAlgo, ConvKernel, Dense};
pub use limits::{INACTIVE, MAX_LANES, MAX_POOL_WINDOW};
