//! `identity`: the input, unchanged; a residual connection's shortcut
//! (`add([...], identity)`), like PyTorch's `nn.Identity`.

use std::any::Any;

use proc_macro2::TokenStream;

use super::layer::{Backward, Exec, Forward, Kind, Layer, Shapes};
use crate::args::Schema;
use crate::shape::Shape;

pub const KIND: Kind = Kind {
    keyword: "identity",
    aliases: &["Identity"],
    schema: Schema::NONE,
    read: |_| Some(Box::new(Identity)),
    stand_in: Some(|| Box::new(Identity)),
};

#[derive(Clone, Debug)]
pub struct Identity;

impl Layer for Identity {
    fn keyword(&self) -> &'static str {
        "identity"
    }

    fn type_name(&self) -> &'static str {
        "Identity"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, _name: &str) -> Result<Shape, String> {
        Ok(input)
    }

    fn exec(&self, _training: bool) -> Exec {
        Exec::View
    }

    fn describe(&self, _s: Shapes) -> String {
        "identity".into()
    }

    fn forward(&self, _s: Shapes, _io: Forward<'_>) -> TokenStream {
        unreachable!("identity is a view")
    }

    fn backward(&self, _s: Shapes, _io: Backward<'_>) -> TokenStream {
        unreachable!("identity is a view")
    }
}
