// The expansion of `network!` for LeNet-5 (see src/golden.rs).
// Regenerate with `CNN_BLESS=1 cargo test -p cnn-macros golden`.

#[allow(non_snake_case)]
mod __cnn_LeNet5 {
    #[allow(unused_imports)]
    use super::*;
    /// LeNet-5 as most modern code writes it.
    ///
    /// Input `[1, 28, 28]`, output `[10]`; 61706 parameters, 416520 multiply-accumulates per sample.
    /// See [`LeNet5::summary`] for the layers and the inference plan.
    #[derive(Clone, Debug)]
    pub struct LeNet5 {
        weights: ::cnn::__private::v1::Weights,
    }
    /// Memory for one [`LeNet5::infer`] call: [`LeNet5::ARENA_BYTES`] bytes holding every activation (input included) and the kernels' scratch.
    #[allow(dead_code)]
    pub type LeNet5Arena = ::cnn::__private::v1::Arena<{ LeNet5::ARENA_LEN }>;
    impl LeNet5 {
        /// Shape of one input sample.
        pub const INPUT_SHAPE: [usize; 3] = [1, 28, 28];
        /// Values in one input sample.
        pub const INPUT_LEN: usize = 784;
        /// Shape of one output sample.
        pub const OUTPUT_SHAPE: [usize; 1] = [10];
        /// Values in one output sample.
        pub const OUTPUT_LEN: usize = 10;
        /// Number of parameters (weights, biases and buffers).
        pub const PARAM_COUNT: usize = 61706;
        /// Number of trained parameters (weights, biases, batch norm
        /// scales and shifts; not buffers): what PyTorch counts as
        /// `sum(p.numel() for p in model.parameters())`.
        pub const TRAINED_PARAM_COUNT: usize = 61706;
        /// Number of parameters inference reads: [`Self::PARAM_COUNT`], then
        /// the weight and bias of each batch normalisation folded into the
        /// conv or dense layer before it, then the transformed weights of
        /// each Winograd convolution (see `inference_weights`).
        pub const INFER_PARAM_COUNT: usize = 61706;
        /// Bytes of parameters (f32).
        pub const WEIGHT_BYTES: usize = 61706 * 4;
        /// Multiply-accumulates of one forward pass for one sample.
        pub const MACS: u64 = 416520;
        /// Activation floats of the inference arena (input included).
        pub const ACTIVATION_LEN: usize = 1960;
        /// Scratch floats the inference kernels need.
        pub const SCRATCH_LEN: usize = 0;
        /// Floats of the inference arena: activations, then scratch.
        pub const ARENA_LEN: usize = Self::ACTIVATION_LEN + Self::SCRATCH_LEN;
        /// Bytes of the inference arena.
        pub const ARENA_BYTES: usize = Self::ARENA_LEN * 4;
        /// Whether conv→ReLU→max-pool and similar chains run as fused kernels.
        pub const FUSED: bool = true;
        /// The layers, in order.
        pub const LAYERS: &'static [::cnn::__private::v1::LayerInfo] = &[
            ::cnn::__private::v1::LayerInfo {
                name: "conv1",
                kind: "conv",
                type_name: "Conv2D",
                output_shape: &[6, 28, 28],
                params: 156,
                macs: 117600,
                step: 0,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "relu1",
                kind: "relu",
                type_name: "ReLU",
                output_shape: &[6, 28, 28],
                params: 0,
                macs: 0,
                step: 0,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "max_pool1",
                kind: "max_pool",
                type_name: "MaxPool2D",
                output_shape: &[6, 14, 14],
                params: 0,
                macs: 0,
                step: 0,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "conv2",
                kind: "conv",
                type_name: "Conv2D",
                output_shape: &[16, 10, 10],
                params: 2416,
                macs: 240000,
                step: 1,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "relu2",
                kind: "relu",
                type_name: "ReLU",
                output_shape: &[16, 10, 10],
                params: 0,
                macs: 0,
                step: 1,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "max_pool2",
                kind: "max_pool",
                type_name: "MaxPool2D",
                output_shape: &[16, 5, 5],
                params: 0,
                macs: 0,
                step: 1,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "flatten1",
                kind: "flatten",
                type_name: "Flatten",
                output_shape: &[400],
                params: 0,
                macs: 0,
                step: 2,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "fc1",
                kind: "dense",
                type_name: "Dense",
                output_shape: &[120],
                params: 48120,
                macs: 48000,
                step: 3,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "relu3",
                kind: "relu",
                type_name: "ReLU",
                output_shape: &[120],
                params: 0,
                macs: 0,
                step: 3,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "fc2",
                kind: "dense",
                type_name: "Dense",
                output_shape: &[84],
                params: 10164,
                macs: 10080,
                step: 4,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "relu4",
                kind: "relu",
                type_name: "ReLU",
                output_shape: &[84],
                params: 0,
                macs: 0,
                step: 4,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "fc3",
                kind: "dense",
                type_name: "Dense",
                output_shape: &[10],
                params: 850,
                macs: 840,
                step: 5,
            },
            ::cnn::__private::v1::LayerInfo {
                name: "softmax1",
                kind: "softmax",
                type_name: "Softmax",
                output_shape: &[10],
                params: 0,
                macs: 0,
                step: 6,
            },
        ];
        /// The parameter tensors, with PyTorch names and layouts.
        pub const PARAMS: &'static [::cnn::__private::v1::ParamInfo] = &[
            ::cnn::__private::v1::ParamInfo {
                name: "conv1.weight",
                layer: 0,
                role: ::cnn::__private::v1::ParamRole::Weight,
                dtype: ::cnn::__private::v1::Dtype::F32,
                shape: &[6, 1, 5, 5],
                offset: 0,
                len: 150,
                fan_in: 25,
                fan_out: 150,
            },
            ::cnn::__private::v1::ParamInfo {
                name: "conv1.bias",
                layer: 0,
                role: ::cnn::__private::v1::ParamRole::Bias,
                dtype: ::cnn::__private::v1::Dtype::F32,
                shape: &[6],
                offset: 150,
                len: 6,
                fan_in: 25,
                fan_out: 150,
            },
            ::cnn::__private::v1::ParamInfo {
                name: "conv2.weight",
                layer: 3,
                role: ::cnn::__private::v1::ParamRole::Weight,
                dtype: ::cnn::__private::v1::Dtype::F32,
                shape: &[16, 6, 5, 5],
                offset: 156,
                len: 2400,
                fan_in: 150,
                fan_out: 400,
            },
            ::cnn::__private::v1::ParamInfo {
                name: "conv2.bias",
                layer: 3,
                role: ::cnn::__private::v1::ParamRole::Bias,
                dtype: ::cnn::__private::v1::Dtype::F32,
                shape: &[16],
                offset: 2556,
                len: 16,
                fan_in: 150,
                fan_out: 400,
            },
            ::cnn::__private::v1::ParamInfo {
                name: "fc1.weight",
                layer: 7,
                role: ::cnn::__private::v1::ParamRole::Weight,
                dtype: ::cnn::__private::v1::Dtype::F32,
                shape: &[120, 400],
                offset: 2572,
                len: 48000,
                fan_in: 400,
                fan_out: 120,
            },
            ::cnn::__private::v1::ParamInfo {
                name: "fc1.bias",
                layer: 7,
                role: ::cnn::__private::v1::ParamRole::Bias,
                dtype: ::cnn::__private::v1::Dtype::F32,
                shape: &[120],
                offset: 50572,
                len: 120,
                fan_in: 400,
                fan_out: 120,
            },
            ::cnn::__private::v1::ParamInfo {
                name: "fc2.weight",
                layer: 9,
                role: ::cnn::__private::v1::ParamRole::Weight,
                dtype: ::cnn::__private::v1::Dtype::F32,
                shape: &[84, 120],
                offset: 50692,
                len: 10080,
                fan_in: 120,
                fan_out: 84,
            },
            ::cnn::__private::v1::ParamInfo {
                name: "fc2.bias",
                layer: 9,
                role: ::cnn::__private::v1::ParamRole::Bias,
                dtype: ::cnn::__private::v1::Dtype::F32,
                shape: &[84],
                offset: 60772,
                len: 84,
                fan_in: 120,
                fan_out: 84,
            },
            ::cnn::__private::v1::ParamInfo {
                name: "fc3.weight",
                layer: 11,
                role: ::cnn::__private::v1::ParamRole::Weight,
                dtype: ::cnn::__private::v1::Dtype::F32,
                shape: &[10, 84],
                offset: 60856,
                len: 840,
                fan_in: 84,
                fan_out: 10,
            },
            ::cnn::__private::v1::ParamInfo {
                name: "fc3.bias",
                layer: 11,
                role: ::cnn::__private::v1::ParamRole::Bias,
                dtype: ::cnn::__private::v1::Dtype::F32,
                shape: &[10],
                offset: 61696,
                len: 10,
                fan_in: 84,
                fan_out: 10,
            },
        ];
        /// The kernel calls of single-sample inference and their arena regions.
        pub const PLAN: &'static [::cnn::__private::v1::PlanStep] = &[
            ::cnn::__private::v1::PlanStep {
                layers: "conv1 + relu1 + max_pool1",
                kernel: "conv→ReLU→max-pool (direct)",
                input: (1176, 1960),
                output: (0, 1176),
                output_within: (0, 1176),
            },
            ::cnn::__private::v1::PlanStep {
                layers: "conv2 + relu2 + max_pool2",
                kernel: "conv→ReLU→max-pool (direct)",
                input: (0, 1176),
                output: (1176, 1576),
                output_within: (1176, 1576),
            },
            ::cnn::__private::v1::PlanStep {
                layers: "flatten1",
                kernel: "none (a view)",
                input: (1176, 1576),
                output: (1176, 1576),
                output_within: (1176, 1576),
            },
            ::cnn::__private::v1::PlanStep {
                layers: "fc1 + relu3",
                kernel: "dense→ReLU",
                input: (1176, 1576),
                output: (0, 120),
                output_within: (0, 120),
            },
            ::cnn::__private::v1::PlanStep {
                layers: "fc2 + relu4",
                kernel: "dense→ReLU",
                input: (0, 120),
                output: (120, 204),
                output_within: (120, 204),
            },
            ::cnn::__private::v1::PlanStep {
                layers: "fc3",
                kernel: "dense",
                input: (120, 204),
                output: (0, 10),
                output_within: (0, 10),
            },
            ::cnn::__private::v1::PlanStep {
                layers: "softmax1",
                kernel: "softmax",
                input: (0, 10),
                output: (10, 20),
                output_within: (10, 20),
            },
        ];
        #[doc(hidden)]
        pub const fn __with_weights(weights: ::cnn::__private::v1::Weights) -> Self {
            LeNet5 { weights }
        }
    }
    ::cnn::__private::v1::network_api!(LeNet5, LeNet5Arena, __LeNet5, stack, plain);
    /// The named constants of [`LeNet5`]'s generated code.
    #[doc(hidden)]
    #[allow(non_snake_case)]
    mod __LeNet5 {
        use ::cnn::__private::v1;
        /// Where the input is in the inference arena.
        pub const INPUT: v1::Region = v1::Region::new(1176, 1960);
        /// Where the output is in the inference arena.
        pub const OUTPUT: v1::Region = v1::Region::new(10, 20);
        /// The last steps of the inference plan that batched inference runs on a whole group of samples at once (the steps that read each weight at most once per sample).
        pub const TAIL: ::core::option::Option<v1::BatchTail> = ::core::option::Option::Some(v1::BatchTail {
            step: 2,
            input: (1176, 1576),
            params: 59134,
        });
        /// The training arenas: floats and bytes per sample, scratch floats, the `f64` statistics of a step, and where the input's gradient is left.
        pub const TRAIN: v1::TrainLayout = v1::TrainLayout {
            f32_len: 2752,
            u8_len: 1780,
            scratch_len: 38432,
            stats_len: 0,
            input_grad: ::core::option::Option::Some((0, 784)),
        };
        /// The final activation the loss absorbs in training.
        pub const HEAD: v1::Head = v1::Head::Softmax;
        /// Values per sample of the training forward pass's result.
        pub const LOGITS_LEN: usize = 10;
        /// What a step keeps for its backward pass in the byte arena.
        pub mod bytes {
            use super::v1;
            pub const MAX_POOL1: v1::Region = v1::Region::new(0, 1176);
            pub const MAX_POOL2: v1::Region = v1::Region::new(1176, 1576);
            pub const RELU3: v1::Region = v1::Region::new(1576, 1696);
            pub const RELU4: v1::Region = v1::Region::new(1696, 1780);
        }
        /// Where each gradient is in the training arena.
        pub mod grad {
            use super::v1;
            pub const INPUT: v1::Region = v1::Region::new(0, 784);
            pub const MAX_POOL1: v1::Region = v1::Region::new(1176, 2352);
            pub const RELU3: v1::Region = v1::Region::new(1696, 1816);
            pub const RELU4: v1::Region = v1::Region::new(1816, 1900);
            pub const FLATTEN1: v1::Region = v1::Region::new(2352, 2752);
            pub const MAX_POOL2: v1::Region = v1::Region::new(2352, 2752);
        }
        /// Where each value is in the inference arena (floats per sample).
        pub mod infer {
            use super::v1;
            pub const FC3: v1::Region = v1::Region::new(0, 10);
            pub const MAX_POOL1: v1::Region = v1::Region::new(0, 1176);
            pub const RELU3: v1::Region = v1::Region::new(0, 120);
            pub const SOFTMAX1: v1::Region = v1::Region::new(10, 20);
            pub const RELU4: v1::Region = v1::Region::new(120, 204);
            pub const FLATTEN1: v1::Region = v1::Region::new(1176, 1576);
            pub const INPUT: v1::Region = v1::Region::new(1176, 1960);
            pub const MAX_POOL2: v1::Region = v1::Region::new(1176, 1576);
        }
        /// Kernel descriptors, with literal sizes.
        pub mod kernel {
            use super::v1;
            pub const CONV1: v1::Conv = v1::Conv {
                geom: v1::ConvGeom::new(1, 28, 28, 6, (5, 5), (1, 1), (2, 2)),
                algo: v1::ConvAlgo::Direct,
                act: v1::Act::Relu,
                pool: Some(v1::PoolGeom::new(6, 28, 28, (2, 2), (2, 2), (0, 0))),
                bias: true,
                groups: 1,
            };
            pub const CONV2: v1::Conv = v1::Conv {
                geom: v1::ConvGeom::new(6, 14, 14, 16, (5, 5), (1, 1), (0, 0)),
                algo: v1::ConvAlgo::Direct,
                act: v1::Act::Relu,
                pool: Some(v1::PoolGeom::new(16, 10, 10, (2, 2), (2, 2), (0, 0))),
                bias: true,
                groups: 1,
            };
            pub const FC1: v1::Dense = v1::Dense {
                inputs: 400,
                outputs: 120,
                act: v1::Act::Relu,
                bias: true,
            };
            pub const FC2: v1::Dense = v1::Dense {
                inputs: 120,
                outputs: 84,
                act: v1::Act::Relu,
                bias: true,
            };
            pub const FC3: v1::Dense = v1::Dense {
                inputs: 84,
                outputs: 10,
                act: v1::Act::Identity,
                bias: true,
            };
        }
        /// Each layer's index in `LAYERS`.
        pub mod layer {
            pub const CONV1: usize = 0;
            pub const RELU1: usize = 1;
            pub const MAX_POOL1: usize = 2;
            pub const CONV2: usize = 3;
            pub const RELU2: usize = 4;
            pub const MAX_POOL2: usize = 5;
            pub const FLATTEN1: usize = 6;
            pub const FC1: usize = 7;
            pub const RELU3: usize = 8;
            pub const FC2: usize = 9;
            pub const RELU4: usize = 10;
            pub const FC3: usize = 11;
        }
        /// Where each tensor is in the parameter buffer.
        pub mod param {
            pub const CONV1_WEIGHT: ::core::ops::Range<usize> = 0..150;
            pub const CONV1_BIAS: ::core::ops::Range<usize> = 150..156;
            pub const CONV2_WEIGHT: ::core::ops::Range<usize> = 156..2556;
            pub const CONV2_BIAS: ::core::ops::Range<usize> = 2556..2572;
            pub const FC1_WEIGHT: ::core::ops::Range<usize> = 2572..50572;
            pub const FC1_BIAS: ::core::ops::Range<usize> = 50572..50692;
            pub const FC2_WEIGHT: ::core::ops::Range<usize> = 50692..60772;
            pub const FC2_BIAS: ::core::ops::Range<usize> = 60772..60856;
            pub const FC3_WEIGHT: ::core::ops::Range<usize> = 60856..61696;
            pub const FC3_BIAS: ::core::ops::Range<usize> = 61696..61706;
        }
        /// Where each value is in the training arena (floats per sample).
        pub mod train {
            use super::v1;
            pub const MAX_POOL1: v1::Region = v1::Region::new(0, 1176);
            pub const FLATTEN1: v1::Region = v1::Region::new(1176, 1576);
            pub const MAX_POOL2: v1::Region = v1::Region::new(1176, 1576);
            pub const RELU3: v1::Region = v1::Region::new(1576, 1696);
            pub const RELU4: v1::Region = v1::Region::new(1696, 1780);
            pub const FC3: v1::Region = v1::Region::new(1780, 1790);
        }
    }
    impl LeNet5 {
        /// Inference of `n` samples in an arena of `n * ACTIVATION_LEN`
        /// floats (the inputs at `n *` their region) and then the scratch.
        /// `w` holds the inference parameters (`INFER_PARAM_COUNT`).
        #[doc(hidden)]
        #[inline]
        pub fn forward_arena_impl(w: &[f32], arena: &mut [f32], n: usize) {
            Self::forward_until_impl(w, arena, n, usize::MAX)
        }
        /// As `forward_arena_impl`, stopping after step `last` of `PLAN`.
        #[doc(hidden)]
        #[inline]
        pub fn forward_until_impl(w: &[f32], arena: &mut [f32], n: usize, last: usize) {
            Self::forward_steps_impl(w, arena, n, 0, last)
        }
        /// As `forward_until_impl`, starting at step `first` of `PLAN`:
        /// what the steps before it wrote must already be in `arena`.
        #[doc(hidden)]
        pub fn forward_steps_impl(
            w: &[f32],
            arena: &mut [f32],
            n: usize,
            first: usize,
            last: usize,
        ) {
            use ::cnn::__private::v1;
            #[allow(unused_imports)]
            use __LeNet5::*;
            let (a, scratch) = arena.split_at_mut(n * Self::ACTIVATION_LEN);
            if first == 0 {
                {
                    let ([x], [y]) = v1::carve(a, n, [infer::INPUT], [infer::MAX_POOL1]);
                    v1::fused::forward_direct_disjoint(
                        &kernel::CONV1,
                        v1::Params {
                            weight: &w[param::CONV1_WEIGHT],
                            bias: Some(&w[param::CONV1_BIAS]),
                        },
                        v1::Forward { x, y, aux: None, n },
                        scratch,
                    );
                }
            }
            if last < 1 {
                return;
            }
            if first <= 1 {
                {
                    let ([x], [y]) = v1::carve(
                        a,
                        n,
                        [infer::MAX_POOL1],
                        [infer::MAX_POOL2],
                    );
                    v1::fused::forward_direct_disjoint(
                        &kernel::CONV2,
                        v1::Params {
                            weight: &w[param::CONV2_WEIGHT],
                            bias: Some(&w[param::CONV2_BIAS]),
                        },
                        v1::Forward { x, y, aux: None, n },
                        scratch,
                    );
                }
            }
            if last < 3 {
                return;
            }
            if first <= 3 {
                {
                    let ([x], [y]) = v1::carve(a, n, [infer::FLATTEN1], [infer::RELU3]);
                    v1::dense::forward(
                        &kernel::FC1,
                        v1::Params {
                            weight: &w[param::FC1_WEIGHT],
                            bias: Some(&w[param::FC1_BIAS]),
                        },
                        v1::Forward { x, y, aux: None, n },
                    );
                }
            }
            if last < 4 {
                return;
            }
            if first <= 4 {
                {
                    let ([x], [y]) = v1::carve(a, n, [infer::RELU3], [infer::RELU4]);
                    v1::dense::forward(
                        &kernel::FC2,
                        v1::Params {
                            weight: &w[param::FC2_WEIGHT],
                            bias: Some(&w[param::FC2_BIAS]),
                        },
                        v1::Forward { x, y, aux: None, n },
                    );
                }
            }
            if last < 5 {
                return;
            }
            if first <= 5 {
                {
                    let ([x], [y]) = v1::carve(a, n, [infer::RELU4], [infer::FC3]);
                    v1::dense::forward(
                        &kernel::FC3,
                        v1::Params {
                            weight: &w[param::FC3_WEIGHT],
                            bias: Some(&w[param::FC3_BIAS]),
                        },
                        v1::Forward { x, y, aux: None, n },
                    );
                }
            }
            if last < 6 {
                return;
            }
            if first <= 6 {
                {
                    let ([x], [y]) = v1::carve(a, n, [infer::FC3], [infer::SOFTMAX1]);
                    v1::softmax::forward(10, x, y, n);
                }
            }
        }
        ::cnn::__private::v1::std_only! {
            #[doc = r" The output of layer `layer` (its index in `LAYERS`) inside a"]
            #[doc = r" fused step, which inference never stores, for the `n` samples"]
            #[doc = r" whose step input `forward_until_impl` left in `arena`: written"]
            #[doc = r" to `out` (`n` times the layer's output). Whether it can"] #[doc =
            r" compute the layer (with `n == 0`, computes nothing)."] #[doc(hidden)]
            #[allow(unused_variables)] pub fn forward_inner_impl(w : & [f32], arena : &
            mut [f32], n : usize, layer : usize, out : & mut [f32],) -> bool { use
            ::cnn::__private::v1; #[allow(unused_imports)] use __LeNet5:: *; let known =
            matches!(layer, 0 | 1 | 3 | 4 | 7 | 9); if n == 0 || ! known { return known;
            } let (a, _) = arena.split_at_mut(n * Self::ACTIVATION_LEN); match layer { 0
            => { let x = v1::region(a, n, infer::INPUT); let y = & mut * out;
            v1::inner_conv(& kernel::CONV1, false, v1::Params { weight : &
            w[param::CONV1_WEIGHT], bias : Some(& w[param::CONV1_BIAS]) }, x, y, n); } 1
            => { let x = v1::region(a, n, infer::INPUT); let y = & mut * out;
            v1::inner_conv(& kernel::CONV1, true, v1::Params { weight : &
            w[param::CONV1_WEIGHT], bias : Some(& w[param::CONV1_BIAS]) }, x, y, n); } 3
            => { let x = v1::region(a, n, infer::MAX_POOL1); let y = & mut * out;
            v1::inner_conv(& kernel::CONV2, false, v1::Params { weight : &
            w[param::CONV2_WEIGHT], bias : Some(& w[param::CONV2_BIAS]) }, x, y, n); } 4
            => { let x = v1::region(a, n, infer::MAX_POOL1); let y = & mut * out;
            v1::inner_conv(& kernel::CONV2, true, v1::Params { weight : &
            w[param::CONV2_WEIGHT], bias : Some(& w[param::CONV2_BIAS]) }, x, y, n); } 7
            => { let x = v1::region(a, n, infer::FLATTEN1); let y = & mut * out;
            v1::inner_dense(& kernel::FC1, v1::Params { weight : & w[param::FC1_WEIGHT],
            bias : Some(& w[param::FC1_BIAS]) }, x, y, n); } 9 => { let x = v1::region(a,
            n, infer::RELU3); let y = & mut * out; v1::inner_dense(& kernel::FC2,
            v1::Params { weight : & w[param::FC2_WEIGHT], bias : Some(&
            w[param::FC2_BIAS]) }, x, y, n); } _ => {} } true }
        }
        /// The training forward pass of `n` samples: writes the logits
        /// (the output before a loss head) and keeps what
        /// [`Self::backward_impl`] reads.
        #[doc(hidden)]
        pub fn forward_train_impl(
            w: &[f32],
            input: &[f32],
            logits: &mut [f32],
            n: usize,
            arena: ::cnn::__private::v1::TrainArena<'_>,
            ctx: &::cnn::__private::v1::StepContext<'_>,
        ) {
            use ::cnn::__private::v1;
            #[allow(unused_imports)]
            use __LeNet5::*;
            let v1::TrainArena { f, m, scratch, stats } = arena;
            let _ = stats;
            let _ = ctx;
            {
                let y = v1::region_mut(f, n, train::MAX_POOL1);
                let aux = v1::region_mut(m, n, bytes::MAX_POOL1);
                let x = input;
                v1::fused::forward_direct_disjoint(
                    &kernel::CONV1,
                    v1::Params {
                        weight: &w[param::CONV1_WEIGHT],
                        bias: Some(&w[param::CONV1_BIAS]),
                    },
                    v1::Forward {
                        x,
                        y,
                        aux: Some(aux),
                        n,
                    },
                    scratch,
                );
            }
            {
                let ([x], [y]) = v1::carve(f, n, [train::MAX_POOL1], [train::MAX_POOL2]);
                let aux = v1::region_mut(m, n, bytes::MAX_POOL2);
                v1::fused::forward_direct_disjoint(
                    &kernel::CONV2,
                    v1::Params {
                        weight: &w[param::CONV2_WEIGHT],
                        bias: Some(&w[param::CONV2_BIAS]),
                    },
                    v1::Forward {
                        x,
                        y,
                        aux: Some(aux),
                        n,
                    },
                    scratch,
                );
            }
            {
                let ([x], [y]) = v1::carve(f, n, [train::FLATTEN1], [train::RELU3]);
                let aux = v1::region_mut(m, n, bytes::RELU3);
                v1::dense::forward(
                    &kernel::FC1,
                    v1::Params {
                        weight: &w[param::FC1_WEIGHT],
                        bias: Some(&w[param::FC1_BIAS]),
                    },
                    v1::Forward {
                        x,
                        y,
                        aux: Some(aux),
                        n,
                    },
                );
            }
            {
                let ([x], [y]) = v1::carve(f, n, [train::RELU3], [train::RELU4]);
                let aux = v1::region_mut(m, n, bytes::RELU4);
                v1::dense::forward(
                    &kernel::FC2,
                    v1::Params {
                        weight: &w[param::FC2_WEIGHT],
                        bias: Some(&w[param::FC2_BIAS]),
                    },
                    v1::Forward {
                        x,
                        y,
                        aux: Some(aux),
                        n,
                    },
                );
            }
            {
                let ([x], [y]) = v1::carve(f, n, [train::RELU4], [train::FC3]);
                v1::dense::forward(
                    &kernel::FC3,
                    v1::Params {
                        weight: &w[param::FC3_WEIGHT],
                        bias: Some(&w[param::FC3_BIAS]),
                    },
                    v1::Forward { x, y, aux: None, n },
                );
            }
            logits[..n * 10].copy_from_slice(v1::region(f, n, train::FC3));
        }
        /// The backward pass after [`Self::forward_train_impl`] on the same
        /// arena: adds the parameter gradients into `grads`.
        #[doc(hidden)]
        pub fn backward_impl(
            w: &[f32],
            input: &[f32],
            dlogits: &mut [f32],
            n: usize,
            arena: ::cnn::__private::v1::TrainArena<'_>,
            grads: &mut [f32],
            ctx: &::cnn::__private::v1::StepContext<'_>,
        ) {
            use ::cnn::__private::v1;
            #[allow(unused_imports)]
            use __LeNet5::*;
            let v1::TrainArena { f, m, scratch, stats } = arena;
            let _ = stats;
            if !ctx.needs_backward(layer::FC3) {
                return;
            }
            ctx.tap(layer::FC3, dlogits, n, 10);
            {
                let [d_weight, d_bias] = v1::param_grads(
                    grads,
                    ctx.is_trainable(layer::FC3),
                    [param::FC3_WEIGHT, param::FC3_BIAS],
                );
                let ([x], [dx]) = v1::carve(f, n, [train::RELU4], [grad::RELU4]);
                let dy = &mut dlogits[..n * 10];
                v1::dense::backward(
                    &kernel::FC3,
                    &w[param::FC3_WEIGHT],
                    v1::Backward {
                        x,
                        y: None,
                        aux: None,
                        dy,
                        dx: if ctx.needs_input_grad(layer::FC3) {
                            Some(dx)
                        } else {
                            None
                        },
                        n,
                    },
                    v1::Grads {
                        weight: d_weight,
                        bias: d_bias,
                    },
                );
            }
            if !ctx.needs_backward(layer::RELU4) {
                return;
            }
            v1::tap(ctx, layer::RELU4, f, n, grad::RELU4);
            v1::tap_dense(
                ctx,
                &kernel::FC2,
                layer::FC2,
                v1::Samples::region(f, n, grad::RELU4),
                None,
                Some(v1::region(m, n, bytes::RELU4)),
            );
            {
                let [d_weight, d_bias] = v1::param_grads(
                    grads,
                    ctx.is_trainable(layer::FC2),
                    [param::FC2_WEIGHT, param::FC2_BIAS],
                );
                let ([x], [dy, dx]) = v1::carve(
                    f,
                    n,
                    [train::RELU3],
                    [grad::RELU4, grad::RELU3],
                );
                let aux = v1::region(m, n, bytes::RELU4);
                v1::dense::backward(
                    &kernel::FC2,
                    &w[param::FC2_WEIGHT],
                    v1::Backward {
                        x,
                        y: None,
                        aux: Some(aux),
                        dy,
                        dx: if ctx.needs_input_grad(layer::FC2) {
                            Some(dx)
                        } else {
                            None
                        },
                        n,
                    },
                    v1::Grads {
                        weight: d_weight,
                        bias: d_bias,
                    },
                );
            }
            if !ctx.needs_backward(layer::RELU3) {
                return;
            }
            v1::tap(ctx, layer::RELU3, f, n, grad::RELU3);
            v1::tap_dense(
                ctx,
                &kernel::FC1,
                layer::FC1,
                v1::Samples::region(f, n, grad::RELU3),
                None,
                Some(v1::region(m, n, bytes::RELU3)),
            );
            {
                let [d_weight, d_bias] = v1::param_grads(
                    grads,
                    ctx.is_trainable(layer::FC1),
                    [param::FC1_WEIGHT, param::FC1_BIAS],
                );
                let ([x], [dy, dx]) = v1::carve(
                    f,
                    n,
                    [train::FLATTEN1],
                    [grad::RELU3, grad::FLATTEN1],
                );
                let aux = v1::region(m, n, bytes::RELU3);
                v1::dense::backward(
                    &kernel::FC1,
                    &w[param::FC1_WEIGHT],
                    v1::Backward {
                        x,
                        y: None,
                        aux: Some(aux),
                        dy,
                        dx: if ctx.needs_input_grad(layer::FC1) {
                            Some(dx)
                        } else {
                            None
                        },
                        n,
                    },
                    v1::Grads {
                        weight: d_weight,
                        bias: d_bias,
                    },
                );
            }
            if !ctx.needs_backward(layer::FLATTEN1) {
                return;
            }
            v1::tap(ctx, layer::FLATTEN1, f, n, grad::FLATTEN1);
            if !ctx.needs_backward(layer::MAX_POOL2) {
                return;
            }
            v1::tap(ctx, layer::MAX_POOL2, f, n, grad::MAX_POOL2);
            v1::tap_conv(
                ctx,
                &kernel::CONV2,
                &[layer::CONV2, layer::RELU2],
                v1::Samples::region(f, n, grad::MAX_POOL2),
                v1::region(m, n, bytes::MAX_POOL2),
            );
            {
                let [d_weight, d_bias] = v1::param_grads(
                    grads,
                    ctx.is_trainable(layer::CONV2),
                    [param::CONV2_WEIGHT, param::CONV2_BIAS],
                );
                let ([x], [dy, dx]) = v1::carve(
                    f,
                    n,
                    [train::MAX_POOL1],
                    [grad::MAX_POOL2, grad::MAX_POOL1],
                );
                let aux = v1::region(m, n, bytes::MAX_POOL2);
                v1::conv::backward(
                    &kernel::CONV2,
                    &w[param::CONV2_WEIGHT],
                    v1::Backward {
                        x,
                        y: None,
                        aux: Some(aux),
                        dy,
                        dx: if ctx.needs_input_grad(layer::CONV2) {
                            Some(dx)
                        } else {
                            None
                        },
                        n,
                    },
                    v1::Grads {
                        weight: d_weight,
                        bias: d_bias,
                    },
                    scratch,
                );
            }
            if !ctx.needs_backward(layer::MAX_POOL1) {
                return;
            }
            v1::tap(ctx, layer::MAX_POOL1, f, n, grad::MAX_POOL1);
            v1::tap_conv(
                ctx,
                &kernel::CONV1,
                &[layer::CONV1, layer::RELU1],
                v1::Samples::region(f, n, grad::MAX_POOL1),
                v1::region(m, n, bytes::MAX_POOL1),
            );
            {
                let [d_weight, d_bias] = v1::param_grads(
                    grads,
                    ctx.is_trainable(layer::CONV1),
                    [param::CONV1_WEIGHT, param::CONV1_BIAS],
                );
                let aux = v1::region(m, n, bytes::MAX_POOL1);
                let ([], [dy, dx]) = v1::carve(f, n, [], [grad::MAX_POOL1, grad::INPUT]);
                let x = input;
                v1::conv::backward(
                    &kernel::CONV1,
                    &w[param::CONV1_WEIGHT],
                    v1::Backward {
                        x,
                        y: None,
                        aux: Some(aux),
                        dy,
                        dx: if ctx.needs_input_grad(layer::CONV1) {
                            Some(dx)
                        } else {
                            None
                        },
                        n,
                    },
                    v1::Grads {
                        weight: d_weight,
                        bias: d_bias,
                    },
                    scratch,
                );
            }
        }
        /// After a training step: updates the buffers among the parameters
        /// (running statistics) from the step's statistics.
        #[doc(hidden)]
        pub fn update_buffers_impl(w: &mut [f32], stats: &[f64]) {
            #[allow(unused_imports)]
            use ::cnn::__private::v1;
            #[allow(unused_imports)]
            use __LeNet5::*;
            let _ = w;
            let _ = stats;
        }
    }
    impl ::cnn::__private::v1::ArenaOf<LeNet5> for LeNet5Arena {}
}
#[allow(unused_imports)]
pub use __cnn_LeNet5::*;
const _: () = ::cnn::__private::v1::assert_arena::<LeNet5, LeNet5Arena>();
