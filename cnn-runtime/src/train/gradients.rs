//! Gradients a user can inspect ([`gradients`], [`Gradients`]): the loss
//! of a batch, its gradient with respect to the input (saliency), to the
//! outputs of named layers, and to every parameter tensor by its PyTorch
//! name.
//!
//! By default the gradients are those of the training step: the training
//! forward pass (dropout active, seeded by [`GradientOptions::seed`]; batch
//! normalisation normalising with the batch's own statistics), the loss
//! averaged over the batch, and the generated backward pass. With
//! [`GradientOptions::inference_mode`] they are those of the network as
//! inference runs it (dropout off, batch normalisation on its running
//! statistics): the deployed model's. For a network without dropout or
//! batch normalisation the two are the same.
//!
//! A fused step (conv→ReLU→max-pool, conv→ReLU, dense→activation) stores
//! only its last layer's output; the output gradients of the layers
//! before it are computed from the step's output gradient and what the
//! step keeps for its backward pass (the max-pool's argmax bytes, the
//! ReLU's mask, the activation's output), only when asked for, and equal
//! the unfused layers'.

use core::cell::RefCell;
use std::string::String;
use std::vec::Vec;

use super::loss::{LogitsRef, Loss, LossSum, TargetRef};
use crate::error::Error;
use crate::layout::{GradTap, Head, OnePart, StepContext};
use crate::network::{Network, TrainBuffers};
use crate::summary::ParamInfo;

/// What [`gradients`] computes besides the input and parameter gradients.
#[derive(Clone, Debug, Default)]
pub struct GradientOptions {
    layers: Vec<String>,
    loss: Option<Loss>,
    seed: u64,
    inference_mode: bool,
}

impl GradientOptions {
    /// Also the gradient with respect to the output of the layer called
    /// `name`: any layer, merges and block outputs included, but a final
    /// `softmax` or `sigmoid`, which the loss absorbs. A layer inside a
    /// fused step (`conv1` and `relu1` of `conv1 → relu1 → max_pool1`, the
    /// `dense` of dense→activation) has its gradient computed from the
    /// step's (see [`gradients`]); a conv's is that of its own
    /// output, before the ReLU.
    pub fn layer(mut self, name: &str) -> Self {
        self.layers.push(name.into());
        self
    }

    /// The loss (by default cross-entropy, or binary cross-entropy for a
    /// network ending with `sigmoid`).
    pub fn loss(mut self, loss: Loss) -> Self {
        self.loss = Some(loss);
        self
    }

    /// The seed of the dropout masks (0 by default).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Whether to take the gradients of the network as inference runs it
    /// (`true`): dropout is the identity and batch normalisation
    /// normalises with its running statistics, so the loss is that of
    /// `predict`'s outputs and a saliency map is the deployed model's.
    /// Off by default: the training step's gradients (dropout active,
    /// batch statistics). Either way nothing is updated: the running
    /// statistics stay as they are.
    ///
    /// ```ignore
    /// # cnn::network! { struct Net { input: [4], fc1: dense(6), bn1: batch_norm, relu, dropout(0.5), fc2: dense(3), softmax } }
    /// use cnn::train::{GradientOptions, TargetRef};
    /// let net = Net::new(cnn::Init::He, 1);
    /// let x = [0.5, -1.0, 0.25, 2.0];
    /// let deployed = GradientOptions::default().inference_mode(true);
    /// // One sample is enough: no batch statistics are taken.
    /// let g = net.gradients_with(&x, TargetRef::Classes(&[2]), &deployed)?;
    /// let p = net.predict_batch(&x)?;
    /// assert!((g.loss() + f64::from(p[2].ln())).abs() < 1e-5);
    /// # Ok::<(), cnn::Error>(())
    /// ```
    pub fn inference_mode(mut self, on: bool) -> Self {
        self.inference_mode = on;
        self
    }
}

/// A gradient tensor: its name, shape and values (row-major).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorView<'a> {
    /// The parameter's PyTorch name (`conv1.weight`), the layer's name, or
    /// `input`.
    pub name: &'a str,
    /// The shape: a parameter's own, or `[n, per-sample shape...]` for the
    /// input and layer outputs.
    pub shape: &'a [usize],
    /// The values.
    pub data: &'a [f32],
}

