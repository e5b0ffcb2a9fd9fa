//! Datasets in memory: inputs, targets, subsets, splits, IDX files (MNIST)
//! and normalisation.
//!
//! A [`Dataset`] holds every sample's input in one row-major `Vec<f32>`
//! (sample after sample, each of [`Dataset::sample_shape`]) and its
//! [`Targets`]: a class index per sample or a fixed number of values per
//! sample.
//!
//! ```
//! use cnn_runtime::data::{Dataset, Standardizer};
//!
//! // Four 1x2x2 "images", two classes.
//! let inputs: Vec<f32> = (0..16).map(|v| v as f32).collect();
//! let data = Dataset::classification(inputs, &[1, 2, 2], vec![0, 1, 1, 0], 2)?;
//! assert_eq!(data.len(), 4);
//! assert_eq!(data.input(1), &[4.0, 5.0, 6.0, 7.0]);
//! assert_eq!(data.class_counts(), Some(vec![2, 2]));
//!
//! let (mut train, mut validation) = data.split(0.25, 42)?;
//! assert_eq!((train.len(), validation.len()), (3, 1));
//!
//! // Statistics from the training set only, applied to both.
//! let standardizer = Standardizer::fit(&train)?;
//! standardizer.apply(&mut train)?;
//! standardizer.apply(&mut validation)?;
//! # Ok::<(), cnn_runtime::Error>(())
//! ```
//!
//! MNIST-style IDX files load with [`load_idx`] or [`mnist::load`].

pub mod covariance;
pub(crate) mod dataset;
pub mod idx;
pub mod image;
pub mod normalize;
pub mod preprocessing;
pub mod whiten;

pub use covariance::Moments;
pub use dataset::{Dataset, Targets, MAX_CLASSES};
pub use idx::{load_idx, mnist, read_idx, IdxArray, IdxData};
pub use image::{patches, Image};
pub use normalize::{scale_each_sample, Standardizer};
pub use preprocessing::Preprocessing;
pub use whiten::{Keep, Whitening, WhiteningConfig, WhiteningKind};
