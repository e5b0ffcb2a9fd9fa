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

use proc_macro2::{Delimiter, Punct, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, Ident, Lit, Token, Visibility};

use crate::ast::{
    Arg, BlockDecl, BlockParam, InputDecl, Invocation, ItemDecl, LayerDecl, MergeDecl, MergeKind,
    NetworkDecl, NetworkOptions, SeqDecl, Value,
};
use crate::diag::{closest, Diagnostics};
use crate::layers;

/// Parses a whole invocation. Syntax errors are recorded in `diag`; the
/// declarations that could be read are returned for the later passes.
pub fn parse_invocation(input: TokenStream, diag: &mut Diagnostics) -> Invocation {
    let mut networks = Vec::new();
    let mut blocks = Vec::new();
    let mut rest: Vec<TokenTree> = input.into_iter().collect();
    // Each network ends with its brace group; split the stream after every
    // top-level `{ ... }` that follows `struct Name`, or before the next
    // declaration when one lacks its body.
    while !rest.is_empty() {
        if starts_block(&rest) {
            // `block name(params) = item;`: up to the first top-level `;`.
            let end = rest
                .iter()
                .position(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ';'))
                .map_or(rest.len(), |i| i + 1);
            let chunk: TokenStream = rest.drain(..end).collect();
            match parse_block(chunk) {
                Ok(block) => blocks.push(block),
                Err(e) => diag.push(e),
            }
            continue;
        }
        let end = chunk_end(&rest);
        let chunk: TokenStream = rest.drain(..end).collect();
        // Allow (and skip) a `;` or `,` between declarations.
        while matches!(rest.first(), Some(TokenTree::Punct(p)) if p.as_char() == ';' || p.as_char() == ',')
        {
            rest.remove(0);
        }
        match syn::parse2::<Header>(chunk.clone()) {
            Ok(h) => networks.push(h.into_decl(diag)),
            // syn spans "unexpected end of input" on the whole invocation;
            // the declaration's last token is where something is missing.
            Err(e) if e.to_string().starts_with("unexpected end of input") => {
                diag.error(
                    &chunk,
                    "incomplete network declaration: expected \
                     `struct Name { input: [...], layers... }`",
                );
            }
            Err(e) => diag.push(e),
        }
    }
    Invocation { networks, blocks }
}

/// Whether `trees` start with a block declaration (after attributes and a
/// visibility, which blocks accept and ignore).
fn starts_block(trees: &[TokenTree]) -> bool {
    let mut i = 0;
    loop {
        match &trees[i..] {
            [TokenTree::Punct(p), TokenTree::Group(g), ..]
                if p.as_char() == '#' && g.delimiter() == Delimiter::Bracket =>
            {
                i += 2
            }
            [TokenTree::Ident(v), TokenTree::Group(g), ..]
                if v == "pub" && g.delimiter() == Delimiter::Parenthesis =>
            {
                i += 2
            }
            [TokenTree::Ident(v), ..] if v == "pub" => i += 1,
            [TokenTree::Ident(b), TokenTree::Ident(_), ..] => return b == "block",
            _ => return false,
        }
    }
}

