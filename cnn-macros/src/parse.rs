//! Pass 1: the `syn` grammar, parsed to a typed AST that keeps every span.
//!
//! ```text
//! invocation := network*
//! network    := attribute* visibility `struct` Ident `{` item (`,` item)* `,`? `}`
//! item       := `input` `:` `[` int (`,` int)* `]`
//!             | (Ident `:`)? Ident (`(` arg (`,` arg)* `)`)?
//! arg        := (Ident `=`)? value
//! value      := int | float | bool | string | Ident | `(` value, value `)` | `[` value, value `]`
//! ```
//!
//! Items and arguments are split on top-level commas before they are parsed,
//! so a syntax error in one layer does not hide the errors in the others: the
//! parser records it and moves on to the next item.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, Lit, LitStr, Token, Visibility};

use crate::diag::Diagnostics;

/// Everything inside one `network! { ... }`.
pub struct Invocation {
    pub networks: Vec<NetworkDecl>,
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
    pub layers: Vec<LayerDecl>,
    /// Span of the braces, for errors about the body as a whole.
    pub body_span: Span,
}

/// Options given in `#[cnn(...)]` on a network.
#[derive(Default)]
pub struct NetworkOptions {
    /// `fuse = false` turns the fusion pass off.
    pub fuse: Option<syn::LitBool>,
    /// `weights = "file.safetensors"` compiles the weights into the binary.
    pub weights: Option<LitStr>,
    /// `crate = path` names the facade crate (default `::cnn`).
    pub krate: Option<syn::Path>,
}

/// `input: [C, H, W]` or `input: [N]`.
pub struct InputDecl {
    pub dims: Vec<Value>,
    pub tokens: TokenStream,
}

/// One layer: `name: kind(args)`, `kind(args)` or `kind`.
pub struct LayerDecl {
    pub name: Option<Ident>,
    pub kind: Ident,
    pub args: Vec<Arg>,
    /// Every token of the layer, for errors spanned on the whole layer.
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

/// Parses a whole invocation. Syntax errors are recorded in `diag`; the
/// declarations that could be read are returned for the later passes.
pub fn parse_invocation(input: TokenStream, diag: &mut Diagnostics) -> Invocation {
    let mut networks = Vec::new();
    let mut rest: Vec<TokenTree> = input.into_iter().collect();
    // Each network ends with its brace group; split the stream after every
    // top-level `{ ... }` that follows `struct Name`.
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|t| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace))
            .map(|i| i + 1)
            .unwrap_or(rest.len());
        let chunk: TokenStream = rest.drain(..end).collect();
        // Allow (and skip) a `;` or `,` between declarations.
        while matches!(rest.first(), Some(TokenTree::Punct(p)) if p.as_char() == ';' || p.as_char() == ',')
        {
            rest.remove(0);
        }
        match syn::parse2::<Header>(chunk) {
            Ok(h) => networks.push(h.into_decl(diag)),
            Err(e) => diag.push(e),
        }
    }
    Invocation { networks }
}

/// `attrs vis struct Name { body }` with the body kept as tokens.
struct Header {
    attrs: Vec<Attribute>,
    vis: Visibility,
    name: Ident,
    body: TokenStream,
    body_span: Span,
}

impl Parse for Header {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(Token![struct]) {
            return Err(input.error(
                "expected `struct Name { input: [...], layers... }` (a network declaration)",
            ));
        }
        input.parse::<Token![struct]>()?;
        let name: Ident = input.parse()?;
        if input.peek(Token![<]) {
            return Err(input.error("a network cannot have generic parameters"));
        }
        let content;
        let brace = syn::braced!(content in input);
        let body: TokenStream = content.parse()?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the network's body"));
        }
        Ok(Header {
            attrs,
            vis,
            name,
            body,
            body_span: brace.span.join(),
        })
    }
}

impl Header {
    fn into_decl(self, diag: &mut Diagnostics) -> NetworkDecl {
        let mut options = NetworkOptions::default();
        let mut attrs = Vec::new();
        for attr in self.attrs {
            if attr.path().is_ident("cnn") {
                if let Err(e) = parse_options(&attr, &mut options) {
                    diag.push(e);
                }
            } else {
                attrs.push(attr);
            }
        }
        let mut input = None;
        let mut layers = Vec::new();
        for item in split_commas(self.body) {
            match parse_item(item.clone()) {
                Ok(Item::Input(decl)) => {
                    if input.is_some() {
                        diag.error(&decl.tokens, "the input shape is declared twice");
                    } else if !layers.is_empty() {
                        diag.error(
                            &decl.tokens,
                            "`input: [...]` must come before the first layer",
                        );
                    } else {
                        input = Some(decl);
                    }
                }
                Ok(Item::Layer(layer)) => layers.push(layer),
                Err(e) => diag.push(e),
            }
        }
        NetworkDecl {
            attrs,
            options,
            vis: self.vis,
            name: self.name,
            input,
            layers,
            body_span: self.body_span,
        }
    }
}

