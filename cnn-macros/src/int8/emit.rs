//! The generated int8 network: the struct, its arena type, the step table
//! and the blob as one aligned byte string, and the inference methods.

use cnn_spec::quant::QParams;
use cnn_spec::{ConvGeom, PoolGeom};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::{QStep, Quantized};
use crate::emit::runtime;
use crate::graph::Network;

fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

fn qparams(rt: &TokenStream, q: QParams) -> TokenStream {
    let bits = Literal::u32_suffixed(q.scale.to_bits());
    let zp = Literal::i8_suffixed(q.zero_point);
    quote!(#rt::int8::QParams::new(f32::from_bits(#bits), #zp))
}

fn conv_geom(rt: &TokenStream, g: &ConvGeom) -> TokenStream {
    let [c, h, w, k, kh, kw, sh, sw, ph, pw] =
        [g.c, g.h, g.w, g.k, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw].map(lit);
    quote!(#rt::int8::ConvGeom::new(#c, #h, #w, #k, (#kh, #kw), (#sh, #sw), (#ph, #pw)))
}

fn pool_geom(rt: &TokenStream, g: &PoolGeom) -> TokenStream {
    let [c, h, w, kh, kw, sh, sw, ph, pw, oh, ow] = [
        g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.oh, g.ow,
    ]
    .map(lit);
    quote!(#rt::int8::PoolGeom {
        c: #c, h: #h, w: #w, kh: #kh, kw: #kw, sh: #sh, sw: #sw, ph: #ph, pw: #pw, oh: #oh, ow: #ow
    })
}

fn step(rt: &TokenStream, s: &QStep) -> TokenStream {
    match s {
        QStep::Conv(l, at) => {
            let geom = conv_geom(rt, &l.geom);
            let pool = match &l.pool {
                Some(p) => {
                    let p = pool_geom(rt, p);
                    quote!(Some(#p))
                }
                None => quote!(None),
            };
            let (relu, bias, at) = (l.relu, l.bias, lit(*at));
            let (input, output) = (qparams(rt, l.input), qparams(rt, l.output));
            quote!(#rt::int8::QStep::Conv(
                #rt::int8::QConv {
                    geom: #geom,
                    pool: #pool,
                    relu: #relu,
                    bias: #bias,
                    input: #input,
                    output: #output,
                },
                #at,
            ))
        }
        QStep::Dense(l, at) => {
            let (inputs, outputs, relu, bias, at) =
                (lit(l.inputs), lit(l.outputs), l.relu, l.bias, lit(*at));
            let (input, output) = (qparams(rt, l.input), qparams(rt, l.output));
            quote!(#rt::int8::QStep::Dense(
                #rt::int8::QDense {
                    inputs: #inputs,
                    outputs: #outputs,
                    relu: #relu,
                    bias: #bias,
                    input: #input,
                    output: #output,
                },
                #at,
            ))
        }
        QStep::MaxPool(g) => {
            let g = pool_geom(rt, g);
            quote!(#rt::int8::QStep::MaxPool(#g))
        }
        QStep::AvgPool(g, zp) => {
            let g = pool_geom(rt, g);
            let zp = Literal::i8_suffixed(*zp);
            quote!(#rt::int8::QStep::AvgPool(#g, #zp))
        }
    }
}

/// What the generated items say about the network besides its steps.
pub struct Header<'a> {
    pub attrs: &'a [syn::Attribute],
    pub vis: &'a syn::Visibility,
    pub name: &'a syn::Ident,
    pub krate: TokenStream,
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub param_count: usize,
    pub macs: u64,
}

impl<'a> Header<'a> {
    /// The header of a checked network.
    pub fn of(net: &'a Network) -> Self {
        Header {
            attrs: &net.attrs,
            vis: &net.vis,
            name: &net.name,
            krate: net.krate.clone(),
            input: net.input().dims(),
            output: net.output().dims(),
            param_count: (0..net.nodes.len()).map(|i| net.param_count(i)).sum(),
            macs: (0..net.nodes.len()).map(|i| net.macs(i)).sum(),
        }
    }
}

