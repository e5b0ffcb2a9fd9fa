//! Optimizers and learning-rate schedules.
//!
//! SGD follows PyTorch's `torch.optim.SGD` exactly (weight decay added to
//! the gradient, momentum buffer initialised with the first gradient,
//! optional dampening and Nesterov); Adam follows `torch.optim.Adam`
//! (L2 weight decay added to the gradient, bias-corrected moments).

use std::vec::Vec;

/// How parameters move along their gradients.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    /// Stochastic gradient descent with momentum.
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum factor (0 for plain SGD).
        momentum: f32,
        /// L2 penalty added to the gradient: `g + weight_decay * w`.
        weight_decay: f32,
        /// Dampening of the momentum buffer's new gradient.
        dampening: f32,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// Adam.
    Adam {
        /// Learning rate.
        lr: f32,
        /// Decay of the first moment.
        beta1: f32,
        /// Decay of the second moment.
        beta2: f32,
        /// Added to the denominator.
        eps: f32,
        /// L2 penalty added to the gradient.
        weight_decay: f32,
    },
}

impl Optimizer {
    /// SGD with momentum and no weight decay.
    pub fn sgd(lr: f32, momentum: f32) -> Self {
        Optimizer::Sgd {
            lr,
            momentum,
            weight_decay: 0.0,
            dampening: 0.0,
            nesterov: false,
        }
    }

    /// Adam with PyTorch's defaults (β = 0.9, 0.999, ε = 1e-8).
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }

    /// The same optimizer with an L2 weight decay.
    pub fn with_weight_decay(mut self, wd: f32) -> Self {
        match &mut self {
            Optimizer::Sgd { weight_decay, .. } | Optimizer::Adam { weight_decay, .. } => {
                *weight_decay = wd
            }
        }
        self
    }

    /// The initial learning rate.
    pub fn lr(&self) -> f32 {
        match *self {
            Optimizer::Sgd { lr, .. } | Optimizer::Adam { lr, .. } => lr,
        }
    }

    /// Checks the settings: the message names the setting, its value and
    /// the range allowed.
    pub fn validate(&self) -> Result<(), std::string::String> {
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return Err(out_of_range("the learning rate", lr, "(0, inf)"));
        }
        match *self {
            Optimizer::Sgd {
                momentum,
                weight_decay,
                nesterov,
                dampening,
                ..
            } => {
                if !(0.0..1.0).contains(&momentum) {
                    return Err(out_of_range("the SGD momentum", momentum, "[0, 1)"));
                }
                if !(0.0..=1.0).contains(&dampening) {
                    return Err(out_of_range("the SGD dampening", dampening, "[0, 1]"));
                }
                if !(weight_decay.is_finite() && weight_decay >= 0.0) {
                    return Err(out_of_range(
                        "the SGD weight decay",
                        weight_decay,
                        "[0, inf)",
                    ));
                }
                if nesterov && (momentum <= 0.0 || dampening != 0.0) {
                    return Err(format!(
                        "Nesterov momentum needs a momentum in (0, 1) and zero dampening, \
                         found momentum {momentum} and dampening {dampening}"
                    ));
                }
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                if !(0.0..1.0).contains(&beta1) {
                    return Err(out_of_range("Adam's beta1", beta1, "[0, 1)"));
                }
                if !(0.0..1.0).contains(&beta2) {
                    return Err(out_of_range("Adam's beta2", beta2, "[0, 1)"));
                }
                if !(eps.is_finite() && eps > 0.0) {
                    return Err(out_of_range("Adam's eps", eps, "(0, inf)"));
                }
                if !(weight_decay.is_finite() && weight_decay >= 0.0) {
                    return Err(out_of_range(
                        "Adam's weight decay",
                        weight_decay,
                        "[0, inf)",
                    ));
                }
            }
        }
        Ok(())
    }

    /// The optimizer's name: `SGD` or `Adam`.
    pub fn name(&self) -> &'static str {
        match self {
            Optimizer::Sgd { .. } => "SGD",
            Optimizer::Adam { .. } => "Adam",
        }
    }
}

/// `"{what} must be in {range}, found {value}"`.
pub(super) fn out_of_range(
    what: &str,
    value: impl core::fmt::Display,
    range: &str,
) -> std::string::String {
    format!("{what} must be in {range}, found {value}")
}

