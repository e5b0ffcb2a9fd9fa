//! `relu`, `sigmoid`, `tanh`: element-wise, same shape in and out, run in
//! place where the plan allows. ReLU keeps NaN.

use std::any::Any;

use cnn_spec::Act;
use proc_macro2::TokenStream;
use quote::quote;

use super::layer::{Backward, Data, Exec, Forward, Grad, Head, Kind, Layer, Saves, Shapes};
use super::tokens::{act_tokens, opt};
use crate::args::Schema;
use crate::shape::Shape;

pub const RELU: Kind = Kind {
    keyword: "relu",
    aliases: &["ReLU"],
    schema: Schema::NONE,
    read: |_| Some(relu()),
    stand_in: Some(relu),
};

pub const SIGMOID: Kind = Kind {
    keyword: "sigmoid",
    aliases: &["Sigmoid"],
    schema: Schema::NONE,
    read: |_| Some(sigmoid()),
    stand_in: Some(sigmoid),
};

pub const TANH: Kind = Kind {
    keyword: "tanh",
    aliases: &["Tanh", "TanH"],
    schema: Schema::NONE,
    read: |_| Some(tanh()),
    stand_in: Some(tanh),
};

fn relu() -> Box<dyn Layer> {
    Box::new(Activation(Act::Relu))
}

fn sigmoid() -> Box<dyn Layer> {
    Box::new(Activation(Act::Sigmoid))
}

fn tanh() -> Box<dyn Layer> {
    Box::new(Activation(Act::Tanh))
}

/// An element-wise activation.
#[derive(Clone, Debug)]
pub struct Activation(Act);

impl Activation {
    /// Which activation, for layers that fuse it.
    pub fn act(&self) -> Act {
        self.0
    }
}

impl Layer for Activation {
    fn keyword(&self) -> &'static str {
        match self.0 {
            Act::Relu => "relu",
            Act::Sigmoid => "sigmoid",
            Act::Tanh | Act::Identity => "tanh",
        }
    }

    fn type_name(&self) -> &'static str {
        match self.0 {
            Act::Relu => "ReLU",
            Act::Sigmoid => "Sigmoid",
            Act::Tanh | Act::Identity => "Tanh",
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, _name: &str) -> Result<Shape, String> {
        Ok(input)
    }

    fn head(&self) -> Option<Head> {
        (self.0 == Act::Sigmoid).then_some(Head::Sigmoid)
    }

    fn exec(&self, _training: bool) -> Exec {
        Exec::InPlace
    }

    fn saves(&self) -> Saves {
        Saves {
            output: self.0.needs_output(),
            aux: self.0.needs_mask(),
            ..Saves::default()
        }
    }

    fn describe(&self, _s: Shapes) -> String {
        match self.0 {
            Act::Relu => "ReLU",
            Act::Sigmoid => "sigmoid",
            Act::Tanh | Act::Identity => "tanh",
        }
        .into()
    }

    fn forward(&self, _s: Shapes, io: Forward<'_>) -> TokenStream {
        let rt = io.rt;
        let act = act_tokens(rt, self.0);
        let mask = opt(io.aux);
        match io.data {
            Data::InPlace(y) => quote!(#rt::activation::forward_in_place(#act, #y, #mask);),
            Data::Separate { x, y } => quote!(#rt::activation::forward(#act, #x, #y, #mask);),
        }
    }

    fn backward(&self, _s: Shapes, io: Backward<'_>) -> TokenStream {
        let rt = io.rt;
        let act = act_tokens(rt, self.0);
        let (y, mask) = (opt(io.y), opt(io.aux));
        match io.grad {
            Grad::InPlace(d) => quote!(#rt::activation::backward_in_place(#act, #y, #mask, #d);),
            Grad::Separate { dy, dx } => {
                quote!(#rt::activation::backward(#act, #y, #mask, #dy, #dx);)
            }
        }
    }
}