/// `block name(p1, p2 = default) = item;`
fn parse_block(tokens: TokenStream) -> syn::Result<BlockDecl> {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    let start = trees
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i == "block"))
        .expect("starts_block found it");
    let rest = &trees[start + 1..];
    let TokenTree::Ident(name) = &rest[0] else {
        unreachable!("starts_block checked the name")
    };
    let (params, rest) = match &rest[1..] {
        [TokenTree::Group(g), rest @ ..] if g.delimiter() == Delimiter::Parenthesis => (
            parse_pieces(g.stream(), "parameter", parse_block_param)?,
            rest,
        ),
        rest => (Vec::new(), rest),
    };
    let body = match rest {
        [TokenTree::Punct(eq), body @ ..] if eq.as_char() == '=' => body,
        [other, ..] => {
            return Err(syn::Error::new_spanned(
                other,
                format!(
                    "expected `=` and the block's body after `block {name}(...)`, found `{other}`"
                ),
            ))
        }
        [] => {
            return Err(syn::Error::new_spanned(
                &tokens,
                format!("expected `= body;` after `block {name}`, as in `block {name}(c) = [conv(c, kernel = 3), relu];`"),
            ))
        }
    };
    let body = match body {
        [body @ .., TokenTree::Punct(semi)] if semi.as_char() == ';' => body,
        _ => {
            return Err(syn::Error::new_spanned(
                &tokens,
                format!("the block `{name}` must end with `;`"),
            ))
        }
    };
    if body.is_empty() {
        return Err(syn::Error::new_spanned(
            &tokens,
            format!("the block `{name}` has an empty body"),
        ));
    }
    Ok(BlockDecl {
        name: name.clone(),
        params,
        body: parse_element(body.iter().cloned().collect())?,
    })
}

/// `name` or `name = default`.
fn parse_block_param(tokens: TokenStream) -> syn::Result<BlockParam> {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    match trees.as_slice() {
        [TokenTree::Ident(name)] => Ok(BlockParam {
            name: name.clone(),
            default: None,
        }),
        [TokenTree::Ident(name), TokenTree::Punct(eq), value @ ..]
            if eq.as_char() == '=' && !value.is_empty() =>
        {
            Ok(BlockParam {
                name: name.clone(),
                default: Some(parse_value(value.iter().cloned().collect())?),
            })
        }
        _ => Err(syn::Error::new_spanned(
            &tokens,
            format!("expected a parameter name, or `name = default`, found `{tokens}`"),
        )),
    }
}

