//! Pass 3: fusion, parameter layout, convolution algorithms and memory plans.
//!
//! The plan turns the checked graph into *steps* (one runtime kernel call
//! each) and places every buffer those steps read or write:
//!
//! - **inference**: one `f32` arena per sample holding the input, every
//!   activation and nothing else. Buffers are placed by liveness: a buffer is
//!   live from the step that writes it to the last step that reads it, and
//!   buffers whose lives do not overlap share memory (first fit, largest
//!   first). Element-wise steps work in place, `flatten` and inference-time
//!   `dropout` are free.
//! - **training**: the same placement over a timeline of forward steps then
//!   backward steps, so that what a backward step reads (a conv's input, a
//!   sigmoid's output, a ReLU mask, a max-pool argmax) stays live until
//!   then, and nothing else does. Masks and argmaxes live in a separate byte
//!   arena.
//!
//! Kernel scratch (im2col columns and the like) is not per sample; the
//! generated code sizes it with the runtime's own `const fn`s.

use crate::graph::{ConvSpec, Network, Op, PoolSpec, Shape};

/// How the macro wants a convolution computed (mirrors `ops::ConvAlgo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algo {
    Direct,
    Im2col,
    Pointwise,
}

/// An activation applied by a kernel (mirrors `ops::Act`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Identity,
    Relu,
    Sigmoid,
    Tanh,
}

impl Act {
    fn of(op: &Op) -> Option<Act> {
        match op {
            Op::Relu => Some(Act::Relu),
            Op::Sigmoid => Some(Act::Sigmoid),
            Op::Tanh => Some(Act::Tanh),
            _ => None,
        }
    }
    /// Backward needs the output values.
    pub fn needs_output(self) -> bool {
        matches!(self, Act::Sigmoid | Act::Tanh)
    }
    /// Backward needs a byte mask.
    pub fn needs_mask(self) -> bool {
        self == Act::Relu
    }
}

/// Geometry of a conv or pool window on one sample (mirrors the runtime's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
}

impl Window {
    fn conv(s: &ConvSpec, input: Shape) -> Window {
        let Shape::Image { c, h, w } = input else {
            unreachable!("checked by the graph pass")
        };
        Window {
            c,
            h,
            w,
            kh: s.kh,
            kw: s.kw,
            sh: s.sh,
            sw: s.sw,
            ph: s.ph,
            pw: s.pw,
        }
    }
    fn pool(s: &PoolSpec, input: Shape) -> Window {
        let Shape::Image { c, h, w } = input else {
            unreachable!("checked by the graph pass")
        };
        Window {
            c,
            h,
            w,
            kh: s.kh,
            kw: s.kw,
            sh: s.sh,
            sw: s.sw,
            ph: s.ph,
            pw: s.pw,
        }
    }
}

/// What one step computes.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOp {
    /// Conv (node), with an optional fused activation and max-pool.
    Conv {
        node: usize,
        geom: Window,
        out_channels: usize,
        algo: Algo,
        act: Act,
        pool: Option<Window>,
        bias: bool,
    },
    /// Dense (node), with an optional fused activation.
    Dense {
        node: usize,
        inputs: usize,
        outputs: usize,
        act: Act,
        bias: bool,
    },
    /// A standalone activation.
    Act(Act),
    MaxPool(Window),
    AvgPool(Window),
    Softmax(usize),
    Dropout(f32),
    Flatten,
}

