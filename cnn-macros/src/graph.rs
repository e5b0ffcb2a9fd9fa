//! Pass 2: the layer graph, shape inference and every semantic check.
//!
//! The graph is a DAG: node 0 is the network input and every other node
//! lists the nodes it reads. Declarations are chains today, so each layer
//! reads the one before it; the passes after this one only rely on the
//! `inputs` lists and the topological order of `nodes`.

use std::collections::HashMap;
use std::fmt;

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::ext::IdentExt;
use syn::Ident;

use crate::args::ArgReader;
use crate::diag::Diagnostics;
use crate::parse::{LayerDecl, NetworkDecl, Value};

/// The shape of one sample's activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// An image: channels, height, width.
    Image { c: usize, h: usize, w: usize },
    /// A vector.
    Flat(usize),
}

impl Shape {
    pub fn len(&self) -> usize {
        match *self {
            Shape::Image { c, h, w } => c * h * w,
            Shape::Flat(n) => n,
        }
    }

    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Image { c, h, w } => vec![c, h, w],
            Shape::Flat(n) => vec![n],
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shape::Image { c, h, w } => write!(f, "{c}x{h}x{w}"),
            Shape::Flat(n) => write!(f, "[{n}]"),
        }
    }
}

/// A convolution: `out` output channels, kernel `kh x kw`, stride, zero padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    pub out: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub bias: bool,
}

/// A pooling window: size, stride, padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Input,
    Conv(ConvSpec),
    Dense { out: usize, bias: bool },
    MaxPool(PoolSpec),
    AvgPool(PoolSpec),
    GlobalAvgPool,
    Flatten,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
    Dropout(f32),
}

/// Layer kinds the grammar accepts, with the type name the summary shows.
pub const LAYER_KINDS: &[(&str, &str)] = &[
    ("conv", "Conv2D"),
    ("dense", "Dense"),
    ("max_pool", "MaxPool2D"),
    ("avg_pool", "AvgPool2D"),
    ("global_avg_pool", "GlobalAvgPool2D"),
    ("flatten", "Flatten"),
    ("relu", "ReLU"),
    ("sigmoid", "Sigmoid"),
    ("tanh", "Tanh"),
    ("softmax", "Softmax"),
    ("dropout", "Dropout"),
];

/// Largest parameter count or output length of one layer.
const MAX_LAYER_LEN: usize = 1 << 34;

/// Most multiply-accumulates of one layer, so that the network's total
/// cannot overflow a `u64`.
const MAX_LAYER_MACS: usize = 1 << 50;

/// Largest max-pooling window: the argmax of a window is kept in one byte.
pub use cnn_spec::MAX_POOL_WINDOW;

impl Op {
    /// The grammar's name for the op (`conv`, `max_pool`, ...).
    pub fn keyword(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Conv(_) => "conv",
            Op::Dense { .. } => "dense",
            Op::MaxPool(_) => "max_pool",
            Op::AvgPool(_) => "avg_pool",
            Op::GlobalAvgPool => "global_avg_pool",
            Op::Flatten => "flatten",
            Op::Relu => "relu",
            Op::Sigmoid => "sigmoid",
            Op::Tanh => "tanh",
            Op::Softmax => "softmax",
            Op::Dropout(_) => "dropout",
        }
    }

    /// The type name shown in summaries (`Conv2D`, `MaxPool2D`, ...).
    pub fn type_name(&self) -> &'static str {
        LAYER_KINDS
            .iter()
            .find(|(k, _)| *k == self.keyword())
            .map(|(_, t)| *t)
            .unwrap_or("Input")
    }
}

/// One layer of the graph.
pub struct Node {
    pub name: String,
    pub op: Op,
    /// Nodes this one reads (empty for the input).
    pub inputs: Vec<usize>,
    pub in_shape: Shape,
    pub out_shape: Shape,
    /// The layer's tokens, for errors spanned on it.
    #[allow(dead_code)] // for the weights pass's errors
    pub tokens: TokenStream,
}

impl Node {
    /// Parameters: (weight shape, bias length) for conv and dense layers.
    pub fn param_shapes(&self) -> Option<(Vec<usize>, Option<usize>)> {
        match (self.op, self.in_shape) {
            (Op::Conv(c), Shape::Image { c: cin, .. }) => {
                Some((vec![c.out, cin, c.kh, c.kw], c.bias.then_some(c.out)))
            }
            (Op::Dense { out, bias }, Shape::Flat(n)) => Some((vec![out, n], bias.then_some(out))),
            _ => None,
        }
    }

    pub fn param_count(&self) -> usize {
        self.param_shapes()
            .map(|(w, b)| w.iter().product::<usize>() + b.unwrap_or(0))
            .unwrap_or(0)
    }