/// The length of the first declaration in `trees`: up to and including its
/// `{ ... }`, or up to the attributes and visibility of the next `struct`
/// if that comes first.
fn chunk_end(trees: &[TokenTree]) -> usize {
    let is_struct = |t: &TokenTree| matches!(t, TokenTree::Ident(i) if i == "struct");
    let brace = trees
        .iter()
        .position(|t| matches!(t, TokenTree::Group(g) if g.delimiter() == Delimiter::Brace));
    let first_struct = trees.iter().position(is_struct);
    let next_struct =
        first_struct.and_then(|f| trees[f + 1..].iter().position(is_struct).map(|i| f + 1 + i));
    match (brace, next_struct) {
        (Some(b), Some(n)) if n < b => {
            // Back up over `#[...]`, `pub` and `pub(...)` before `struct`.
            let mut start = n;
            loop {
                match &trees[..start] {
                    [.., TokenTree::Punct(p), TokenTree::Group(g)]
                        if p.as_char() == '#' && g.delimiter() == Delimiter::Bracket =>
                    {
                        start -= 2
                    }
                    [.., TokenTree::Ident(i), TokenTree::Group(g)]
                        if i == "pub" && g.delimiter() == Delimiter::Parenthesis =>
                    {
                        start -= 2
                    }
                    [.., TokenTree::Ident(i)] if i == "pub" => start -= 1,
                    _ => break,
                }
            }
            // The previous declaration keeps at least its `struct`.
            start.max(first_struct.unwrap_or(0) + 1)
        }
        (Some(b), _) => b + 1,
        (None, Some(n)) => n.max(1),
        (None, None) => trees.len(),
    }
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
        let keyword = input.parse::<Token![struct]>()?;
        if input.is_empty() {
            return Err(syn::Error::new(
                keyword.span,
                "expected the network's name and body after `struct`, \
                 as in `struct Name { input: [...], layers... }`",
            ));
        }
        let name: Ident = input.parse()?;
        if input.peek(Token![<]) {
            return Err(input.error("a network cannot have generic parameters"));
        }
        if !input.peek(syn::token::Brace) {
            let message = format!(
                "expected the body of `{name}` in braces: `struct {name} {{ input: [...], layers... }}`"
            );
            return Err(if input.is_empty() {
                syn::Error::new(name.span(), message)
            } else {
                input.error(message)
            });
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
        for (i, piece) in split_commas(self.body).into_iter().enumerate() {
            if piece.tokens.is_empty() {
                diag.push(empty_piece(&piece, i, "layer"));
                continue;
            }
            match parse_item(piece.tokens) {
                Ok(Item::Input(decl)) => {
                    if input.is_some() {
                        diag.error(&decl.tokens, "the input shape is declared twice");
                    } else {
                        if !layers.is_empty() {
                            // Reported, but still used: no second error
                            // saying that the network has no input.
                            diag.error(
                                &decl.tokens,
                                "`input: [...]` must come before the first layer",
                            );
                        }
                        input = Some(decl);
                    }
                }
                Ok(Item::Item(item)) => layers.push(item),
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

/// The options `#[cnn(...)]` accepts.
const OPTIONS: &[&str] = &[
    "fuse",
    "fuse_overlapping",
    "weights",
    "ignore_unknown",
    "crate",
    "allow",
    "dtype",
];

/// The warnings `#[cnn(allow(...))]` can silence.
pub const WARNINGS: &[&str] = &["batch_norm_with_dropout"];

fn parse_options(attr: &Attribute, options: &mut NetworkOptions) -> syn::Result<()> {
    attr.parse_nested_meta(|meta| {
        let given_twice = |name: &str| {
            meta.error(format!(
                "the option `{name}` is given more than once in #[cnn(...)]"
            ))
        };
        if meta.path.is_ident("fuse") || meta.path.is_ident("fuse_overlapping") {
            let overlapping = meta.path.is_ident("fuse_overlapping");
            let (name, slot) = if overlapping {
                ("fuse_overlapping", &mut options.fuse_overlapping)
            } else {
                ("fuse", &mut options.fuse)
            };
            if slot.is_some() {
                return Err(given_twice(name));
            }
            let value: syn::Expr = meta.value()?.parse()?;
            match value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: Lit::Bool(b), ..
                }) => *slot = Some(b),
                other => {
                    return Err(syn::Error::new_spanned(
                        &other,
                        format!(
                            "`{name}` must be `true` or `false`, found `{}`",
                            other.to_token_stream()
                        ),
                    ))
                }
            }
            Ok(())
        } else if meta.path.is_ident("weights") {
            if options.weights.is_some() {
                return Err(given_twice("weights"));
            }
            options.weights = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("ignore_unknown") {
            if options.ignore_unknown.is_some() {
                return Err(given_twice("ignore_unknown"));
            }
            options.ignore_unknown = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("allow") {
            meta.parse_nested_meta(|warning| {
                let Some(ident) = warning.path.get_ident() else {
                    return Err(warning.error("expected a warning's name"));
                };
                let given = ident.to_string();
                if !WARNINGS.contains(&given.as_str()) {
                    let hint = closest(&given, WARNINGS)
                        .map(|w| format!("did you mean `{w}`? "))
                        .unwrap_or_default();
                    return Err(warning.error(format!(
                        "unknown warning `{given}` in #[cnn(allow(...))]; {hint}the warnings are {}",
                        WARNINGS
                            .iter()
                            .map(|w| format!("`{w}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                options.allow.push(ident.clone());
                Ok(())
            })
        } else if meta.path.is_ident("dtype") {
            if options.dtype.is_some() {
                return Err(given_twice("dtype"));
            }
            let lit: syn::LitStr = meta.value()?.parse()?;
            if !matches!(lit.value().as_str(), "f32" | "int8") {
                return Err(syn::Error::new_spanned(
                    &lit,
                    format!("`dtype` is \"f32\" or \"int8\", found \"{}\"", lit.value()),
                ));
            }
            options.dtype = Some(lit);
            Ok(())
        } else if meta.path.is_ident("crate") {
            if options.krate.is_some() {
                return Err(given_twice("crate"));
            }
            options.krate = Some(meta.value()?.call(syn::Path::parse_mod_style)?);
            Ok(())
        } else {
            let given = meta.path.to_token_stream().to_string().replace(' ', "");
            // Edit distance, or a shared start (`fusion` for `fuse`).
            let hint = closest(&given, OPTIONS)
                .or_else(|| {
                    OPTIONS
                        .iter()
                        .copied()
                        .find(|o| given.len() >= 3 && given.starts_with(&o[..3]))
                })
                .map(|o| format!("did you mean `{o}`? "))
                .unwrap_or_default();
            Err(meta.error(format!(
                "unknown option `{given}` in #[cnn(...)]; {hint}the options are \
                 `fuse = false`, `weights = \"file.safetensors\"`, `dtype = \"int8\"`, \
                 `ignore_unknown = true`, `allow(batch_norm_with_dropout)` and `crate = path`"
            )))
        }
    })
}

enum Item {
    Input(InputDecl),
    Item(ItemDecl),
}

/// One comma-separated piece of a token stream and the comma that ends it
/// (`None` for the last piece), so an empty piece can be reported on its comma.
struct Piece {
    tokens: TokenStream,
    comma: Option<Punct>,
}

/// Splits a token stream on commas at its top level. A trailing comma does
/// not make an empty last piece; two commas in a row make an empty one.
fn split_commas(stream: TokenStream) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for tt in stream {
        match tt {
            TokenTree::Punct(p) if p.as_char() == ',' => out.push(Piece {
                tokens: cur.drain(..).collect(),
                comma: Some(p),
            }),
            tt => cur.push(tt),
        }
    }
    if !cur.is_empty() {
        out.push(Piece {
            tokens: cur.into_iter().collect(),
            comma: None,
        });
    }
    out
}

/// The error for an empty piece: `what` is "layer", "argument" or "value".
fn empty_piece(piece: &Piece, index: usize, what: &str) -> syn::Error {
    let span = piece
        .comma
        .as_ref()
        .map_or_else(Span::call_site, |c| c.span());
    let message = if index == 0 {
        let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        format!("expected {article} {what} before this `,`")
    } else {
        format!("empty {what}: two commas in a row")
    };
    syn::Error::new(span, message)
}

/// Parses every non-empty piece with `parse`, and reports empty ones.
fn parse_pieces<T>(
    stream: TokenStream,
    what: &str,
    mut parse: impl FnMut(TokenStream) -> syn::Result<T>,
) -> syn::Result<Vec<T>> {
    let mut out = Vec::new();
    for (i, piece) in split_commas(stream).into_iter().enumerate() {
        if piece.tokens.is_empty() {
            return Err(empty_piece(&piece, i, what));
        }
        out.push(parse(piece.tokens)?);
    }
    Ok(out)
}

fn parse_item(tokens: TokenStream) -> syn::Result<Item> {
    let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
    if let [TokenTree::Ident(first), TokenTree::Punct(p), rest @ ..] = trees.as_slice() {
        if first == "input" && p.as_char() == ':' {
            return parse_input(rest, tokens).map(Item::Input);
        }
    }
    parse_element(tokens).map(Item::Item)
}

/// An item of a body, a sequence or a branch:
///
/// ```text
/// element := (name `:`)? (layer | `[` element, ... `]` | merge) (`as` "prefix")?
/// layer   := kind (`(` arg, ... `)`)?
/// merge   := (`concat` | `add`) `(` element, ... `)`
/// ```
fn parse_element(tokens: TokenStream) -> syn::Result<ItemDecl> {
    let all: Vec<TokenTree> = tokens.clone().into_iter().collect();
    // `... as "prefix"` at the end.
    let (trees, prefix) = match all.as_slice() {
        [body @ .., TokenTree::Ident(as_kw), TokenTree::Literal(lit)]
            if as_kw == "as" && !body.is_empty() =>
        {
            match syn::parse2::<Lit>(TokenTree::Literal(lit.clone()).into()) {
                Ok(Lit::Str(s)) => (body, Some(s)),
                _ => {
                    return Err(syn::Error::new_spanned(
                        lit,
                        format!(
                            "expected the tensor-name prefix as a string after `as`, \
                             as in `as \"features.0\"`, found `{lit}`"
                        ),
                    ))
                }
            }
        }
        _ => (&all[..], None),
    };
    let first = match trees.first() {
        Some(TokenTree::Ident(i)) => Some(i.clone()),
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket => None,
        Some(other) => {
            return Err(syn::Error::new_spanned(
                other,
                format!("expected a layer such as `conv(6, kernel = 5)`, found `{other}`"),
            ))
        }
        None => {
            return Err(syn::Error::new(
                Span::call_site(),
                "empty layer: two commas in a row",
            ))
        }
    };
    // `name: ...`
    let (name, body) = match (first, trees.get(1)) {
        (Some(first), Some(TokenTree::Punct(p))) if p.as_char() == ':' => match trees.get(2) {
            Some(TokenTree::Ident(_)) => (Some(first), &trees[2..]),
            Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket => {
                (Some(first), &trees[2..])
            }
            Some(other) => {
                return Err(syn::Error::new_spanned(
                    other,
                    format!("expected a layer kind after `{first}:`, found `{other}`"),
                ))
            }
            None => {
                return Err(syn::Error::new_spanned(
                    &tokens,
                    format!(
                    "expected a layer kind after `{first}:`, as in `{first}: conv(6, kernel = 5)`"
                ),
                ))
            }
        },
        _ => (None, trees),
    };
    // `[items]`
    if let [TokenTree::Group(g), extra @ ..] = body {
        if g.delimiter() == Delimiter::Bracket {
            if let Some(next) = extra.first() {
                return Err(syn::Error::new_spanned(
                    next,
                    format!("expected `,` after the sequence `[...]`, found `{next}`"),
                ));
            }
            let items = parse_pieces(g.stream(), "layer", parse_element)?;
            return Ok(ItemDecl::Seq(SeqDecl {
                name,
                items,
                prefix,
            }));
        }
    }
    let TokenTree::Ident(kind) = &body[0] else {
        unreachable!("checked above: an identifier or a bracket group")
    };
    let kind = kind.clone();
    let after = &body[1..];
    let (group, extra) = match after {
        [TokenTree::Group(g), extra @ ..] if g.delimiter() == Delimiter::Parenthesis => {
            (Some(g), extra)
        }
        extra => (None, extra),
    };
    if let Some(next) = extra.first() {
        let known = layers::find(&kind.to_string()).is_some();
        let message = match next {
            // `conv1 conv(...)`: a name without its colon.
            TokenTree::Ident(next) if name.is_none() && group.is_none() && !known => format!(
                "expected `,` or `:` after `{kind}`, found `{next}`; \
                 a named layer is written `{kind}: {next}(...)`"
            ),
            _ if group.is_some() => {
                format!("expected `,` after the layer `{kind}(...)`, found `{next}`")
            }
            _ => format!("expected `,` or `(arguments)` after the layer `{kind}`, found `{next}`"),
        };
        return Err(syn::Error::new_spanned(next, message));
    }
    let merge = match kind.to_string().as_str() {
        "concat" => Some(MergeKind::Concat),
        "add" => Some(MergeKind::Add),
        _ => None,
    };
    if let Some(merge) = merge {
        let Some(g) = group else {
            return Err(syn::Error::new_spanned(
                &kind,
                format!(
                    "`{kind}` needs its branches in parentheses, as in \
                     `{kind}([conv(16, kernel = 1)], [conv(16, kernel = 3, pad = 1)])`"
                ),
            ));
        };
        let branches = parse_pieces(g.stream(), "branch", parse_element)?;
        return Ok(ItemDecl::Merge(MergeDecl {
            name,
            kind: merge,
            keyword: kind,
            branches,
            prefix,
            tokens,
        }));
    }
    let args = match group {
        Some(g) => parse_pieces(g.stream(), "argument", parse_arg)?,
        None => Vec::new(),
    };
    Ok(ItemDecl::Layer(LayerDecl {
        name,
        kind,
        args,
        prefix,
        tokens,
    }))
}

fn parse_input(rest: &[TokenTree], tokens: TokenStream) -> syn::Result<InputDecl> {
    match rest {
        [TokenTree::Group(g)] if g.delimiter() == Delimiter::Bracket => Ok(InputDecl {
            dims: parse_pieces(g.stream(), "dimension", parse_value)?,
            tokens,
        }),
        [TokenTree::Group(g), next, ..] if g.delimiter() == Delimiter::Bracket => {
            Err(syn::Error::new_spanned(
                next,
                format!("expected `,` after the input shape, found `{next}`"),
            ))
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
        // `kernel: 3` or `kernel 3`: a name without its `=`.
        [TokenTree::Ident(name), next, ..]
            if name != "true"
                && name != "false"
                && match next {
                    TokenTree::Punct(p) => p.as_char() == ':',
                    TokenTree::Literal(_) | TokenTree::Group(_) => true,
                    TokenTree::Ident(_) => false,
                } =>
        {
            Err(syn::Error::new_spanned(
                next,
                format!("expected `=` after the argument name `{name}`, found `{next}`"),
            ))
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
            Ok(Value::Tuple(
                parse_pieces(g.stream(), "value", parse_value)?,
                tokens,
            ))
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
        _ => {
            // A complete value followed by another value: a missing comma,
            // as in `conv(8 kernel = 3)`.
            let value_len = match &trees[..] {
                [TokenTree::Punct(p), TokenTree::Literal(_), ..] if p.as_char() == '-' => 2,
                _ => 1,
            };
            match &trees[value_len] {
                next @ (TokenTree::Ident(_) | TokenTree::Literal(_) | TokenTree::Group(_))
                    if !matches!(&trees[0], TokenTree::Punct(_)) || value_len == 2 =>
                {
                    Err(syn::Error::new_spanned(
                        next,
                        format!("expected `,` before `{next}`"),
                    ))
                }
                _ => Err(syn::Error::new_spanned(
                    &tokens,
                    format!(
                        "expected a number, `true`/`false` or a pair `(a, b)`, found `{tokens}` \
                         (arguments are literals, not expressions)"
                    ),
                )),
            }
        }
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
        let layer = |i: usize| match &net.layers[i] {
            ItemDecl::Layer(l) => l,
            _ => panic!("expected a layer"),
        };
        let kinds: Vec<String> = (0..net.layers.len())
            .map(|i| layer(i).kind.to_string())
            .collect();
        assert_eq!(kinds, ["conv", "relu", "max_pool", "flatten", "dense"]);
        assert_eq!(layer(0).name.as_ref().unwrap(), "conv1");
        assert_eq!(layer(0).args.len(), 3);
        assert_eq!(layer(0).args[1].name.as_ref().unwrap(), "kernel");
    }

    #[test]
    fn parses_several_networks_and_pairs() {
        let (inv, diag) = parse(quote! {
            struct A { input: [3, 8, 8], conv(4, kernel = (3, 1), stride = [1, 2]) }
            struct B { input: [10], dense(2), softmax }
        });
        assert!(diag.is_empty());
        assert_eq!(inv.networks.len(), 2);
        let ItemDecl::Layer(conv) = &inv.networks[0].layers[0] else {
            panic!("expected a layer")
        };
        match &conv.args[1].value {
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

    fn messages(ts: TokenStream) -> Vec<String> {
        parse(ts).1.messages()
    }

    #[test]
    fn empty_pieces_are_reported() {
        assert_eq!(
            messages(quote! { struct A { input: [4], relu,, relu } }),
            ["empty layer: two commas in a row"]
        );
        assert_eq!(
            messages(quote! { struct A { , input: [4], relu } }),
            ["expected a layer before this `,`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], dense(3,, bias = true) } }),
            ["empty argument: two commas in a row"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [1, , 4], relu } }),
            ["empty dimension: two commas in a row"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], dense(, 3) } }),
            ["expected an argument before this `,`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], conv(4, kernel = (, 3)) } }),
            ["expected a value before this `,`"]
        );
        // Trailing commas are fine everywhere.
        assert!(messages(quote! { struct A { input: [4,], dense(3, bias = true,), } }).is_empty());
    }

    #[test]
    fn missing_punctuation() {
        assert_eq!(
            messages(quote! { struct A { input: [4], conv(8 kernel = 3) } }),
            ["expected `,` before `kernel`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], conv(8, kernel = -1 stride = 2) } }),
            ["expected `,` before `stride`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], conv(8, kernel: 3) } }),
            ["expected `=` after the argument name `kernel`, found `:`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], conv(8, kernel 3) } }),
            ["expected `=` after the argument name `kernel`, found `3`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], fc1 dense(3) } }),
            ["expected `,` or `:` after `fc1`, found `dense`; a named layer is written `fc1: dense(...)`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], dense(3) relu } }),
            ["expected `,` after the layer `dense(...)`, found `relu`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], relu sigmoid } }),
            ["expected `,` or `(arguments)` after the layer `relu`, found `sigmoid`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4] relu } }),
            ["expected `,` after the input shape, found `relu`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], conv(8, kernel = 1 + 2) } }),
            [
                "expected a number, `true`/`false` or a pair `(a, b)`, found `1 + 2` \
              (arguments are literals, not expressions)"
            ]
        );
    }

    #[test]
    fn incomplete_declarations() {
        assert_eq!(
            messages(quote! { struct A }),
            ["expected the body of `A` in braces: `struct A { input: [...], layers... }`"]
        );
        assert_eq!(
            messages(quote! { struct }),
            ["expected the network's name and body after `struct`, \
              as in `struct Name { input: [...], layers... }`"]
        );
        assert_eq!(
            messages(quote! { struct A { input: [4], relu } pub }),
            ["incomplete network declaration: expected `struct Name { input: [...], layers... }`"]
        );
        let (inv, diag) = parse(quote! { struct A(u8); struct B { input: [4], relu } });
        assert_eq!(diag.len(), 1);
        assert_eq!(inv.networks.len(), 1, "the good declaration is kept");
        let (inv, diag) = parse(quote! {
            struct A
            /// B.
            #[cnn(fuse = false)]
            pub(crate) struct B { input: [4], relu }
        });
        assert_eq!(diag.len(), 1);
        assert_eq!(inv.networks.len(), 1);
        assert_eq!(inv.networks[0].name, "B");
        assert!(!inv.networks[0].options.fuse.as_ref().unwrap().value);
        assert_eq!(inv.networks[0].attrs.len(), 1);
    }

    #[test]
    fn options() {
        assert_eq!(
            messages(quote! { #[cnn(fusion = false)] struct A { input: [4], relu } }),
            [
                "unknown option `fusion` in #[cnn(...)]; did you mean `fuse`? the options are \
              `fuse = false`, `weights = \"file.safetensors\"`, `dtype = \"int8\"`, \
              `ignore_unknown = true`, `allow(batch_norm_with_dropout)` and `crate = path`"
            ]
        );
        assert_eq!(
            messages(quote! { #[cnn(fuse = "no")] struct A { input: [4], relu } }),
            ["`fuse` must be `true` or `false`, found `\"no\"`"]
        );
        assert_eq!(
            messages(quote! { #[cnn(fuse = false, fuse = true)] struct A { input: [4], relu } }),
            ["the option `fuse` is given more than once in #[cnn(...)]"]
        );
        let (inv, diag) = parse(quote! { #[cnn(fuse = true)] struct A { input: [4], relu } });
        assert!(diag.is_empty());
        assert!(inv.networks[0].options.fuse.as_ref().unwrap().value);
    }
}
