//! Token helpers the layers' lowering code shares: literals, options,
//! struct fields, and the runtime types' constructors.

use cnn_spec::{Act, PoolGeom};
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

/// An unsuffixed integer literal.
pub fn lit(n: usize) -> proc_macro2::Literal {
    proc_macro2::Literal::usize_unsuffixed(n)
}

/// `Some(t)` or `None`.
pub fn opt(t: Option<TokenStream>) -> TokenStream {
    match t {
        Some(t) => quote!(Some(#t)),
        None => quote!(None),
    }
}

/// `name: value`, or `name` alone when the value is the variable `name`.
pub fn field(name: &str, value: &TokenStream) -> TokenStream {
    let id = proc_macro2::Ident::new(name, proc_macro2::Span::call_site());
    if value.to_string() == name {
        quote!(#id)
    } else {
        quote!(#id: #value)
    }
}

/// `rt::Forward { x, y, aux, n }`.
pub fn forward_struct(
    rt: &TokenStream,
    x: &TokenStream,
    y: &TokenStream,
    aux: Option<TokenStream>,
) -> TokenStream {
    let (x, y, aux) = (field("x", x), field("y", y), field("aux", &opt(aux)));
    quote!(#rt::Forward { #x, #y, #aux, n })
}

/// `rt::Backward { x, y, aux, dy, dx, n }`.
pub fn backward_struct(
    rt: &TokenStream,
    x: &TokenStream,
    y: Option<TokenStream>,
    aux: Option<TokenStream>,
    (dy, dx): (&TokenStream, &TokenStream),
) -> TokenStream {
    let (x, y, aux) = (field("x", x), field("y", &opt(y)), field("aux", &opt(aux)));
    let (dy, dx) = (field("dy", dy), field("dx", dx));
    quote!(#rt::Backward { #x, #y, #aux, #dy, #dx, n })
}

/// `rt::Act::Relu` and the like.
pub fn act_tokens(rt: &TokenStream, act: Act) -> TokenStream {
    let v = Ident::new(
        match act {
            Act::Identity => "Identity",
            Act::Relu => "Relu",
            Act::Sigmoid => "Sigmoid",
            Act::Tanh => "Tanh",
        },
        Span::call_site(),
    );
    quote!(#rt::Act::#v)
}

/// `rt::PoolGeom::new(...)`.
pub fn pool_geom_tokens(rt: &TokenStream, p: &PoolGeom) -> TokenStream {
    let [c, h, w, kh, kw, sh, sw, ph, pw] =
        [p.c, p.h, p.w, p.kh, p.kw, p.sh, p.sw, p.ph, p.pw].map(lit);
    // Ceil mode shows only in the output size: keep it when it differs.
    let floor = PoolGeom::new(p.c, p.h, p.w, (p.kh, p.kw), (p.sh, p.sw), (p.ph, p.pw));
    let new = if (floor.oh, floor.ow) == (p.oh, p.ow) {
        quote!(new)
    } else {
        debug_assert_eq!(
            (p.oh, p.ow),
            {
                let c = PoolGeom::new_ceil(p.c, p.h, p.w, (p.kh, p.kw), (p.sh, p.sw), (p.ph, p.pw));
                (c.oh, c.ow)
            },
            "a pooling geometry is floor or ceil mode"
        );
        quote!(new_ceil)
    };
    quote!(#rt::PoolGeom::#new(#c, #h, #w, (#kh, #kw), (#sh, #sw), (#ph, #pw)))
}

/// `rt::Params { weight, bias }` from a weight and an optional bias slice.
pub fn params_struct(rt: &TokenStream, params: &[TokenStream]) -> TokenStream {
    let weight = &params[0];
    let bias = opt(params.get(1).cloned());
    quote!(#rt::Params { weight: #weight, bias: #bias })
}

/// `rt::Grads { weight, bias }` from the gradient slots of a weight and an
/// optional bias.
pub fn grads_struct(rt: &TokenStream, grads: &[TokenStream]) -> TokenStream {
    let weight = field("weight", &grads[0]);
    let bias = field(
        "bias",
        &grads.get(1).cloned().unwrap_or_else(|| quote!(None)),
    );
    quote!(#rt::Grads { #weight, #bias })
}
