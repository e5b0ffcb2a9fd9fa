//! Token helpers the code generator's modules share.

use proc_macro2::{Ident, Literal, TokenStream, TokenTree};
use quote::{format_ident, quote};

use crate::graph::Network;
use crate::plan::Region;

pub fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// The runtime's versioned path: `<crate>::__private::v1`.
pub fn runtime(krate: &TokenStream) -> TokenStream {
    quote!(#krate::__private::v1)
}

/// The runtime's versioned path as seen from inside the hidden module: a
/// crate path relative to the network's scope is one level up there.
pub fn runtime_in_module(krate: &TokenStream) -> TokenStream {
    let text = krate.to_string();
    if text.starts_with("::") || text.starts_with("crate") {
        runtime(krate)
    } else {
        runtime(&quote!(super::#krate))
    }
}

/// The hidden module holding a network's named constants.
pub fn module_name(net: &Network) -> Ident {
    format_ident!("__{}", net.name)
}

/// The arena regions a kernel call borrows, split with the runtime's
/// `carve` into read-only and mutable views.
pub struct Borrows {
    reads: Vec<(Ident, TokenStream)>,
    writes: Vec<(Ident, TokenStream)>,
}

impl Borrows {
    pub fn new() -> Self {
        Borrows {
            reads: Vec::new(),
            writes: Vec::new(),
        }
    }

    /// A view of `region` (a path to a `Region` constant) named `name`.
    pub fn read(&mut self, name: &str, region: TokenStream) -> TokenStream {
        let id = format_ident!("{}", name);
        self.reads.push((id.clone(), region));
        quote!(#id)
    }

    /// A mutable view of `region` named `name`.
    pub fn write(&mut self, name: &str, region: TokenStream) -> TokenStream {
        let id = format_ident!("{}", name);
        self.writes.push((id.clone(), region));
        quote!(#id)
    }

    /// `let ([x], [y]) = v1::carve(buf, n, [..], [..]);`, a single
    /// `region`/`region_mut`, or nothing.
    pub fn bind(&self, rt: &TokenStream, buf: &Ident) -> TokenStream {
        match (&self.reads[..], &self.writes[..]) {
            ([], []) => return quote!(),
            ([(name, r)], []) => return quote!(let #name = #rt::region(#buf, n, #r);),
            ([], [(name, r)]) => return quote!(let #name = #rt::region_mut(#buf, n, #r);),
            _ => {}
        }
        let rn = self.reads.iter().map(|(i, _)| i);
        let rr = self.reads.iter().map(|(_, r)| r);
        let wn = self.writes.iter().map(|(i, _)| i);
        let wr = self.writes.iter().map(|(_, r)| r);
        quote!(let ([#(#rn),*], [#(#wn),*]) = #rt::carve(#buf, n, [#(#rr),*], [#(#wr),*]);)
    }
}

/// A region literal `v1::Region::new(a, b)`.
pub fn region_tokens(rt: &TokenStream, (a, b): Region) -> TokenStream {
    let (a, b) = (lit(a), lit(b));
    quote!(#rt::Region::new(#a, #b))
}

/// Whether `tokens` mention the identifier `name`.
pub fn mentions(tokens: &TokenStream, name: &str) -> bool {
    tokens.clone().into_iter().any(|t| match t {
        TokenTree::Ident(i) => i == name,
        TokenTree::Group(g) => mentions(&g.stream(), name),
        _ => false,
    })
}
