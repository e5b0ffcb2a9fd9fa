//! `flatten`: any shape → `[N]`. A view: no kernel, no copy.

use std::any::Any;

use proc_macro2::TokenStream;

use super::layer::{Backward, Exec, Forward, Kind, Layer, Shapes};
use crate::args::Schema;
use crate::shape::Shape;

pub const KIND: Kind = Kind {
    keyword: "flatten",
    aliases: &["Flatten"],
    schema: Schema::NONE,
    read: |_| Some(Box::new(Flatten)),
    stand_in: Some(|| Box::new(Flatten)),
};

#[derive(Clone, Debug)]
pub struct Flatten;

impl Layer for Flatten {
    fn keyword(&self) -> &'static str {
        "flatten"
    }

    fn type_name(&self) -> &'static str {
        "Flatten"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, _name: &str) -> Result<Shape, String> {
        Ok(Shape::Flat(input.len()))
    }

    fn exec(&self, _training: bool) -> Exec {
        Exec::View
    }

    fn describe(&self, _s: Shapes) -> String {
        "flatten".into()
    }

    fn forward(&self, _s: Shapes, _io: Forward<'_>) -> TokenStream {
        unreachable!("flatten is a view")
    }

    fn backward(&self, _s: Shapes, _io: Backward<'_>) -> TokenStream {
        unreachable!("flatten is a view")
    }
}
