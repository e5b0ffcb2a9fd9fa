//! The typed syntax tree of a `network!` invocation: what the user wrote,
//! with every span kept for error messages.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::{Attribute, Ident, LitStr, Visibility};

/// Everything inside one `network! { ... }`.
pub struct Invocation {
    pub networks: Vec<NetworkDecl>,
    /// `block name(params) = item;` declarations, usable by every network
    /// of the invocation.
    pub blocks: Vec<BlockDecl>,
}

/// `block name(p1, p2 = default, ...) = item;`: a reusable piece of a
/// network, instantiated like a layer (`name(args)`), its parameters
/// standing for the values given.
pub struct BlockDecl {
    pub name: Ident,
    pub params: Vec<BlockParam>,
    pub body: ItemDecl,
}

/// A block's parameter and its default value, if any.
pub struct BlockParam {
    pub name: Ident,
    pub default: Option<Value>,
}

/// One `struct Name { ... }` declaration.
pub struct NetworkDecl {
    /// Attributes passed through to the generated struct (doc comments, derives, ...).
    pub attrs: Vec<Attribute>,
    /// The contents of `#[cnn(...)]` attributes.
    pub options: NetworkOptions,
    pub vis: Visibility,
    pub name: Ident,
    /// The `input: [...]` declaration, if any.
    pub input: Option<InputDecl>,
    pub layers: Vec<ItemDecl>,
    /// Span of the braces, for errors about the body as a whole.
    pub body_span: Span,
}

/// Options given in `#[cnn(...)]` on a network.
#[derive(Default)]
pub struct NetworkOptions {
    /// `fuse = false` turns the fusion pass off.
    pub fuse: Option<syn::LitBool>,
    /// `fuse_overlapping = true` fuses conv → ReLU → max-pool with
    /// overlapping windows too, and after Winograd convolutions.
    pub fuse_overlapping: Option<syn::LitBool>,
    /// `weights = "file.safetensors"` compiles the weights into the binary.
    pub weights: Option<LitStr>,
    /// `crate = path` names the facade crate (default `::cnn`).
    pub krate: Option<syn::Path>,
    /// `ignore_unknown = true` skips tensors of the weights file that the
    /// network does not have.
    pub ignore_unknown: Option<syn::LitBool>,
    /// `allow(batch_norm_with_dropout)` silences the macro's warnings of
    /// those names.
    pub allow: Vec<Ident>,
    /// `dtype = "int8"`: the weights file is a quantized one and the
    /// network runs int8 inference (`"f32"`, the default, otherwise).
    pub dtype: Option<LitStr>,
}

impl NetworkOptions {
    /// The facade crate's path: `crate = path`, or `::cnn`.
    pub fn krate(&self) -> TokenStream {
        match &self.krate {
            Some(path) => path.to_token_stream(),
            None => quote::quote!(::cnn),
        }
    }
}

/// `input: [C, H, W]` or `input: [N]`.
pub struct InputDecl {
    pub dims: Vec<Value>,
    pub tokens: TokenStream,
}

/// One item of a network's body, a sequence or a branch.
pub enum ItemDecl {
    /// A layer or a block instance: `name: kind(args)`, `kind(args)`, `kind`.
    Layer(LayerDecl),
    /// `name: [item, item, ...]`: items one after the other, like PyTorch's
    /// `nn.Sequential` (unnamed items are named by their position).
    Seq(SeqDecl),
    /// `name: concat(branch, ...)` or `name: add(path, path)`: branches
    /// reading the same input, merged.
    Merge(MergeDecl),
}

impl ItemDecl {
    pub fn name(&self) -> Option<&Ident> {
        match self {
            ItemDecl::Layer(l) => l.name.as_ref(),
            ItemDecl::Seq(s) => s.name.as_ref(),
            ItemDecl::Merge(m) => m.name.as_ref(),
        }
    }

    /// `as "prefix"`: the tensor-name prefix the item's tensors load from.
    pub fn prefix(&self) -> Option<&LitStr> {
        match self {
            ItemDecl::Layer(l) => l.prefix.as_ref(),
            ItemDecl::Seq(s) => s.prefix.as_ref(),
            ItemDecl::Merge(m) => m.prefix.as_ref(),
        }
    }
}

/// One layer: `name: kind(args)`, `kind(args)` or `kind`.
pub struct LayerDecl {
    pub name: Option<Ident>,
    pub kind: Ident,
    pub args: Vec<Arg>,
    pub prefix: Option<LitStr>,
    /// Every token of the layer, for errors spanned on the whole layer.
    pub tokens: TokenStream,
}

/// `name: [items]`.
pub struct SeqDecl {
    pub name: Option<Ident>,
    pub items: Vec<ItemDecl>,
    pub prefix: Option<LitStr>,
}

/// How a merge combines its branches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeKind {
    /// Along channels (or features): GoogLeNet's inception modules.
    Concat,
    /// Element-wise sum: ResNet's residual connections.
    Add,
}

/// `name: concat(branch, ...)` or `name: add(path, path)`.
pub struct MergeDecl {
    pub name: Option<Ident>,
    pub kind: MergeKind,
    /// The keyword as written, for errors.
    pub keyword: Ident,
    pub branches: Vec<ItemDecl>,
    pub prefix: Option<LitStr>,
    pub tokens: TokenStream,
}

/// One argument: positional `6` or named `kernel = 5`.
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Value,
    pub tokens: TokenStream,
}

/// An argument value.
#[derive(Clone)]
pub enum Value {
    Int(syn::LitInt),
    Float(syn::LitFloat),
    Bool(syn::LitBool),
    Str(LitStr),
    Ident(Ident),
    /// A negative number: `-1`.
    Negative(TokenStream),
    /// `(a, b)` or `[a, b]`.
    Tuple(Vec<Value>, TokenStream),
}

impl Value {
    pub fn tokens(&self) -> TokenStream {
        match self {
            Value::Int(v) => v.to_token_stream(),
            Value::Float(v) => v.to_token_stream(),
            Value::Bool(v) => v.to_token_stream(),
            Value::Str(v) => v.to_token_stream(),
            Value::Ident(v) => v.to_token_stream(),
            Value::Negative(t) | Value::Tuple(_, t) => t.clone(),
        }
    }

    /// The value as the user wrote it, for error messages.
    pub fn text(&self) -> String {
        match self {
            Value::Str(s) => format!("{:?}", s.value()),
            _ => self.tokens().to_string().replace(" ", ""),
        }
    }
}