impl Default for Optimizer {
    /// SGD, learning rate 0.05, momentum 0.9: what trains LeNet-5 on MNIST.
    fn default() -> Self {
        Optimizer::sgd(0.05, 0.9)
    }
}

/// The optimizer's per-parameter state.
#[derive(Clone, Debug)]
pub struct OptimizerState {
    pub(super) optimizer: Optimizer,
    /// Momentum buffer (SGD) or first moment (Adam).
    pub(super) m: Vec<f32>,
    /// Second moment (Adam).
    pub(super) v: Vec<f32>,
    /// Steps taken.
    pub(super) t: u64,
}

impl OptimizerState {
    /// Fresh state for `len` parameters.
    pub fn new(optimizer: Optimizer, len: usize) -> Self {
        let v = match optimizer {
            Optimizer::Adam { .. } => vec![0.0; len],
            Optimizer::Sgd { .. } => Vec::new(),
        };
        OptimizerState {
            optimizer,
            m: vec![0.0; len],
            v,
            t: 0,
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.t
    }

    /// One step at learning rate `lr` on the parameters in `ranges` (the
    /// trainable ones); the others keep their values bit for bit.
    pub fn step(
        &mut self,
        params: &mut [f32],
        grads: &[f32],
        lr: f32,
        ranges: &[core::ops::Range<usize>],
    ) {
        self.t += 1;
        let first = self.t == 1;
        match self.optimizer {
            Optimizer::Sgd {
                momentum,
                weight_decay,
                dampening,
                nesterov,
                ..
            } => {
                for r in ranges {
                    let (w, g, buf) = (
                        &mut params[r.clone()],
                        &grads[r.clone()],
                        &mut self.m[r.clone()],
                    );
                    for ((w, &g), b) in w.iter_mut().zip(g).zip(buf.iter_mut()) {
                        let mut d = g + weight_decay * *w;
                        if momentum != 0.0 {
                            *b = if first {
                                d
                            } else {
                                momentum * *b + (1.0 - dampening) * d
                            };
                            d = if nesterov { d + momentum * *b } else { *b };
                        }
                        *w -= lr * d;
                    }
                }
            }
            Optimizer::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                let c1 = 1.0 - beta1.powi(self.t.min(i32::MAX as u64) as i32);
                let c2 = 1.0 - beta2.powi(self.t.min(i32::MAX as u64) as i32);
                for r in ranges {
                    let w = &mut params[r.clone()];
                    let g = &grads[r.clone()];
                    let m = &mut self.m[r.clone()];
                    let v = &mut self.v[r.clone()];
                    for i in 0..w.len() {
                        let d = g[i] + weight_decay * w[i];
                        m[i] = beta1 * m[i] + (1.0 - beta1) * d;
                        v[i] = beta2 * v[i] + (1.0 - beta2) * d * d;
                        let mhat = m[i] / c1;
                        let vhat = v[i] / c2;
                        w[i] -= lr * mhat / (vhat.sqrt() + eps);
                    }
                }
            }
        }
    }
}

/// How the learning rate changes over epochs.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Schedule {
    /// The optimizer's rate throughout.
    #[default]
    Constant,
    /// Multiply by `gamma` every `every` epochs (PyTorch's `StepLR`).
    StepDecay {
        /// Epochs between decays.
        every: usize,
        /// Factor.
        gamma: f32,
    },
    /// Multiply by `factor` when the monitored loss (validation loss, or
    /// training loss without a validation set) has not improved by more than
    /// `threshold` (relative) for `patience` epochs (PyTorch's
    /// `ReduceLROnPlateau`, mode `min`, relative threshold).
    ReduceOnPlateau {
        /// Factor.
        factor: f32,
        /// Epochs without improvement before reducing.
        patience: usize,
        /// Relative improvement that counts.
        threshold: f32,
        /// Lower bound on the rate.
        min_lr: f32,
    },
}

