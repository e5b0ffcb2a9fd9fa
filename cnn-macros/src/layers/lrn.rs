//! `lrn(size, alpha = 1e-4, beta = 0.75, k = 1.0)`: local response
//! normalisation across channels, PyTorch's `LocalResponseNorm`:
//! `y_c = x_c / (k + alpha / size * sum of x_c'^2 over the size channels
//! around c)^beta`. Same shape in and out.

use std::any::Any;

use proc_macro2::TokenStream;
use quote::quote;

use super::layer::{Backward, Data, Forward, Grad, Kind, Layer, Saves, Shapes};
use super::tokens::{lit, opt};
use crate::args::{ArgReader, Schema};
use crate::shape::Shape;

pub const KIND: Kind = Kind {
    keyword: "lrn",
    aliases: &["LRN", "local_response_norm", "LocalResponseNorm"],
    schema: Schema {
        args: &["size", "alpha", "beta", "k"],
        positional: 1,
        example: "lrn(5, alpha = 1e-4, beta = 0.75, k = 2.0)",
    },
    read,
    stand_in: None,
};

fn read(args: &mut ArgReader<'_>) -> Option<Box<dyn Layer>> {
    let size = args.uint("size", Some(0), None, 1);
    let alpha = args.float("alpha", None, Some(1e-4), "a finite number", |_| true);
    let beta = args.float("beta", None, Some(0.75), "a finite number", |_| true);
    let k = args.float("k", None, Some(1.0), "a positive number", |k| k > 0.0);
    Some(Box::new(Lrn {
        size: size?,
        alpha: alpha?,
        beta: beta?,
        k: k?,
    }))
}

/// Local response normalisation.
#[derive(Clone, Debug)]
pub struct Lrn {
    size: usize,
    alpha: f32,
    beta: f32,
    k: f32,
}

impl Layer for Lrn {
    fn keyword(&self) -> &'static str {
        "lrn"
    }

    fn type_name(&self) -> &'static str {
        "LocalResponseNorm"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, _name: &str) -> Result<Shape, String> {
        Ok(input)
    }

    fn saves(&self) -> Saves {
        Saves {
            input: true,
            side: true,
            ..Saves::default()
        }
    }

    fn descriptor(&self, s: Shapes, rt: &TokenStream) -> Option<(TokenStream, TokenStream)> {
        let (c, h, w) = match s.input {
            Shape::Image { c, h, w } => (c, h, w),
            Shape::Flat(n) => (n, 1, 1),
        };
        let [c, h, w, size] = [c, h, w, self.size].map(lit);
        let (alpha, beta, k) = (self.alpha, self.beta, self.k);
        Some((
            quote!(#rt::Lrn),
            quote!(#rt::Lrn { c: #c, h: #h, w: #w, size: #size, alpha: #alpha, beta: #beta, k: #k }),
        ))
    }

    fn describe(&self, _s: Shapes) -> String {
        "LRN".into()
    }

    fn forward(&self, _s: Shapes, io: Forward<'_>) -> TokenStream {
        let (rt, desc) = (io.rt, io.desc);
        let Data::Separate { x, y } = io.data else {
            unreachable!("lrn writes a new buffer")
        };
        let scale = opt(io.side);
        quote!(#rt::lrn::forward(#desc, #x, #y, #scale, n);)
    }

    fn backward(&self, _s: Shapes, io: Backward<'_>) -> TokenStream {
        let (rt, desc) = (io.rt, io.desc);
        let x = io.x.expect("lrn keeps its input");
        let scale = io.side.expect("lrn keeps its scale");
        let Grad::Separate { dy, dx } = io.grad else {
            unreachable!("lrn writes a new gradient buffer")
        };
        quote!(#rt::lrn::backward(#desc, #x, #scale, #dy, #dx, n);)
    }
}