    /// Multiply-accumulates of one forward pass for one sample.
    pub fn macs(&self) -> u64 {
        match (self.op, self.in_shape) {
            (Op::Conv(c), Shape::Image { c: cin, .. }) => (self.out_shape.len() as u64)
                .saturating_mul((cin as u64).saturating_mul((c.kh * c.kw) as u64)),
            (Op::Dense { out, .. }, Shape::Flat(n)) => (n as u64).saturating_mul(out as u64),
            _ => 0,
        }
    }
}

/// A checked network: its declaration data and its graph.
pub struct Network {
    pub attrs: Vec<syn::Attribute>,
    pub vis: syn::Visibility,
    pub name: Ident,
    pub fuse: bool,
    #[allow(dead_code)] // read by the weights pass
    pub weights: Option<syn::LitStr>,
    pub krate: TokenStream,
    pub nodes: Vec<Node>,
}

impl Network {
    pub fn input(&self) -> Shape {
        self.nodes[0].out_shape
    }

    pub fn output(&self) -> Shape {
        self.nodes
            .last()
            .map(|n| n.out_shape)
            .unwrap_or(self.input())
    }
}

/// Builds and checks the graph of one declaration. Returns `None` when it
/// has errors (all recorded in `diag`).
pub fn build(decl: &NetworkDecl, diag: &mut Diagnostics) -> Option<Network> {
    let errors_before = diag.len();
    let input = check_input(decl, diag);
    if decl.layers.is_empty() {
        diag.push(syn::Error::new(
            decl.body_span,
            format!(
                "network `{}` has no layers; add some after its input, as in `dense(10)`",
                decl.name
            ),
        ));
    }
    let (names, name_errors) = assign_names(&decl.layers);

    let mut nodes = vec![Node {
        name: "input".into(),
        op: Op::Input,
        inputs: vec![],
        in_shape: input.unwrap_or(Shape::Flat(0)),
        out_shape: input.unwrap_or(Shape::Flat(0)),
        tokens: decl
            .input
            .as_ref()
            .map(|i| i.tokens.clone())
            .unwrap_or_default(),
    }];
    // The shape flowing into the next layer; `None` once a layer failed, so
    // one mistake does not cascade into errors about every later layer.
    let mut shape = input;
    for ((layer, name), name_error) in decl.layers.iter().zip(&names).zip(name_errors) {
        if let Some(error) = name_error {
            diag.push(error);
        }
        let Some(op) = read_op(layer, name, diag) else {
            // A layer whose output shape does not depend on its arguments
            // (`relu(3)`, `dropout(1.5)`) still lets the later layers be
            // checked; after any other broken layer the shape is unknown.
            shape = shape.and_then(|s| {
                let stand_in = match layer.kind.to_string().as_str() {
                    "relu" | "sigmoid" | "tanh" | "dropout" => Op::Relu,
                    "softmax" => Op::Softmax,
                    "flatten" => Op::Flatten,
                    "global_avg_pool" => Op::GlobalAvgPool,
                    _ => return None,
                };
                infer_shape(&stand_in, s, name).ok()
            });
            continue;
        };
        let Some(in_shape) = shape else { continue };
        match infer_shape(&op, in_shape, name) {
            Ok(out_shape) => {
                let inputs = vec![nodes.len() - 1];
                nodes.push(Node {
                    name: name.clone(),
                    op,
                    inputs,
                    in_shape,
                    out_shape,
                    tokens: layer.tokens.clone(),
                });
                shape = Some(out_shape);
            }
            Err(message) => {
                diag.error(&layer.tokens, message);
                shape = None;
            }
        }
    }
    if diag.len() > errors_before {
        return None;
    }
    debug_assert!(
        nodes
            .iter()
            .enumerate()
            .all(|(i, n)| n.inputs.iter().all(|&j| j < i)),
        "nodes are in topological order"
    );
    let krate = match &decl.options.krate {
        Some(path) => path.to_token_stream(),
        None => quote!(::cnn),
    };
    Some(Network {
        attrs: decl.attrs.clone(),
        vis: decl.vis.clone(),
        name: decl.name.clone(),
        fuse: decl.options.fuse.as_ref().map(|b| b.value).unwrap_or(true),
        weights: decl.options.weights.clone(),
        krate,
        nodes,
    })
}

