//! Parameter initialisation, reproducible from a seed.
//!
//! The schemes of the classic notes: a Gaussian of a chosen `σ` (0.01 by
//! default, [`Init::GAUSSIAN`]), Xavier/Glorot uniform and normal, and
//! He/Kaiming normal with either fan: `σ = √(2 / fan_in)`, or the notes'
//! `σ = √(2 / (filter size · n_out))` ([`Init::HeFanOut`]). A tensor's
//! fans are those of PyTorch: a convolution's weight `[out, in, kh, kw]`
//! has `fan_in = in · kh · kw` and `fan_out = out · kh · kw`, a dense
//! layer's `[out, in]` has `fan_in = in` and `fan_out = out`.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::error::Error;
use crate::summary::{BufferInit, ParamInfo, ParamRole};

/// How to initialise a network's parameters.
///
/// Only weights are drawn; what the other tensors start at depends on
/// their role: biases are zero (except with [`Init::PyTorch`]), batch-norm
/// scales one, shifts zero, running statistics their own starting value.
/// Every tensor draws from its own generator, seeded from the network seed
/// and the tensor's index, so re-initialising one layer never changes the
/// others and the same seed always gives the same weights.
///
/// | variant | weights | for |
/// | --- | --- | --- |
/// | [`PyTorch`](Init::PyTorch) | `U(±1/√fan_in)`, biases too | comparing with PyTorch |
/// | [`Gaussian { std }`](Init::Gaussian) | `N(0, std²)` ([`Init::GAUSSIAN`]: `std = 0.01`) | small networks |
/// | [`Xavier`](Init::Xavier) | `U(±√(6 / (fan_in + fan_out)))` | sigmoid, tanh |
/// | [`XavierNormal`](Init::XavierNormal) | `N(0, 2 / (fan_in + fan_out))` | sigmoid, tanh |
/// | [`He`](Init::He) | `N(0, 2 / fan_in)` | ReLU (keeps the forward variance) |
/// | [`HeFanOut`](Init::HeFanOut) | `N(0, 2 / fan_out)`, `fan_out = filter size · n_out` | ReLU (keeps the backward variance) |
/// | [`Zeros`](Init::Zeros) | zero | tests |
///
/// ```
/// use cnn_runtime::Init;
///
/// // A 3x3 convolution from 16 to 32 channels: weights [32, 16, 3, 3].
/// let (fan_in, fan_out) = (16 * 9, 32 * 9);
/// assert_eq!(Init::He.std(fan_in, fan_out), Some((2.0 / 144.0f32).sqrt()));
/// assert_eq!(Init::HeFanOut.std(fan_in, fan_out), Some((2.0 / 288.0f32).sqrt()));
/// assert_eq!(Init::GAUSSIAN.std(fan_in, fan_out), Some(0.01));
/// // Xavier uniform draws from ±√(6 / (fan_in + fan_out)), whose σ is that bound / √3.
/// let xavier = Init::Xavier.std(fan_in, fan_out).unwrap();
/// assert!((xavier - (2.0 / 432.0f32).sqrt()).abs() < 1e-7);
/// assert_eq!(Init::XavierNormal.std(fan_in, fan_out), Some((2.0 / 432.0f32).sqrt()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Init {
    /// PyTorch's defaults for `Conv2d` and `Linear`: weights and biases
    /// uniform in `±1/sqrt(fan_in)`. The default, so results compare with
    /// PyTorch's out of the box.
    #[default]
    PyTorch,
    /// Weights from `N(0, std²)`, biases zero. [`Init::GAUSSIAN`]
    /// (`std = 0.01`) is the classic choice for small networks; `std` must
    /// be positive and finite.
    Gaussian {
        /// Standard deviation.
        std: f32,
    },
    /// Xavier/Glorot uniform: weights in `±sqrt(6 / (fan_in + fan_out))`
    /// (variance `2 / (fan_in + fan_out)`), biases zero. Suits sigmoid and
    /// tanh.
    Xavier,
    /// Xavier/Glorot normal: weights from `N(0, 2 / (fan_in + fan_out))`,
    /// biases zero.
    XavierNormal,
    /// He/Kaiming normal with the fan-in: weights from `N(0, 2 / fan_in)`,
    /// biases zero. Suits ReLU: it keeps the variance of the activations
    /// through the forward pass.
    He,
    /// He/Kaiming normal with the fan-out, as the notes write it:
    /// `σ = √(2 / (filter size · n_out))` (`N(0, 2 / fan_out)`; a dense
    /// layer's filter size is one), biases zero. It keeps the variance of
    /// the gradients through the backward pass.
    HeFanOut,
    /// Every weight and bias zero (scales, shifts and buffers start at
    /// their usual values: one, zero, and the buffer's own).
    Zeros,
}

impl Init {
    /// The notes' default Gaussian: `N(0, 0.01²)`.
    pub const GAUSSIAN: Init = Init::Gaussian { std: 0.01 };

