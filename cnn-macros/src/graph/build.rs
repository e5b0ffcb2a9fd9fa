//! Building the graph from a declaration: items in order, sequences,
//! merges and block instances, each layer's arguments read and its shape
//! checked. Every error is recorded and building goes on, so the user
//! sees all of them; after a layer whose output shape is unknown, nothing
//! more is said about shapes downstream of it.

use std::collections::HashMap;
use std::rc::Rc;

use proc_macro2::TokenStream;
use syn::ext::IdentExt;

use super::input::check_input;
use super::names::{Naming, Scope};
use super::types::{Network, Node, Partial, ValueId, ValueInfo, INPUT};
use crate::args::ArgReader;
use crate::ast::{
    Arg, BlockDecl, ItemDecl, LayerDecl, MergeDecl, MergeKind, NetworkDecl, SeqDecl, Value,
};
use crate::diag::Diagnostics;
use crate::layers::{self, Add, Concat, Layer};
use crate::shape::Shape;

/// Builds and checks the graph of one declaration, with the invocation's
/// `blocks`. On errors (all recorded in `diag`) returns what is known of
/// its shapes instead.
pub fn build(
    decl: &NetworkDecl,
    blocks: &[BlockDecl],
    diag: &mut Diagnostics,
) -> Result<Network, Partial> {
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
    let mut b = Builder {
        diag,
        blocks,
        nodes: Vec::new(),
        values: vec![ValueInfo {
            shape: input.unwrap_or(Shape::Flat(0)),
            producer: None,
            consumers: Vec::new(),
        }],
        stack: Vec::new(),
    };
    let items: Vec<&ItemDecl> = decl.layers.iter().collect();
    let mut scope = Scope::new("", "", Naming::Counters, &items);
    let start = Flow {
        value: INPUT,
        shape: input,
        stub: input,
    };
    let end = b.items(&decl.layers, start, &mut scope, &Context::default());
    let (nodes, values) = (b.nodes, b.values);
    if diag.len() > errors_before {
        return Err(Partial {
            input,
            output: end.stub,
        });
    }
    let output = end.value;
    debug_assert!(
        nodes.iter().enumerate().all(|(i, n)| n
            .inputs
            .iter()
            .all(|&v| values[v].producer.is_none_or(|p| p < i))),
        "nodes are in topological order"
    );
    let krate = decl.options.krate();
    Ok(Network {
        attrs: decl.attrs.clone(),
        vis: decl.vis.clone(),
        name: decl.name.clone(),
        fuse: decl.options.fuse.as_ref().map(|b| b.value).unwrap_or(true),
        fuse_overlapping: decl
            .options
            .fuse_overlapping
            .as_ref()
            .is_some_and(|b| b.value),
        krate,
        nodes,
        values,
        output,
    })
}

/// What flows from one item to the next.
#[derive(Clone, Copy, Debug)]
struct Flow {
    /// The value (after an error, the last good one: the network is not
    /// emitted then, only checked).
    value: ValueId,
    /// Its shape, or `None` once unknown (after an error), so that one
    /// mistake does not cascade into errors about every later layer.
    shape: Option<Shape>,
    /// The shape a stub for a network with errors would have here,
    /// inferred past errors where possible.
    stub: Option<Shape>,
}

impl Flow {
    /// The flow after an error that leaves the shape unknown.
    fn unknown(self, stub: Option<Shape>) -> Flow {
        Flow {
            shape: None,
            stub,
            ..self
        }
    }
}

/// The block instance an item is built in.
#[derive(Clone, Default)]
struct Context {
    /// The instances' blocks, outermost first (`inception`, `basic_conv`).
    blocks: Vec<String>,
    /// The block parameters' values.
    args: HashMap<String, Value>,
}

impl Context {
    /// ` (in block `x`)` for messages about items in blocks.
    fn suffix(&self) -> String {
        match self.blocks.last() {
            Some(b) => format!(" (in block `{b}`)"),
            None => String::new(),
        }
    }
}

struct Builder<'a> {
    diag: &'a mut Diagnostics,
    blocks: &'a [BlockDecl],
    nodes: Vec<Node>,
    values: Vec<ValueInfo>,
    /// The blocks being instantiated, to refuse a block containing itself.
    stack: Vec<String>,
}