fn check_input(decl: &NetworkDecl, diag: &mut Diagnostics) -> Option<Shape> {
    let Some(input) = &decl.input else {
        diag.error(
            &decl.name,
            format!(
                "network `{}` has no input shape: declare `input: [C, H, W]` (an image) \
                 or `input: [N]` (a vector) before its layers",
                decl.name
            ),
        );
        return None;
    };
    let mut dims = Vec::new();
    for d in &input.dims {
        match d {
            Value::Int(i) if !i.suffix().is_empty() => {
                diag.error(
                    i,
                    format!("input dimensions are plain integers, found `{}`", d.text()),
                );
                return None;
            }
            Value::Int(i) => match i.base10_parse::<usize>() {
                Ok(0) => {
                    diag.error(i, "input dimensions must be at least 1, found 0");
                    return None;
                }
                Ok(v) => dims.push(v),
                Err(e) => {
                    diag.push(e);
                    return None;
                }
            },
            other => {
                diag.error(
                    &other.tokens(),
                    format!("input dimensions are integers, found `{}`", other.text()),
                );
                return None;
            }
        }
    }
    let too_big = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .is_none_or(|n| n > 1 << 40);
    if too_big {
        diag.error(&input.tokens, "the input shape is too large");
        return None;
    }
    match *dims.as_slice() {
        [c, h, w] => Some(Shape::Image { c, h, w }),
        [n] => Some(Shape::Flat(n)),
        _ => {
            diag.error(
                &input.tokens,
                format!(
                    "the input shape has {} dimensions; expected [C, H, W] (an image) or [N] (a vector)",
                    dims.len()
                ),
            );
            None
        }
    }
}

/// Gives every layer its name: the user's, or `kind` + a counter for
/// unnamed layers (`relu1`, `relu2`, ...), skipping names already taken.
/// Also returns, for each layer, the error about its name if it has one
/// (reported with the layer's other errors, so that they come in order).
fn assign_names(layers: &[LayerDecl]) -> (Vec<String>, Vec<Option<syn::Error>>) {
    let mut taken: HashMap<String, ()> = HashMap::new();
    let mut errors = Vec::new();
    for layer in layers {
        let mut error = None;
        if let Some(name) = &layer.name {
            // `r#type` is the layer `type`.
            let s = name.unraw().to_string();
            if taken.insert(s.clone(), ()).is_some() {
                error = Some(format!(
                    "duplicate layer name `{s}`: every layer needs its own name"
                ));
            }
            errors.push(error.map(|message| syn::Error::new_spanned(name, message)));
        } else {
            errors.push(None);
        }
    }
    let mut counters: HashMap<String, usize> = HashMap::new();
    let names = layers
        .iter()
        .map(|layer| match &layer.name {
            Some(name) => name.unraw().to_string(),
            None => {
                let kind = layer.kind.to_string();
                let counter = counters.entry(kind.clone()).or_insert(0);
                loop {
                    *counter += 1;
                    let candidate = format!("{kind}{counter}");
                    if !taken.contains_key(&candidate) {
                        taken.insert(candidate.clone(), ());
                        break candidate;
                    }
                }
            }
        })
        .collect();
    (names, errors)
}

/// Reads a layer's kind and arguments into an `Op`.
fn read_op(layer: &LayerDecl, name: &str, diag: &mut Diagnostics) -> Option<Op> {
    let kind = layer.kind.to_string();
    let Some(&(keyword, _)) = LAYER_KINDS.iter().find(|(k, _)| *k == kind) else {
        let expected: Vec<&str> = LAYER_KINDS.iter().map(|(k, _)| *k).collect();
        let hint = closest(&kind, &expected)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        diag.error(
            &layer.kind,
            format!(
                "unknown layer `{kind}`{hint} (layers: {})",
                expected.join(", ")
            ),
        );
        return None;
    };
    let mut args = ArgReader::new(layer, name, keyword, diag);
    let op = match keyword {
        "conv" => {
            let out = args.uint("channels", Some(0), None, 1);
            let kernel = args.pair("kernel", Some(1), None, 1);
            let stride = args.pair("stride", None, Some((1, 1)), 1);
            let pad = args.pair("pad", None, Some((0, 0)), 0);
            let bias = args.bool("bias", true);
            match (out, kernel, stride, pad, bias) {
                (Some(out), Some((kh, kw)), Some((sh, sw)), Some((ph, pw)), Some(bias)) => {
                    Some(Op::Conv(ConvSpec {
                        out,
                        kh,
                        kw,
                        sh,
                        sw,
                        ph,
                        pw,
                        bias,
                    }))
                }
                _ => None,
            }
        }
        "dense" => {
            let out = args.uint("units", Some(0), None, 1);
            let bias = args.bool("bias", true);
            match (out, bias) {
                (Some(out), Some(bias)) => Some(Op::Dense { out, bias }),
                _ => None,
            }
        }
        "max_pool" | "avg_pool" => {
            let size = args.pair("size", Some(0), None, 1);
            let stride = args.pair("stride", None, size, 1);
            let pad = args.pair("pad", None, Some((0, 0)), 0);
            match (size, stride, pad) {
                (Some((kh, kw)), Some((sh, sw)), Some((ph, pw))) => {
                    let spec = PoolSpec {
                        kh,
                        kw,
                        sh,
                        sw,
                        ph,
                        pw,
                    };
                    Some(if keyword == "max_pool" {
                        Op::MaxPool(spec)
                    } else {
                        Op::AvgPool(spec)
                    })
                }
                _ => None,
            }
        }
        "dropout" => args.probability("p", Some(0)).map(Op::Dropout),
        "global_avg_pool" => Some(Op::GlobalAvgPool),
        "flatten" => Some(Op::Flatten),
        "relu" => Some(Op::Relu),
        "sigmoid" => Some(Op::Sigmoid),
        "tanh" => Some(Op::Tanh),
        "softmax" => Some(Op::Softmax),
        _ => unreachable!("every keyword in LAYER_KINDS is handled"),
    };
    let args_ok = args.finish();
    op.filter(|_| args_ok)
}

