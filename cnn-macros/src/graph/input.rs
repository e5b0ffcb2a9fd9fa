//! The network's input shape.

use crate::ast::{NetworkDecl, Value};
use crate::diag::Diagnostics;
use crate::shape::Shape;

/// The declared input shape, or `None` after recording why not.
pub fn check_input(decl: &NetworkDecl, diag: &mut Diagnostics) -> Option<Shape> {
    let Some(input) = &decl.input else {
        diag.error(
            &decl.name,
            format!(
                "network `{}` has no input shape: declare `input: [C, H, W]` (an image) \
                 or `input: [N]` (a vector) before its layers",
                decl.name
            ),
        );
        return None;
    };
    let mut dims = Vec::new();
    for d in &input.dims {
        match d {
            Value::Int(i) if !i.suffix().is_empty() => {
                diag.error(
                    i,
                    format!("input dimensions are plain integers, found `{}`", d.text()),
                );
                return None;
            }
            Value::Int(i) => match i.base10_parse::<usize>() {
                Ok(0) => {
                    diag.error(i, "input dimensions must be at least 1, found 0");
                    return None;
                }
                Ok(v) => dims.push(v),
                Err(e) => {
                    diag.push(e);
                    return None;
                }
            },
            other => {
                diag.error(
                    &other.tokens(),
                    format!("input dimensions are integers, found `{}`", other.text()),
                );
                return None;
            }
        }
    }
    let too_big = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .is_none_or(|n| n > 1 << 40);
    if too_big {
        diag.error(&input.tokens, "the input shape is too large");
        return None;
    }
    match *dims.as_slice() {
        [c, h, w] => Some(Shape::Image { c, h, w }),
        [n] => Some(Shape::Flat(n)),
        _ => {
            diag.error(
                &input.tokens,
                format!(
                    "the input shape has {} dimensions; expected [C, H, W] (an image) or [N] (a vector)",
                    dims.len()
                ),
            );
            None
        }
    }
}
