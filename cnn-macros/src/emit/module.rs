//! The hidden module of a network's named constants.
//!
//! For `struct LeNet5` the macro writes `mod __LeNet5` with one submodule
//! per kind of constant, named after the layers:
//!
//! ```text
//! kernel::CONV1    the descriptor of the kernel call conv1 starts (literal sizes)
//! param::FC1_BIAS  the range of a tensor in the parameter buffer
//! layer::FC1       a layer's index in LAYERS
//! infer::POOL1     where a value is in the inference arena (floats per sample)
//! train::POOL1     ... in the training arena; grad::POOL1 its gradient there
//! bytes::POOL1     what a step keeps in the byte arena (a mask, an argmax)
//! side::LRN1       what a step keeps in the training arena besides its output
//! ```
//!
//! Only the constants the generated code uses are written.

use std::collections::{BTreeMap, HashMap, HashSet};

use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;

use super::tokens::{lit, mentions, module_name, region_tokens, runtime_in_module};
use crate::graph::{Network, NodeId, ValueId, INPUT};
use crate::plan::{ParamSlot, Plan, Region, Step};

/// Constant names derived from layer names, unique within each submodule.
pub struct Names {
    /// Each node's name as a constant (`conv1` → `CONV1`).
    node: Vec<Ident>,
}

impl Names {
    pub fn new(net: &Network, _plan: &Plan) -> Self {
        let mut taken: HashSet<String> = HashSet::from(["INPUT".to_string()]);
        let node = net
            .nodes
            .iter()
            .map(|n| unique(&mut taken, &upper(&n.name)))
            .collect();
        Names { node }
    }

    /// The constant name of node `i`.
    pub fn node(&self, i: NodeId) -> &Ident {
        &self.node[i]
    }

    /// The name of the slot a concatenation copies value `v` into.
    pub fn slot(&self, net: &Network, v: ValueId) -> Ident {
        Ident::new(&format!("{}_SLOT", self.value(net, v)), Span::call_site())
    }

    /// The constant name of value `v`: `INPUT`, or its producer's.
    pub fn value(&self, net: &Network, v: ValueId) -> Ident {
        match net.values[v].producer {
            Some(p) if v != INPUT => self.node[p].clone(),
            _ => Ident::new("INPUT", Span::call_site()),
        }
    }
}