/// The items of the int8 network `h`.
pub fn emit(h: &Header, q: &Quantized) -> TokenStream {
    let rt = runtime(&h.krate);
    let (name, vis, attrs) = (h.name, h.vis, h.attrs);
    let arena = format_ident!("{}Arena", name);
    let blob_name = format_ident!("__CNN_INT8_BLOB_{}", name.to_string().to_uppercase());
    let (input, output) = (&h.input, &h.output);
    let (in_len, out_len) = (lit(input.iter().product()), lit(output.iter().product()));
    let in_dims: Vec<Literal> = input.iter().copied().map(lit).collect();
    let out_dims: Vec<Literal> = output.iter().copied().map(lit).collect();
    let (in_rank, out_rank) = (lit(in_dims.len()), lit(out_dims.len()));
    let steps: Vec<TokenStream> = q.steps.iter().map(|s| step(&rt, s)).collect();
    let blob_len = lit(q.blob.len());
    let blob = Literal::byte_string(&q.blob);
    let (in_q, out_q) = (qparams(&rt, q.input), qparams(&rt, q.output));
    let softmax = q.softmax;
    // A stub (no file) includes nothing.
    let include = (!q.path.as_os_str().is_empty()).then(|| {
        let abs = q.path.to_string_lossy().to_string();
        quote! {
            // The file is included (and never used) so cargo rebuilds when it changes.
            const _: &[u8] = include_bytes!(#abs);
        }
    });
    let (param_count, macs) = (lit(h.param_count), Literal::u64_unsuffixed(h.macs));
    let doc = format!(
        " Int8 inference (TensorFlow Lite's int8 scheme) with the quantized weights of \
         `{}` compiled in: input `{:?}`, output `{:?}`; {} parameter bytes.",
        q.relative,
        input,
        output,
        q.blob.len()
    );
    let arena_doc = format!(
        " Memory for one [`{name}::infer`] call: [`{name}::ARENA_BYTES`] bytes holding the \
         int8 input, every activation and the kernels' scratch."
    );
    let out_doc = if softmax {
        "the softmax of the dequantized logits"
    } else {
        "the dequantized output"
    };
    let infer_doc = format!(
        " Quantizes `x` into `arena`, runs the int8 layers and returns {out_doc}; no heap."
    );
    let preprocess = q.preprocess.as_ref().map(|constants| {
        let infer_raw_doc = format!(
            " Runs one raw sample: [`Self::quantize_raw`], then the int8 layers as \
             [`Self::infer`] does; returns {out_doc}. No heap, no panics."
        );
        quote! {
            #constants

            /// Preprocesses one raw sample, given value by value (`raw(i)`
            /// for `i < RAW_LEN`, which may be called more than once for
            /// the same `i`), with [`Self::PREPROCESSING`] and quantizes it
            /// with [`Self::INPUT_QUANT`] into the arena's input, for
            /// [`Self::infer_int8`]: no f32 buffer, no heap. The values are
            /// those `PREPROCESSING` gives an f32 sample, bit for bit.
            pub fn quantize_raw(arena: &mut #arena, raw: impl Fn(usize) -> f32) {
                let q = Self::INPUT_QUANT;
                let input = Self::input_mut(arena);
                Self::PREPROCESSING.map(Self::RAW_LEN, raw, |i, v| {
                    if let Some(x) = input.get_mut(i) {
                        *x = q.quantize(v);
                    }
                });
            }

            #[doc = #infer_raw_doc]
            pub fn infer_raw(&self, raw: &[f32; Self::RAW_LEN], arena: &mut #arena) -> [f32; #out_len] {
                Self::quantize_raw(arena, |i| raw.get(i).copied().unwrap_or(f32::NAN));
                let mut y = [0.0f32; #out_len];
                self.chain.infer_quantized(arena.as_mut_slice(), &mut y, #softmax);
                y
            }
        }
    });
    quote! {
        #(#attrs)*
        #[doc = ""]
        #[doc = #doc]
        #[derive(Clone, Copy, Debug)]
        #vis struct #name {
            chain: #rt::int8::QChain<'static>,
        }

        #[doc = #arena_doc]
        #vis type #arena = #rt::int8::Int8Arena<{ #name::ARENA_BYTES }>;

        impl #name {
            /// Shape of one input sample.
            pub const INPUT_SHAPE: [usize; #in_rank] = [#(#in_dims),*];
            /// Shape of one output sample.
            pub const OUTPUT_SHAPE: [usize; #out_rank] = [#(#out_dims),*];
            /// Values in one input sample.
            pub const INPUT_LEN: usize = #in_len;
            /// Values in one output sample.
            pub const OUTPUT_LEN: usize = #out_len;
            /// Parameters of the network (as f32 it would have as many).
            pub const PARAM_COUNT: usize = #param_count;
            /// Multiply-accumulates per sample.
            pub const MACS: u64 = #macs;
            /// Bytes of the parameter blob (int8 weights, int32 tables).
            pub const PARAM_BYTES: usize = #blob_len;
            /// The int8 steps.
            const STEPS: &'static [#rt::int8::QStep] = &[#(#steps),*];
            /// The quantization of the input.
            pub const INPUT_QUANT: #rt::int8::QParams = #in_q;
            /// The quantization of the output (the last layer's).
            pub const OUTPUT_QUANT: #rt::int8::QParams = #out_q;
            const PING: usize = #rt::int8::region_len(Self::STEPS, #in_len, false);
            const PONG: usize = #rt::int8::region_len(Self::STEPS, #in_len, true);
            /// Bytes of the arena that are the convolutions' scratch (0 on
            /// targets without an int8 SIMD level).
            pub const SCRATCH_BYTES: usize = #rt::int8::max_scratch(Self::STEPS);
            /// Bytes of the inference arena, input included.
            pub const ARENA_BYTES: usize = Self::PING + Self::PONG + Self::SCRATCH_BYTES;
            const _CHECKED: () = {
                let mut i = 0;
                while i < Self::STEPS.len() {
                    if let Err(why) = Self::STEPS[i].check() {
                        panic!("{}", why);
                    }
                    i += 1;
                }
            };

            /// The network with the weights compiled in.
            pub const fn embedded() -> Self {
                #include
                static #blob_name: #rt::Aligned<[u8; #blob_len]> = #rt::Aligned(*#blob);
                let () = Self::_CHECKED;
                #name {
                    chain: #rt::int8::QChain {
                        steps: Self::STEPS,
                        blob: &#blob_name.0,
                        input_len: #in_len,
                        input: Self::INPUT_QUANT,
                        output: Self::OUTPUT_QUANT,
                        ping: Self::PING,
                        pong: Self::PONG,
                        scratch: Self::SCRATCH_BYTES,
                    },
                }
            }

            #[doc = #infer_doc]
            pub fn infer(&self, x: &[f32; #in_len], arena: &mut #arena) -> [f32; #out_len] {
                let mut y = [0.0f32; #out_len];
                self.chain.infer(x, arena.as_mut_slice(), &mut y, #softmax);
                y
            }

            /// [`Self::infer`] with an arena on the stack.
            pub fn predict(&self, x: &[f32; #in_len]) -> [f32; #out_len] {
                self.infer(x, &mut #arena::new())
            }

            /// The arena's int8 input, for [`Self::infer_int8`] (quantized
            /// with [`Self::INPUT_QUANT`]).
            pub fn input_mut(arena: &mut #arena) -> &mut [i8; #in_len] {
                let bytes = &mut arena.as_mut_slice()[..#in_len];
                bytes.try_into().expect("the arena holds the input")
            }

            /// Runs the int8 layers on the input in `arena` (written through
            /// [`Self::input_mut`]) and returns the int8 output, quantized
            /// with [`Self::OUTPUT_QUANT`] (before any softmax); no heap.
            pub fn infer_int8<'a>(&self, arena: &'a mut #arena) -> &'a [i8; #out_len] {
                self.chain
                    .forward(arena.as_mut_slice())
                    .try_into()
                    .expect("the output has the network's length")
            }

            #preprocess
        }
    }
}
