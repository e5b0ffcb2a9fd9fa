//! The shape of one sample's activations.

use std::fmt;

/// The shape of one sample's activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// An image: channels, height, width.
    Image { c: usize, h: usize, w: usize },
    /// A vector.
    Flat(usize),
}

impl Shape {
    pub fn len(&self) -> usize {
        match *self {
            Shape::Image { c, h, w } => c * h * w,
            Shape::Flat(n) => n,
        }
    }

    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Image { c, h, w } => vec![c, h, w],
            Shape::Flat(n) => vec![n],
        }
    }

    /// The image's `(c, h, w)`, or the error a layer that needs an image
    /// gives for a flat input.
    pub fn image(&self, name: &str, what: &str) -> Result<(usize, usize, usize), String> {
        match *self {
            Shape::Image { c, h, w } => Ok((c, h, w)),
            Shape::Flat(n) => Err(format!(
                "{name}: {what} needs an image input [C, H, W], but its input is the flat \
                 vector [{n}]; image layers cannot follow `flatten`"
            )),
        }
    }

    /// The vector's length, or the error a layer that needs a flat input
    /// gives for an image.
    pub fn flat(&self, name: &str, what: &str) -> Result<usize, String> {
        match *self {
            Shape::Flat(n) => Ok(n),
            Shape::Image { .. } => Err(format!(
                "{name}: {what} needs a flat input, but its input is the image {self}; \
                 add `flatten` before it"
            )),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Image { c, h, w } => write!(f, "{c}x{h}x{w}"),
            Shape::Flat(n) => write!(f, "[{n}]"),
        }
    }
}