fn parse_options(attr: &Attribute, options: &mut NetworkOptions) -> syn::Result<()> {
    attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("fuse") {
            options.fuse = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("weights") {
            options.weights = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("crate") {
            options.krate = Some(meta.value()?.call(syn::Path::parse_mod_style)?);
            Ok(())
        } else {
            Err(meta.error(format!(
                "unknown option `{}` in #[cnn(...)]; expected `fuse = false`, \
                 `weights = \"file.safetensors\"` or `crate = path`",
                meta.path.to_token_stream()
            )))
        }
    })
}

enum Item {
    Input(InputDecl),
    Layer(LayerDecl),
}

/// Splits a token stream on commas at its top level.
fn split_commas(stream: TokenStream) -> Vec<TokenStream> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for tt in stream {
        match &tt {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                out.push(cur.drain(..).collect());
            }
            _ => cur.push(tt),
        }
    }
    if !cur.is_empty() {
        out.push(cur.into_iter().collect());
    }
    out
}

fn parse_item(tokens: TokenStream) -> syn::Result<Item> {
    if tokens.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            "empty layer: two commas in a row",
        ));
    }
    let mut iter = tokens.clone().into_iter().peekable();
    let first = match iter.next() {
        Some(TokenTree::Ident(i)) => i,
        Some(other) => {
            return Err(syn::Error::new_spanned(
                &other,
                format!("expected a layer such as `conv(6, kernel = 5)`, found `{other}`"),
            ))
        }
        None => unreachable!("checked non-empty above"),
    };
    let rest: Vec<TokenTree> = iter.collect();
    let (name, kind, after) = match rest.first() {
        Some(TokenTree::Punct(p)) if p.as_char() == ':' => {
            if first == "input" {
                return parse_input(&rest[1..], tokens).map(Item::Input);
            }
            match rest.get(1) {
                Some(TokenTree::Ident(kind)) => (Some(first), kind.clone(), &rest[2..]),
                Some(other) => {
                    return Err(syn::Error::new_spanned(
                        other,
                        format!("expected a layer kind after `{first}:`, found `{other}`"),
                    ))
                }
                None => {
                    return Err(syn::Error::new_spanned(
                        &tokens,
                        format!("expected a layer kind after `{first}:`"),
                    ))
                }
            }
        }
        _ => (None, first, &rest[..]),
    };
    let args = match after {
        [] => Vec::new(),
        [TokenTree::Group(g)] if g.delimiter() == Delimiter::Parenthesis => {
            let mut args = Vec::new();
            for arg in split_commas(g.stream()) {
                args.push(parse_arg(arg)?);
            }
            args
        }
        [first, ..] => {
            return Err(syn::Error::new_spanned(
                first,
                format!("expected `,` or `(arguments)` after the layer `{kind}`, found `{first}`"),
            ))
        }
    };
    Ok(Item::Layer(LayerDecl {
        name,
        kind,
        args,
        tokens,
    }))
}

fn parse_input(rest: &[TokenTree], tokens: TokenStream) -> syn::Result<InputDecl> {
    match rest {
        [TokenTree::Group(g)] if g.delimiter() == Delimiter::Bracket => {
            let mut dims = Vec::new();
            for d in split_commas(g.stream()) {
                dims.push(parse_value(d)?);
            }
            Ok(InputDecl { dims, tokens })
        }
        _ => Err(syn::Error::new_spanned(
            tokens,
            "expected the input shape as `input: [C, H, W]` (an image) or `input: [N]` (a vector)",
        )),
    }
}

