//! Training: losses, optimizers, schedules and the trainer.
//!
//! (Networks come from the `cnn` crate's `network!`, so this example is
//! compiled and run there, in the `cnn` crate's documentation.)
//!
//! ```ignore
//! # cnn::network! { struct Net { input: [4], dense(8), relu, dense(3), softmax } }
//! use cnn::train::{Trainer, TrainConfig, Optimizer};
//! # let train: cnn::Dataset = unimplemented!();
//! # let test: cnn::Dataset = unimplemented!();
//! let mut net = Net::new(cnn::Init::He, 42);
//! let config = TrainConfig::default()
//!     .epochs(10)
//!     .batch_size(32)
//!     .optimizer(Optimizer::sgd(0.05, 0.9))
//!     .seed(7);
//! let history = Trainer::new(config).fit(&mut net, &train, Some(&test))?;
//! history.write_csv("curves.csv")?;
//! history.write_svg("curves.svg")?;
//! # Ok::<(), cnn::Error>(())
//! ```
//!
//! One step: the batch is split into one contiguous chunk per thread; each
//! thread runs the generated training forward pass, the loss and the
//! generated backward pass into its own gradient buffer; the buffers are
//! summed in thread order and the optimizer takes one step. With the same
//! seed and thread count, runs are identical bit for bit. A session's
//! threads are its own (the calling thread and `threads - 1` helpers kept
//! for the session's life), and after the first step no memory is allocated:
//! each step copies the weights and the helpers' share of the batch into
//! buffers the helpers own jointly with the session.
//!
//! | module | what |
//! | --- | --- |
//! | `config` | [`TrainConfig`], [`EarlyStopping`], [`EpochCallback`] |
//! | `session` | [`Session`]: buffers, threads, one step |
//! | `fit` | [`Trainer`], the epoch loop and its checks, [`evaluate`], [`accuracy`] |
//! | `checkpoint` | checkpoints with the training state (the format), [`save_checkpoint`] |
//! | `progress` | the progress bar and the per-epoch lines |
//! | `loss`, `optim`, `history` | losses, optimizers and schedules, learning curves per epoch |
//! | `gradients` | [`gradients`]: the loss's gradient with respect to the input, named layers' outputs and named parameters |
//! | `size_curve` | [`size_curve`]: training and held-out error against the training-set size |

mod batch_stats;
mod checkpoint;
mod config;
mod fit;
mod gradients;
mod history;
mod loss;
mod optim;
mod progress;
mod reduce;
mod session;
mod size_curve;
mod team;

pub use batch_stats::BATCH_NORM_MIN_BATCH;
pub use checkpoint::save_checkpoint;
pub use config::{EarlyStopping, EpochCallback, TrainConfig};
pub use fit::{accuracy, evaluate, Trainer};
pub use gradients::{gradients, GradientOptions, Gradients, TensorView};
pub use history::{EpochStats, History};
pub use loss::{argmax, LogitsRef, Loss, LossSum, TargetRef};
pub use optim::{Optimizer, OptimizerState, Schedule, ScheduleState};
pub use session::Session;
pub use size_curve::{size_curve, Budget, SizeCurve, SizePoint};