impl<'a> TensorView<'a> {
    /// Sample `s`'s part of a batched tensor (input or layer output), or
    /// `None` if `s` is past the batch.
    pub fn sample(&self, s: usize) -> Option<&'a [f32]> {
        let n = *self.shape.first()?;
        let len = self.data.len() / n.max(1);
        (s < n).then(|| &self.data[s * len..][..len])
    }
}

/// One batched gradient: a name, `[n, shape...]`, values.
#[derive(Clone, Debug)]
struct Batched {
    name: &'static str,
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Batched {
    fn view(&self) -> TensorView<'_> {
        TensorView {
            name: self.name,
            shape: &self.shape,
            data: &self.data,
        }
    }
}

/// The result of [`gradients`]: the loss of a batch and its gradients.
///
/// The loss is the batch mean, as in training, so every gradient is that
/// of the mean: sample `s`'s own loss has `n` times the gradient
/// [`Gradients::input`] holds for it.
#[derive(Clone, Debug)]
pub struct Gradients {
    network: &'static str,
    loss: f64,
    correct: usize,
    input: Batched,
    layers: Vec<Batched>,
    params: Vec<f32>,
    tensors: &'static [ParamInfo],
}

impl Gradients {
    /// The mean loss over the batch.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// Samples classified correctly (see [`LossSum::correct`]).
    pub fn correct(&self) -> usize {
        self.correct
    }

    /// Samples in the batch.
    pub fn samples(&self) -> usize {
        self.input.shape[0]
    }

    /// The gradient with respect to the input: `[n, INPUT_SHAPE...]`.
    pub fn input(&self) -> TensorView<'_> {
        self.input.view()
    }

    /// The gradient with respect to the output of the layer called
    /// `name`, `[n, the layer's output shape...]`; an error if it was not
    /// asked for with [`GradientOptions::layer`].
    pub fn layer(&self, name: &str) -> Result<TensorView<'_>, Error> {
        self.layers
            .iter()
            .find(|l| l.name == name)
            .map(Batched::view)
            .ok_or_else(|| Error::Config {
                message: format!(
                    "{}: the gradient of layer `{name}` was not computed; ask for it with \
                     GradientOptions::layer (computed: {:?})",
                    self.network,
                    self.layers.iter().map(|l| l.name).collect::<Vec<_>>()
                ),
            })
    }

    /// The gradient of the parameter tensor called `name` (PyTorch's name,
    /// as in the network's `PARAMS`: `conv1.weight`, `bn1.bias`), with the
    /// tensor's shape; `None` for a name the network does not have and for
    /// buffers (running statistics), which are not trained.
    pub fn param(&self, name: &str) -> Option<TensorView<'_>> {
        self.params().find(|t| t.name == name)
    }

    /// The gradient of every trained parameter tensor, in `PARAMS` order.
    pub fn params(&self) -> impl Iterator<Item = TensorView<'_>> {
        self.tensors
            .iter()
            .filter(|p| p.role.is_trained())
            .map(|p| TensorView {
                name: p.name,
                shape: p.shape,
                data: &self.params[p.range()],
            })
    }

    /// Every parameter gradient in one buffer laid out as the network's
    /// parameters (what a training step's optimizer reads; buffers are 0).
    pub fn flat(&self) -> &[f32] {
        &self.params
    }
}

/// Collects the output gradients of the layers asked for.
struct Tap<'a> {
    /// Per requested layer: its index in `LAYERS`, values per sample, and
    /// which samples have been written.
    wanted: &'a [(usize, usize)],
    out: RefCell<Vec<(Vec<f32>, usize)>>,
}

impl GradTap for Tap<'_> {
    fn output_grad(&self, layer: usize, sample: usize, grad: &[f32]) {
        let mut out = self.out.borrow_mut();
        for (k, &(l, len)) in self.wanted.iter().enumerate() {
            if l == layer && grad.len() == len {
                let (data, seen) = &mut out[k];
                data[sample * len..][..len].copy_from_slice(grad);
                *seen += 1;
            }
        }
    }

    fn inner_grad(&self, layer: usize, sample: usize, fill: &mut dyn FnMut(&mut [f32])) {
        let mut out = self.out.borrow_mut();
        for (k, &(l, len)) in self.wanted.iter().enumerate() {
            if l == layer {
                let (data, seen) = &mut out[k];
                fill(&mut data[sample * len..][..len]);
                *seen += 1;
            }
        }
    }
}

