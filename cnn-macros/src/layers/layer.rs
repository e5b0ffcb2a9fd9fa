//! The `Layer` trait and what it talks in: parameter specs and roles,
//! how a step runs, what it keeps for its backward pass, and the buffers
//! its kernel calls are given.

use std::any::Any;
use std::fmt::Debug;

use proc_macro2::TokenStream;

use crate::args::{ArgReader, Schema};
use crate::shape::Shape;

/// A layer kind of the grammar.
pub struct Kind {
    /// The keyword (`conv`).
    pub keyword: &'static str,
    /// Other spellings of the keyword, from PyTorch, Keras and Caffe
    /// (`conv2d`, `Conv2D`, `Convolution`).
    pub aliases: &'static [&'static str],
    /// The arguments it takes.
    pub schema: Schema,
    /// Reads the arguments (errors go to the reader's diagnostics).
    pub read: fn(&mut ArgReader<'_>) -> Option<Box<dyn Layer>>,
    /// A layer whose output shape does not depend on its arguments, used
    /// to go on checking the shapes after this layer's arguments failed
    /// (`relu(3)`, `dropout(1.5)`); `None` when the shape is then unknown.
    pub stand_in: Option<fn() -> Box<dyn Layer>>,
}

/// What a parameter tensor is for: initialisation, freezing and the
/// optimizer go by it (the runtime's `ParamRole`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Multiplies the input (conv and dense weights).
    Weight,
    /// Added to the output.
    Bias,
    /// A learned per-channel scale (batch normalisation's weight).
    Scale,
    /// A learned per-channel shift (batch normalisation's bias).
    Shift,
    /// Saved, not trained, starting at zero (a running mean, a counter).
    BufferZeros,
    /// Saved, not trained, starting at one (a running variance).
    BufferOnes,
}

impl Role {
    /// The runtime's role, as a path below the runtime.
    pub fn tokens(self, rt: &TokenStream) -> TokenStream {
        match self {
            Role::Weight => quote::quote!(#rt::ParamRole::Weight),
            Role::Bias => quote::quote!(#rt::ParamRole::Bias),
            Role::Scale => quote::quote!(#rt::ParamRole::Scale),
            Role::Shift => quote::quote!(#rt::ParamRole::Shift),
            Role::BufferZeros => quote::quote!(#rt::ParamRole::Buffer(#rt::BufferInit::Zeros)),
            Role::BufferOnes => quote::quote!(#rt::ParamRole::Buffer(#rt::BufferInit::Ones)),
        }
    }

    /// Whether the optimizer trains tensors of this role.
    pub fn is_trained(self) -> bool {
        !matches!(self, Role::BufferZeros | Role::BufferOnes)
    }
}

/// How a tensor is stored in a weights file (in memory, every tensor is
/// `f32`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    /// PyTorch's `num_batches_tracked` counter.
    I64,
}

/// A tensor a layer owns: `<layer>.<suffix>` in a PyTorch `state_dict`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// `weight`, `bias`, ...
    pub suffix: &'static str,
    /// PyTorch layout.
    pub shape: Vec<usize>,
    pub role: Role,
    pub dtype: Dtype,
    /// Inputs feeding each output (`in * kh * kw` for conv, `in` for dense).
    pub fan_in: usize,
    /// Outputs each input feeds (`out * kh * kw` for conv, `out` for dense).
    pub fan_out: usize,
}

/// The loss heads: a final activation that the loss absorbs in training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Head {
    Softmax,
    Sigmoid,
}

/// What the fusion pass may fuse (from the network's options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fuse {
    /// Conv → ReLU → max-pool with overlapping windows, or after a
    /// Winograd convolution (`#[cnn(fuse_overlapping = true)]`; see
    /// `cnn_spec::fuses_pool`).
    pub overlapping: bool,
}

/// How a step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exec {
    /// A kernel call reading its input and writing a new buffer.
    Call,
    /// An element-wise kernel that may overwrite its input.
    InPlace,
    /// Nothing to compute: the output is the input, seen differently
    /// (`flatten`, `dropout` at inference).
    View,
    /// Nothing to compute: the inputs are placed side by side in the
    /// output (`concat`).
    Concat,
}

/// How a step's output gradient reaches its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradFlow {
    /// The backward kernel computes the input gradient.
    Computed,
    /// Every input's gradient is the output's (a sum).
    Passed,
    /// Each input's gradient is its slice of the output's (a
    /// concatenation).
    Sliced,
}

/// What a step's backward pass reads besides gradients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Saves {
    /// The step's input (conv and dense weight gradients).
    pub input: bool,
    /// The step's output (sigmoid, tanh, softmax).
    pub output: bool,
    /// One byte per output value: a ReLU mask, a max-pool argmax, a
    /// dropout mask.
    pub aux: bool,
    /// One `f32` per output value, computed by the forward pass for the
    /// backward one (a local response normalisation's scale).
    pub side: bool,
}

/// Where a forward step reads and writes.
pub enum Data {
    /// One buffer, overwritten (`&mut [f32]`).
    InPlace(TokenStream),
    /// `x: &[f32]` read, `y: &mut [f32]` written.
    Separate { x: TokenStream, y: TokenStream },
}

