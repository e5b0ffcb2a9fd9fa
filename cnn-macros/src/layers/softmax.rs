//! `softmax`: over the features of each sample, `[N]` → `[N]`. At the end
//! of a network it is the loss head: training folds it into cross-entropy.

use std::any::Any;

use proc_macro2::TokenStream;
use quote::quote;

use super::layer::{Backward, Data, Forward, Grad, Head, Kind, Layer, Saves, Shapes};
use super::tokens::lit;
use crate::args::Schema;
use crate::shape::Shape;

pub const KIND: Kind = Kind {
    keyword: "softmax",
    aliases: &["Softmax"],
    schema: Schema::NONE,
    read: |_| Some(Box::new(Softmax)),
    stand_in: Some(|| Box::new(Softmax)),
};

#[derive(Clone, Debug)]
pub struct Softmax;

impl Layer for Softmax {
    fn keyword(&self) -> &'static str {
        "softmax"
    }

    fn type_name(&self) -> &'static str {
        "Softmax"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, name: &str) -> Result<Shape, String> {
        input.flat(name, "softmax").map(Shape::Flat)
    }

    fn head(&self) -> Option<Head> {
        Some(Head::Softmax)
    }

    fn saves(&self) -> Saves {
        Saves {
            output: true,
            ..Saves::default()
        }
    }

    fn describe(&self, _s: Shapes) -> String {
        "softmax".into()
    }

    fn forward(&self, s: Shapes, io: Forward<'_>) -> TokenStream {
        let rt = io.rt;
        let len = lit(s.output.len());
        let Data::Separate { x, y } = io.data else {
            unreachable!("softmax writes a new buffer")
        };
        quote!(#rt::softmax::forward(#len, #x, #y, n);)
    }

    fn backward(&self, s: Shapes, io: Backward<'_>) -> TokenStream {
        let rt = io.rt;
        let len = lit(s.output.len());
        let y = io.y.expect("softmax keeps its output");
        let Grad::Separate { dy, dx } = io.grad else {
            unreachable!("softmax writes a new gradient buffer")
        };
        quote!(#rt::softmax::backward(#len, #y, #dy, #dx, n);)
    }
}
