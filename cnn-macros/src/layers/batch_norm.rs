//! `batch_norm(eps = 1e-5, momentum = 0.1)`: batch normalisation over the
//! channels of an image (PyTorch's `BatchNorm2d`) or the features of a
//! vector (`BatchNorm1d`). Training normalises with the statistics of the
//! whole batch (over every thread's part of it) and moves the running
//! statistics after each step; inference uses the running statistics.
//! Its tensors: `weight` and `bias` (trained), `running_mean`,
//! `running_var` and `num_batches_tracked` (buffers, saved, not trained).

use std::any::Any;

use proc_macro2::TokenStream;
use quote::quote;

use super::layer::{
    AfterStep, Backward, Data, Dtype, Forward, Grad, Kind, Layer, ParamSpec, Role, Saves, Shapes,
};
use super::tokens::lit;
use crate::args::{ArgReader, Schema};
use crate::shape::Shape;

pub const KIND: Kind = Kind {
    keyword: "batch_norm",
    aliases: &[
        "BatchNorm2d",
        "BatchNorm1d",
        "batch_norm2d",
        "batch_norm1d",
        "BatchNormalization",
        "batchnorm",
    ],
    schema: Schema {
        args: &["eps", "momentum"],
        positional: 0,
        example: "batch_norm(eps = 1e-5, momentum = 0.1)",
    },
    read,
    stand_in: Some(|| {
        Box::new(BatchNorm {
            eps: 1e-5,
            momentum: 0.1,
        })
    }),
};

fn read(args: &mut ArgReader<'_>) -> Option<Box<dyn Layer>> {
    let eps = args.float("eps", None, Some(1e-5), "a positive number", |e| e > 0.0);
    let momentum = args.float("momentum", None, Some(0.1), "in [0, 1]", |m| {
        (0.0..=1.0).contains(&m)
    });
    Some(Box::new(BatchNorm {
        eps: eps?,
        momentum: momentum?,
    }))
}

/// Batch normalisation.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    eps: f32,
    momentum: f32,
}

impl BatchNorm {
    /// Added to the variance.
    pub fn eps(&self) -> f32 {
        self.eps
    }
}

/// Channels and values per channel of a sample.
fn channels(input: Shape) -> (usize, usize) {
    match input {
        Shape::Image { c, h, w } => (c, h * w),
        Shape::Flat(n) => (n, 1),
    }
}

impl Layer for BatchNorm {
    fn keyword(&self) -> &'static str {
        "batch_norm"
    }

    fn type_name(&self) -> &'static str {
        "BatchNormalization"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, _name: &str) -> Result<Shape, String> {
        Ok(input)
    }

    fn params(&self, input: Shape) -> Vec<ParamSpec> {
        let (c, hw) = channels(input);
        let tensor = |suffix, role, dtype, shape: Vec<usize>| ParamSpec {
            suffix,
            shape,
            role,
            dtype,
            fan_in: hw,
            fan_out: hw,
        };
        vec![
            tensor("weight", Role::Scale, Dtype::F32, vec![c]),
            tensor("bias", Role::Shift, Dtype::F32, vec![c]),
            tensor("running_mean", Role::BufferZeros, Dtype::F32, vec![c]),
            tensor("running_var", Role::BufferOnes, Dtype::F32, vec![c]),
            tensor("num_batches_tracked", Role::BufferZeros, Dtype::I64, vec![]),
        ]
    }

    fn saves(&self) -> Saves {
        Saves {
            side: true,
            ..Saves::default()
        }
    }

    fn stats(&self, s: Shapes) -> usize {
        4 * channels(s.input).0 + 1
    }

    fn batch_wide(&self) -> bool {
        true
    }

    fn descriptor(&self, s: Shapes, rt: &TokenStream) -> Option<(TokenStream, TokenStream)> {
        let (c, hw) = channels(s.input);
        let (c, hw, eps, momentum) = (lit(c), lit(hw), self.eps, self.momentum);
        Some((
            quote!(#rt::BatchNorm),
            quote!(#rt::BatchNorm { channels: #c, hw: #hw, eps: #eps, momentum: #momentum }),
        ))
    }

    fn describe(&self, _s: Shapes) -> String {
        "batch-norm".into()
    }

    fn forward(&self, _s: Shapes, io: Forward<'_>) -> TokenStream {
        let (rt, desc) = (io.rt, io.desc);
        let Data::Separate { x, y } = io.data else {
            unreachable!("batch normalisation writes a new buffer")
        };
        let (gamma, beta) = (&io.params[0], &io.params[1]);
        let affine = quote!(#rt::batch_norm::Affine { gamma: #gamma, beta: #beta });
        let (mean, var) = (&io.params[2], &io.params[3]);
        match (io.side, io.stats) {
            // Training; in inference mode (gradients of the deployed
            // model) with the running statistics.
            (Some(xhat), Some((stats, at))) => quote! {
                let io = #rt::batch_norm::TrainIo { x: #x, y: #y, xhat: #xhat, n };
                if ctx.inference_mode {
                    let running = #rt::batch_norm::Running { mean: #mean, var: #var };
                    #rt::batch_norm::forward_frozen(#desc, #affine, running, io);
                } else {
                    #rt::batch_norm::forward_train(
                        #desc,
                        #affine,
                        io,
                        #rt::batch_norm::Stats { values: #stats, reduce: ctx.reduce, at: #at },
                    );
                }
            },
            _ => {
                quote! {
                    #rt::batch_norm::forward_eval(
                        #desc,
                        #affine,
                        #rt::batch_norm::Running { mean: #mean, var: #var },
                        #x,
                        #y,
                        n,
                    );
                }
            }
        }
    }

    fn backward(&self, _s: Shapes, io: Backward<'_>) -> TokenStream {
        let (rt, desc) = (io.rt, io.desc);
        let Grad::Separate { dy, dx } = io.grad else {
            unreachable!("batch normalisation writes a new gradient buffer")
        };
        let xhat = io
            .side
            .expect("batch normalisation keeps its normalised input");
        let (stats, at) = io.stats.expect("batch normalisation keeps its statistics");
        let (gamma, beta, mean, var) = (&io.params[0], &io.params[1], &io.params[2], &io.params[3]);
        let (dgamma, dbeta) = (&io.grads[0], &io.grads[1]);
        quote! {
            let io = #rt::batch_norm::BackwardIo { xhat: #xhat, dy: #dy, dx: #dx, n };
            let grads = #rt::Grads { weight: #dgamma, bias: #dbeta };
            if ctx.inference_mode {
                #rt::batch_norm::backward_frozen(
                    #desc,
                    #rt::batch_norm::Affine { gamma: #gamma, beta: #beta },
                    #rt::batch_norm::Running { mean: #mean, var: #var },
                    io,
                    grads,
                );
            } else {
                #rt::batch_norm::backward(
                    #desc,
                    #gamma,
                    io,
                    grads,
                    #rt::batch_norm::Stats { values: #stats, reduce: ctx.reduce, at: #at },
                );
            }
        }
    }

    fn after_step(&self, _s: Shapes, io: AfterStep<'_>) -> Option<TokenStream> {
        let (rt, desc, at) = (io.rt, io.desc, io.at);
        let (mean, var, batches) = (&io.params[2], &io.params[3], &io.params[4]);
        Some(quote! {
            let [mean, var, batches] = #rt::params_mut(w, [#mean, #var, #batches]);
            #rt::batch_norm::update_running(
                #desc,
                #rt::batch_norm::RunningMut { mean, var, batches },
                &stats[#at..],
            );
        })
    }
}