    /// Checks the settings: a Gaussian's `std` must be positive and finite
    /// (a zero, negative or NaN `std` would leave every weight at zero;
    /// [`Init::Zeros`] says that openly). Every constructor that takes an
    /// `Init` (`Net::new`, `reinitialize_layer`, [`initialize`]) checks it.
    ///
    /// ```
    /// use cnn_runtime::Init;
    ///
    /// assert!(Init::Gaussian { std: 0.01 }.validate().is_ok());
    /// let m = Init::Gaussian { std: -0.1 }.validate().unwrap_err().to_string();
    /// assert_eq!(m, "Init::Gaussian's std must be in (0, inf), found -0.1");
    /// let m = Init::Gaussian { std: f32::NAN }.validate().unwrap_err().to_string();
    /// assert_eq!(m, "Init::Gaussian's std must be in (0, inf), found NaN");
    /// ```
    pub fn validate(self) -> Result<(), Error> {
        match self {
            Init::Gaussian { std } if !(std.is_finite() && std > 0.0) => Err(Error::Config {
                message: format!("Init::Gaussian's std must be in (0, inf), found {std}"),
            }),
            _ => Ok(()),
        }
    }

    /// The standard deviation of the weights this scheme draws for a
    /// tensor with these fans (for the uniform schemes, that of their
    /// uniform distribution, `bound / √3`); `None` for [`Init::Zeros`].
    /// Fans of zero count as one.
    pub fn std(self, fan_in: usize, fan_out: usize) -> Option<f32> {
        let third = 1.0 / 3.0f32.sqrt();
        Some(match self.weight_distribution(fan_in, fan_out)? {
            Drawn::Normal(std) => std,
            Drawn::Uniform(bound) => bound * third,
        })
    }

    /// What a weight tensor with these fans is drawn from.
    fn weight_distribution(self, fan_in: usize, fan_out: usize) -> Option<Drawn> {
        let fan_in = fan_in.max(1) as f32;
        let fan_out = fan_out.max(1) as f32;
        Some(match self {
            Init::Zeros => return None,
            Init::PyTorch => Drawn::Uniform(1.0 / fan_in.sqrt()),
            Init::Gaussian { std } => Drawn::Normal(std),
            Init::Xavier => Drawn::Uniform((6.0 / (fan_in + fan_out)).sqrt()),
            Init::XavierNormal => Drawn::Normal((2.0 / (fan_in + fan_out)).sqrt()),
            Init::He => Drawn::Normal((2.0 / fan_in).sqrt()),
            Init::HeFanOut => Drawn::Normal((2.0 / fan_out).sqrt()),
        })
    }
}

/// A zero-mean distribution: normal with a standard deviation, or uniform
/// in `±bound`.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Drawn {
    Normal(f32),
    Uniform(f32),
}

/// Fills `weights` (a network's whole parameter buffer) for the tensors in
/// `params` by `init`, from `seed`, after checking `init`
/// ([`Init::validate`]).
///
/// ```
/// use cnn_runtime::{init, Init};
///
/// let mut weights = [0.0f32; 4];
/// let e = init::initialize(&mut weights, &[], Init::Gaussian { std: -1.0 }, 7).unwrap_err();
/// assert_eq!(e.to_string(), "Init::Gaussian's std must be in (0, inf), found -1");
/// ```
pub fn initialize(
    weights: &mut [f32],
    params: &[ParamInfo],
    init: Init,
    seed: u64,
) -> Result<(), Error> {
    init.validate()?;
    for (i, p) in params.iter().enumerate() {
        initialize_tensor(&mut weights[p.range()], p, i, init, seed);
    }
    Ok(())
}

/// Fills one tensor; `index` is its position in the network's `PARAMS`.
/// What is drawn depends on the tensor's role: weights by `init`, biases
/// by `init`'s bias rule, scales start at one, shifts at zero, buffers at
/// their own starting value. `init` is expected to be valid
/// ([`Init::validate`]); an invalid Gaussian leaves the tensor at zero.
pub fn initialize_tensor(out: &mut [f32], p: &ParamInfo, index: usize, init: Init, seed: u64) {
    match p.role {
        ParamRole::Weight | ParamRole::Bias => {}
        ParamRole::Scale | ParamRole::Buffer(BufferInit::Ones) => return out.fill(1.0),
        ParamRole::Shift | ParamRole::Buffer(BufferInit::Zeros) => return out.fill(0.0),
    }
    let mut rng = ChaCha8Rng::seed_from_u64(crate::ops::dropout::splitmix64(
        seed ^ (index as u64).wrapping_mul(0xA076_1D64_78BD_642F),
    ));
    if p.is_bias() && init != Init::PyTorch {
        return out.fill(0.0);
    }
    match init.weight_distribution(p.fan_in, p.fan_out) {
        None => out.fill(0.0),
        Some(Drawn::Uniform(bound)) => fill_uniform(out, bound, &mut rng),
        Some(Drawn::Normal(std)) => fill_normal(out, std, &mut rng),
    }
}

fn fill_uniform(out: &mut [f32], bound: f32, rng: &mut ChaCha8Rng) {
    match Uniform::new(-bound, bound) {
        Ok(dist) if bound > 0.0 => out.iter_mut().for_each(|v| *v = dist.sample(rng)),
        _ => out.fill(0.0),
    }
}

fn fill_normal(out: &mut [f32], std: f32, rng: &mut ChaCha8Rng) {
    match Normal::new(0.0f32, std) {
        Ok(dist) if std > 0.0 => out.iter_mut().for_each(|v| *v = dist.sample(rng)),
        _ => out.fill(0.0),
    }
}

#[cfg(test)]
mod tests;
