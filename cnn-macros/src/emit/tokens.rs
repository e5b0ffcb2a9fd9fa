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

/// A buffer a kernel call reads or writes, as the generated code reaches it.
pub enum View {
    /// A region of an arena (a path to its `Region` constant): the `n`
    /// samples side by side.
    Region(TokenStream),
    /// A slot of a concatenation: paths to the concatenated value's region
    /// and to the slot's; the samples are `len(concat)` apart.
    Slot {
        concat: TokenStream,
        slot: TokenStream,
    },
    /// A caller's buffer (an expression of slice type), samples side by
    /// side.
    Caller(TokenStream),
}

struct Borrow {
    name: Ident,
    arena: Ident,
    view: View,
    /// Values per sample (for per-sample views).
    len: usize,
    mutable: bool,
}

/// The buffers a kernel call borrows from the arenas, split with the
/// runtime's `carve`. When one of them is a concatenation's slot, whose
/// samples are not side by side, the call runs sample by sample: the
/// buffers are bound whole (`x_all`), then each sample's part is bound
/// under the plain name inside a loop over the samples.
pub struct Borrows {
    entries: Vec<Borrow>,
}

impl Borrows {
    pub fn new() -> Self {
        Borrows {
            entries: Vec::new(),
        }
    }

    fn add(
        &mut self,
        name: &str,
        arena: &str,
        view: View,
        len: usize,
        mutable: bool,
    ) -> TokenStream {
        let id = format_ident!("{}", name);
        self.entries.push(Borrow {
            name: id.clone(),
            arena: format_ident!("{}", arena),
            view,
            len,
            mutable,
        });
        quote!(#id)
    }

    /// A read-only view called `name` of `view` in `arena` (`a`, `f`, `m`).
    pub fn read(&mut self, name: &str, arena: &str, view: View, len: usize) -> TokenStream {
        self.add(name, arena, view, len, false)
    }

    /// A mutable view.
    pub fn write(&mut self, name: &str, arena: &str, view: View, len: usize) -> TokenStream {
        self.add(name, arena, view, len, true)
    }

    /// Whether the call must run sample by sample.
    pub fn per_sample(&self) -> bool {
        self.entries
            .iter()
            .any(|e| matches!(e.view, View::Slot { .. }))
    }

    /// The binding of the name of an entry while whole (`x` or `x_all`).
    fn whole_name(&self, e: &Borrow) -> Ident {
        if self.per_sample() {
            format_ident!("{}_all", e.name)
        } else {
            e.name.clone()
        }
    }

    /// `let ([x], [y]) = v1::carve(f, n, [..], [..]);` for each arena
    /// (`region`/`region_mut` for a single view), the caller's buffers.
    pub fn bind(&self, rt: &TokenStream) -> TokenStream {
        let mut out = Vec::new();
        let mut arenas: Vec<&Ident> = Vec::new();
        for e in &self.entries {
            if !matches!(e.view, View::Caller(_)) && !arenas.contains(&&e.arena) {
                arenas.push(&e.arena);
            }
        }
        for arena in arenas {
            let of = |mutable: bool| {
                self.entries
                    .iter()
                    .filter(move |e| &e.arena == arena && e.mutable == mutable)
                    .filter_map(|e| {
                        let region = match &e.view {
                            View::Region(r) => r,
                            View::Slot { concat, .. } => concat,
                            View::Caller(_) => return None,
                        };
                        Some((self.whole_name(e), region.clone()))
                    })
                    .collect::<Vec<_>>()
            };
            let (reads, writes) = (of(false), of(true));
            out.push(match (&reads[..], &writes[..]) {
                ([(name, r)], []) => quote!(let #name = #rt::region(#arena, n, #r);),
                ([], [(name, r)]) => quote!(let #name = #rt::region_mut(#arena, n, #r);),
                _ => {
                    let rn = reads.iter().map(|(n, _)| n);
                    let rr = reads.iter().map(|(_, r)| r);
                    let wn = writes.iter().map(|(n, _)| n);
                    let wr = writes.iter().map(|(_, r)| r);
                    quote!(let ([#(#rn),*], [#(#wn),*]) = #rt::carve(#arena, n, [#(#rr),*], [#(#wr),*]);)
                }
            });
        }
        for e in &self.entries {
            if let View::Caller(expr) = &e.view {
                let name = self.whole_name(e);
                out.push(quote!(let #name = #expr;));
            }
        }
        quote!(#(#out)*)
    }

    /// Wraps `call` in a loop over the samples when a view is a slot,
    /// binding each sample's part of every buffer and `n = 1`.
    pub fn run(&self, rt: &TokenStream, call: TokenStream) -> TokenStream {
        let bind = self.bind(rt);
        if !self.per_sample() {
            return quote!(#bind #call);
        }
        let parts = self.entries.iter().map(|e| {
            let (name, whole) = (&e.name, self.whole_name(e));
            let len = lit(e.len);
            match (&e.view, e.mutable) {
                (View::Slot { concat, slot }, true) => {
                    quote!(let #name = #rt::slot_mut(#whole, s, #concat, #slot);)
                }
                (View::Slot { concat, slot }, false) => {
                    quote!(let #name = #rt::slot(#whole, s, #concat, #slot);)
                }
                (_, true) => quote!(let #name = #rt::sample_mut(#whole, s, #len);),
                (_, false) => quote!(let #name = #rt::sample(#whole, s, #len);),
            }
        });
        quote! {
            #bind
            for s in 0..n {
                #(#parts)*
                let n = 1;
                #call
            }
        }
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