impl StepOp {
    /// Steps that change nothing at inference.
    fn is_inference_noop(&self) -> bool {
        matches!(self, StepOp::Flatten | StepOp::Dropout(_))
    }
    /// Element-wise steps that may overwrite their input.
    fn is_elementwise(&self) -> bool {
        matches!(self, StepOp::Act(_) | StepOp::Dropout(_))
    }
    /// A short description for the summary's plan.
    pub fn describe(&self) -> String {
        let act = |a: &Act| match a {
            Act::Identity => "",
            Act::Relu => "→ReLU",
            Act::Sigmoid => "→sigmoid",
            Act::Tanh => "→tanh",
        };
        match self {
            StepOp::Conv {
                algo, act: a, pool, ..
            } => format!(
                "conv{}{} ({})",
                act(a),
                if pool.is_some() { "→max-pool" } else { "" },
                match algo {
                    Algo::Direct => "direct",
                    Algo::Im2col => "im2col+GEMM",
                    Algo::Pointwise => "1x1 GEMM",
                }
            ),
            StepOp::Dense { act: a, .. } => format!("dense{}", act(a)),
            StepOp::Act(a) => act(a).trim_start_matches('→').to_string(),
            StepOp::MaxPool(_) => "max-pool".into(),
            StepOp::AvgPool(_) => "avg-pool".into(),
            StepOp::Softmax(_) => "softmax".into(),
            StepOp::Dropout(_) => "dropout".into(),
            StepOp::Flatten => "flatten".into(),
        }
    }
}

/// One kernel call.
#[derive(Clone, Debug)]
pub struct Step {
    /// Graph nodes the step covers (several when fused).
    pub nodes: Vec<usize>,
    pub op: StepOp,
    /// Per-sample length of the step's input and output.
    pub in_len: usize,
    pub out_len: usize,
}

/// A weight or bias tensor in the flat parameter buffer.
#[derive(Clone, Debug)]
pub struct ParamSlot {
    /// `layer.weight` or `layer.bias`.
    pub name: String,
    pub node: usize,
    pub shape: Vec<usize>,
    pub offset: usize,
    pub len: usize,
}

/// Where each parameterised node's weight and bias live.
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeParams {
    pub weight: Option<(usize, usize)>,
    pub bias: Option<(usize, usize)>,
}

/// The final activation the loss absorbs during training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    None,
    Softmax,
    Sigmoid,
}

/// A region `[start, end)` of a per-sample arena.
pub type Region = (usize, usize);

/// Where a tensor lives in the generated code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// The caller's input batch.
    Input,
    /// The caller's output (training logits / their gradient).
    Output,
    /// A region of the f32 arena.
    Arena(Region),
}

/// The inference plan: steps and where their inputs and outputs live.
pub struct InferPlan {
    pub steps: Vec<Step>,
    pub input: Region,
    /// Output region of each step (same order as `steps`).
    pub outputs: Vec<Region>,
    /// Input region of each step.
    pub inputs: Vec<Region>,
    /// Per-sample f32 arena length (input included, scratch excluded).
    pub arena_len: usize,
    /// The network output's region.
    pub output: Region,
}

/// Storage of one training step.
#[derive(Clone, Debug)]
pub struct TrainStepIo {
    pub input: Loc,
    pub output: Loc,
    /// Byte region for a mask or argmax.
    pub aux: Option<Region>,
    /// Gradient of the output (read by this step's backward pass).
    pub d_output: Loc,
    /// Gradient of the input (written by this step's backward pass), if needed.
    pub d_input: Option<Loc>,
}

/// The training plan.
pub struct TrainPlan {
    pub steps: Vec<Step>,
    pub io: Vec<TrainStepIo>,
    pub f32_len: usize,
    pub u8_len: usize,
    pub head: Head,
    /// Per-sample length of what the training forward pass returns (logits).
    pub logits_len: usize,
}

pub struct Plan {
    pub params: Vec<ParamSlot>,
    pub node_params: Vec<NodeParams>,
    pub param_count: usize,
    pub macs: u64,
    pub infer: InferPlan,
    pub train: TrainPlan,
}

