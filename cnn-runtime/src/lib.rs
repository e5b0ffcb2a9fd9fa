//! Runtime of the `cnn` crate: the kernels and support code that networks
//! declared with `cnn::network!` call.
//!
//! The core ([`ops`], [`simd`], [`Weights`], [`Arena`], [`LayerInfo`]) is
//! `no_std` and allocation-free, enough for inference in firmware. The
//! default `std` feature adds training, safetensors files, data loading,
//! threads and plots.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod layer_output;
pub mod layout;
pub mod ops;
pub mod preprocess;
pub mod simd;
pub mod summary;
mod weights;

#[doc(hidden)]
pub mod private;

/// Scalar math that `core` lacks (`exp`, `ln`, `sqrt`), bit-identical with
/// and without `std`.
pub use cnn_spec::math;

pub use summary::{BufferInit, Dtype, LayerInfo, ParamInfo, ParamRole, PlanStep, Summary};

/// The optimisation level this runtime was compiled at, as cargo gives it
/// (`"0"` to `"3"`, `"s"`, `"z"`). A debug build compiles dependencies at
/// `"0"` unless the profile says otherwise; the kernels are then tens to
/// hundreds of times slower (see the README's quickstart for the setting
/// that makes `cargo run` fast without `--release`).
///
/// ```
/// assert!(!cnn_runtime::OPT_LEVEL.is_empty());
/// if !cnn_runtime::OPTIMIZED {
///     eprintln!("warning: cnn-runtime is unoptimised; see the README's quickstart");
/// }
/// ```
pub const OPT_LEVEL: &str = env!("CNN_RUNTIME_OPT_LEVEL");

/// Whether the runtime was compiled with optimisations (`OPT_LEVEL` is
/// not `"0"`).
pub const OPTIMIZED: bool = !matches!(OPT_LEVEL.as_bytes(), b"0");

pub use weights::{Aligned, Arena, Folded, Weights};

#[cfg(feature = "std")]
pub mod batch;
#[cfg(feature = "std")]
pub mod data;
#[cfg(feature = "std")]
mod error;
#[cfg(feature = "std")]
pub mod init;
#[cfg(feature = "std")]
pub mod io;
#[cfg(feature = "std")]
pub mod metrics;
#[cfg(feature = "std")]
pub mod model;
#[cfg(feature = "std")]
pub mod network;
#[cfg(feature = "std")]
pub mod parallel;
#[cfg(feature = "std")]
pub mod quant;
#[cfg(feature = "std")]
pub mod svm;
#[cfg(feature = "std")]
pub mod train;

#[cfg(feature = "std")]
pub use data::{Dataset, Targets};
#[cfg(feature = "std")]
pub use error::{Error, Result};
#[cfg(feature = "std")]
pub use init::Init;
#[cfg(feature = "std")]
pub use io::safetensors::LoadOptions;
pub use layout::Head;
#[cfg(feature = "std")]
pub use model::Model;
#[cfg(feature = "std")]
pub use network::Network;
#[cfg(feature = "std")]
pub use parallel::set_threads;