/// Everything a forward kernel call is built from. Every token stream is
/// an expression of the type noted; `n` (samples) and `scratch`
/// (`&mut [f32]`) are in scope.
pub struct Forward<'a> {
    /// The runtime's versioned path (`::cnn::__private::v1`).
    pub rt: &'a TokenStream,
    pub data: Data,
    /// `&mut [u8]`: where to keep [`Saves::aux`] (training only).
    pub aux: Option<TokenStream>,
    /// `&mut [f32]`: where to keep [`Saves::side`] (training only).
    pub side: Option<TokenStream>,
    /// `&[f32]`: the inputs after the first (a merge's).
    pub others: Vec<TokenStream>,
    /// `&[f32]`, one per [`ParamSpec`] of the step, in order.
    pub params: Vec<TokenStream>,
    /// `&Descriptor`: the step's descriptor constant, if it has one.
    pub desc: TokenStream,
    /// `u64`: the seed of this step's random draws (dropout); `None` at
    /// inference. In training `ctx` (the step context) is in scope.
    pub seed: Option<TokenStream>,
    /// `&mut [f64]`: where to keep [`Layer::stats`] (training only), and
    /// its place in the step's statistics layout (`usize`).
    pub stats: Option<(TokenStream, TokenStream)>,
    /// `&[f32]`: the weight prepared once ([`Layer::prepared_len`]
    /// floats), at inference for a layer that has one.
    pub prepared: Option<TokenStream>,
}

/// Where a backward step reads and writes gradients.
pub enum Grad {
    /// One buffer: the output gradient, overwritten with the input gradient.
    InPlace(TokenStream),
    /// `dy: &mut [f32]` (may be overwritten) and `dx`: `&mut [f32]` for a
    /// layer without parameters, `Option<&mut [f32]>` for one with.
    Separate { dy: TokenStream, dx: TokenStream },
}

/// Everything a backward kernel call is built from.
pub struct Backward<'a> {
    pub rt: &'a TokenStream,
    /// `&[f32]`: the forward input, when [`Saves::input`].
    pub x: Option<TokenStream>,
    /// `&[f32]`: the forward output, when [`Saves::output`].
    pub y: Option<TokenStream>,
    /// `&[u8]`: what [`Saves::aux`] kept.
    pub aux: Option<TokenStream>,
    /// `&[f32]`: what [`Saves::side`] kept.
    pub side: Option<TokenStream>,
    pub grad: Grad,
    /// `&[f32]`, one per parameter.
    pub params: Vec<TokenStream>,
    /// `Option<&mut [f32]>`, one per trained parameter (`None` when frozen).
    pub grads: Vec<TokenStream>,
    pub desc: TokenStream,
    /// `&mut [f64]` and `usize`: what [`Layer::stats`] kept, and its place.
    pub stats: Option<(TokenStream, TokenStream)>,
}

/// What the tap of a fused step's inner layers is built from: `ctx` (the
/// step context) is in scope. Every token stream is an expression of the
/// type noted.
pub struct TapInner<'a> {
    pub rt: &'a TokenStream,
    /// `usize`: the indices in `LAYERS` of the step's layers before its
    /// last, in order.
    pub layers: Vec<TokenStream>,
    /// `Samples`: the gradient of the step's output.
    pub dy: TokenStream,
    /// `Samples`: the step's output, when [`Saves::output`].
    pub y: Option<TokenStream>,
    /// `&[u8]`: what [`Saves::aux`] kept.
    pub aux: Option<TokenStream>,
    pub desc: TokenStream,
}

/// What the call computing the output of one of a fused step's layers
/// before its last (which inference never stores) is built from; `n` is
/// in scope. Every token stream is an expression of the type noted.
pub struct InnerForward<'a> {
    pub rt: &'a TokenStream,
    /// The layer's position in the step (0 for the first).
    pub at: usize,
    /// Whether that layer is the batch normalisation folded into the step.
    pub folded: bool,
    /// `&[f32]`: the step's input; `&mut [f32]`: the layer's output.
    pub x: TokenStream,
    pub y: TokenStream,
    /// `&[f32]`: the first layer's own parameters (weight, then any bias).
    pub own: Vec<TokenStream>,
    /// `&[f32]`: the parameters the step reads at inference (the folded
    /// weight and bias when a batch normalisation is folded in).
    pub params: Vec<TokenStream>,
    pub desc: TokenStream,
}

/// What a step's update after a training step is built from: `stats`
/// (`&[f64]`, the step's statistics) and `w` (`&mut [f32]`, the network's
/// parameters) are in scope.
pub struct AfterStep<'a> {
    pub rt: &'a TokenStream,
    /// `Range<usize>`, one per parameter of the step, in order.
    pub params: Vec<TokenStream>,
    /// `usize`: where the step's statistics start.
    pub at: TokenStream,
    pub desc: TokenStream,
}

/// The shapes a step reads and writes (for a fused step: the first
/// layer's input and the last layer's output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shapes {
    pub input: Shape,
    pub output: Shape,
}