pub fn plan(net: &Network) -> Plan {
    let (params, node_params, param_count) = layout_params(net);
    let macs = net.nodes.iter().map(|n| n.macs()).sum();
    let all: Vec<usize> = (1..net.nodes.len()).collect();
    let infer_steps = build_steps(net, &all);
    let infer = plan_inference(net, infer_steps);

    let head = match net.nodes.last().map(|n| n.op) {
        Some(Op::Softmax) => Head::Softmax,
        Some(Op::Sigmoid) => Head::Sigmoid,
        _ => Head::None,
    };
    let train_nodes: Vec<usize> = match head {
        Head::None => all,
        _ => all[..all.len() - 1].to_vec(),
    };
    let train_steps = build_steps(net, &train_nodes);
    let train = plan_training(net, train_steps, head);
    Plan {
        params,
        node_params,
        param_count,
        macs,
        infer,
        train,
    }
}

fn layout_params(net: &Network) -> (Vec<ParamSlot>, Vec<NodeParams>, usize) {
    let mut params = Vec::new();
    let mut node_params = vec![NodeParams::default(); net.nodes.len()];
    let mut offset = 0;
    for (i, node) in net.nodes.iter().enumerate() {
        let Some((wshape, bias)) = node.param_shapes() else {
            continue;
        };
        let wlen: usize = wshape.iter().product();
        params.push(ParamSlot {
            name: format!("{}.weight", node.name),
            node: i,
            shape: wshape,
            offset,
            len: wlen,
        });
        node_params[i].weight = Some((offset, offset + wlen));
        offset += wlen;
        if let Some(blen) = bias {
            params.push(ParamSlot {
                name: format!("{}.bias", node.name),
                node: i,
                shape: vec![blen],
                offset,
                len: blen,
            });
            node_params[i].bias = Some((offset, offset + blen));
            offset += blen;
        }
    }
    (params, node_params, offset)
}

/// The convolution algorithm for a layer's shape: `cnn_spec::choose_algo`,
/// the rule the runtime's kernels are built around.
pub fn choose_algo(g: &Window, out_channels: usize) -> Algo {
    let geom = cnn_spec::ConvGeom::new(
        g.c,
        g.h,
        g.w,
        out_channels,
        (g.kh, g.kw),
        (g.sh, g.sw),
        (g.ph, g.pw),
    );
    match cnn_spec::choose_algo(&geom) {
        cnn_spec::ConvAlgo::Direct => Algo::Direct,
        cnn_spec::ConvAlgo::Im2col => Algo::Im2col,
        cnn_spec::ConvAlgo::Pointwise => Algo::Pointwise,
    }
}

/// Groups a chain of nodes into steps, fusing when the network allows it.
fn build_steps(net: &Network, nodes: &[usize]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut i = 0;
    let op_at = |j: usize| nodes.get(j).map(|&n| net.nodes[n].op);
    while i < nodes.len() {
        let id = nodes[i];
        let node = &net.nodes[id];
        let mut covered = vec![id];
        let op = match node.op {
            Op::Conv(spec) => {
                let geom = Window::conv(&spec, node.in_shape);
                let mut act = Act::Identity;
                let mut pool = None;
                if net.fuse && op_at(i + 1) == Some(Op::Relu) {
                    act = Act::Relu;
                    covered.push(nodes[i + 1]);
                    if let Some(Op::MaxPool(p)) = op_at(i + 2) {
                        let pool_node = &net.nodes[nodes[i + 2]];
                        pool = Some(Window::pool(&p, pool_node.in_shape));
                        covered.push(nodes[i + 2]);
                    }
                }
                StepOp::Conv {
                    node: id,
                    geom,
                    out_channels: spec.out,
                    algo: choose_algo(&geom, spec.out),
                    act,
                    pool,
                    bias: spec.bias,
                }
            }
            Op::Dense { out, bias } => {
                let mut act = Act::Identity;
                if net.fuse {
                    if let Some(a) = op_at(i + 1).as_ref().and_then(Act::of) {
                        act = a;
                        covered.push(nodes[i + 1]);
                    }
                }
                StepOp::Dense {
                    node: id,
                    inputs: node.in_shape.len(),
                    outputs: out,
                    act,
                    bias,
                }
            }
            Op::Relu | Op::Sigmoid | Op::Tanh => StepOp::Act(Act::of(&node.op).unwrap()),
            Op::MaxPool(p) => StepOp::MaxPool(Window::pool(&p, node.in_shape)),
            Op::AvgPool(p) => StepOp::AvgPool(Window::pool(&p, node.in_shape)),
            Op::GlobalAvgPool => {
                let Shape::Image { c, h, w } = node.in_shape else {
                    unreachable!()
                };
                StepOp::AvgPool(Window {
                    c,
                    h,
                    w,
                    kh: h,
                    kw: w,
                    sh: 1,
                    sw: 1,
                    ph: 0,
                    pw: 0,
                })
            }
            Op::Softmax => StepOp::Softmax(node.out_shape.len()),
            Op::Dropout(p) => StepOp::Dropout(p),
            Op::Flatten => StepOp::Flatten,
            Op::Input => unreachable!("the input is not a layer"),
        };
        let last = &net.nodes[*covered.last().unwrap()];
        steps.push(Step {
            nodes: covered.clone(),
            op,
            in_len: node.in_shape.len(),
            out_len: last.out_shape.len(),
        });
        i += covered.len();
    }
    steps
}