impl Builder<'_> {
    fn items(
        &mut self,
        items: &[ItemDecl],
        mut flow: Flow,
        scope: &mut Scope,
        cx: &Context,
    ) -> Flow {
        for item in items {
            flow = self.item(item, flow, scope, cx);
        }
        flow
    }

    fn item(&mut self, item: &ItemDecl, flow: Flow, scope: &mut Scope, cx: &Context) -> Flow {
        match item {
            ItemDecl::Layer(layer) => {
                let kind = layer.kind.to_string();
                match self.blocks.iter().find(|b| b.name == kind) {
                    Some(block) => self.instance(item, layer, block, flow, scope, cx),
                    None => self.layer(item, layer, flow, scope, cx),
                }
            }
            ItemDecl::Seq(seq) => self.seq(item, seq, flow, scope, cx),
            ItemDecl::Merge(merge) => self.merge(item, merge, flow, scope, cx),
        }
    }

    /// The local name of `item` in `scope` (its keyword and a counter when
    /// it has none), reporting a duplicate.
    fn name(&mut self, item: &ItemDecl, keyword: &str, scope: &mut Scope) -> String {
        scope.next(item, keyword).unwrap_or_else(|dup| {
            let name = item.name().expect("only given names are duplicates");
            self.diag.error(
                name,
                format!("duplicate layer name `{dup}`: every layer needs its own name"),
            );
            dup
        })
    }

    fn layer(
        &mut self,
        item: &ItemDecl,
        layer: &LayerDecl,
        flow: Flow,
        scope: &mut Scope,
        cx: &Context,
    ) -> Flow {
        let spelt = layer.kind.to_string();
        let keyword = layers::find(&spelt).map_or(spelt.clone(), |k| k.keyword.to_string());
        let local = self.name(item, &keyword, scope);
        let name = scope.full(&local);
        let tensors = scope.tensors(&local, item.prefix().map(|p| p.value()));
        let layer = substitute(layer, &cx.args);
        let Some(op) = read_layer(&layer, &name, self.diag) else {
            // A layer whose output shape does not depend on its arguments
            // (`relu(3)`, `dropout(1.5)`) still lets the later layers be
            // checked; after any other broken layer the shape is unknown.
            let stand_in = layers::find(&spelt).and_then(|k| k.stand_in);
            let through = |s: Option<Shape>| {
                s.zip(stand_in)
                    .and_then(|(s, make)| make().infer(s, &name).ok())
            };
            return Flow {
                shape: through(flow.shape),
                stub: through(flow.stub),
                ..flow
            };
        };
        let stub = match flow.stub {
            Some(s) => op.infer(s, &name).ok(),
            None => op.output_without_input(),
        };
        let Some(input) = flow.shape else {
            return flow.unknown(stub);
        };
        match op.infer(input, &name) {
            Ok(shape) => Flow {
                value: self.add_node(
                    name,
                    tensors,
                    Rc::from(op),
                    vec![flow.value],
                    shape,
                    &layer.tokens,
                ),
                shape: Some(shape),
                stub,
            },
            Err(message) => {
                self.diag
                    .error(&layer.tokens, format!("{message}{}", cx.suffix()));
                flow.unknown(stub)
            }
        }
    }

    /// Adds a node reading `inputs` and returns the value it produces.
    fn add_node(
        &mut self,
        name: String,
        tensors: String,
        layer: Rc<dyn Layer>,
        inputs: Vec<ValueId>,
        shape: Shape,
        tokens: &TokenStream,
    ) -> ValueId {
        let id = self.nodes.len();
        for &v in &inputs {
            self.values[v].consumers.push(id);
        }
        self.values.push(ValueInfo {
            shape,
            producer: Some(id),
            consumers: Vec::new(),
        });
        let output = self.values.len() - 1;
        self.nodes.push(Node {
            name,
            tensors,
            layer,
            inputs,
            output,
            tokens: tokens.clone(),
        });
        output
    }

    fn seq(
        &mut self,
        item: &ItemDecl,
        seq: &SeqDecl,
        flow: Flow,
        scope: &mut Scope,
        cx: &Context,
    ) -> Flow {
        let items: Vec<&ItemDecl> = seq.items.iter().collect();
        if seq.name.is_none() && item.prefix().is_none() {
            // An unnamed sequence adds no level to the names.
            scope.reserve_more(&items);
            return self.items(&seq.items, flow, scope, cx);
        }
        let local = self.name(item, "seq", scope);
        let custom = item.prefix().map(|p| p.value());
        let mut inner = scope.child(&local, custom, Naming::Positions, &items);
        self.items(&seq.items, flow, &mut inner, cx)
    }

    fn merge(
        &mut self,
        item: &ItemDecl,
        merge: &MergeDecl,
        flow: Flow,
        scope: &mut Scope,
        cx: &Context,
    ) -> Flow {
        let keyword = match merge.kind {
            MergeKind::Concat => "concat",
            MergeKind::Add => "add",
        };
        let local = self.name(item, keyword, scope);
        let name = scope.full(&local);
        let tensors = scope.tensors(&local, item.prefix().map(|p| p.value()));
        let branches: Vec<&ItemDecl> = merge.branches.iter().collect();
        // A named merge is a level of the names (`block.branch1...`); an
        // unnamed one leaves its branches in the enclosing scope.
        let mut named_scope;
        let branch_scope = if merge.name.is_some() || item.prefix().is_some() {
            let custom = item.prefix().map(|p| p.value());
            named_scope = scope.child(&local, custom, Naming::Counters, &branches);
            &mut named_scope
        } else {
            scope.reserve_more(&branches);
            &mut *scope
        };
        let mut outputs = Vec::new();
        let mut labels = Vec::new();
        for branch in &merge.branches {
            outputs.push(self.item(branch, flow, branch_scope, cx));
            labels.push(branch_label(branch));
        }
        if merge.kind == MergeKind::Add && merge.branches.len() != 2 {
            self.diag.error(
                &merge.keyword,
                format!(
                    "{name}: add sums two paths, found {}; a residual connection is \
                     `add([layers...], identity)`{}",
                    merge.branches.len(),
                    cx.suffix()
                ),
            );
            return flow.unknown(None);
        }
        let layer: Rc<dyn Layer> = match merge.kind {
            MergeKind::Concat => Rc::new(Concat { branches: labels }),
            MergeKind::Add => Rc::new(Add { branches: labels }),
        };
        let stub = outputs
            .iter()
            .map(|o| o.stub)
            .collect::<Option<Vec<Shape>>>()
            .and_then(|shapes| layer.infer_inputs(&shapes, &name).ok());
        let Some(shapes) = outputs
            .iter()
            .map(|o| o.shape)
            .collect::<Option<Vec<Shape>>>()
        else {
            return flow.unknown(stub);
        };
        let inputs: Vec<ValueId> = outputs.iter().map(|o| o.value).collect();
        match layer.infer_inputs(&shapes, &name) {
            Ok(shape) => Flow {
                value: self.add_node(name, tensors, layer, inputs, shape, &merge.tokens),
                shape: Some(shape),
                stub,
            },
            Err(message) => {
                self.diag
                    .error(&merge.keyword, format!("{message}{}", cx.suffix()));
                flow.unknown(stub)
            }
        }
    }

    /// An instance of `block` called as `layer`.
    fn instance(
        &mut self,
        item: &ItemDecl,
        layer: &LayerDecl,
        block: &BlockDecl,
        flow: Flow,
        scope: &mut Scope,
        cx: &Context,
    ) -> Flow {
        let block_name = block.name.to_string();
        let local = self.name(item, &block_name, scope);
        let full = scope.full(&local);
        let unknown = flow.unknown(None);
        if self.stack.contains(&block_name) {
            self.diag.error(
                &layer.kind,
                format!(
                    "{full}: block `{block_name}` contains itself (through {})",
                    self.stack.join(" → ")
                ),
            );
            return unknown;
        }
        let Some(args) = self.bind(layer, block, &full, cx) else {
            return unknown;
        };
        let tensors = scope.tensors(&local, item.prefix().map(|p| p.value()));
        let body = [&block.body];
        let mut inner = Scope::new(&full, &tensors, Naming::Counters, &body);
        let mut inner_cx = cx.clone();
        inner_cx.blocks.push(block_name.clone());
        inner_cx.args = args;
        self.stack.push(block_name);
        let out = self.item(&block.body, flow, &mut inner, &inner_cx);
        self.stack.pop();
        out
    }

    /// The values of `block`'s parameters in the call `layer` (positional,
    /// then named, then defaults), with the caller's own parameters
    /// substituted. `None` after recording errors.
    fn bind(
        &mut self,
        layer: &LayerDecl,
        block: &BlockDecl,
        full: &str,
        cx: &Context,
    ) -> Option<HashMap<String, Value>> {
        let before = self.diag.len();
        let params: Vec<String> = block.params.iter().map(|p| p.name.to_string()).collect();
        let mut bound: HashMap<String, Value> = HashMap::new();
        let mut position = 0;
        let mut seen_named = false;
        for arg in &layer.args {
            let value = substitute_value(&arg.value, &cx.args);
            let param = match &arg.name {
                Some(n) => {
                    seen_named = true;
                    let n = n.to_string();
                    if !params.contains(&n) {
                        let hint = crate::diag::closest(
                            &n,
                            &params.iter().map(String::as_str).collect::<Vec<_>>(),
                        )
                        .map(|s| format!("; did you mean `{s}`?"))
                        .unwrap_or_default();
                        self.diag.error(
                            &arg.tokens,
                            format!(
                                "{full}: block `{}` has no parameter `{n}`{hint} (its parameters: {})",
                                block.name,
                                params.join(", ")
                            ),
                        );
                        continue;
                    }
                    n
                }
                None if seen_named => {
                    self.diag.error(
                        &arg.tokens,
                        format!("{full}: positional arguments must come before named ones"),
                    );
                    continue;
                }
                None => {
                    let Some(p) = params.get(position) else {
                        self.diag.error(
                            &arg.tokens,
                            format!(
                                "{full}: block `{}` takes {} parameters ({}), found more",
                                block.name,
                                params.len(),
                                params.join(", ")
                            ),
                        );
                        continue;
                    };
                    position += 1;
                    p.clone()
                }
            };
            if bound.insert(param.clone(), value).is_some() {
                self.diag.error(
                    &arg.tokens,
                    format!("{full}: `{param}` is given more than once"),
                );
            }
        }
        for p in &block.params {
            let name = p.name.to_string();
            if bound.contains_key(&name) {
                continue;
            }
            match &p.default {
                Some(v) => {
                    bound.insert(name, v.clone());
                }
                None => self.diag.error(
                    &layer.tokens,
                    format!(
                        "{full}: block `{}` needs `{name}` (its parameters: {})",
                        block.name,
                        params.join(", ")
                    ),
                ),
            }
        }
        (self.diag.len() == before).then_some(bound)
    }
}

