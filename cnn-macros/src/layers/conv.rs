//! `conv(channels, kernel, stride = 1, pad = 0, bias = true, groups = 1)`:
//! 2-D convolution, `[C, H, W]` → `[K, OH, OW]`, weights `[K, C / groups,
//! kh, kw]` as PyTorch stores them. A following `relu`, then `max_pool`,
//! fuse into its kernel; the algorithm and kernel come from `cnn_spec`.

use std::any::Any;

use cnn_spec::{choose_algo, scratch, Act, ConvAlgo, ConvGeom, ConvKernel};
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::activation::Activation;
use super::batch_norm::BatchNorm;
use super::layer::{
    Backward, Data, Dtype, Forward, Fuse, Grad, InnerForward, Kind, Layer, ParamSpec, Role, Saves,
    Shapes, TapInner,
};
use super::pool::{MaxPool, Window};
use super::tokens::{
    act_tokens, backward_struct, forward_struct, grads_struct, lit, opt, params_struct,
    pool_geom_tokens,
};
use crate::args::{ArgReader, Schema};
use crate::graph::{MAX_LAYER_LEN, MAX_LAYER_MACS};
use crate::shape::Shape;

pub const KIND: Kind = Kind {
    keyword: "conv",
    aliases: &["conv2d", "Conv2d", "Conv2D", "convolution", "Convolution"],
    schema: Schema {
        args: &["channels", "kernel", "stride", "pad", "bias", "groups"],
        positional: 2,
        example: "conv(16, kernel = 3)",
    },
    read,
    stand_in: None,
};

/// A convolution, with the activation and max-pool fused into it.
#[derive(Clone, Debug)]
pub struct Conv {
    out: usize,
    window: Window,
    bias: bool,
    groups: usize,
    act: Act,
    pool: Option<Window>,
    /// A batch normalisation is folded in (inference): a bias is read.
    folded: bool,
}

fn read(args: &mut ArgReader<'_>) -> Option<Box<dyn Layer>> {
    let out = args.uint("channels", Some(0), None, 1);
    let kernel = args.pair("kernel", Some(1), None, 1);
    let stride = args.pair("stride", None, Some((1, 1)), 1);
    let pad = args.pair("pad", None, Some((0, 0)), 0);
    let bias = args.bool("bias", true);
    let groups = args.uint("groups", None, Some(1), 1);
    Some(Box::new(Conv {
        out: out?,
        window: Window::new(kernel?, stride?, pad?),
        bias: bias?,
        groups: groups?,
        act: Act::Identity,
        pool: None,
        folded: false,
    }))
}

impl Conv {
    /// Output channels, window, bias and groups, as declared (an int8
    /// network lowers the unfused layer itself).
    pub fn declared(&self) -> (usize, Window, bool, usize) {
        (self.out, self.window, self.bias, self.groups)
    }

    /// One group's geometry on `input` (checked by `infer`).
    fn geom(&self, input: Shape) -> ConvGeom {
        let Shape::Image { c, h, w } = input else {
            unreachable!("conv reads images (checked by infer)")
        };
        let win = &self.window;
        ConvGeom::new(
            c / self.groups,
            h,
            w,
            self.out / self.groups,
            (win.kh, win.kw),
            (win.sh, win.sw),
            (win.ph, win.pw),
        )
    }

    /// The runtime's descriptor of the layer on `input`.
    fn spec(&self, input: Shape) -> cnn_spec::Conv {
        let geom = self.geom(input);
        cnn_spec::Conv {
            geom,
            algo: choose_algo(&geom),
            act: self.act,
            pool: self.pool.map(|p| p.geom(geom.k, geom.oh, geom.ow)),
            bias: self.bias,
            groups: self.groups,
        }
    }
}

