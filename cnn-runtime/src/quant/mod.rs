//! Post-training int8 quantization (`std`): calibration, the quantized
//! weights file, and the descriptors and parameter blob the int8 kernels
//! ([`crate::ops::int8`]) run on.
//!
//! ```text
//! f32 network ──(activations per tensor)──▶ Calibrator ──finish(Method)──▶ Ranges
//! (params, weights) + Ranges ──quantize_network──▶ QuantizedModel ──save──▶ .safetensors
//!                 f32 model's Preprocessing ──set_preprocessing──▶ (carried in the same file)
//! QuantizedModel + layer plan ──QNetwork::build──▶ descriptors + blob ──▶ ops::int8 kernels
//! ```
//!
//! The scheme is TensorFlow Lite's int8 specification (`cnn_spec::quant`);
//! the file format is `cnn_spec::quant::file`'s.

mod calibrate;
mod model;
mod network;

pub use calibrate::{Calibrator, Method, Ranges};
pub use cnn_spec::quant::file::FileDtype;
pub use cnn_spec::quant::{
    file, fixed, multiply_by_quantized_multiplier, quantize_multiplier, QConv, QDense, QParams,
};
pub use model::{QTensor, QuantizedModel};
pub use network::{quantize_network, LayerPlan, LayerShape, QLayer, QLayerEntry, QNetwork, INPUT};
