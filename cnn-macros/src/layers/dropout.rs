//! `dropout(p)`: inverted dropout in training (each value kept with
//! probability `1 - p` and scaled by `1 / (1 - p)`), the identity at
//! inference.

use std::any::Any;

use proc_macro2::TokenStream;
use quote::quote;

use super::layer::{Backward, Data, Exec, Forward, Grad, Kind, Layer, Saves, Shapes};
use super::tokens::lit;
use crate::args::Schema;
use crate::shape::Shape;

pub const KIND: Kind = Kind {
    keyword: "dropout",
    aliases: &["Dropout"],
    schema: Schema {
        args: &["p"],
        positional: 1,
        example: "dropout(0.5)",
    },
    read: |args| Some(Box::new(Dropout(args.probability("p", Some(0))?))),
    stand_in: Some(|| Box::new(Dropout(0.0))),
};

#[derive(Clone, Debug)]
pub struct Dropout(f32);

impl Layer for Dropout {
    fn keyword(&self) -> &'static str {
        "dropout"
    }

    fn type_name(&self) -> &'static str {
        "Dropout"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, _name: &str) -> Result<Shape, String> {
        Ok(input)
    }

    fn exec(&self, training: bool) -> Exec {
        if training {
            Exec::InPlace
        } else {
            Exec::View
        }
    }

    fn saves(&self) -> Saves {
        Saves {
            aux: true,
            ..Saves::default()
        }
    }

    fn describe(&self, _s: Shapes) -> String {
        "dropout".into()
    }

    fn forward(&self, s: Shapes, io: Forward<'_>) -> TokenStream {
        let rt = io.rt;
        let p = self.0;
        let len = lit(s.output.len());
        let seed = io.seed.expect("dropout runs in training only");
        let mask = io.aux.expect("dropout keeps its mask");
        // The identity in inference mode (`dropout_rate` is then 0).
        let apply = |y: &TokenStream| quote!(#rt::dropout::forward_in_place(ctx.dropout_rate(#p), #seed, ctx.first_sample, #len, #y, #mask, n););
        match io.data {
            Data::InPlace(y) => apply(&y),
            Data::Separate { x, y } => {
                let call = apply(&y);
                quote! {
                    #y.copy_from_slice(&#x[..n * #len]);
                    #call
                }
            }
        }
    }

    fn backward(&self, _s: Shapes, io: Backward<'_>) -> TokenStream {
        let rt = io.rt;
        let p = self.0;
        let mask = io.aux.expect("dropout keeps its mask");
        match io.grad {
            Grad::InPlace(d) => {
                quote!(#rt::dropout::backward_in_place(ctx.dropout_rate(#p), #mask, #d);)
            }
            Grad::Separate { dy, dx } => quote! {
                #dx.copy_from_slice(#dy);
                #rt::dropout::backward_in_place(ctx.dropout_rate(#p), #mask, #dx);
            },
        }
    }
}