/// `conv1` → `CONV1`; characters an identifier cannot hold become `_`.
fn upper(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// `base`, or `base_2`, `base_3`, ... if taken.
fn unique(taken: &mut HashSet<String>, base: &str) -> Ident {
    let mut name = base.to_string();
    let mut i = 2;
    while !taken.insert(name.clone()) {
        name = format!("{base}_{i}");
        i += 1;
    }
    Ident::new(&name, Span::call_site())
}

/// The constants the generated code refers to, collected while it is
/// written, then emitted as the hidden module.
pub struct Module {
    /// Constants at the module's top.
    top: Vec<TokenStream>,
    /// Submodule → constants (name, type, value), in first-use order.
    items: BTreeMap<&'static str, Vec<(Ident, TokenStream, TokenStream)>>,
    /// Submodule → value text → name, so equal constants share a name.
    by_value: HashMap<(&'static str, String), Ident>,
    taken: HashMap<&'static str, HashSet<String>>,
    /// The runtime's path from inside the module, imported as `v1`.
    import: TokenStream,
    rt: TokenStream,
    path: Ident,
}

impl Module {
    pub fn new(net: &Network) -> Self {
        Module {
            top: Vec::new(),
            items: BTreeMap::new(),
            by_value: HashMap::new(),
            taken: HashMap::new(),
            import: runtime_in_module(&net.krate),
            rt: quote!(v1),
            path: module_name(net),
        }
    }

    /// A constant `sub::NAME: ty = value` (or the existing one with the
    /// same value), returned as the path `sub::NAME` (generated functions
    /// start with `use __Net::*;`).
    fn constant(
        &mut self,
        sub: &'static str,
        base: &str,
        ty: TokenStream,
        value: TokenStream,
    ) -> TokenStream {
        let key = (sub, value.to_string());
        let name = match self.by_value.get(&key) {
            Some(name) => name.clone(),
            None => {
                let name = unique(self.taken.entry(sub).or_default(), base);
                self.by_value.insert(key, name.clone());
                self.items
                    .entry(sub)
                    .or_default()
                    .push((name.clone(), ty, value));
                name
            }
        };
        let sub = Ident::new(sub, Span::call_site());
        quote!(#sub::#name)
    }

    /// The descriptor of `step`'s kernel, if it has one: `&kernel::CONV1`.
    pub fn kernel(&mut self, names: &Names, step: &Step) -> TokenStream {
        let rt = self.rt.clone();
        match step.layer.descriptor(step.shapes, &rt) {
            Some((ty, value)) => {
                let base = names.node(step.nodes[0]).to_string();
                let path = self.constant("kernel", &base, ty, value);
                quote!(&#path)
            }
            None => quote!(()),
        }
    }

    /// The range of a parameter tensor: `param::CONV1_WEIGHT`.
    pub fn param(&mut self, names: &Names, p: &ParamSlot) -> TokenStream {
        let base = format!("{}_{}", names.node(p.node), upper(p.spec.suffix));
        let (a, b) = (lit(p.offset), lit(p.offset + p.len));
        self.constant(
            "param",
            &base,
            quote!(::core::ops::Range<usize>),
            quote!(#a..#b),
        )
    }

    /// The range of a step's statistics in the step's `f64` statistics:
    /// `stats::BN1`.
    pub fn stats(&mut self, names: &Names, step: &Step, (at, len): (usize, usize)) -> TokenStream {
        let base = names.node(step.nodes[0]).to_string();
        let (a, b) = (lit(at), lit(at + len));
        self.constant(
            "stats",
            &base,
            quote!(::core::ops::Range<usize>),
            quote!(#a..#b),
        )
    }

    /// A layer's index in `LAYERS`: `layer::FC1`.
    pub fn layer(&mut self, names: &Names, node: NodeId) -> TokenStream {
        let base = names.node(node).to_string();
        let i = lit(node);
        self.constant("layer", &base, quote!(usize), quote!(#i))
    }

    /// A region of one of the arenas, named `name` in submodule `sub`.
    pub fn region(&mut self, sub: &'static str, name: &Ident, r: Region) -> TokenStream {
        let rt = self.rt.clone();
        let value = region_tokens(&rt, r);
        // Regions of one arena are named by value, not deduplicated by
        // content: two values may share a region at different times.
        let key = (sub, format!("{name} {value}"));
        if let Some(existing) = self.by_value.get(&key) {
            let sub = Ident::new(sub, Span::call_site());
            return quote!(#sub::#existing);
        }
        let id = unique(self.taken.entry(sub).or_default(), &name.to_string());
        self.by_value.insert(key, id.clone());
        self.items
            .entry(sub)
            .or_default()
            .push((id.clone(), quote!(#rt::Region), value));
        let sub = Ident::new(sub, Span::call_site());
        quote!(#sub::#id)
    }

    /// The runtime's path inside the module (`v1`).
    pub fn runtime(&self) -> &TokenStream {
        &self.rt
    }

    /// A documented constant at the module's top.
    pub fn top(&mut self, doc: &str, name: &str, ty: TokenStream, value: TokenStream) {
        let doc = format!(" {doc}");
        let name = Ident::new(name, Span::call_site());
        self.top.push(quote! {
            #[doc = #doc]
            pub const #name: #ty = #value;
        });
    }

    /// The module itself.
    pub fn emit(mut self) -> TokenStream {
        // Layers in network order, regions by place in their arena.
        if let Some(layers) = self.items.get_mut("layer") {
            layers.sort_by_key(|(_, _, v)| v.to_string().parse::<usize>().unwrap_or(0));
        }
        for sub in ["infer", "train", "grad", "bytes", "side", "partial"] {
            if let Some(regions) = self.items.get_mut(sub) {
                regions.sort_by_key(|(name, _, v)| (region_start(v), name.to_string()));
            }
        }
        let docs: HashMap<&str, &str> = HashMap::from([
            ("kernel", "Kernel descriptors, with literal sizes."),
            ("param", "Where each tensor is in the parameter buffer."),
            ("layer", "Each layer's index in `LAYERS`."),
            (
                "stats",
                "Where each step's batch statistics are in the step's statistics.",
            ),
            (
                "infer",
                "Where each value is in the inference arena (floats per sample).",
            ),
            (
                "train",
                "Where each value is in the training arena (floats per sample).",
            ),
            ("grad", "Where each gradient is in the training arena."),
            (
                "partial",
                "Where a step writes its part of a gradient that several steps add to.",
            ),
            (
                "bytes",
                "What a step keeps for its backward pass in the byte arena.",
            ),
            (
                "side",
                "What a step keeps for its backward pass in the training arena.",
            ),
        ]);
        let path = &self.path;
        let import = &self.import;
        let top = &self.top;
        let subs = self.items.iter().map(|(sub, items)| {
            let doc = format!(" {}", docs.get(sub).copied().unwrap_or_default());
            let sub = Ident::new(sub, Span::call_site());
            let items: Vec<TokenStream> = items
                .iter()
                .map(|(name, ty, value)| quote!(pub const #name: #ty = #value;))
                .collect();
            // The submodule imports the module's `v1` (the runtime's path).
            let uses_runtime = items.iter().any(|i| mentions(i, "v1"));
            let (up, v1) = (Ident::new("super", Span::call_site()), &self.rt);
            let import = uses_runtime.then(|| quote!(use #up::#v1;));
            quote! {
                #[doc = #doc]
                pub mod #sub {
                    #import
                    #(#items)*
                }
            }
        });
        let doc = format!(
            " The named constants of [`{}`]'s generated code.",
            &path.to_string()[2..]
        );
        quote! {
            #[doc = #doc]
            #[doc(hidden)]
            #[allow(non_snake_case)]
            mod #path {
                use #import;
                #(#top)*
                #(#subs)*
            }
        }
    }
}

/// The start of a `Region::new(start, end)` value, for sorting.
fn region_start(value: &TokenStream) -> usize {
    let text = value.to_string();
    text.rsplit_once('(')
        .and_then(|(_, args)| args.split(',').next())
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or(0)
}