/// A buffer to place: per-sample size and inclusive live interval.
#[derive(Clone, Copy, Debug)]
struct Life {
    size: usize,
    first: usize,
    last: usize,
}

/// First-fit placement, largest buffer first: returns offsets and total.
fn place(lives: &[Life]) -> (Vec<usize>, usize) {
    let mut order: Vec<usize> = (0..lives.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(lives[i].size), lives[i].first, i));
    let mut offsets = vec![0; lives.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut total = 0;
    for i in order {
        let l = lives[i];
        if l.size == 0 {
            continue;
        }
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| lives[j].first <= l.last && l.first <= lives[j].last)
            .map(|&j| (offsets[j], offsets[j] + lives[j].size))
            .collect();
        busy.sort();
        let mut at = 0;
        for (s, e) in busy {
            if at + l.size <= s {
                break;
            }
            at = at.max(e);
        }
        offsets[i] = at;
        total = total.max(at + l.size);
        placed.push(i);
    }
    (offsets, total)
}

/// Storage ids: each tensor maps to a buffer; in-place steps share one.
struct Buffers {
    lives: Vec<Life>,
}

impl Buffers {
    fn new() -> Self {
        Buffers { lives: Vec::new() }
    }
    fn add(&mut self, size: usize, at: usize) -> usize {
        self.lives.push(Life {
            size,
            first: at,
            last: at,
        });
        self.lives.len() - 1
    }
    fn touch(&mut self, b: usize, at: usize) {
        let l = &mut self.lives[b];
        l.first = l.first.min(at);
        l.last = l.last.max(at);
    }
}

fn plan_inference(net: &Network, steps: Vec<Step>) -> InferPlan {
    let mut bufs = Buffers::new();
    let input = bufs.add(net.input().len(), 0);
    // Buffer holding each step's input and output.
    let mut cur = input;
    let mut ins = Vec::new();
    let mut outs = Vec::new();
    for (t, step) in steps.iter().enumerate() {
        bufs.touch(cur, t);
        ins.push(cur);
        if !(step.op.is_inference_noop() || step.op.is_elementwise()) {
            cur = bufs.add(step.out_len, t);
        }
        outs.push(cur);
    }
    // The output stays live after the last step.
    bufs.touch(cur, steps.len());
    let (offsets, total) = place(&bufs.lives);
    let region = |b: usize, len: usize| (offsets[b], offsets[b] + len);
    InferPlan {
        inputs: ins
            .iter()
            .zip(&steps)
            .map(|(&b, s)| region(b, s.in_len))
            .collect(),
        outputs: outs
            .iter()
            .zip(&steps)
            .map(|(&b, s)| region(b, s.out_len))
            .collect(),
        input: region(input, net.input().len()),
        output: region(cur, net.output().len()),
        arena_len: total,
        steps,
    }
}