impl Layer for Conv {
    fn keyword(&self) -> &'static str {
        "conv"
    }

    fn type_name(&self) -> &'static str {
        "Conv2D"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn infer(&self, input: Shape, name: &str) -> Result<Shape, String> {
        let (c, h, w) = input.image(name, "conv")?;
        let win = &self.window;
        if !c.is_multiple_of(self.groups) || !self.out.is_multiple_of(self.groups) {
            return Err(format!(
                "{name}: `groups = {}` must divide both the {c} input channels and the {} \
                 output channels",
                self.groups, self.out
            ));
        }
        let (oh, ow) = win.fit(h, w).ok_or_else(|| {
            format!(
                "{name}: kernel {}x{} does not fit its {c}x{h}x{w} input ({})",
                win.kh,
                win.kw,
                win.pad_text()
            )
        })?;
        let fan_in = (c / self.groups)
            .checked_mul(win.kh)
            .and_then(|n| n.checked_mul(win.kw));
        let params = fan_in.and_then(|n| n.checked_mul(self.out));
        let out_len = oh.checked_mul(ow).and_then(|n| n.checked_mul(self.out));
        let macs = out_len.zip(fan_in).and_then(|(n, f)| n.checked_mul(f));
        if params.is_none_or(|p| p > MAX_LAYER_LEN)
            || out_len.is_none_or(|n| n > MAX_LAYER_LEN)
            || macs.is_none_or(|m| m > MAX_LAYER_MACS)
        {
            return Err(format!(
                "{name}: the layer is too large: {} channels of {oh}x{ow} from a {}x{} kernel \
                 over {c} channels",
                self.out, win.kh, win.kw
            ));
        }
        Ok(Shape::Image {
            c: self.out,
            h: oh,
            w: ow,
        })
    }

    fn params(&self, input: Shape) -> Vec<ParamSpec> {
        let g = self.geom(input);
        let taps = g.kh * g.kw;
        let mut params = vec![ParamSpec {
            suffix: "weight",
            shape: vec![self.out, g.c, g.kh, g.kw],
            role: Role::Weight,
            dtype: Dtype::F32,
            fan_in: g.c * taps,
            fan_out: self.out * taps,
        }];
        if self.bias {
            params.push(ParamSpec {
                suffix: "bias",
                shape: vec![self.out],
                role: Role::Bias,
                dtype: Dtype::F32,
                fan_in: g.c * taps,
                fan_out: self.out * taps,
            });
        }
        params
    }

    fn macs(&self, input: Shape, _output: Shape) -> u64 {
        let g = self.geom(input);
        (self.groups as u64)
            .saturating_mul(g.out_len() as u64)
            .saturating_mul(g.patch_len() as u64)
    }

    fn fuse(&self, input: Shape, next: &dyn Layer, fuse: Fuse) -> Option<Box<dyn Layer>> {
        let next = next.as_any();
        if let Some(a) = next.downcast_ref::<Activation>() {
            if self.act == Act::Identity && self.pool.is_none() && a.act() == Act::Relu {
                return Some(Box::new(Conv {
                    act: Act::Relu,
                    ..self.clone()
                }));
            }
        }
        if let Some(p) = next.downcast_ref::<MaxPool>() {
            // The fused kernels take whole windows only.
            let (_, oh, ow) = self
                .infer(input, "")
                .ok()
                .and_then(|s| s.image("", "").ok())?;
            let w = p.window();
            let geom = self.geom(input);
            let chosen =
                fuse.overlapping || cnn_spec::fuses_pool(&geom, (w.kh, w.kw), (w.sh, w.sw));
            if self.act == Act::Relu && self.pool.is_none() && w.whole_windows(oh, ow) && chosen {
                return Some(Box::new(Conv {
                    pool: Some(p.window()),
                    ..self.clone()
                }));
            }
        }
        None
    }

    fn fold(&self, _input: Shape, next: &dyn Layer) -> Option<Box<dyn Layer>> {
        let foldable = self.act == Act::Identity && self.pool.is_none() && !self.folded;
        (foldable && next.as_any().is::<BatchNorm>()).then(|| {
            Box::new(Conv {
                bias: true,
                folded: true,
                ..self.clone()
            }) as Box<dyn Layer>
        })
    }

    fn tap_inner(&self, _s: Shapes, io: TapInner<'_>) -> Option<TokenStream> {
        // The conv's (and with a max-pool the ReLU's) output gradient,
        // from the argmax bytes or the ReLU mask.
        let (rt, desc, layers, dy) = (io.rt, io.desc, io.layers, io.dy);
        let aux = io.aux?;
        Some(quote!(#rt::tap_conv(ctx, #desc, &[#(#layers),*], #dy, #aux);))
    }

    fn inner_forward(&self, _s: Shapes, io: InnerForward<'_>) -> Option<TokenStream> {
        // The conv's output (own parameters), the folded batch norm's
        // (the step's parameters) or, before a pool, the activation's.
        let (rt, desc, x, y) = (io.rt, &io.desc, &io.x, &io.y);
        let (act, params) = match (io.at, io.folded) {
            (0, _) => (false, params_struct(rt, &io.own)),
            (_, true) => (false, params_struct(rt, &io.params)),
            _ => (true, params_struct(rt, &io.params)),
        };
        Some(quote!(#rt::inner_conv(#desc, #act, #params, #x, #y, n);))
    }

    fn saves(&self) -> Saves {
        Saves {
            input: true,
            output: self.act.needs_output() && self.pool.is_none(),
            aux: self.act.needs_mask() || self.pool.is_some(),
            side: false,
        }
    }

    fn descriptor(&self, s: Shapes, rt: &TokenStream) -> Option<(TokenStream, TokenStream)> {
        let spec = self.spec(s.input);
        let g = spec.geom;
        let [c, h, w, k, kh, kw, sh, sw, ph, pw, groups] = [
            g.c,
            g.h,
            g.w,
            g.k,
            g.kh,
            g.kw,
            g.sh,
            g.sw,
            g.ph,
            g.pw,
            spec.groups,
        ]
        .map(lit);
        let algo = Ident::new(
            match spec.algo {
                ConvAlgo::Direct => "Direct",
                ConvAlgo::Im2col => "Im2col",
                ConvAlgo::Pointwise => "Pointwise",
                ConvAlgo::Winograd => "Winograd",
            },
            Span::call_site(),
        );
        let act = act_tokens(rt, spec.act);
        let pool = opt(spec.pool.map(|p| pool_geom_tokens(rt, &p)));
        let bias = spec.bias;
        Some((
            quote!(#rt::Conv),
            quote!(#rt::Conv {
                geom: #rt::ConvGeom::new(#c, #h, #w, #k, (#kh, #kw), (#sh, #sw), (#ph, #pw)),
                algo: #rt::ConvAlgo::#algo,
                act: #act,
                pool: #pool,
                bias: #bias,
                groups: #groups,
            }),
        ))
    }

    fn scratch(&self, s: Shapes) -> (usize, usize) {
        let spec = self.spec(s.input);
        (
            scratch::forward_scratch(&spec),
            scratch::backward_scratch(&spec),
        )
    }

    fn describe(&self, s: Shapes) -> String {
        let spec = self.spec(s.input);
        let algo = match spec.algo {
            ConvAlgo::Direct => "direct",
            ConvAlgo::Im2col => "im2col+GEMM",
            ConvAlgo::Pointwise => "1x1 GEMM",
            ConvAlgo::Winograd if spec.pool.is_some() => "im2col+GEMM",
            ConvAlgo::Winograd => "Winograd F(4x4,3x3)",
        };
        let groups = if spec.groups > 1 {
            format!(", {} groups", spec.groups)
        } else {
            String::new()
        };
        format!(
            "conv{}{}{} ({algo}{groups})",
            if self.folded { "+batch-norm" } else { "" },
            if spec.act == Act::Relu { "→ReLU" } else { "" },
            if spec.pool.is_some() {
                "→max-pool"
            } else {
                ""
            },
        )
    }

    fn prepared_len(&self, s: Shapes) -> Option<usize> {
        let spec = self.spec(s.input);
        (spec.kernel() == ConvKernel::Winograd && spec.groups == 1)
            .then(|| cnn_spec::winograd::weights_len(&spec.geom))
    }

    fn forward(&self, s: Shapes, io: Forward<'_>) -> TokenStream {
        let rt = io.rt;
        // The kernel's own entry point, so a binary links only the kernels
        // its network uses.
        let entry = match self.spec(s.input).kernel() {
            ConvKernel::Direct => quote!(conv::forward_direct),
            ConvKernel::Im2col => quote!(conv::forward_im2col),
            ConvKernel::Pointwise => quote!(conv::forward_pointwise),
            ConvKernel::Winograd => quote!(conv::forward_winograd),
            ConvKernel::FusedDirectDisjoint => quote!(fused::forward_direct_disjoint),
            ConvKernel::FusedDirectPlane => quote!(fused::forward_direct_plane),
            ConvKernel::FusedBand => quote!(fused::forward_band),
        };
        let Data::Separate { x, y } = io.data else {
            unreachable!("a convolution writes a new buffer")
        };
        let params = params_struct(rt, &io.params);
        let desc = io.desc;
        let buffers = forward_struct(rt, &x, &y, io.aux);
        if let Some(u) = io.prepared {
            return quote!(#rt::conv::forward_winograd_prepared(#desc, #params, #u, #buffers, scratch););
        }
        quote!(#rt::#entry(#desc, #params, #buffers, scratch);)
    }

    fn backward(&self, _s: Shapes, io: Backward<'_>) -> TokenStream {
        let rt = io.rt;
        let Grad::Separate { dy, dx } = io.grad else {
            unreachable!("a convolution reads and writes separate gradients")
        };
        let x = io.x.expect("a convolution keeps its input");
        let (desc, w) = (io.desc, &io.params[0]);
        let buffers = backward_struct(rt, &x, io.y, io.aux, (&dy, &dx));
        let grads = grads_struct(rt, &io.grads);
        quote!(#rt::conv::backward(#desc, #w, #buffers, #grads, scratch);)
    }
}
