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

/// Largest max-pooling window: the argmax of a window is kept in one byte.
pub const MAX_POOL_WINDOW: usize = 255;

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
            (Op::Conv(c), Shape::Image { c: cin, .. }) => {
                (self.out_shape.len() as u64) * (cin * c.kh * c.kw) as u64
            }
            (Op::Dense { out, .. }, Shape::Flat(n)) => (n * out) as u64,
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
        diag.error(&decl.name, format!("network `{}` has no layers", decl.name));
    }
    let names = assign_names(&decl.layers, diag);

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
    for (layer, name) in decl.layers.iter().zip(&names) {
        let Some(op) = read_op(layer, name, diag) else {
            shape = None;
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
    match dims.as_slice() {
        &[c, h, w] => Some(Shape::Image { c, h, w }),
        &[n] => Some(Shape::Flat(n)),
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
fn assign_names(layers: &[LayerDecl], diag: &mut Diagnostics) -> Vec<String> {
    let mut taken: HashMap<String, ()> = HashMap::new();
    for layer in layers {
        if let Some(name) = &layer.name {
            let s = name.to_string();
            if taken.insert(s.clone(), ()).is_some() {
                diag.error(
                    name,
                    format!("duplicate layer name `{s}`: every layer needs its own name"),
                );
            }
        }
    }
    let mut counters: HashMap<String, usize> = HashMap::new();
    layers
        .iter()
        .map(|layer| match &layer.name {
            Some(name) => name.to_string(),
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
        .collect()
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
            if h + 2 * s.ph < s.kh || w + 2 * s.pw < s.kw {
                return Err(format!(
                    "{name}: kernel {}x{} does not fit its {c}x{h}x{w} input ({})",
                    s.kh,
                    s.kw,
                    pad_text(s.ph, s.pw)
                ));
            }
            let (oh, ow) = window_out(h, w, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw);
            let params = s.out.checked_mul(c * s.kh * s.kw);
            let out_len = s.out.checked_mul(oh * ow);
            if params.is_none_or(|p| p > 1 << 34) || out_len.is_none_or(|n| n > 1 << 34) {
                return Err(format!(
                    "{name}: the layer is too large ({} channels)",
                    s.out
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
            if 2 * s.ph > s.kh || 2 * s.pw > s.kw {
                return Err(format!(
                    "{name}: {what} padding {}x{} is more than half its {}x{} window",
                    s.ph, s.pw, s.kh, s.kw
                ));
            }
            if h + 2 * s.ph < s.kh || w + 2 * s.pw < s.kw {
                return Err(format!(
                    "{name}: {what} window {}x{} does not fit its {c}x{h}x{w} input ({})",
                    s.kh,
                    s.kw,
                    pad_text(s.ph, s.pw)
                ));
            }
            if matches!(op, Op::MaxPool(_)) && s.kh * s.kw > MAX_POOL_WINDOW {
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
                if n.checked_mul(out).is_none_or(|p| p > 1 << 34) {
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
    ((h + 2 * ph - kh) / sh + 1, (w + 2 * pw - kw) / sw + 1)
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
}