fn parse_arg(tokens: TokenStream) -> syn::Result<Arg> {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    match trees.as_slice() {
        [TokenTree::Ident(name), TokenTree::Punct(eq), rest @ ..] if eq.as_char() == '=' => {
            if rest.is_empty() {
                return Err(syn::Error::new_spanned(
                    &tokens,
                    format!("expected a value after `{name} =`"),
                ));
            }
            let value = parse_value(rest.iter().cloned().collect())?;
            Ok(Arg {
                name: Some(name.clone()),
                value,
                tokens,
            })
        }
        _ => Ok(Arg {
            name: None,
            value: parse_value(tokens.clone())?,
            tokens,
        }),
    }
}

fn parse_value(tokens: TokenStream) -> syn::Result<Value> {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    match trees.as_slice() {
        [TokenTree::Group(g)]
            if matches!(g.delimiter(), Delimiter::Parenthesis | Delimiter::Bracket) =>
        {
            let mut items = Vec::new();
            for item in split_commas(g.stream()) {
                items.push(parse_value(item)?);
            }
            Ok(Value::Tuple(items, tokens))
        }
        [TokenTree::Punct(p), TokenTree::Literal(_)] if p.as_char() == '-' => {
            Ok(Value::Negative(tokens))
        }
        [TokenTree::Ident(i)] if i != "true" && i != "false" => Ok(Value::Ident(i.clone())),
        [_] => match syn::parse2::<Lit>(tokens.clone()) {
            Ok(Lit::Int(v)) => Ok(Value::Int(v)),
            Ok(Lit::Float(v)) => Ok(Value::Float(v)),
            Ok(Lit::Bool(v)) => Ok(Value::Bool(v)),
            Ok(Lit::Str(v)) => Ok(Value::Str(v)),
            _ => Err(syn::Error::new_spanned(
                &tokens,
                format!("expected a number, `true`/`false` or a pair `(a, b)`, found `{tokens}`"),
            )),
        },
        [] => Err(syn::Error::new(Span::call_site(), "empty argument")),
        _ => Err(syn::Error::new_spanned(
            &tokens,
            format!(
                "expected a number, `true`/`false` or a pair `(a, b)`, found `{tokens}` \
                 (arguments are literals, not expressions)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn parse(ts: TokenStream) -> (Invocation, Diagnostics) {
        let mut diag = Diagnostics::default();
        let inv = parse_invocation(ts, &mut diag);
        (inv, diag)
    }

    #[test]
    fn parses_lenet() {
        let (inv, diag) = parse(quote! {
            /// Doc.
            #[cnn(fuse = false)]
            pub struct LeNet5 {
                input: [1, 28, 28],
                conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
                flatten,
                fc1: dense(120),
            }
        });
        assert!(diag.is_empty());
        assert_eq!(inv.networks.len(), 1);
        let net = &inv.networks[0];
        assert_eq!(net.name, "LeNet5");
        assert_eq!(net.attrs.len(), 1, "the doc comment passes through");
        assert!(!net.options.fuse.as_ref().unwrap().value);
        assert_eq!(net.input.as_ref().unwrap().dims.len(), 3);
        let kinds: Vec<String> = net.layers.iter().map(|l| l.kind.to_string()).collect();
        assert_eq!(kinds, ["conv", "relu", "max_pool", "flatten", "dense"]);
        assert_eq!(net.layers[0].name.as_ref().unwrap(), "conv1");
        assert_eq!(net.layers[0].args.len(), 3);
        assert_eq!(net.layers[0].args[1].name.as_ref().unwrap(), "kernel");
    }

    #[test]
    fn parses_several_networks_and_pairs() {
        let (inv, diag) = parse(quote! {
            struct A { input: [3, 8, 8], conv(4, kernel = (3, 1), stride = [1, 2]) }
            struct B { input: [10], dense(2), softmax }
        });
        assert!(diag.is_empty());
        assert_eq!(inv.networks.len(), 2);
        match &inv.networks[0].layers[0].args[1].value {
            Value::Tuple(items, _) => assert_eq!(items.len(), 2),
            _ => panic!("expected a pair"),
        }
    }

    #[test]
    fn reports_every_syntax_error() {
        let (inv, diag) = parse(quote! {
            struct A { input: [1, 4, 4], conv(4 kernel = 3), relu 5, dense(3) }
        });
        assert_eq!(diag.len(), 2);
        assert_eq!(inv.networks[0].layers.len(), 1, "the good layer is kept");
    }

    #[test]
    fn input_must_come_first() {
        let (_, diag) = parse(quote! { struct A { relu, input: [4] } });
        assert_eq!(diag.len(), 1);
        assert!(diag.messages()[0].contains("must come before"));
    }
}
