//! Convolutional networks declared with a macro.
//!
//! `network! { ... }` turns a declarative description of a network into
//! statically shaped Rust: shapes are checked at compile time, parameter and
//! MAC counts are `const`s, conv→ReLU→max-pool chains run as fused kernels,
//! backward passes are generated, and single-sample inference needs no heap.
//!
//! ```
//! cnn::network! {
//!     /// LeNet-5 as most modern code writes it.
//!     pub struct LeNet5 {
//!         input: [1, 28, 28],
//!         conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
//!         conv2: conv(16, kernel = 5), relu, max_pool(2),
//!         flatten,
//!         fc1: dense(120), relu,
//!         fc2: dense(84), relu,
//!         fc3: dense(10),
//!         softmax,
//!     }
//! }
//!
//! const _: () = assert!(LeNet5::PARAM_COUNT == 61_706);
//! const _: () = assert!(LeNet5::MACS == 416_520);
//!
//! let net = LeNet5::new(cnn::Init::He, 42);
//! let probabilities = net.predict(&[0.5; 784]); // [f32; 784] -> [f32; 10], no heap
//! assert!((probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
//! println!("{}", LeNet5::summary());
//! ```
//!
//! Training, on a toy problem (see `examples/lenet_mnist.rs` for MNIST):
//!
//! ```
//! use cnn::train::{Optimizer, TrainConfig, Trainer};
//!
//! cnn::network! {
//!     /// Which of two clusters a point belongs to.
//!     struct Clusters { input: [2], hidden: dense(8), tanh, out: dense(2), softmax }
//! }
//!
//! // Points around (1, 1) are class 0, around (-1, -1) class 1.
//! let points: Vec<f32> = (0..64)
//!     .flat_map(|i| {
//!         let s = if i % 2 == 0 { 1.0 } else { -1.0 };
//!         let d = (i as f32 * 0.37).sin() * 0.3;
//!         [s + d, s - d]
//!     })
//!     .collect();
//! let labels: Vec<usize> = (0..64).map(|i| i % 2).collect();
//! let data = cnn::Dataset::classification(points, &[2], labels, 2)?;
//!
//! let mut net = Clusters::new(cnn::Init::Xavier, 1);
//! let config = TrainConfig::default().epochs(20).batch_size(8).optimizer(Optimizer::sgd(0.1, 0.9)).quiet();
//! let history = Trainer::new(config).fit(&mut net, &data, None)?;
//! assert!(history.epochs.last().unwrap().train_loss < history.epochs[0].train_loss);
//! assert_eq!(cnn::train::accuracy(&net, &data)?, 1.0);
//! # Ok::<(), cnn::Error>(())
//! ```
//!
//! The grammar (every layer, argument, spelling, option, sequences,
//! branches and blocks) and the items generated on a network's type are
//! described in [`network!`].
#![cfg_attr(not(feature = "std"), no_std)]

pub use cnn_runtime::*;

#[doc = include_str!("network.md")]
pub use cnn_macros::network;

#[doc(hidden)]
pub use cnn_runtime::private as __private;
