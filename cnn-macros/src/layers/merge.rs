//! The merges: `concat(branch, ...)` (GoogLeNet's inception modules) and
//! `add(path, path)` (ResNet's residual connections). Each reads several
//! values, the outputs of branches that all read the same input.
//!
//! `concat` joins its inputs along channels (or along features, for flat
//! values). It has no kernel: the planner places the branches' outputs side
//! by side in the concatenated value, so concatenating costs nothing.
//! `add` sums its inputs element by element.

use std::any::Any;

use proc_macro2::TokenStream;
use quote::quote;

use super::layer::{Backward, Data, Exec, Forward, GradFlow, Layer, Shapes};
use super::tokens::lit;
use crate::shape::Shape;

/// `concat`, with its branches' names for error messages.
#[derive(Clone, Debug)]
pub struct Concat {
    pub branches: Vec<String>,
}

/// `add`, with its paths' names for error messages.
#[derive(Clone, Debug)]
pub struct Add {
    pub branches: Vec<String>,
}

/// `branch `x`` or `branch 2`.
fn label(branches: &[String], i: usize) -> String {
    match branches.get(i) {
        Some(name) if !name.is_empty() => format!("branch `{name}`"),
        _ => format!("branch {}", i + 1),
    }
}

impl Layer for Concat {
    fn keyword(&self) -> &'static str {
        "concat"
    }

    fn type_name(&self) -> &'static str {
        "Concatenate"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, name: &str) -> Result<Shape, String> {
        self.infer_inputs(&[input], name)
    }

    fn infer_inputs(&self, inputs: &[Shape], name: &str) -> Result<Shape, String> {
        let Some(&first) = inputs.first() else {
            return Err(format!("{name}: concat needs at least one branch"));
        };
        match first {
            Shape::Flat(_) => {
                if let Some(i) = inputs.iter().position(|s| matches!(s, Shape::Image { .. })) {
                    return Err(format!(
                        "{name}: concat needs every branch to give an image or every branch a \
                         vector: {} gives {first}, {} gives {}",
                        label(&self.branches, 0),
                        label(&self.branches, i),
                        inputs[i]
                    ));
                }
                Ok(Shape::Flat(inputs.iter().map(Shape::len).sum()))
            }
            Shape::Image { h, w, .. } => {
                let mut c = 0;
                for (i, s) in inputs.iter().enumerate() {
                    match *s {
                        Shape::Image {
                            c: ci,
                            h: hi,
                            w: wi,
                        } if (hi, wi) == (h, w) => c += ci,
                        other => {
                            return Err(format!(
                                "{name}: concat joins branches along channels, so their height \
                                 and width must agree: {} gives {first}, {} gives {other}",
                                label(&self.branches, 0),
                                label(&self.branches, i),
                            ))
                        }
                    }
                }
                Ok(Shape::Image { c, h, w })
            }
        }
    }

    fn exec(&self, _training: bool) -> Exec {
        Exec::Concat
    }

    fn gradient(&self) -> GradFlow {
        GradFlow::Sliced
    }

    fn describe(&self, _s: Shapes) -> String {
        "concat (in place)".into()
    }

    fn forward(&self, _s: Shapes, _io: Forward<'_>) -> TokenStream {
        unreachable!("a concatenation is placed, not computed")
    }

    fn backward(&self, _s: Shapes, _io: Backward<'_>) -> TokenStream {
        unreachable!("a concatenation is placed, not computed")
    }
}

impl Layer for Add {
    fn keyword(&self) -> &'static str {
        "add"
    }

    fn type_name(&self) -> &'static str {
        "Add"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, name: &str) -> Result<Shape, String> {
        self.infer_inputs(&[input], name)
    }

    fn infer_inputs(&self, inputs: &[Shape], name: &str) -> Result<Shape, String> {
        let [a, b] = inputs else {
            return Err(format!(
                "{name}: add sums two paths, found {} branches",
                inputs.len()
            ));
        };
        if a != b {
            // The projection that would make the second path fit the first.
            let hint = match (a, b) {
                (Shape::Image { c, h, .. }, Shape::Image { h: hb, .. }) if hb % h == 0 => {
                    let stride = hb / h;
                    let stride = if stride > 1 {
                        format!(", stride = {stride}")
                    } else {
                        String::new()
                    };
                    format!(
                        "; a shortcut that changes the shape needs a projection, as in \
                         `[conv({c}, kernel = 1{stride})]`"
                    )
                }
                (Shape::Flat(n), Shape::Flat(_)) => {
                    format!("; a shortcut that changes the size needs a projection, as in `[dense({n})]`")
                }
                _ => String::new(),
            };
            return Err(format!(
                "{name}: add sums two paths of the same shape, but {} gives {a} and {} gives {b}{hint}",
                label(&self.branches, 0),
                label(&self.branches, 1),
            ));
        }
        Ok(*a)
    }

    fn exec(&self, _training: bool) -> Exec {
        // The sum may overwrite the first path's value.
        Exec::InPlace
    }

    fn gradient(&self) -> GradFlow {
        GradFlow::Passed
    }

    fn describe(&self, _s: Shapes) -> String {
        "add".into()
    }

    fn forward(&self, s: Shapes, io: Forward<'_>) -> TokenStream {
        let rt = io.rt;
        let len = lit(s.output.len());
        let other = &io.others[0];
        match io.data {
            Data::InPlace(y) => quote!(#rt::merge::add_in_place(#len, #y, #other, n);),
            Data::Separate { x, y } => quote!(#rt::merge::add(#len, #x, #other, #y, n);),
        }
    }

    fn backward(&self, _s: Shapes, _io: Backward<'_>) -> TokenStream {
        unreachable!("the gradient of a sum is placed, not computed")
    }
}