/// The loss of `n` samples `x` (`[n, INPUT_SHAPE...]`) with `targets`
/// (`n` class labels or `n` rows of output values), and its gradients
/// with respect to the input, to the parameters and to the outputs of the
/// layers `options` names.
///
/// By default the gradients are those of a training step: the training
/// forward pass (dropout active, seeded by [`GradientOptions::seed`];
/// batch normalisation normalising with the batch's own statistics), the
/// loss averaged over the batch, and the generated backward pass, here
/// also computing the input's gradient; the parameter gradients are the
/// numbers [`Session::compute_gradients`](super::Session::compute_gradients)
/// gives. With [`GradientOptions::inference_mode`] they are those of the
/// network as inference runs it (dropout off, batch normalisation on its
/// running statistics). For a network without dropout or batch
/// normalisation the two are the same.
///
/// A fused step (conv→ReLU→max-pool, conv→ReLU, dense→activation) stores
/// only its last layer's output; the output gradients of the layers
/// before it are computed from the step's output gradient and what the
/// step keeps for its backward pass (the max-pool's argmax bytes, the
/// ReLU's mask, the activation's output), only when asked for, and are
/// the unfused layers'. Asking for them costs a pass over the step's
/// output per layer; a training step, which asks for none, skips it.
///
/// The generated `net.gradients(&x, targets)` and
/// `net.gradients_with(&x, targets, &options)` call it. (Networks come
/// from the `cnn` crate's `network!`, so this example runs in that crate's
/// documentation of `network!`.)
///
/// ```ignore
/// # cnn::network! { struct Net { input: [1, 6, 6], conv1: conv(2, kernel = 3), relu, flatten, fc: dense(3), softmax } }
/// use cnn::train::{GradientOptions, TargetRef};
/// let net = Net::new(cnn::Init::He, 1);
/// let x = vec![0.5; 2 * 36];
/// let g = net.gradients_with(&x, TargetRef::Classes(&[0, 2]), &GradientOptions::default().layer("fc"))?;
/// assert_eq!(g.input().shape, [2, 1, 6, 6]);
/// assert_eq!(g.param("conv1.weight").unwrap().shape, [2, 1, 3, 3]);
/// assert_eq!(g.layer("fc")?.shape, [2, 3]);
/// assert!(net.gradients_with(&x, TargetRef::Classes(&[0, 2]), &GradientOptions::default().layer("fc9")).is_err());
/// # Ok::<(), cnn::Error>(())
/// ```
///
/// Errors, computing nothing, if the batch is empty, `x` does not hold the
/// targets' `n` samples, `x` is not finite, a label is not below the
/// number of outputs, the loss does not suit the network's last layer, a
/// batch normalisation would see one value per channel (training mode),
/// or a layer name is unknown (the error lists the network's layers); and
/// errors after the pass for a final softmax or sigmoid, which the loss
/// absorbs.
pub fn gradients<N: Network>(
    net: &N,
    x: &[f32],
    targets: TargetRef<'_>,
    options: &GradientOptions,
) -> Result<Gradients, Error> {
    let config = |message: String| Error::Config { message };
    let outputs = N::logits_len();
    let n = match targets {
        TargetRef::Classes(l) => l.len(),
        TargetRef::Values(v) => {
            if v.len() % outputs != 0 {
                return Err(Error::BatchLength {
                    network: N::NAME,
                    what: "target values",
                    len: v.len(),
                    sample_len: outputs,
                    message: "is not a whole number of output rows".into(),
                });
            }
            v.len() / outputs
        }
    };
    if n == 0 {
        return Err(config(format!("{}: gradients of an empty batch", N::NAME)));
    }
    if x.len() != n * N::INPUT_LEN {
        return Err(Error::BatchLength {
            network: N::NAME,
            what: "input",
            len: x.len(),
            sample_len: N::INPUT_LEN,
            message: format!(
                "does not hold the {n} samples of the targets (it needs {} = {n} x {:?})",
                n * N::INPUT_LEN,
                N::INPUT_SHAPE
            ),
        });
    }
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(Error::Data {
            path: None,
            message: format!(
                "{}: input value {} of sample {} is {}: gradients need finite inputs",
                N::NAME,
                i % N::INPUT_LEN,
                i / N::INPUT_LEN,
                x[i]
            ),
        });
    }
    match targets {
        TargetRef::Classes(labels) => {
            if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l >= outputs) {
                return Err(Error::Data {
                    path: None,
                    message: format!(
                        "label {l} of sample {i} is out of range: {} has {outputs} outputs, so \
                         labels must be in 0..{outputs}",
                        N::NAME
                    ),
                });
            }
        }
        TargetRef::Values(v) => {
            if let Some(i) = v.iter().position(|v| !v.is_finite()) {
                return Err(Error::Data {
                    path: None,
                    message: format!(
                        "{}: target value {} of sample {} is {}",
                        N::NAME,
                        i % outputs,
                        i / outputs,
                        v[i]
                    ),
                });
            }
        }
    }
    let loss = options.loss.unwrap_or(match N::HEAD {
        Head::Sigmoid => Loss::BinaryCrossEntropy,
        _ => Loss::CrossEntropy,
    });
    loss.check_head(N::HEAD)
        .map_err(|m| config(format!("{}: {m}", N::NAME)))?;
    if !options.inference_mode {
        super::batch_stats::check::<N>(n)?;
    }
    let Some((in_start, in_end)) = N::TRAIN.input_grad else {
        return Err(config(format!(
            "{}: the network's training plan keeps no gradient of its input",
            N::NAME
        )));
    };
    // The layers asked for, and their output lengths.
    let mut wanted = Vec::with_capacity(options.layers.len());
    for name in &options.layers {
        let i = N::layer_index(name)?;
        let len = N::LAYERS[i].output_shape.iter().product::<usize>();
        wanted.push((i, len));
    }

    let trainable = vec![true; N::LAYERS.len()];
    let tap = Tap {
        wanted: &wanted,
        out: RefCell::new(
            wanted
                .iter()
                .map(|&(_, len)| (vec![0.0; n * len], 0))
                .collect(),
        ),
    };
    let ctx = StepContext {
        seed: options.seed,
        first_sample: 0,
        trainable: &trainable,
        first_trainable: 0,
        reduce: &OnePart,
        input_grad: true,
        grad_tap: Some(&tap),
        inference_mode: options.inference_mode,
    };
    let mut buffers = TrainBuffers::new::<N>(n);
    let mut logits = vec![0.0; n * outputs];
    let mut dlogits = vec![0.0; n * outputs];
    let weights = net.weights();
    N::forward_train(weights, x, &mut logits, n, buffers.arena::<N>(n), &ctx);
    let z = LogitsRef {
        z: &logits,
        n,
        len: outputs,
    };
    let sum: LossSum = loss.forward_backward(N::HEAD, z, targets, 1.0 / n as f32, &mut dlogits);
    let mut grads = vec![0.0; N::PARAM_COUNT];
    N::backward(
        weights,
        x,
        &mut dlogits,
        n,
        buffers.arena::<N>(n),
        &mut grads,
        &ctx,
    );
    let input = buffers.arena::<N>(n).f[n * in_start..n * in_end].to_vec();

    let mut layers = Vec::with_capacity(wanted.len());
    for (&(i, _), (data, seen)) in wanted.iter().zip(tap.out.into_inner()) {
        let layer = &N::LAYERS[i];
        if seen != n {
            let absorbed = i + 1 == N::LAYERS.len() && N::HEAD != Head::None;
            return Err(if absorbed {
                config(format!(
                    "{}: `{}` is the final {} that the loss absorbs; its output gradient is not \
                     computed: ask for the layer before it, whose output gradient is the loss's \
                     (p - target) / n",
                    N::NAME,
                    layer.name,
                    layer.kind
                ))
            } else {
                Error::LayerNotStored {
                    network: N::NAME,
                    layer: layer.name.into(),
                    step: N::PLAN.get(layer.step).map_or("", |s| s.layers),
                }
            });
        }
        let mut shape = vec![n];
        shape.extend_from_slice(layer.output_shape);
        layers.push(Batched {
            name: layer.name,
            shape,
            data,
        });
    }
    let mut shape = vec![n];
    shape.extend_from_slice(N::INPUT_SHAPE);
    Ok(Gradients {
        network: N::NAME,
        loss: sum.loss / n as f64,
        correct: sum.correct,
        input: Batched {
            name: "input",
            shape,
            data: input,
        },
        layers,
        params: grads,
        tensors: N::PARAMS,
    })
}