fn plan_training(net: &Network, steps: Vec<Step>, head: Head) -> TrainPlan {
    let s_count = steps.len();
    let back = |s: usize| 2 * s_count - 1 - s;
    let logits_len = steps.last().map_or(net.input().len(), |s| s.out_len);

    // f32 buffers; `None` = the caller's input or output slice.
    let mut f = Buffers::new();
    let mut u = Buffers::new();
    let mut out_buf: Vec<Option<usize>> = Vec::new();
    let mut aux_buf: Vec<Option<usize>> = Vec::new();
    let mut cur: Option<usize> = None; // the network input
    for (t, step) in steps.iter().enumerate() {
        if let Some(b) = cur {
            f.touch(b, t);
        }
        // What the backward pass of this step reads besides gradients.
        let (reads_input, reads_output, aux) = match &step.op {
            StepOp::Conv { act, pool, .. } => (
                true,
                act.needs_output() && pool.is_none(),
                act.needs_mask() || pool.is_some(),
            ),
            StepOp::Dense { act, .. } => (true, act.needs_output(), act.needs_mask()),
            StepOp::Act(a) => (false, a.needs_output(), a.needs_mask()),
            StepOp::MaxPool(_) => (false, false, true),
            StepOp::Softmax(_) => (false, true, false),
            StepOp::Dropout(_) => (false, false, true),
            StepOp::AvgPool(_) | StepOp::Flatten => (false, false, false),
        };
        if reads_input {
            if let Some(b) = cur {
                f.touch(b, back(t));
            }
        }
        let in_place_ok = cur.is_some_and(|b| f.lives[b].last <= t);
        let out = match step.op {
            StepOp::Flatten => cur,
            _ if step.op.is_elementwise() && in_place_ok => cur,
            _ => Some(f.add(step.out_len, t)),
        };
        if reads_output {
            f.touch(out.unwrap(), back(t));
        }
        aux_buf.push(aux.then(|| {
            let b = u.add(step.out_len, t);
            u.touch(b, back(t));
            b
        }));
        out_buf.push(out);
        cur = out;
    }
    // The last step's output is copied to the caller right after it.
    if let Some(b) = cur {
        f.touch(b, s_count);
    }

    // Gradients, from the last step backwards. The last step's output
    // gradient is the caller's (mutable) logits gradient.
    let mut d_out: Vec<Option<Option<usize>>> = vec![None; s_count];
    let mut d_in: Vec<Option<Option<usize>>> = vec![None; s_count];
    let mut dcur: Option<usize> = None; // None = caller's gradient
    for s in (0..s_count).rev() {
        let t = back(s);
        if let Some(b) = dcur {
            f.touch(b, t);
        }
        d_out[s] = Some(dcur);
        if s == 0 {
            break;
        }
        let step = &steps[s];
        let din = match step.op {
            StepOp::Flatten => dcur,
            _ if step.op.is_elementwise() && dcur.is_some() => dcur,
            _ => Some(f.add(step.in_len, t)),
        };
        if let Some(b) = din {
            f.touch(b, t);
        }
        d_in[s] = Some(din);
        dcur = din;
    }

    let (f_off, f_len) = place(&f.lives);
    let (u_off, u_len) = place(&u.lives);
    let loc = |b: Option<usize>, len: usize, external: Loc| match b {
        Some(b) => Loc::Arena((f_off[b], f_off[b] + len)),
        None => external,
    };
    let mut io = Vec::new();
    let mut input_loc = Loc::Input;
    for (s, step) in steps.iter().enumerate() {
        let output = if s + 1 == s_count {
            // Written to the arena (if in-place) then copied to the caller.
            loc(out_buf[s], step.out_len, Loc::Output)
        } else {
            loc(out_buf[s], step.out_len, Loc::Input)
        };
        io.push(TrainStepIo {
            input: input_loc,
            output,
            aux: aux_buf[s].map(|b| (u_off[b], u_off[b] + step.out_len)),
            d_output: loc(d_out[s].flatten(), step.out_len, Loc::Output),
            d_input: d_in[s].map(|d| loc(d, step.in_len, Loc::Output)),
        });
        input_loc = output;
    }
    TrainPlan {
        steps,
        io,
        f32_len: f_len,
        u8_len: u_len,
        head,
        logits_len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostics;
    use crate::parse::parse_invocation;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn plan_of(ts: TokenStream) -> Plan {
        let mut diag = Diagnostics::default();
        let inv = parse_invocation(ts, &mut diag);
        let net = crate::graph::build(&inv.networks[0], &mut diag).expect("valid network");
        plan(&net)
    }

    fn lenet(fuse: bool) -> Plan {
        let fuse = syn::LitBool::new(fuse, proc_macro2::Span::call_site());
        plan_of(quote! {
            #[cnn(fuse = #fuse)]
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
        })
    }

    #[test]
    fn lenet_fuses_into_six_steps() {
        let p = lenet(true);
        let ops: Vec<String> = p.infer.steps.iter().map(|s| s.op.describe()).collect();
        assert_eq!(
            ops,
            [
                "conv→ReLU→max-pool (direct)",
                "conv→ReLU→max-pool (direct)",
                "flatten",
                "dense→ReLU",
                "dense→ReLU",
                "dense",
                "softmax"
            ]
        );
        assert_eq!(p.param_count, 61_706);
        assert_eq!(p.params[0].name, "conv1.weight");
        assert_eq!(p.params[0].shape, [6, 1, 5, 5]);
        assert_eq!(p.params[9].name, "fc3.bias");
    }

    #[test]
    fn lenet_fused_arena_holds_input_and_first_block() {
        // Input (784) and conv1's pooled output (1176) are live together;
        // everything later fits in the space they free.
        let p = lenet(true);
        assert_eq!(p.infer.arena_len, 784 + 1176);
    }

    #[test]
    fn lenet_unfused_arena_holds_the_conv_output() {
        // Unfused, conv1's full output (4704) is live with the pool's (1176).
        let p = lenet(false);
        assert_eq!(p.infer.arena_len, 6 * 28 * 28 + 6 * 14 * 14);
    }

    #[test]
    fn placement_never_overlaps_live_buffers() {
        let lives = [
            Life {
                size: 4,
                first: 0,
                last: 1,
            },
            Life {
                size: 3,
                first: 1,
                last: 2,
            },
            Life {
                size: 5,
                first: 2,
                last: 3,
            },
            Life {
                size: 2,
                first: 0,
                last: 3,
            },
        ];
        let (off, total) = place(&lives);
        for i in 0..lives.len() {
            for j in 0..i {
                let overlap_time =
                    lives[i].first <= lives[j].last && lives[j].first <= lives[i].last;
                let overlap_mem =
                    off[i] < off[j] + lives[j].size && off[j] < off[i] + lives[i].size;
                assert!(!(overlap_time && overlap_mem), "{i} and {j} collide");
            }
        }
        // At time 2, buffers 1, 2 and 3 are live together.
        assert_eq!(total, 3 + 5 + 2);
    }

    #[test]
    fn training_keeps_only_what_backward_reads() {
        let p = lenet(true);
        let t = &p.train;
        assert_eq!(t.head, Head::Softmax);
        assert_eq!(t.logits_len, 10);
        // Fused conv blocks keep one argmax byte per pooled output; the
        // dense ReLUs keep a byte mask each.
        let aux: Vec<Option<usize>> = t.io.iter().map(|io| io.aux.map(|(a, b)| b - a)).collect();
        assert_eq!(
            aux,
            [Some(1176), Some(400), None, Some(120), Some(84), None]
        );
        // The first step reads the caller's input and needs no input gradient.
        assert_eq!(t.io[0].input, Loc::Input);
        assert!(t.io[0].d_input.is_none());
        // The last step's output gradient is the caller's.
        assert!(matches!(t.io[5].output, Loc::Arena(_)));
        assert_eq!(t.io[5].d_output, Loc::Output);
    }
}
