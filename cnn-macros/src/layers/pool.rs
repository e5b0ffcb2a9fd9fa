//! Pooling: `max_pool(size, stride = size, pad = 0)`, `avg_pool(...)` (the
//! same arguments; padded cells count in the divisor, as in PyTorch) and
//! `global_avg_pool` (one value per channel), `[C, H, W]` → `[C, OH, OW]`.

use std::any::Any;

use cnn_spec::{out_size, out_size_ceil, PoolGeom, MAX_POOL_WINDOW};
use proc_macro2::TokenStream;
use quote::quote;

use super::layer::{Backward, Data, Forward, Grad, Kind, Layer, Saves, Shapes};
use super::tokens::{opt, pool_geom_tokens};
use crate::args::{ArgReader, Schema};
use crate::shape::Shape;

const WINDOW_ARGS: Schema = Schema {
    args: &["size", "stride", "pad", "ceil_mode"],
    positional: 1,
    example: "max_pool(2)",
};

pub const MAX_POOL: Kind = Kind {
    keyword: "max_pool",
    aliases: &[
        "maxpool",
        "max_pool2d",
        "maxpool2d",
        "MaxPool2d",
        "MaxPool2D",
        "MaxPooling2D",
        "max_pooling2d",
    ],
    schema: WINDOW_ARGS,
    read: |args| Some(Box::new(MaxPool(read_window(args)?))),
    stand_in: None,
};

pub const AVG_POOL: Kind = Kind {
    keyword: "avg_pool",
    aliases: &[
        "avgpool",
        "avg_pool2d",
        "avgpool2d",
        "AvgPool2d",
        "AvgPool2D",
        "AveragePooling2D",
        "average_pooling2d",
    ],
    schema: WINDOW_ARGS,
    read: |args| Some(Box::new(AvgPool::Window(read_window(args)?))),
    stand_in: None,
};

pub const GLOBAL_AVG_POOL: Kind = Kind {
    keyword: "global_avg_pool",
    aliases: &[
        "global_average_pooling2d",
        "GlobalAveragePooling2D",
        "GlobalAvgPool2D",
        "global_avg_pool2d",
    ],
    schema: Schema::NONE,
    read: |_| Some(Box::new(AvgPool::Global)),
    stand_in: Some(|| Box::new(AvgPool::Global)),
};

fn read_window(args: &mut ArgReader<'_>) -> Option<Window> {
    let size = args.pair("size", Some(0), None, 1);
    let stride = args.pair("stride", None, size, 1);
    let pad = args.pair("pad", None, Some((0, 0)), 0);
    let ceil = args.bool("ceil_mode", false);
    Some(Window {
        ceil: ceil?,
        ..Window::new(size?, stride?, pad?)
    })
}

/// A sliding window: size, stride and zero padding, each (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    /// PyTorch's `ceil_mode`: keep a last, partial window.
    pub ceil: bool,
}

impl Window {
    pub fn new(
        (kh, kw): (usize, usize),
        (sh, sw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Self {
        Window {
            kh,
            kw,
            sh,
            sw,
            ph,
            pw,
            ceil: false,
        }
    }

    /// The output size on an `h x w` input, or `None` if the window does
    /// not fit the padded input.
    pub fn fit(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let padded = |n: usize, p: usize| n.saturating_add(p.saturating_mul(2));
        if padded(h, self.ph) < self.kh || padded(w, self.pw) < self.kw {
            return None;
        }
        let size = if self.ceil { out_size_ceil } else { out_size };
        Some((
            size(h, self.kh, self.sh, self.ph),
            size(w, self.kw, self.sw, self.pw),
        ))
    }

    /// Whether every window lies inside the padded input (always without
    /// ceil mode; with it, when the sizes come out the same).
    pub fn whole_windows(&self, h: usize, w: usize) -> bool {
        !self.ceil
            || (
                out_size_ceil(h, self.kh, self.sh, self.ph),
                out_size_ceil(w, self.kw, self.sw, self.pw),
            ) == (
                out_size(h, self.kh, self.sh, self.ph),
                out_size(w, self.kw, self.sw, self.pw),
            )
    }

    /// `padding 2` or `padding 1x2`.
    pub fn pad_text(&self) -> String {
        if self.ph == self.pw {
            format!("padding {}", self.ph)
        } else {
            format!("padding {}x{}", self.ph, self.pw)
        }
    }

    /// The runtime's geometry of this window over `c` planes of `h x w`.
    pub fn geom(&self, c: usize, h: usize, w: usize) -> PoolGeom {
        let new = if self.ceil {
            PoolGeom::new_ceil
        } else {
            PoolGeom::new
        };
        new(
            c,
            h,
            w,
            (self.kh, self.kw),
            (self.sh, self.sw),
            (self.ph, self.pw),
        )
    }

    /// Checks a pooling window on its input; `what` is the layer's keyword.
    fn infer(&self, input: Shape, name: &str, what: &str) -> Result<Shape, String> {
        let (c, h, w) = input.image(name, what)?;
        if self.ph.saturating_mul(2) > self.kh || self.pw.saturating_mul(2) > self.kw {
            return Err(format!(
                "{name}: {what} padding {}x{} is more than half its {}x{} window",
                self.ph, self.pw, self.kh, self.kw
            ));
        }
        let (oh, ow) = self.fit(h, w).ok_or_else(|| {
            format!(
                "{name}: {what} window {}x{} does not fit its {c}x{h}x{w} input ({})",
                self.kh,
                self.kw,
                self.pad_text()
            )
        })?;
        Ok(Shape::Image { c, h: oh, w: ow })
    }
}

/// The pooling geometry over `input` (an image, checked by `infer`).
fn geom_on(window: &Window, input: Shape) -> PoolGeom {
    let Shape::Image { c, h, w } = input else {
        unreachable!("pooling reads images (checked by infer)")
    };
    window.geom(c, h, w)
}

/// Max pooling; the argmax of every window is kept for the backward pass.
#[derive(Clone, Debug)]
pub struct MaxPool(Window);

impl MaxPool {
    /// The window, for a convolution that fuses this pool.
    pub fn window(&self) -> Window {
        self.0
    }
}

impl Layer for MaxPool {
    fn keyword(&self) -> &'static str {
        "max_pool"
    }

    fn type_name(&self) -> &'static str {
        "MaxPool2D"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, name: &str) -> Result<Shape, String> {
        let out = self.0.infer(input, name, "max_pool")?;
        let cells = self.0.kh.saturating_mul(self.0.kw);
        if cells > MAX_POOL_WINDOW {
            return Err(format!(
                "{name}: max_pool window {}x{} has {cells} cells; at most {MAX_POOL_WINDOW} are \
                 supported",
                self.0.kh, self.0.kw
            ));
        }
        Ok(out)
    }