/// Output shape of `op` on `input`, or the error message.
fn infer_shape(op: &Op, input: Shape, name: &str) -> Result<Shape, String> {
    let image = |what: &str| {
        match input {
        Shape::Image { c, h, w } => Ok((c, h, w)),
        Shape::Flat(n) => Err(format!(
            "{name}: {what} needs an image input [C, H, W], but its input is the flat vector [{n}]; \
             image layers cannot follow `flatten`"
        )),
    }
    };
    let padded = |n: usize, p: usize| n.saturating_add(p.saturating_mul(2));
    let pad_text = |ph: usize, pw: usize| {
        if ph == pw {
            format!("padding {ph}")
        } else {
            format!("padding {ph}x{pw}")
        }
    };
    match *op {
        Op::Input => Ok(input),
        Op::Conv(s) => {
            let (c, h, w) = image("conv")?;
            if padded(h, s.ph) < s.kh || padded(w, s.pw) < s.kw {
                return Err(format!(
                    "{name}: kernel {}x{} does not fit its {c}x{h}x{w} input ({})",
                    s.kh,
                    s.kw,
                    pad_text(s.ph, s.pw)
                ));
            }
            let (oh, ow) = window_out(h, w, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw);
            let fan_in = c.checked_mul(s.kh).and_then(|n| n.checked_mul(s.kw));
            let params = fan_in.and_then(|n| n.checked_mul(s.out));
            let out_len = oh.checked_mul(ow).and_then(|n| n.checked_mul(s.out));
            let macs = out_len.zip(fan_in).and_then(|(n, f)| n.checked_mul(f));
            if params.is_none_or(|p| p > MAX_LAYER_LEN)
                || out_len.is_none_or(|n| n > MAX_LAYER_LEN)
                || macs.is_none_or(|m| m > MAX_LAYER_MACS)
            {
                return Err(format!(
                    "{name}: the layer is too large: {} channels of {oh}x{ow} from a {}x{} kernel \
                     over {c} channels",
                    s.out, s.kh, s.kw
                ));
            }
            Ok(Shape::Image {
                c: s.out,
                h: oh,
                w: ow,
            })
        }
        Op::MaxPool(s) | Op::AvgPool(s) => {
            let what = op.keyword();
            let (c, h, w) = image(what)?;
            if s.ph.saturating_mul(2) > s.kh || s.pw.saturating_mul(2) > s.kw {
                return Err(format!(
                    "{name}: {what} padding {}x{} is more than half its {}x{} window",
                    s.ph, s.pw, s.kh, s.kw
                ));
            }
            if padded(h, s.ph) < s.kh || padded(w, s.pw) < s.kw {
                return Err(format!(
                    "{name}: {what} window {}x{} does not fit its {c}x{h}x{w} input ({})",
                    s.kh,
                    s.kw,
                    pad_text(s.ph, s.pw)
                ));
            }
            if matches!(op, Op::MaxPool(_)) && s.kh.saturating_mul(s.kw) > MAX_POOL_WINDOW {
                return Err(format!(
                    "{name}: max_pool window {}x{} has {} cells; at most {MAX_POOL_WINDOW} are supported",
                    s.kh,
                    s.kw,
                    s.kh * s.kw
                ));
            }
            let (oh, ow) = window_out(h, w, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw);
            Ok(Shape::Image { c, h: oh, w: ow })
        }
        Op::GlobalAvgPool => {
            let (c, _, _) = image("global_avg_pool")?;
            Ok(Shape::Image { c, h: 1, w: 1 })
        }
        Op::Flatten => Ok(Shape::Flat(input.len())),
        Op::Dense { out, .. } => match input {
            Shape::Flat(n) => {
                if n.checked_mul(out).is_none_or(|p| p > MAX_LAYER_LEN) {
                    return Err(format!("{name}: the layer is too large ({out} units)"));
                }
                Ok(Shape::Flat(out))
            }
            Shape::Image { .. } => Err(format!(
                "{name}: dense needs a flat input, but its input is the image {input}; \
                 add `flatten` before it"
            )),
        },
        Op::Softmax => match input {
            Shape::Flat(n) => Ok(Shape::Flat(n)),
            Shape::Image { .. } => Err(format!(
                "{name}: softmax needs a flat input, but its input is the image {input}; \
                 add `flatten` before it"
            )),
        },
        Op::Relu | Op::Sigmoid | Op::Tanh | Op::Dropout(_) => Ok(input),
    }
}