/// A layer kind's behaviour.
pub trait Layer: Debug {
    /// The grammar's keyword (`conv`, `max_pool`, ...).
    fn keyword(&self) -> &'static str;
    /// The type name the summary shows (`Conv2D`, `MaxPool2D`, ...).
    fn type_name(&self) -> &'static str;
    /// For fusion: lets other layers recognise this one.
    fn as_any(&self) -> &dyn Any;
    /// The output shape, or the error (starting with `name:`).
    fn infer(&self, input: Shape, name: &str) -> Result<Shape, String>;
    /// The output shape of a layer reading several values (a merge).
    fn infer_inputs(&self, inputs: &[Shape], name: &str) -> Result<Shape, String> {
        match inputs {
            [one] => self.infer(*one, name),
            _ => Err(format!(
                "{name}: {} reads one value, not {}",
                self.keyword(),
                inputs.len()
            )),
        }
    }
    /// The tensors the layer owns.
    fn params(&self, _input: Shape) -> Vec<ParamSpec> {
        Vec::new()
    }
    /// Floats of the step's weight prepared once for inference (a
    /// Winograd convolution's transformed weights), which the inference
    /// parameters then hold and [`Forward::prepared`] passes; `None` when
    /// the kernel reads the weight as it is. The inference forward pass
    /// then needs that much less scratch than [`Layer::scratch`]'s.
    fn prepared_len(&self, _s: Shapes) -> Option<usize> {
        None
    }
    /// Multiply-accumulates of one sample's forward pass.
    fn macs(&self, _input: Shape, _output: Shape) -> u64 {
        0
    }
    /// Whether this layer, at the end of a network, is a loss head.
    fn head(&self) -> Option<Head> {
        None
    }
    /// This step with `next` fused in (`next` reads only this step's
    /// output), if a fused kernel exists for the pair and the network's
    /// options (`fuse`) choose it.
    fn fuse(&self, _input: Shape, _next: &dyn Layer, _fuse: Fuse) -> Option<Box<dyn Layer>> {
        None
    }
    /// At inference: this step with the batch normalisation `next` folded
    /// into its weights and bias (`next` reads only this step's output),
    /// if the step can hold it. The folded step reads the folded tensors
    /// (`Plan::folds`) in place of its own: weight, then bias.
    fn fold(&self, _input: Shape, _next: &dyn Layer) -> Option<Box<dyn Layer>> {
        None
    }
    /// For a step fusing several layers (`fuse`): the code handing the
    /// output gradients of the layers before its last, which the step
    /// does not store, to the context's gradient tap, run before the
    /// step's backward pass.
    fn tap_inner(&self, _s: Shapes, _io: TapInner<'_>) -> Option<TokenStream> {
        None
    }
    /// For a step fusing several layers at inference: the call computing
    /// the output of its layer `io.at` (not its last) from the step's
    /// input, for reading the layers a fused step never stores.
    fn inner_forward(&self, _s: Shapes, _io: InnerForward<'_>) -> Option<TokenStream> {
        None
    }
    /// How the step runs, at inference or in training.
    fn exec(&self, _training: bool) -> Exec {
        Exec::Call
    }
    /// What the backward pass reads.
    fn saves(&self) -> Saves {
        Saves::default()
    }
    /// How the output gradient reaches the inputs.
    fn gradient(&self) -> GradFlow {
        GradFlow::Computed
    }
    /// `f64` values per training step, not per sample, that the forward
    /// and backward passes keep: statistics of the whole batch (batch
    /// normalisation's moments and gradient sums).
    fn stats(&self, _s: Shapes) -> usize {
        0
    }
    /// Whether the layer's training computation spans the whole batch
    /// (batch statistics): it then never runs sample by sample.
    fn batch_wide(&self) -> bool {
        false
    }
    /// Code run after a training step (batch normalisation's running
    /// statistics), if any.
    fn after_step(&self, _s: Shapes, _io: AfterStep<'_>) -> Option<TokenStream> {
        None
    }
    /// The kernel's descriptor constant: its type and value, with `rt` the
    /// runtime's path. `None` for kernels that take their sizes inline.
    fn descriptor(&self, _s: Shapes, _rt: &TokenStream) -> Option<(TokenStream, TokenStream)> {
        None
    }
    /// Scratch floats of the forward and backward calls.
    fn scratch(&self, _s: Shapes) -> (usize, usize) {
        (0, 0)
    }
    /// For the summary of a network whose shapes could not all be checked:
    /// the output shape when the input shape is unknown, if it does not
    /// depend on it (`dense(10)` gives `[10]` whatever it reads).
    fn output_without_input(&self) -> Option<Shape> {
        None
    }
    /// The summary's name of the kernel: `conv→ReLU→max-pool (direct)`.
    fn describe(&self, s: Shapes) -> String;
    /// The forward kernel call (`Exec::View` steps are never asked).
    fn forward(&self, s: Shapes, io: Forward<'_>) -> TokenStream;
    /// The backward kernel call, given the gradient of the output. Only
    /// asked when the step has parameters or an input gradient to write.
    fn backward(&self, s: Shapes, io: Backward<'_>) -> TokenStream;
}
