//! Int8 inference as TensorFlow Lite's int8 specification defines it, the
//! part the macro and the runtime share:
//!
//! - weights: symmetric int8 (`[-127, 127]`, zero point 0), one scale per
//!   output channel ([`weight_scale`], [`quantize_weight`]);
//! - activations: asymmetric int8, one scale and zero point per tensor
//!   ([`QParams`], [`QParams::from_range`]);
//! - biases: int32, scale `s_in * s_w[k]`, zero point 0 ([`quantize_bias`]);
//! - requantization of int32 accumulators by a fixed-point multiplier and
//!   shift with TFLite's rounding ([`fixed`]);
//! - ReLU folded into the output clamp, max-pool taken on the int32
//!   accumulators (exact: requantization is monotone) ([`Requant`]);
//! - the layer descriptors generated code emits ([`QConv`], [`QDense`]),
//!   the parameter blob's layout ([`layer`]) and its packing from a
//!   quantized weights file ([`pack_conv`], [`pack_dense`], [`mod@file`]).

pub mod file;
pub mod fixed;
pub mod layer;
mod pack;
mod params;
pub mod tuning;

pub use fixed::{
    multiply_by_quantized_multiplier, quantize_multiplier, rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
};
pub use layer::{
    blob_region_start, BlobLayout, QConv, QConvKernel, QDense, Requant, BLOB_ALIGN, MAX_PATCH,
};
pub use pack::{pack_conv, pack_dense, PackError, RawLayer};
pub use params::{quantize_bias, quantize_weight, weight_scale, QParams, QMAX, QMIN, WEIGHT_QMAX};