impl Schedule {
    /// Checks the settings: the message names the setting, its value and
    /// the range allowed.
    pub fn validate(&self) -> Result<(), std::string::String> {
        match *self {
            Schedule::Constant => Ok(()),
            Schedule::StepDecay { every, gamma } => {
                if every == 0 {
                    return Err(out_of_range(
                        "the step decay's period (epochs)",
                        every,
                        "[1, inf)",
                    ));
                }
                if !(gamma > 0.0 && gamma <= 1.0) {
                    return Err(out_of_range("the step decay's gamma", gamma, "(0, 1]"));
                }
                Ok(())
            }
            Schedule::ReduceOnPlateau {
                factor,
                threshold,
                min_lr,
                ..
            } => {
                if !(factor > 0.0 && factor < 1.0) {
                    return Err(out_of_range(
                        "the reduce-on-plateau factor",
                        factor,
                        "(0, 1)",
                    ));
                }
                if !(0.0..1.0).contains(&threshold) {
                    return Err(out_of_range(
                        "the reduce-on-plateau threshold",
                        threshold,
                        "[0, 1)",
                    ));
                }
                if !(min_lr.is_finite() && min_lr >= 0.0) {
                    return Err(out_of_range(
                        "the minimum learning rate",
                        min_lr,
                        "[0, inf)",
                    ));
                }
                Ok(())
            }
        }
    }

    /// Reduce-on-plateau with PyTorch's defaults (factor 0.1, patience 10,
    /// threshold 1e-4, no lower bound).
    pub fn reduce_on_plateau(factor: f32, patience: usize) -> Self {
        Schedule::ReduceOnPlateau {
            factor,
            patience,
            threshold: 1e-4,
            min_lr: 0.0,
        }
    }
}

/// A schedule's running state.
#[derive(Clone, Debug)]
pub struct ScheduleState {
    pub(super) schedule: Schedule,
    pub(super) lr: f32,
    pub(super) best: f64,
    pub(super) bad_epochs: usize,
    pub(super) epochs: usize,
}

impl ScheduleState {
    /// Starts at `lr`.
    pub fn new(schedule: Schedule, lr: f32) -> Self {
        ScheduleState {
            schedule,
            lr,
            best: f64::INFINITY,
            bad_epochs: 0,
            epochs: 0,
        }
    }

    /// The rate for the coming epoch.
    pub fn lr(&self) -> f32 {
        self.lr
    }

