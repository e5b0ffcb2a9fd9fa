//! `dense(units, bias = true)`: a fully connected ("inner product") layer,
//! `[N]` → `[units]`, weights `[units, N]`. A following activation fuses
//! into its kernel.

use std::any::Any;

use cnn_spec::Act;
use proc_macro2::TokenStream;
use quote::quote;

use super::activation::Activation;
use super::batch_norm::BatchNorm;
use super::layer::{
    Backward, Data, Dtype, Forward, Fuse, Grad, InnerForward, Kind, Layer, ParamSpec, Role, Saves,
    Shapes, TapInner,
};
use super::tokens::{
    act_tokens, backward_struct, forward_struct, grads_struct, lit, opt, params_struct,
};
use crate::args::{ArgReader, Schema};
use crate::graph::MAX_LAYER_LEN;
use crate::shape::Shape;

pub const KIND: Kind = Kind {
    keyword: "dense",
    aliases: &[
        "fc",
        "linear",
        "Linear",
        "Dense",
        "inner_product",
        "InnerProduct",
        "fully_connected",
    ],
    schema: Schema {
        args: &["units", "bias"],
        positional: 1,
        example: "dense(120)",
    },
    read,
    stand_in: None,
};

fn read(args: &mut ArgReader<'_>) -> Option<Box<dyn Layer>> {
    let out = args.uint("units", Some(0), None, 1);
    let bias = args.bool("bias", true);
    Some(Box::new(Dense {
        out: out?,
        bias: bias?,
        act: Act::Identity,
        folded: false,
    }))
}

/// A fully connected layer with its fused activation.
#[derive(Clone, Debug)]
pub struct Dense {
    out: usize,
    bias: bool,
    act: Act,
    /// A batch normalisation is folded in (inference): a bias is read.
    folded: bool,
}

impl Dense {
    /// Units and bias, as declared.
    pub fn declared(&self) -> (usize, bool) {
        (self.out, self.bias)
    }
}

impl Layer for Dense {
    fn keyword(&self) -> &'static str {
        "dense"
    }

    fn type_name(&self) -> &'static str {
        "Dense"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, name: &str) -> Result<Shape, String> {
        let n = input.flat(name, "dense")?;
        if n.checked_mul(self.out).is_none_or(|p| p > MAX_LAYER_LEN) {
            return Err(format!(
                "{name}: the layer is too large ({} units)",
                self.out
            ));
        }
        Ok(Shape::Flat(self.out))
    }

    fn output_without_input(&self) -> Option<Shape> {
        Some(Shape::Flat(self.out))
    }

    fn params(&self, input: Shape) -> Vec<ParamSpec> {
        let n = input.len();
        let mut params = vec![ParamSpec {
            suffix: "weight",
            shape: vec![self.out, n],
            role: Role::Weight,
            dtype: Dtype::F32,
            fan_in: n,
            fan_out: self.out,
        }];
        if self.bias {
            params.push(ParamSpec {
                suffix: "bias",
                shape: vec![self.out],
                role: Role::Bias,
                dtype: Dtype::F32,
                fan_in: n,
                fan_out: self.out,
            });
        }
        params
    }

    fn macs(&self, input: Shape, _output: Shape) -> u64 {
        (input.len() as u64).saturating_mul(self.out as u64)
    }

    fn fold(&self, _input: Shape, next: &dyn Layer) -> Option<Box<dyn Layer>> {
        let foldable = self.act == Act::Identity && !self.folded;
        (foldable && next.as_any().is::<BatchNorm>()).then(|| {
            Box::new(Dense {
                bias: true,
                folded: true,
                ..self.clone()
            }) as Box<dyn Layer>
        })
    }

    fn fuse(&self, _input: Shape, next: &dyn Layer, _fuse: Fuse) -> Option<Box<dyn Layer>> {
        let a = next.as_any().downcast_ref::<Activation>()?;
        (self.act == Act::Identity).then(|| {
            Box::new(Dense {
                act: a.act(),
                ..self.clone()
            }) as Box<dyn Layer>
        })
    }

    fn tap_inner(&self, _s: Shapes, io: TapInner<'_>) -> Option<TokenStream> {
        // The dense layer's output gradient: the activation's derivative,
        // from the ReLU mask or the output, times the step's.
        let (rt, desc, dy) = (io.rt, io.desc, io.dy);
        let [layer] = &io.layers[..] else {
            return None;
        };
        if self.act.needs_output() && io.y.is_none() {
            return None;
        }
        let (y, aux) = (opt(io.y), opt(io.aux));
        Some(quote!(#rt::tap_dense(ctx, #desc, #layer, #dy, #y, #aux);))
    }

    fn inner_forward(&self, _s: Shapes, io: InnerForward<'_>) -> Option<TokenStream> {
        // The dense layer's output (own parameters) or the folded batch
        // norm's (the step's); the activation is the step's last layer.
        let (rt, desc, x, y) = (io.rt, &io.desc, &io.x, &io.y);
        let params = match (io.at, io.folded) {
            (0, _) => params_struct(rt, &io.own),
            (_, true) => params_struct(rt, &io.params),
            _ => return None,
        };
        Some(quote!(#rt::inner_dense(#desc, #params, #x, #y, n);))
    }

    fn saves(&self) -> Saves {
        Saves {
            input: true,
            output: self.act.needs_output(),
            aux: self.act.needs_mask(),
            side: false,
        }
    }

    fn descriptor(&self, s: Shapes, rt: &TokenStream) -> Option<(TokenStream, TokenStream)> {
        let (inputs, outputs) = (lit(s.input.len()), lit(self.out));
        let act = act_tokens(rt, self.act);
        let bias = self.bias;
        Some((
            quote!(#rt::Dense),
            quote!(#rt::Dense { inputs: #inputs, outputs: #outputs, act: #act, bias: #bias }),
        ))
    }

    fn describe(&self, _s: Shapes) -> String {
        let act = match self.act {
            Act::Identity => "",
            Act::Relu => "→ReLU",
            Act::Sigmoid => "→sigmoid",
            Act::Tanh => "→tanh",
        };
        let folded = if self.folded { "+batch-norm" } else { "" };
        format!("dense{folded}{act}")
    }

    fn forward(&self, _s: Shapes, io: Forward<'_>) -> TokenStream {
        let rt = io.rt;
        let Data::Separate { x, y } = io.data else {
            unreachable!("a dense layer writes a new buffer")
        };
        let (desc, params) = (io.desc, params_struct(rt, &io.params));
        let buffers = forward_struct(rt, &x, &y, io.aux);
        quote!(#rt::dense::forward(#desc, #params, #buffers);)
    }

    fn backward(&self, _s: Shapes, io: Backward<'_>) -> TokenStream {
        let rt = io.rt;
        let Grad::Separate { dy, dx } = io.grad else {
            unreachable!("a dense layer reads and writes separate gradients")
        };
        let x = io.x.expect("a dense layer keeps its input");
        let (desc, w) = (io.desc, &io.params[0]);
        let buffers = backward_struct(rt, &x, io.y, io.aux, (&dy, &dx));
        let grads = grads_struct(rt, &io.grads);
        quote!(#rt::dense::backward(#desc, #w, #buffers, #grads);)
    }
}
