//! `network_api!`: the methods every network has, written once.
//!
//! The `network!` macro declares a network's struct, its arena type and its
//! constants (shapes, counts, tables), a hidden module of named constants,
//! and the three functions that differ between networks:
//! `forward_arena_impl`, `forward_train_impl` and `backward_impl`. It then
//! calls this macro, which adds everything else: constructors, inference
//! entry points, files, batches and the [`Network`](crate::Network) impl.

/// Adds the common methods to a network declared by `network!`. Called by
/// the code `network!` generates; not a stable API.
///
/// `network_api!(Name, NameArena, __Name, stack, plain)`: the struct, its
/// arena type, its hidden module of constants (`INPUT`, `OUTPUT`: regions
/// of the inference arena; `TRAIN`, `HEAD`, `LOGITS_LEN`: the training
/// plan), where `predict` keeps its arena (`stack` or `heap`), and whether
/// inference reads the parameters as they are (`plain`) or with batch
/// normalisations folded in (`fold`: the struct has a `folded:`
/// [`Folded`](crate::Folded) field and the network a `fold_impl`).
///
/// Every constructor goes through `Self::__with_weights`, which the macro
/// writes with the struct.
#[macro_export]
#[doc(hidden)]
macro_rules! __network_api_v1 {
    ($name:ident, $arena:ident, $module:ident, $predict:ident, $fold:ident) => {
        impl $name {
            /// The per-layer table, totals and inference plan, printable
            /// like Keras' `model.summary()`.
            pub const fn summary() -> $crate::Summary {
                $crate::Summary {
                    name: $crate::private::v1::unraw(stringify!($name)),
                    input_shape: &Self::INPUT_SHAPE,
                    layers: Self::LAYERS,
                    tensors: Self::PARAMS,
                    plan: Self::PLAN,
                    params: Self::PARAM_COUNT,
                    macs: Self::MACS,
                    fused: Self::FUSED,
                    activation_floats: Self::ACTIVATION_LEN,
                    scratch_floats: Self::SCRATCH_LEN,
                }
            }

            /// The parameters: every tensor of [`Self::PARAMS`] at its offset.
            pub fn weights(&self) -> &[f32] {
                self.weights.as_slice()
            }

            $crate::__network_api_v1!(@$fold $name);

            /// Runs one sample in a caller-supplied arena. Allocates nothing
            /// and cannot panic on any input: NaN in gives NaN out.
            pub fn infer(
                &self,
                input: &[f32; Self::INPUT_LEN],
                arena: &mut $crate::private::v1::Arena<{ $name::ARENA_LEN }>,
            ) -> [f32; Self::OUTPUT_LEN] {
                Self::run_one(self.inference_weights(), input, arena.as_mut_slice())
            }

            /// As [`Self::infer`], with inference parameters from any buffer:
            /// the parameters, then any folded tensors (see
            /// [`Self::inference_weights`]).
            pub fn infer_with(
                weights: &[f32; Self::INFER_PARAM_COUNT],
                input: &[f32; Self::INPUT_LEN],
                arena: &mut $crate::private::v1::Arena<{ $name::ARENA_LEN }>,
            ) -> [f32; Self::OUTPUT_LEN] {
                Self::run_one(weights, input, arena.as_mut_slice())
            }

            /// The input region of `arena`: write a sample here and call
            /// [`Self::infer_in_place`] to skip the copy [`Self::infer`] makes.
            pub fn arena_input(arena: &mut $crate::private::v1::Arena<{ $name::ARENA_LEN }>) -> &mut [f32; Self::INPUT_LEN] {
                $crate::private::v1::input_of(arena.as_mut_slice(), $module::INPUT.start)
            }

            /// Runs the sample already in [`Self::arena_input`]. Allocates
            /// nothing and cannot panic on any input.
            pub fn infer_in_place(&self, arena: &mut $crate::private::v1::Arena<{ $name::ARENA_LEN }>) -> [f32; Self::OUTPUT_LEN] {
                let arena = arena.as_mut_slice();
                Self::forward_arena_impl(self.inference_weights(), arena, 1);
                $crate::private::v1::output_of(arena, $module::OUTPUT.start)
            }

            /// Runs one sample up to the layer called `layer` and returns
            /// that layer's output (`[C, H, W]` or `[N]`, as in
            /// [`Self::LAYERS`]), which stays in `arena`. Allocates nothing.
            ///
            /// Errs for an unknown name, and for a layer computed inside a
            /// fused step (a conv or ReLU fused with what follows it), whose
            /// output is never stored and has no room in the arena: read
            /// the step's last layer, use `activations` (which
            /// computes it, on the heap), or declare the network with
            /// `#[cnn(fuse = false)]`.
            pub fn infer_layer<'a>(
                &self,
                input: &[f32; Self::INPUT_LEN],
                layer: &str,
                arena: &'a mut $crate::private::v1::Arena<{ $name::ARENA_LEN }>,
            ) -> ::core::result::Result<&'a [f32], $crate::layer_output::LayerOutputError> {
                let at = $crate::layer_output::locate(Self::LAYERS, Self::PLAN, layer)?;
                let arena = arena.as_mut_slice();
                *$crate::private::v1::input_of(arena, $module::INPUT.start) = *input;
                Self::forward_until_impl(self.inference_weights(), arena, 1, at.step);
                Ok(&arena[at.region.0..at.region.1])
            }

            $crate::__network_api_v1!(@predict $predict, $name);

            fn run_one(
                weights: &[f32],
                input: &[f32; Self::INPUT_LEN],
                arena: &mut [f32],
            ) -> [f32; Self::OUTPUT_LEN] {
                *$crate::private::v1::input_of(arena, $module::INPUT.start) = *input;
                Self::forward_arena_impl(weights, arena, 1);
                $crate::private::v1::output_of(arena, $module::OUTPUT.start)
            }
        }

        $crate::__std_only! {
            impl $name {
                /// A network initialised by `init`, reproducibly from `seed`.
                ///
                /// # Panics
                ///
                /// If `init`'s settings are out of range (a Gaussian's
                /// `std` must be positive and finite); [`Self::try_new`]
                /// returns that error instead.
                pub fn new(init: $crate::Init, seed: u64) -> Self {
                    $crate::private::v1::new_network(init, seed)
                }

                /// As [`Self::new`], with an error ([`Error::Config`]($crate::Error::Config))
                /// naming the setting, its value and the range allowed if
                /// `init`'s settings are out of range.
                pub fn try_new(init: $crate::Init, seed: u64) -> $crate::Result<Self> {
                    $crate::private::v1::try_new_network(init, seed)
                }

                /// A network with every weight and bias zero.
                pub fn zeros() -> Self {
                    Self::new($crate::Init::Zeros, 0)
                }

                /// A network owning `weights`, which must hold [`Self::PARAM_COUNT`] values.
                pub fn from_weights(weights: $crate::private::v1::Vec<f32>) -> $crate::Result<Self> {
                    $crate::private::v1::from_weights(weights)
                }

                /// The parameters, mutably (a static buffer is copied first).
                pub fn weights_mut(&mut self) -> &mut [f32] {
                    self.__changing_weights();
                    self.weights.make_mut()
                }

                /// Re-initialises one layer's parameters (by layer name).
                pub fn reinitialize_layer(
                    &mut self,
                    layer: &str,
                    init: $crate::Init,
                    seed: u64,
                ) -> $crate::Result<()> {
                    $crate::private::v1::reinitialize_layer(self, layer, init, seed)
                }

                /// A network with parameters read from a safetensors file
                /// with PyTorch `state_dict` names.
                pub fn from_safetensors(
                    path: impl ::core::convert::AsRef<$crate::private::v1::Path>,
                ) -> $crate::Result<Self> {
                    $crate::private::v1::from_safetensors(path.as_ref())
                }

                /// Replaces the parameters with those of a safetensors file.
                /// All or nothing: on error the network is unchanged.
                pub fn load_safetensors(
                    &mut self,
                    path: impl ::core::convert::AsRef<$crate::private::v1::Path>,
                ) -> $crate::Result<()> {
                    self.load_safetensors_with(path, $crate::LoadOptions::default())
                }

                /// As [`Self::load_safetensors`], with options (for example
                /// [`LoadOptions::ignore_unknown`]($crate::LoadOptions::ignore_unknown)).
                pub fn load_safetensors_with(
                    &mut self,
                    path: impl ::core::convert::AsRef<$crate::private::v1::Path>,
                    options: $crate::LoadOptions,
                ) -> $crate::Result<()> {
                    $crate::private::v1::load_safetensors(self, path.as_ref(), options)
                }

                /// Writes the parameters as safetensors, atomically (a crash
                /// leaves the old file whole).
                pub fn save_safetensors(
                    &self,
                    path: impl ::core::convert::AsRef<$crate::private::v1::Path>,
                ) -> $crate::Result<()> {
                    $crate::io::safetensors::save(path.as_ref(), Self::PARAMS, self.weights.as_slice())
                }

                /// Runs a batch `[n, INPUT_SHAPE...]`, returning `[n, OUTPUT_SHAPE...]`.
                /// Large batches are split across threads (see [`set_threads`]($crate::set_threads)).
                pub fn predict_batch(&self, inputs: &[f32]) -> $crate::Result<$crate::private::v1::Vec<f32>> {
                    $crate::batch::predict(self, inputs)
                }

                /// The outputs of the layer called `layer` for a batch
                /// `[n, INPUT_SHAPE...]`: `[n, the layer's output shape...]`
                /// (see [`batch::activations`]($crate::batch::activations)).
                /// Any layer can be read: what the plan stores is read
                /// where it is, a layer inside a fused step (the conv of a
                /// fused conv→ReLU→max-pool) is computed from the step's
                /// input by the unfused kernel.
                pub fn activations(
                    &self,
                    layer: &str,
                    inputs: &[f32],
                ) -> $crate::Result<$crate::private::v1::Vec<f32>> {
                    $crate::batch::activations(self, layer, inputs)
                }

                /// The mean loss of the batch `inputs` (`[n, INPUT_SHAPE...]`)
                /// with `targets`, and its gradients with respect to the input
                /// (saliency) and to every parameter tensor by name; see
                /// [`train::gradients`]($crate::train::gradients) for the mode
                /// (that of a training step) and the errors.
                pub fn gradients(
                    &self,
                    inputs: &[f32],
                    targets: $crate::train::TargetRef<'_>,
                ) -> $crate::Result<$crate::train::Gradients> {
                    $crate::train::gradients(self, inputs, targets, &::core::default::Default::default())
                }

                /// As [`Self::gradients`], with the options: layers whose
                /// output gradient to keep, the loss, the dropout seed.
                pub fn gradients_with(
                    &self,
                    inputs: &[f32],
                    targets: $crate::train::TargetRef<'_>,
                    options: &$crate::train::GradientOptions,
                ) -> $crate::Result<$crate::train::Gradients> {
                    $crate::train::gradients(self, inputs, targets, options)
                }

                /// Runs a batch into a caller-supplied output buffer.
                pub fn forward_batch(&self, inputs: &[f32], outputs: &mut [f32]) -> $crate::Result<()> {
                    $crate::batch::forward(self, inputs, outputs)
                }
            }

            impl $crate::Network for $name {
                const NAME: &'static str = $crate::private::v1::unraw(stringify!($name));
                const INPUT_SHAPE: &'static [usize] = &$name::INPUT_SHAPE;
                const OUTPUT_SHAPE: &'static [usize] = &$name::OUTPUT_SHAPE;
                const INPUT_LEN: usize = $name::INPUT_LEN;
                const OUTPUT_LEN: usize = $name::OUTPUT_LEN;
                const PARAM_COUNT: usize = $name::PARAM_COUNT;
                const MACS: u64 = $name::MACS;
                const LAYERS: &'static [$crate::LayerInfo] = $name::LAYERS;
                const PARAMS: &'static [$crate::ParamInfo] = $name::PARAMS;
                const PLAN: &'static [$crate::PlanStep] = $name::PLAN;
                const HEAD: $crate::Head = $module::HEAD;
                const INFER: $crate::network::InferLayout = $crate::network::InferLayout {
                    act_len: $name::ACTIVATION_LEN,
                    scratch_len: $name::SCRATCH_LEN,
                    input: ($module::INPUT.start, $module::INPUT.end),
                    output: ($module::OUTPUT.start, $module::OUTPUT.end),
                    tail: $module::TAIL,
                };
                const TRAIN: $crate::network::TrainLayout = $module::TRAIN;

                const INFER_PARAM_COUNT: usize = $name::INFER_PARAM_COUNT;

                fn from_weight_vec(weights: $crate::private::v1::Vec<f32>) -> Self {
                    $name::__with_weights($crate::Weights::from_vec(weights))
                }
                fn weights(&self) -> &[f32] {
                    self.weights.as_slice()
                }
                fn weights_mut(&mut self) -> &mut [f32] {
                    $name::weights_mut(self)
                }
                fn inference_weights(&self) -> &[f32] {
                    $name::inference_weights(self)
                }
                fn summary() -> $crate::Summary {
                    $name::summary()
                }
                fn logits_len() -> usize {
                    $module::LOGITS_LEN
                }
                fn update_buffers(weights: &mut [f32], stats: &[f64]) {
                    $name::update_buffers_impl(weights, stats)
                }
                fn forward_arena(weights: &[f32], arena: &mut [f32], n: usize) {
                    $name::forward_arena_impl(weights, arena, n)
                }
                fn forward_until(weights: &[f32], arena: &mut [f32], n: usize, last: usize) {
                    $name::forward_until_impl(weights, arena, n, last)
                }
                fn forward_steps(
                    weights: &[f32],
                    arena: &mut [f32],
                    n: usize,
                    first: usize,
                    last: usize,
                ) {
                    $name::forward_steps_impl(weights, arena, n, first, last)
                }
                fn forward_inner(
                    weights: &[f32],
                    arena: &mut [f32],
                    n: usize,
                    layer: usize,
                    out: &mut [f32],
                ) -> bool {
                    $name::forward_inner_impl(weights, arena, n, layer, out)
                }
                fn forward_train(
                    weights: &[f32],
                    x: &[f32],
                    logits: &mut [f32],
                    n: usize,
                    arena: $crate::network::TrainArena<'_>,
                    ctx: &$crate::network::StepContext<'_>,
                ) {
                    $name::forward_train_impl(weights, x, logits, n, arena, ctx)
                }
                fn backward(
                    weights: &[f32],
                    x: &[f32],
                    dlogits: &mut [f32],
                    n: usize,
                    arena: $crate::network::TrainArena<'_>,
                    grads: &mut [f32],
                    ctx: &$crate::network::StepContext<'_>,
                ) {
                    $name::backward_impl(weights, x, dlogits, n, arena, grads, ctx)
                }
            }
        }
    };
    (@plain $name:ident) => {
        /// A network using a static parameter buffer (no copy).
        pub const fn from_static(weights: &'static [f32; Self::PARAM_COUNT]) -> Self {
            Self::__with_weights($crate::Weights::from_static(weights))
        }

        /// The parameters inference reads: [`Self::weights`] (this network
        /// folds nothing, so [`Self::INFER_PARAM_COUNT`] is
        /// [`Self::PARAM_COUNT`]).
        #[inline]
        pub fn inference_weights(&self) -> &[f32] {
            self.weights.as_slice()
        }

        #[allow(dead_code)]
        fn __changing_weights(&mut self) {}
    };
    (@fold $name:ident) => {
        $crate::__std_only! {
            /// A network using a static parameter buffer (no copy of it;
            /// the folded tensors are computed on first use). Needs `std`;
            /// without it, compile the weights in with
            /// `#[cnn(weights = "...")]` and use `embedded()`, which folds
            /// at compile time.
            pub const fn from_static(weights: &'static [f32; Self::PARAM_COUNT]) -> Self {
                Self::__with_weights($crate::Weights::from_static(weights))
            }
        }

        /// The parameters inference reads ([`Self::INFER_PARAM_COUNT`]
        /// values): [`Self::weights`], then each batch normalisation folded
        /// into the conv or dense layer before it (weight, then bias), so
        /// that inference pays nothing for it, then the weights of each
        /// Winograd convolution transformed once (36 values per 3x3
        /// filter), so that no inference call transforms them. Compiled
        /// in, or computed on first use after the parameters change.
        #[inline]
        pub fn inference_weights(&self) -> &[f32] {
            self.folded.get(self.weights.as_slice(), Self::INFER_PARAM_COUNT, Self::fold_impl)
        }

        #[allow(dead_code)]
        fn __changing_weights(&mut self) {
            $crate::__std_only! { self.folded.reset(); }
        }
    };
    (@predict stack, $name:ident) => {
        /// Runs one sample. The arena lives on the stack: no heap allocation.
        pub fn predict(&self, input: &[f32; Self::INPUT_LEN]) -> [f32; Self::OUTPUT_LEN] {
            let mut arena = $crate::private::v1::Arena::<{ $name::ARENA_LEN }>::new();
            self.infer(input, &mut arena)
        }
    };
    (@predict heap, $name:ident) => {
        $crate::__std_only! {
            /// Runs one sample. This network's arena is too large for the
            /// stack, so it is allocated for the call; use [`Self::infer`]
            /// with a reused arena to avoid that.
            pub fn predict(&self, input: &[f32; Self::INPUT_LEN]) -> [f32; Self::OUTPUT_LEN] {
                let mut arena = $crate::private::v1::zeroed(Self::ARENA_LEN);
                Self::run_one(self.inference_weights(), input, &mut arena)
            }
        }
    };
}