    /// Called after each epoch with the monitored loss.
    pub fn end_epoch(&mut self, monitored: f64) {
        self.epochs += 1;
        match self.schedule {
            Schedule::Constant => {}
            Schedule::StepDecay { every, gamma } => {
                if every > 0 && self.epochs.is_multiple_of(every) {
                    self.lr *= gamma;
                }
            }
            Schedule::ReduceOnPlateau {
                factor,
                patience,
                threshold,
                min_lr,
            } => {
                if monitored < self.best * (1.0 - threshold as f64) {
                    self.best = monitored;
                    self.bad_epochs = 0;
                } else {
                    self.bad_epochs += 1;
                    if self.bad_epochs > patience {
                        self.lr = (self.lr * factor).max(min_lr);
                        self.bad_epochs = 0;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    #[test]
    fn sgd_matches_pytorch_by_hand() {
        // g += wd w; buf = g (first step), then m buf + g; w -= lr buf.
        let opt = Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
            dampening: 0.0,
            nesterov: false,
        };
        let mut st = OptimizerState::new(opt, 1);
        let mut w = [1.0f32];
        st.step(&mut w, &[0.5], 0.1, &[0..1]);
        let b1 = 0.5 + 0.01 * 1.0;
        assert!((w[0] - (1.0 - 0.1 * b1)).abs() < 1e-7);
        let w1 = w[0];
        st.step(&mut w, &[0.5], 0.1, &[0..1]);
        let b2 = 0.9 * b1 + (0.5 + 0.01 * w1);
        assert!((w[0] - (w1 - 0.1 * b2)).abs() < 1e-7);
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        let mut st = OptimizerState::new(Optimizer::adam(0.01), 2);
        let mut w = [1.0f32, -1.0];
        st.step(&mut w, &[3.0, -0.2], 0.01, &[0..2]);
        assert!((w[0] - 0.99).abs() < 1e-6 && (w[1] + 0.99).abs() < 1e-6);
    }

    #[test]
    fn frozen_ranges_do_not_move() {
        let mut st = OptimizerState::new(Optimizer::sgd(0.1, 0.9), 4);
        let mut w = [1.0f32; 4];
        st.step(&mut w, &[1.0; 4], 0.1, &[2..4]);
        assert_eq!(&w[..2], &[1.0, 1.0]);
        assert!(w[2] < 1.0);
    }

    #[test]
    fn bad_settings_name_the_value() {
        let m = Schedule::StepDecay {
            every: 0,
            gamma: 0.5,
        }
        .validate()
        .unwrap_err();
        assert!(m.contains("found 0"), "{m}");
        for gamma in [f32::NAN, 1e30, 0.0, -0.5] {
            let m = Schedule::StepDecay { every: 2, gamma }
                .validate()
                .unwrap_err();
            assert!(
                m.contains(&format!("found {gamma}")) && m.contains("(0, 1]"),
                "{m}"
            );
        }
        let m = Schedule::reduce_on_plateau(1.5, 2).validate().unwrap_err();
        assert!(m.contains("(0, 1)") && m.contains("1.5"), "{m}");
        assert!(Schedule::reduce_on_plateau(0.1, 0).validate().is_ok());
        let m = Optimizer::sgd(0.1, 0.9)
            .with_weight_decay(-1.0)
            .validate()
            .unwrap_err();
        assert!(m.contains("-1"), "{m}");
        let m = Optimizer::adam(0.1)
            .with_weight_decay(f32::NAN)
            .validate()
            .unwrap_err();
        assert!(m.contains("NaN"), "{m}");
    }

    #[test]
    fn settings_that_would_stop_training_silently_are_refused() {
        let adam = |eps| Optimizer::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps,
            weight_decay: 0.0,
        };
        let sgd = |dampening| Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.0,
            dampening,
            nesterov: false,
        };
        let cases = [
            (
                adam(f32::INFINITY),
                "Adam's eps must be in (0, inf), found inf",
            ),
            (adam(0.0), "Adam's eps must be in (0, inf), found 0"),
            (
                Optimizer::sgd(0.1, 0.9).with_weight_decay(f32::INFINITY),
                "the SGD weight decay must be in [0, inf), found inf",
            ),
            (
                Optimizer::adam(0.1).with_weight_decay(f32::INFINITY),
                "Adam's weight decay must be in [0, inf), found inf",
            ),
            (
                sgd(f32::NAN),
                "the SGD dampening must be in [0, 1], found NaN",
            ),
            (sgd(1.5), "the SGD dampening must be in [0, 1], found 1.5"),
            (
                Optimizer::sgd(0.1, f32::NAN),
                "the SGD momentum must be in [0, 1), found NaN",
            ),
            (
                Optimizer::sgd(f32::INFINITY, 0.0),
                "the learning rate must be in (0, inf), found inf",
            ),
        ];
        for (opt, expected) in cases {
            assert_eq!(opt.validate().unwrap_err(), expected, "{opt:?}");
        }
        assert!(adam(1e-8).validate().is_ok());
        assert!(sgd(0.5).validate().is_ok());
        let m = Schedule::reduce_on_plateau(0.5, 2);
        let Schedule::ReduceOnPlateau {
            factor,
            patience,
            min_lr,
            ..
        } = m
        else {
            unreachable!()
        };
        let m = Schedule::ReduceOnPlateau {
            factor,
            patience,
            threshold: 1.0,
            min_lr,
        }
        .validate()
        .unwrap_err();
        assert_eq!(
            m,
            "the reduce-on-plateau threshold must be in [0, 1), found 1"
        );
    }

    #[test]
    fn schedules() {
        let mut s = ScheduleState::new(
            Schedule::StepDecay {
                every: 2,
                gamma: 0.5,
            },
            1.0,
        );
        s.end_epoch(1.0);
        assert_eq!(s.lr(), 1.0);
        s.end_epoch(1.0);
        assert_eq!(s.lr(), 0.5);
        let mut p = ScheduleState::new(Schedule::reduce_on_plateau(0.1, 1), 1.0);
        p.end_epoch(1.0);
        p.end_epoch(1.0);
        assert_eq!(p.lr(), 1.0);
        p.end_epoch(1.0);
        assert!((p.lr() - 0.1).abs() < 1e-7);
    }
}
