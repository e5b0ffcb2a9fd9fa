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
/// `network_api!(Name, NameArena, __Name, stack)`: the struct, its arena
/// type, its hidden module of constants (`INPUT`, `OUTPUT`: regions of the
/// inference arena; `TRAIN`, `HEAD`, `LOGITS_LEN`: the training plan), and
/// where `predict` keeps its arena (`stack` or `heap`).
#[macro_export]
#[doc(hidden)]
macro_rules! __network_api_v1 {
    ($name:ident, $arena:ident, $module:ident, $predict:ident) => {
        impl $name {
            /// The per-layer table, totals and inference plan, printable
            /// like Keras' `model.summary()`.
            pub const fn summary() -> $crate::Summary {
                $crate::Summary {
                    name: stringify!($name),
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

            /// A network using a static parameter buffer (no copy).
            pub const fn from_static(weights: &'static [f32; Self::PARAM_COUNT]) -> Self {
                $name {
                    weights: $crate::Weights::from_static(weights),
                }
            }

            /// The parameters: every tensor of [`Self::PARAMS`] at its offset.
            pub fn weights(&self) -> &[f32] {
                self.weights.as_slice()
            }

            /// Runs one sample in a caller-supplied arena. Allocates nothing
            /// and cannot panic on any input: NaN in gives NaN out.
            pub fn infer(
                &self,
                input: &[f32; Self::INPUT_LEN],
                arena: &mut $arena,
            ) -> [f32; Self::OUTPUT_LEN] {
                Self::run_one(self.weights.as_slice(), input, arena.as_mut_slice())
            }

            /// As [`Self::infer`], with parameters from any buffer.
            pub fn infer_with(
                weights: &[f32; Self::PARAM_COUNT],
                input: &[f32; Self::INPUT_LEN],
                arena: &mut $arena,
            ) -> [f32; Self::OUTPUT_LEN] {
                Self::run_one(weights, input, arena.as_mut_slice())
            }

            /// The input region of `arena`: write a sample here and call
            /// [`Self::infer_in_place`] to skip the copy [`Self::infer`] makes.
            pub fn arena_input(arena: &mut $arena) -> &mut [f32; Self::INPUT_LEN] {
                $crate::private::v1::input_of(arena.as_mut_slice(), $module::INPUT.start)
            }

            /// Runs the sample already in [`Self::arena_input`]. Allocates
            /// nothing and cannot panic on any input.
            pub fn infer_in_place(&self, arena: &mut $arena) -> [f32; Self::OUTPUT_LEN] {
                let arena = arena.as_mut_slice();
                Self::forward_arena_impl(self.weights.as_slice(), arena, 1);
                $crate::private::v1::output_of(arena, $module::OUTPUT.start)
            }

            $crate::__network_api_v1!(@predict $predict, $arena);

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

                /// Runs a batch into a caller-supplied output buffer.
                pub fn forward_batch(&self, inputs: &[f32], outputs: &mut [f32]) -> $crate::Result<()> {
                    $crate::batch::forward(self, inputs, outputs)
                }
            }

            impl $crate::Network for $name {
                const NAME: &'static str = stringify!($name);
                const INPUT_SHAPE: &'static [usize] = &$name::INPUT_SHAPE;
                const OUTPUT_SHAPE: &'static [usize] = &$name::OUTPUT_SHAPE;
                const INPUT_LEN: usize = $name::INPUT_LEN;
                const OUTPUT_LEN: usize = $name::OUTPUT_LEN;
                const PARAM_COUNT: usize = $name::PARAM_COUNT;
                const MACS: u64 = $name::MACS;
                const LAYERS: &'static [$crate::LayerInfo] = $name::LAYERS;
                const PARAMS: &'static [$crate::ParamInfo] = $name::PARAMS;
                const HEAD: $crate::Head = $module::HEAD;
                const INFER: $crate::network::InferLayout = $crate::network::InferLayout {
                    act_len: $name::ACTIVATION_LEN,
                    scratch_len: $name::SCRATCH_LEN,
                    input: ($module::INPUT.start, $module::INPUT.end),
                    output: ($module::OUTPUT.start, $module::OUTPUT.end),
                };
                const TRAIN: $crate::network::TrainLayout = $module::TRAIN;

                fn from_weight_vec(weights: $crate::private::v1::Vec<f32>) -> Self {
                    $name {
                        weights: $crate::Weights::from_vec(weights),
                    }
                }
                fn weights(&self) -> &[f32] {
                    self.weights.as_slice()
                }
                fn weights_mut(&mut self) -> &mut [f32] {
                    self.weights.make_mut()
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
    (@predict stack, $arena:ident) => {
        /// Runs one sample. The arena lives on the stack: no heap allocation.
        pub fn predict(&self, input: &[f32; Self::INPUT_LEN]) -> [f32; Self::OUTPUT_LEN] {
            let mut arena = $arena::new();
            self.infer(input, &mut arena)
        }
    };
    (@predict heap, $arena:ident) => {
        $crate::__std_only! {
            /// Runs one sample. This network's arena is too large for the
            /// stack, so it is allocated for the call; use [`Self::infer`]
            /// with a reused arena to avoid that.
            pub fn predict(&self, input: &[f32; Self::INPUT_LEN]) -> [f32; Self::OUTPUT_LEN] {
                let mut arena = $crate::private::v1::zeroed(Self::ARENA_LEN);
                Self::run_one(self.weights.as_slice(), input, &mut arena)
            }
        }
    };
}