/// The name a branch shows in messages: its own, or its first layer's
/// kind for an unnamed one.
fn branch_label(branch: &ItemDecl) -> String {
    if let Some(name) = branch.name() {
        return name.unraw().to_string();
    }
    match branch {
        ItemDecl::Layer(l) => l.kind.to_string(),
        ItemDecl::Seq(s) => s.items.first().map(branch_label).unwrap_or_default(),
        ItemDecl::Merge(m) => m.keyword.to_string(),
    }
}

/// `layer` with the block parameters in its arguments replaced by their
/// values.
fn substitute(layer: &LayerDecl, args: &HashMap<String, Value>) -> LayerDecl {
    LayerDecl {
        name: layer.name.clone(),
        kind: layer.kind.clone(),
        args: layer
            .args
            .iter()
            .map(|a| Arg {
                name: a.name.clone(),
                value: substitute_value(&a.value, args),
                tokens: a.tokens.clone(),
            })
            .collect(),
        prefix: layer.prefix.clone(),
        tokens: layer.tokens.clone(),
    }
}

fn substitute_value(value: &Value, args: &HashMap<String, Value>) -> Value {
    match value {
        Value::Ident(i) => args
            .get(&i.to_string())
            .cloned()
            .unwrap_or_else(|| value.clone()),
        Value::Tuple(items, tokens) => Value::Tuple(
            items.iter().map(|v| substitute_value(v, args)).collect(),
            tokens.clone(),
        ),
        other => other.clone(),
    }
}

/// Reads a layer's kind and arguments.
fn read_layer(layer: &LayerDecl, name: &str, diag: &mut Diagnostics) -> Option<Box<dyn Layer>> {
    let kind_name = layer.kind.to_string();
    let Some(kind) = layers::find(&kind_name) else {
        let expected = layers::keywords();
        let hint = layers::suggestion(&kind_name)
            .map(|s| format!("; did you mean `{s}`?"))
            .unwrap_or_default();
        diag.error(
            &layer.kind,
            format!(
                "unknown layer `{kind_name}`{hint} (layers: {})",
                expected.join(", ")
            ),
        );
        return None;
    };
    let mut args = ArgReader::new(layer, name, kind.keyword, &kind.schema, diag);
    let op = (kind.read)(&mut args);
    let args_ok = args.finish();
    op.filter(|_| args_ok)
}
