//! Parameter initialisation, reproducible from a seed.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::error::Error;
use crate::summary::{BufferInit, ParamInfo, ParamRole};

/// How to initialise a network's parameters.
///
/// Every tensor draws from its own generator, seeded from the network seed
/// and the tensor's index, so re-initialising one layer never changes the
/// others and the same seed always gives the same weights.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Init {
    /// PyTorch's defaults for `Conv2d` and `Linear`: weights and biases
    /// uniform in `±1/sqrt(fan_in)`. The default, so results compare with
    /// PyTorch's out of the box.
    #[default]
    PyTorch,
    /// Weights from `N(0, std²)`, biases zero. `Gaussian { std: 0.01 }` is
    /// the classic choice for small networks.
    Gaussian {
        /// Standard deviation.
        std: f32,
    },
    /// Xavier/Glorot uniform: weights in `±sqrt(6 / (fan_in + fan_out))`,
    /// biases zero. Suits sigmoid and tanh.
    Xavier,
    /// He/Kaiming normal: weights from `N(0, 2 / fan_in)`, biases zero.
    /// Suits ReLU.
    He,
    /// Every weight and bias zero (scales, shifts and buffers start at
    /// their usual values: one, zero, and the buffer's own).
    Zeros,
}

impl Init {
    /// Checks the settings: a Gaussian's `std` must be positive and finite
    /// (a zero, negative or NaN `std` would leave every weight at zero;
    /// [`Init::Zeros`] says that openly).
    ///
    /// ```
    /// use cnn_runtime::Init;
    ///
    /// assert!(Init::Gaussian { std: 0.01 }.validate().is_ok());
    /// let m = Init::Gaussian { std: -0.1 }.validate().unwrap_err().to_string();
    /// assert_eq!(m, "Init::Gaussian's std must be in (0, inf), found -0.1");
    /// ```
    pub fn validate(self) -> Result<(), Error> {
        match self {
            Init::Gaussian { std } if !(std.is_finite() && std > 0.0) => Err(Error::Config {
                message: format!("Init::Gaussian's std must be in (0, inf), found {std}"),
            }),
            _ => Ok(()),
        }
    }
}

/// Fills `weights` (a network's whole parameter buffer) for the tensors in
/// `params` by `init`, from `seed`.
pub fn initialize(weights: &mut [f32], params: &[ParamInfo], init: Init, seed: u64) {
    for (i, p) in params.iter().enumerate() {
        initialize_tensor(&mut weights[p.range()], p, i, init, seed);
    }
}

/// Fills one tensor; `index` is its position in the network's `PARAMS`.
/// What is drawn depends on the tensor's role: weights by `init`, biases
/// by `init`'s bias rule, scales start at one, shifts at zero, buffers at
/// their own starting value.
pub fn initialize_tensor(out: &mut [f32], p: &ParamInfo, index: usize, init: Init, seed: u64) {
    match p.role {
        ParamRole::Weight | ParamRole::Bias => {}
        ParamRole::Scale | ParamRole::Buffer(BufferInit::Ones) => return out.fill(1.0),
        ParamRole::Shift | ParamRole::Buffer(BufferInit::Zeros) => return out.fill(0.0),
    }
    let mut rng = ChaCha8Rng::seed_from_u64(crate::ops::dropout::splitmix64(
        seed ^ (index as u64).wrapping_mul(0xA076_1D64_78BD_642F),
    ));
    let fan_in = p.fan_in.max(1) as f32;
    let fan_out = p.fan_out.max(1) as f32;
    match init {
        Init::Zeros => out.fill(0.0),
        Init::PyTorch => {
            let bound = 1.0 / fan_in.sqrt();
            fill_uniform(out, bound, &mut rng);
        }
        _ if p.is_bias() => out.fill(0.0),
        Init::Gaussian { std } => fill_normal(out, std, &mut rng),
        Init::Xavier => fill_uniform(out, (6.0 / (fan_in + fan_out)).sqrt(), &mut rng),
        Init::He => fill_normal(out, (2.0 / fan_in).sqrt(), &mut rng),
    }
}

fn fill_uniform(out: &mut [f32], bound: f32, rng: &mut ChaCha8Rng) {
    if bound <= 0.0 {
        out.fill(0.0);
        return;
    }
    let dist = Uniform::new(-bound, bound).expect("a positive bound");
    out.iter_mut().for_each(|v| *v = dist.sample(rng));
}

fn fill_normal(out: &mut [f32], std: f32, rng: &mut ChaCha8Rng) {
    match Normal::new(0.0f32, std) {
        Ok(dist) if std > 0.0 => out.iter_mut().for_each(|v| *v = dist.sample(rng)),
        _ => out.fill(0.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::Dtype;

    fn tensor(role: ParamRole, offset: usize, len: usize) -> ParamInfo {
        ParamInfo {
            name: "t",
            layer: 0,
            role,
            dtype: Dtype::F32,
            shape: &[],
            offset,
            len,
            fan_in: 9,
            fan_out: 9,
        }
    }

    #[test]
    fn each_role_starts_as_it_should() {
        let params = [
            tensor(ParamRole::Weight, 0, 64),
            tensor(ParamRole::Bias, 64, 4),
            tensor(ParamRole::Scale, 68, 4),
            tensor(ParamRole::Shift, 72, 4),
            tensor(ParamRole::Buffer(BufferInit::Zeros), 76, 4),
            tensor(ParamRole::Buffer(BufferInit::Ones), 80, 4),
        ];
        for init in [Init::He, Init::Xavier, Init::PyTorch, Init::Zeros] {
            let mut w = [f32::NAN; 84];
            initialize(&mut w, &params, init, 7);
            let weight_set = w[..64].iter().any(|&v| v != 0.0);
            assert_eq!(weight_set, init != Init::Zeros, "{init:?}");
            let bias_set = w[64..68].iter().any(|&v| v != 0.0);
            assert_eq!(bias_set, init == Init::PyTorch, "{init:?}");
            assert_eq!(w[68..72], [1.0; 4], "scales start at one with {init:?}");
            assert_eq!(w[72..80], [0.0; 8], "shifts and means start at zero");
            assert_eq!(w[80..84], [1.0; 4], "variances start at one");
        }
    }
}