/// Output size of a sliding window (PyTorch's rule, rounding down).
#[allow(clippy::too_many_arguments)]
fn window_out(
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    sh: usize,
    sw: usize,
    ph: usize,
    pw: usize,
) -> (usize, usize) {
    let padded = |n: usize, p: usize| n.saturating_add(p.saturating_mul(2));
    ((padded(h, ph) - kh) / sh + 1, (padded(w, pw) - kw) / sw + 1)
}

/// The candidate closest to `word` by edit distance, if it is close.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_invocation;

    fn build_one(ts: TokenStream) -> (Option<Network>, Vec<String>) {
        let mut diag = Diagnostics::default();
        let inv = parse_invocation(ts, &mut diag);
        let net = build(&inv.networks[0], &mut diag);
        (net, diag.messages())
    }

    #[test]
    fn lenet_shapes_params_and_macs() {
        let (net, errors) = build_one(quote! {
            struct LeNet5 {
                input: [1, 28, 28],
                conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
                conv2: conv(16, kernel = 5), relu, max_pool(2),
                flatten,
                fc1: dense(120), relu,
                fc2: dense(84), relu,
                fc3: dense(10),
                softmax,
            }
        });
        assert!(errors.is_empty(), "{errors:?}");
        let net = net.unwrap();
        let shapes: Vec<String> = net.nodes.iter().map(|n| n.out_shape.to_string()).collect();
        assert_eq!(
            shapes,
            [
                "1x28x28", "6x28x28", "6x28x28", "6x14x14", "16x10x10", "16x10x10", "16x5x5",
                "[400]", "[120]", "[120]", "[84]", "[84]", "[10]", "[10]"
            ]
        );
        let params: usize = net.nodes.iter().map(Node::param_count).sum();
        let macs: u64 = net.nodes.iter().map(Node::macs).sum();
        assert_eq!(params, 61_706);
        assert_eq!(macs, 416_520);
        let names: Vec<&str> = net.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names[2], "relu1");
        assert_eq!(names[3], "max_pool1");
        assert_eq!(names[13], "softmax1");
    }

    #[test]
    fn automatic_names_skip_explicit_ones() {
        let (net, errors) = build_one(quote! {
            struct A { input: [4], relu2: relu, relu, relu }
        });
        assert!(errors.is_empty());
        let names: Vec<String> = net.unwrap().nodes.iter().map(|n| n.name.clone()).collect();
        assert_eq!(names, ["input", "relu2", "relu1", "relu3"]);
    }

    #[test]
    fn kernel_that_does_not_fit() {
        let (_, errors) = build_one(quote! {
            struct A { input: [16, 3, 3], conv3: conv(4, kernel = 5) }
        });
        assert_eq!(
            errors,
            ["conv3: kernel 5x5 does not fit its 16x3x3 input (padding 0)"]
        );
    }

    #[test]
    fn all_errors_at_once_without_cascade() {
        let (_, errors) = build_one(quote! {
            struct A {
                input: [1, 8, 8],
                conv(0, kernel = 3),
                relu,
                pool: max_pool(20),
                frobnicate,
            }
        });
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("channels"));
        assert!(errors[1].contains("unknown layer `frobnicate`"));
    }

    #[test]
    fn suggestions_for_typos() {
        assert_eq!(
            closest("maxpool", &["max_pool", "avg_pool", "conv"]),
            Some("max_pool")
        );
        assert_eq!(closest("xyzzy", &["max_pool", "conv"]), None);
    }

    #[test]
    fn alexnet_counts() {
        let (net, errors) = build_one(quote! {
            struct AlexNet {
                input: [3, 224, 224],
                conv(64, kernel = 11, stride = 4, pad = 2), relu, max_pool(3, stride = 2),
                conv(192, kernel = 5, pad = 2), relu, max_pool(3, stride = 2),
                conv(384, kernel = 3, pad = 1), relu,
                conv(256, kernel = 3, pad = 1), relu,
                conv(256, kernel = 3, pad = 1), relu, max_pool(3, stride = 2),
                flatten, dropout(0.5),
                dense(4096), relu, dropout(0.5),
                dense(4096), relu,
                dense(1000),
            }
        });
        assert!(errors.is_empty(), "{errors:?}");
        let net = net.unwrap();
        assert_eq!(
            net.nodes.iter().map(Node::param_count).sum::<usize>(),
            61_100_840
        );
        assert_eq!(net.nodes.iter().map(Node::macs).sum::<u64>(), 714_188_480);
    }

    fn errors_of(ts: TokenStream) -> Vec<String> {
        build_one(ts).1
    }

    #[test]
    fn errors_come_in_source_order() {
        let errors = errors_of(quote! {
            struct A { input: [4], a: relu(1), a: dense(0) }
        });
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].contains("relu takes no arguments"), "{errors:?}");
        assert!(errors[1].contains("duplicate layer name `a`"), "{errors:?}");
        assert!(
            errors[2].contains("`units` must be at least 1"),
            "{errors:?}"
        );
    }

    #[test]
    fn shape_checks_continue_after_a_bad_activation() {
        let errors = errors_of(quote! {
            struct A { input: [1, 8, 8], relu(3), dropout(2.0), conv(4, kernel = 9) }
        });
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(
            errors[2],
            "conv1: kernel 9x9 does not fit its 1x8x8 input (padding 0)"
        );
        // After a broken layer whose shape depends on its arguments, the
        // shape is unknown and nothing more is said about shapes.
        let errors = errors_of(quote! {
            struct A { input: [1, 8, 8], conv(4, kernel = true), conv(4, kernel = 9) }
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn misspelt_argument_is_not_also_missing() {
        let errors = errors_of(quote! { struct A { input: [1, 8, 8], conv(4, kernal = 3) } });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("did you mean `kernel`?"), "{errors:?}");
        // A name that is not close to any argument still leaves `kernel` missing.
        let errors = errors_of(quote! { struct A { input: [1, 8, 8], conv(4, xyzzy = 3) } });
        assert_eq!(errors.len(), 2, "{errors:?}");
    }

    #[test]
    fn argument_given_by_position_and_by_name() {
        let errors = errors_of(quote! { struct A { input: [1, 8, 8], c: conv(4, 3, kernel = 5) } });
        assert_eq!(
            errors,
            ["c: `kernel` is given twice: by position (`3`) and as `kernel = 5`"]
        );
    }

    #[test]
    fn too_many_positional_arguments_name_the_next_one() {
        let errors = errors_of(quote! { struct A { input: [4], d: dense(3, false) } });
        assert_eq!(
            errors,
            ["d: too many positional arguments: dense takes only `units` by position; write `bias = false`"]
        );
        let errors = errors_of(quote! { struct A { input: [1, 8, 8], c: conv(4, 3, 2) } });
        assert_eq!(
            errors,
            ["c: too many positional arguments: conv takes only `channels` and `kernel` by position; write `stride = 2`"]
        );
    }

    #[test]
    fn suffixed_and_huge_integers_are_refused() {
        let errors = errors_of(quote! { struct A { input: [1, 8, 8], c: conv(4, kernel = 3x5) } });
        assert_eq!(
            errors,
            ["c: `kernel` must be a plain integer, found `3x5`; write a 3x5 size as the pair `(3, 5)`"]
        );
        let errors = errors_of(quote! { struct A { input: [1, 8u8, 8], relu } });
        assert_eq!(errors, ["input dimensions are plain integers, found `8u8`"]);
        let errors = errors_of(quote! {
            struct A { input: [1, 8, 8], c: conv(4, kernel = 3, pad = 9223372036854775808) }
        });
        assert_eq!(
            errors,
            ["c: `pad` is too large: 9223372036854775808 (at most 16777216)"]
        );
    }

    #[test]
    fn layers_too_large_for_the_counters() {
        // Every argument within bounds, but 2^24 channels over 2^24 input
        // channels: the parameter count would not fit.
        let errors = errors_of(quote! {
            struct A { input: [16777216, 1, 1], c: conv(16777216, kernel = 1) }
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("c: the layer is too large"),
            "{errors:?}"
        );
        let errors = errors_of(quote! {
            struct A { input: [1, 1, 1], c: conv(1, kernel = 1, pad = 16777216) }
        });
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("c: the layer is too large"),
            "{errors:?}"
        );
    }

    #[test]
    fn raw_layer_names_and_names_like_constants() {
        let (net, errors) = build_one(quote! { struct A { input: [4], r#type: dense(2) } });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(net.unwrap().nodes[1].name, "type");
        // Names that read like the generated constants are fine.
        let errors = errors_of(quote! { struct A { input: [4], Params: dense(2), plan: relu } });
        assert!(errors.is_empty(), "{errors:?}");
        let errors = errors_of(quote! { struct A { input: [4], r#type: dense(2), type: relu } });
        assert_eq!(
            errors,
            ["duplicate layer name `type`: every layer needs its own name"]
        );
    }

    #[test]
    fn late_input_is_one_error() {
        let errors = errors_of(quote! { struct A { relu, input: [4] } });
        assert_eq!(errors, ["`input: [...]` must come before the first layer"]);
    }

    // ---------------------------------------------------------------------
    // Robustness: no token stream makes the macro panic.

    use proc_macro2::{Delimiter, Group};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::str::FromStr;

    /// A token stream with its groups opened up, so that prefixes,
    /// deletions and shuffles can cut through them.
    #[derive(Clone)]
    enum Flat {
        Open(Delimiter),
        Close(Delimiter),
        Leaf(proc_macro2::TokenTree),
    }

    fn flatten(ts: TokenStream, out: &mut Vec<Flat>) {
        for tt in ts {
            match tt {
                proc_macro2::TokenTree::Group(g) => {
                    out.push(Flat::Open(g.delimiter()));
                    flatten(g.stream(), out);
                    out.push(Flat::Close(g.delimiter()));
                }
                leaf => out.push(Flat::Leaf(leaf)),
            }
        }
    }

    /// The token stream of `flat`: unmatched closers are dropped and groups
    /// left open are closed.
    fn rebuild(flat: &[Flat]) -> TokenStream {
        let mut stack: Vec<(Delimiter, Vec<proc_macro2::TokenTree>)> =
            vec![(Delimiter::None, Vec::new())];
        let close = |stack: &mut Vec<(Delimiter, Vec<proc_macro2::TokenTree>)>| {
            let (d, items) = stack.pop().unwrap();
            let group = Group::new(d, items.into_iter().collect());
            stack.last_mut().unwrap().1.push(group.into());
        };
        for f in flat {
            match f {
                Flat::Open(d) => stack.push((*d, Vec::new())),
                Flat::Close(d) => {
                    if stack.len() > 1 && stack.last().unwrap().0 == *d {
                        close(&mut stack);
                    }
                }
                Flat::Leaf(t) => stack.last_mut().unwrap().1.push(t.clone()),
            }
        }
        while stack.len() > 1 {
            close(&mut stack);
        }
        stack.pop().unwrap().1.into_iter().collect()
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const SEEDS: &[&str] = &[
        "/// Doc. \n #[cnn(fuse = false)] pub struct LeNet5 { input: [1, 28, 28], \
         conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2), \
         conv2: conv(16, kernel = 5), relu, max_pool(2, stride = 2), flatten, \
         fc1: dense(120), relu, fc2: dense(84), relu, fc3: dense(10), softmax, }",
        "struct SmallNet { input: [3, 17, 15], \
         conv1: conv(9, kernel = (3, 5), stride = (1, 2), pad = (1, 2)), relu, \
         max_pool(3, stride = 2, pad = 1), conv2: conv(12, kernel = 3, pad = 1), tanh, \
         conv3: conv(6, kernel = 1, bias = false), relu, avg_pool(2), flatten, \
         fc1: dense(20), sigmoid, dropout(0.5), fc2: dense(5), softmax } ; \
         struct Mlp { input: [10], dense(4, bias = true), relu, dense(2) }",
        "struct G { input: [4, 9, 9], conv(8, kernel = [3, 3], stride = [2, 1]), \
         global_avg_pool, flatten, dense(3) } struct G { input: [2], r#type: dense(1) }",
    ];

    /// Tokens spliced into the seeds.
    const POOL: &str = "0 1 2 3 5 255 256 16777216 16777217 18446744073709551615 \
        99999999999999999999999 9223372036854775808 3x5 8u8 1.5 0.99 1e9 true false \
        \"s\" 'c' b'x' r#type input struct pub conv dense max_pool avg_pool global_avg_pool \
        flatten relu softmax dropout kernel stride pad bias size channels units p fuse \
        weights crate plan self Self : = , ; # ! < > - + * . :: => ..";

    fn run_passes(ts: &TokenStream) {
        let mut diag = Diagnostics::default();
        let invocation = parse_invocation(ts.clone(), &mut diag);
        for decl in &invocation.networks {
            let _ = build(decl, &mut diag);
        }
        let _ = diag.to_compile_errors();
        // The whole macro, plan and code generation included.
        let _ = crate::expand(ts.clone());
    }

    /// Runs every case and fails with the first few that panicked.
    fn assert_no_panics(cases: impl IntoIterator<Item = TokenStream>) {
        let mut panicked = Vec::new();
        let mut count = 0;
        for ts in cases {
            count += 1;
            if catch_unwind(AssertUnwindSafe(|| run_passes(&ts))).is_err() {
                panicked.push(ts.to_string());
            }
        }
        assert!(count > 0);
        assert!(
            panicked.is_empty(),
            "{} of {count} inputs panicked, e.g.:\n{}",
            panicked.len(),
            panicked[..panicked.len().min(5)].join("\n")
        );
    }

    fn seeds() -> Vec<Vec<Flat>> {
        SEEDS
            .iter()
            .map(|s| {
                let mut flat = Vec::new();
                flatten(TokenStream::from_str(s).unwrap(), &mut flat);
                flat
            })
            .collect()
    }

    #[test]
    fn no_panic_on_prefixes_and_deletions() {
        let mut cases = Vec::new();
        for flat in seeds() {
            for end in 0..=flat.len() {
                cases.push(rebuild(&flat[..end]));
                cases.push(rebuild(&flat[end..]));
            }
            for i in 0..flat.len() {
                let mut v = flat.clone();
                v.remove(i);
                cases.push(rebuild(&v));
            }
        }
        assert_no_panics(cases);
    }

    #[test]
    fn no_panic_on_random_mutations_and_shuffles() {
        let mut pool = Vec::new();
        flatten(TokenStream::from_str(POOL).unwrap(), &mut pool);
        for d in [Delimiter::Parenthesis, Delimiter::Bracket, Delimiter::Brace] {
            pool.push(Flat::Open(d));
            pool.push(Flat::Close(d));
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut cases = Vec::new();
        for flat in seeds() {
            for _ in 0..1500 {
                let mut v = flat.clone();
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(v.len() + 1);
                    let tok = pool[rng.below(pool.len())].clone();
                    match rng.below(5) {
                        0 if i < v.len() => v[i] = tok,
                        1 => v.insert(i, tok),
                        2 if i < v.len() => {
                            v.remove(i);
                        }
                        3 => {
                            let j = rng.below(v.len());
                            if i < v.len() {
                                v.swap(i, j);
                            }
                        }
                        _ => {
                            // Duplicate a run of tokens.
                            let j = (i + rng.below(8)).min(v.len());
                            let run: Vec<Flat> = v[i..j].to_vec();
                            v.splice(j..j, run);
                        }
                    }
                }
                cases.push(rebuild(&v));
            }
            for _ in 0..200 {
                // A full shuffle.
                let mut v = flat.clone();
                for i in (1..v.len()).rev() {
                    v.swap(i, rng.below(i + 1));
                }
                cases.push(rebuild(&v));
            }
        }
        assert_no_panics(cases);
    }

    #[test]
    fn no_panic_on_extreme_sizes() {
        const EDGES: &[&str] = &[
            "0",
            "1",
            "2",
            "3",
            "7",
            "255",
            "256",
            "4096",
            "65536",
            "16777216",
            "16777217",
            "4294967296",
            "9223372036854775808",
            "18446744073709551615",
        ];
        let mut rng = Rng(42);
        let pick = |rng: &mut Rng| {
            // Mostly small values, so that many networks get through the
            // checks and reach the later passes.
            if rng.below(3) == 0 {
                EDGES[rng.below(EDGES.len())]
            } else {
                EDGES[1 + rng.below(6)]
            }
        };
        let mut cases = Vec::new();
        for _ in 0..3000 {
            let v: Vec<&str> = (0..16).map(|_| pick(&mut rng)).collect();
            let src = format!(
                "struct N {{ input: [{}, {}, {}], \
                 conv({}, kernel = ({}, {}), stride = ({}, {}), pad = ({}, {})), relu, \
                 max_pool({}, stride = {}, pad = {}), avg_pool(({}, 1)), flatten, \
                 dense({}), softmax }}",
                v[0],
                v[1],
                v[2],
                v[3],
                v[4],
                v[5],
                v[6],
                v[7],
                v[8],
                v[9],
                v[10],
                v[11],
                v[12],
                v[13],
                v[14]
            );
            cases.push(TokenStream::from_str(&src).unwrap());
            let mlp = format!(
                "struct M {{ input: [{}], dense({}), dense({}) }}",
                v[0], v[14], v[15]
            );
            cases.push(TokenStream::from_str(&mlp).unwrap());
        }
        assert_no_panics(cases);
    }
}