    fn saves(&self) -> Saves {
        Saves {
            aux: true,
            ..Saves::default()
        }
    }

    fn descriptor(&self, s: Shapes, rt: &TokenStream) -> Option<(TokenStream, TokenStream)> {
        let g = geom_on(&self.0, s.input);
        Some((quote!(#rt::PoolGeom), pool_geom_tokens(rt, &g)))
    }

    fn describe(&self, _s: Shapes) -> String {
        "max-pool".into()
    }

    fn forward(&self, _s: Shapes, io: Forward<'_>) -> TokenStream {
        let (rt, desc) = (io.rt, io.desc);
        let Data::Separate { x, y } = io.data else {
            unreachable!("pooling writes a new buffer")
        };
        let aux = opt(io.aux);
        quote!(#rt::pool::max_forward(#desc, #x, #y, #aux, n);)
    }

    fn backward(&self, _s: Shapes, io: Backward<'_>) -> TokenStream {
        let (rt, desc) = (io.rt, io.desc);
        let Grad::Separate { dy, dx } = io.grad else {
            unreachable!("pooling writes a new gradient buffer")
        };
        let argmax = io.aux.expect("max-pool keeps its argmax");
        quote!(#rt::pool::max_backward(#desc, #argmax, #dy, #dx, n);)
    }
}

/// Average pooling over a window, or over each whole plane.
#[derive(Clone, Debug)]
pub enum AvgPool {
    Window(Window),
    Global,
}

impl AvgPool {
    /// The window on `input` (the whole image for `global_avg_pool`).
    pub fn window(&self, input: Shape) -> Window {
        match (self, input) {
            (AvgPool::Window(w), _) => *w,
            (AvgPool::Global, Shape::Image { h, w, .. }) => Window::new((h, w), (1, 1), (0, 0)),
            (AvgPool::Global, Shape::Flat(_)) => unreachable!("checked by infer"),
        }
    }
}

impl Layer for AvgPool {
    fn keyword(&self) -> &'static str {
        match self {
            AvgPool::Window(_) => "avg_pool",
            AvgPool::Global => "global_avg_pool",
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            AvgPool::Window(_) => "AvgPool2D",
            AvgPool::Global => "GlobalAvgPool2D",
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, name: &str) -> Result<Shape, String> {
        match self {
            AvgPool::Window(w) => w.infer(input, name, "avg_pool"),
            AvgPool::Global => {
                let (c, _, _) = input.image(name, "global_avg_pool")?;
                Ok(Shape::Image { c, h: 1, w: 1 })
            }
        }
    }

    fn descriptor(&self, s: Shapes, rt: &TokenStream) -> Option<(TokenStream, TokenStream)> {
        let g = geom_on(&self.window(s.input), s.input);
        Some((quote!(#rt::PoolGeom), pool_geom_tokens(rt, &g)))
    }

    fn describe(&self, _s: Shapes) -> String {
        "avg-pool".into()
    }

    fn forward(&self, _s: Shapes, io: Forward<'_>) -> TokenStream {
        let (rt, desc) = (io.rt, io.desc);
        let Data::Separate { x, y } = io.data else {
            unreachable!("pooling writes a new buffer")
        };
        quote!(#rt::pool::avg_forward(#desc, #x, #y, n);)
    }

    fn backward(&self, _s: Shapes, io: Backward<'_>) -> TokenStream {
        let (rt, desc) = (io.rt, io.desc);
        let Grad::Separate { dy, dx } = io.grad else {
            unreachable!("pooling writes a new gradient buffer")
        };
        quote!(#rt::pool::avg_backward(#desc, #dy, #dx, n);)
    }
}
