//! The buffers a layer kernel reads and writes, grouped by role. Every
//! buffer holds the `n` samples of one call back to back; the shapes below
//! are per call (`in`, `out`: one sample's input and output lengths, e.g.
//! `[C, H, W]` and `[K, OH, OW]` for a convolution).

/// A layer's parameters.
#[derive(Clone, Copy, Debug)]
pub struct Params<'a> {
    /// Weights: `[K, C / groups, kh, kw]` for a convolution, `[outputs,
    /// inputs]` for a dense layer (PyTorch's layouts).
    pub weight: &'a [f32],
    /// Bias, `[K]` or `[outputs]`, if the layer has one.
    pub bias: Option<&'a [f32]>,
}

/// Buffers of one forward call on `n` samples.
#[derive(Debug)]
pub struct Forward<'a> {
    /// Input, `[n, in]`.
    pub x: &'a [f32],
    /// Output, `[n, out]` (written).
    pub y: &'a mut [f32],
    /// What the backward pass needs besides the input, `[n, out]` bytes
    /// (written; training only, `None` for inference): the ReLU mask (1
    /// where the output is positive), or with a fused max-pool the argmax
    /// of each window (`cnn_spec::INACTIVE` where the ReLU is off).
    pub aux: Option<&'a mut [u8]>,
    /// Samples.
    pub n: usize,
}

/// Buffers of one backward call on `n` samples.
#[derive(Debug)]
pub struct Backward<'a> {
    /// The forward pass's input, `[n, in]`.
    pub x: &'a [f32],
    /// The forward pass's output, `[n, out]`: needed for sigmoid and tanh
    /// only, `None` otherwise.
    pub y: Option<&'a [f32]>,
    /// What the forward pass wrote to [`Forward::aux`], `[n, out]`.
    pub aux: Option<&'a [u8]>,
    /// Gradient of the output, `[n, out]`; overwritten with the gradient
    /// before the activation.
    pub dy: &'a mut [f32],
    /// Gradient of the input, `[n, in]` (written); `None` when it is not
    /// wanted (the first layer, or layers before a frozen prefix).
    pub dx: Option<&'a mut [f32]>,
    /// Samples.
    pub n: usize,
}

/// Parameter gradients, in the parameters' layouts. Backward passes *add*
/// into them, so a batch can be accumulated in pieces; `None` skips one (a
/// frozen layer, or a layer without a bias).
#[derive(Debug, Default)]
pub struct Grads<'a> {
    /// Weight gradient.
    pub weight: Option<&'a mut [f32]>,
    /// Bias gradient.
    pub bias: Option<&'a mut [f32]>,
}

/// Checks that a buffer holds at least `want` values.
#[inline]
pub(crate) fn check_len(what: &str, got: usize, want: usize) {
    assert!(
        got >= want,
        "cnn-runtime: {what} buffer holds {got} values, the layer needs {want}"
    );
}
