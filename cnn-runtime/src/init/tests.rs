//! Each role's starting values, and the distributions of the weights:
//! sample moments against the scheme's, within tolerances derived from the
//! sample size.

use super::*;
use crate::summary::Dtype;

fn tensor(role: ParamRole, offset: usize, len: usize, fan_in: usize, fan_out: usize) -> ParamInfo {
    ParamInfo {
        name: "t",
        layer: 0,
        role,
        dtype: Dtype::F32,
        shape: &[],
        offset,
        len,
        fan_in,
        fan_out,
    }
}

const SCHEMES: [Init; 7] = [
    Init::PyTorch,
    Init::GAUSSIAN,
    Init::Xavier,
    Init::XavierNormal,
    Init::He,
    Init::HeFanOut,
    Init::Zeros,
];

#[test]
fn each_role_starts_as_it_should() {
    let params = [
        tensor(ParamRole::Weight, 0, 64, 9, 9),
        tensor(ParamRole::Bias, 64, 4, 9, 9),
        tensor(ParamRole::Scale, 68, 4, 9, 9),
        tensor(ParamRole::Shift, 72, 4, 9, 9),
        tensor(ParamRole::Buffer(BufferInit::Zeros), 76, 4, 9, 9),
        tensor(ParamRole::Buffer(BufferInit::Ones), 80, 4, 9, 9),
    ];
    for init in SCHEMES {
        let mut w = [f32::NAN; 84];
        initialize(&mut w, &params, init, 7).unwrap();
        let weight_set = w[..64].iter().any(|&v| v != 0.0);
        assert_eq!(weight_set, init != Init::Zeros, "{init:?}");
        let bias_set = w[64..68].iter().any(|&v| v != 0.0);
        assert_eq!(bias_set, init == Init::PyTorch, "{init:?}");
        assert_eq!(w[68..72], [1.0; 4], "scales start at one with {init:?}");
        assert_eq!(w[72..80], [0.0; 8], "shifts and means start at zero");
        assert_eq!(w[80..84], [1.0; 4], "variances start at one");
    }
}

/// The sample's mean, variance (about the true mean, zero) and fourth
/// moment ratio `m4 / m2²` (3 for a normal, 1.8 for a uniform), in f64.
fn moments(x: &[f32]) -> (f64, f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let m2 = x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / n;
    let m4 = x.iter().map(|&v| (v as f64).powi(4)).sum::<f64>() / n;
    (mean, m2, m4 / (m2 * m2))
}

/// Checks a sample of `N(0, σ²)` or `U(±√3 σ)` against its law. Each
/// statistic is allowed five standard errors for the sample size `n`: the
/// mean `σ / √n`; the variance `σ² √((κ - 1) / n)`, with `κ = 3` for a
/// normal and `1.8` for a uniform; the moment ratio `√(24 / n)`, its
/// standard error for a normal sample (a uniform sample's is smaller), which
/// separates 3 from 1.8 once `n` is in the thousands. A uniform sample must
/// also stay within its bound.
fn check_law(x: &[f32], std: f64, normal: bool, what: &str) {
    let n = x.len() as f64;
    let (mean, var, ratio) = moments(x);
    let kappa = if normal { 3.0 } else { 1.8 };
    let mean_tol = 5.0 * std / n.sqrt();
    assert!(
        mean.abs() < mean_tol,
        "{what}: mean {mean} (tolerance {mean_tol})"
    );
    let var_tol = 5.0 * std * std * ((kappa - 1.0) / n).sqrt();
    assert!(
        (var - std * std).abs() < var_tol,
        "{what}: variance {var}, expected {} ± {var_tol}",
        std * std
    );
    let ratio_tol = 5.0 * (24.0 / n).sqrt();
    assert!(
        (ratio - kappa).abs() < ratio_tol,
        "{what}: m4/m2² {ratio}, expected {kappa} ± {ratio_tol} ({})",
        if normal { "normal" } else { "uniform" }
    );
    if !normal {
        let bound = (3.0f64).sqrt() * std * (1.0 + 1e-6);
        let max = x.iter().map(|v| v.abs() as f64).fold(0.0, f64::max);
        assert!(
            max <= bound,
            "{what}: |w| reaches {max} beyond the bound {bound}"
        );
    }
}

/// A conv weight `[64, 16, 5, 5]`: 25,600 values, `fan_in = 400`,
/// `fan_out = 1600`, so fan-in and fan-out schemes differ by a factor of two
/// in σ, far more than the tolerance.
#[test]
fn weights_follow_each_scheme_law() {
    let (fan_in, fan_out) = (16 * 25, 64 * 25);
    let len = 64 * 16 * 25;
    let cases: [(Init, f64, bool); 6] = [
        (Init::PyTorch, 1.0 / (3.0 * fan_in as f64).sqrt(), false),
        (Init::GAUSSIAN, 0.01, true),
        (Init::Gaussian { std: 0.3 }, 0.3, true),
        (
            Init::Xavier,
            (2.0 / (fan_in + fan_out) as f64).sqrt(),
            false,
        ),
        (
            Init::XavierNormal,
            (2.0 / (fan_in + fan_out) as f64).sqrt(),
            true,
        ),
        (Init::He, (2.0 / fan_in as f64).sqrt(), true),
    ];
    let cases = cases
        .into_iter()
        .chain([(Init::HeFanOut, (2.0 / fan_out as f64).sqrt(), true)]);
    for (init, std, normal) in cases {
        for seed in [1, 2] {
            let mut w = vec![0.0; len];
            let p = [tensor(ParamRole::Weight, 0, len, fan_in, fan_out)];
            initialize(&mut w, &p, init, seed).unwrap();
            check_law(&w, std, normal, &format!("{init:?}, seed {seed}"));
            let reported = init.std(fan_in, fan_out).unwrap() as f64;
            assert!(
                (reported - std).abs() < 1e-6 * std,
                "{init:?}: std() {reported} vs {std}"
            );
        }
    }
}

/// The check can fail: He's sample is not HeFanOut's law, and a uniform
/// sample is not a normal one.
#[test]
fn the_law_check_tells_schemes_apart() {
    let (fan_in, fan_out, len) = (400, 1600, 25_600);
    let draw = |init| {
        let mut w = vec![0.0; len];
        initialize(
            &mut w,
            &[tensor(ParamRole::Weight, 0, len, fan_in, fan_out)],
            init,
            3,
        )
        .unwrap();
        w
    };
    let he_out = (2.0 / fan_out as f64).sqrt();
    let xavier = (2.0 / (fan_in + fan_out) as f64).sqrt();
    let he = draw(Init::He);
    let wrong_std = std::panic::catch_unwind(|| check_law(&he, he_out, true, "He as HeFanOut"));
    assert!(wrong_std.is_err());
    let uniform = draw(Init::Xavier);
    let wrong_shape = std::panic::catch_unwind(|| check_law(&uniform, xavier, true, "uniform"));
    assert!(wrong_shape.is_err());
}

#[test]
fn same_seed_same_weights_and_tensors_independent() {
    let p = [
        tensor(ParamRole::Weight, 0, 100, 10, 10),
        tensor(ParamRole::Weight, 100, 100, 10, 10),
    ];
    for init in SCHEMES {
        let mut a = [0.0; 200];
        let mut b = [0.0; 200];
        initialize(&mut a, &p, init, 5).unwrap();
        initialize(&mut b, &p, init, 5).unwrap();
        assert_eq!(a, b, "{init:?}");
        if init != Init::Zeros {
            assert_ne!(
                a[..100],
                a[100..],
                "{init:?}: tensors draw from their own streams"
            );
            initialize(&mut b, &p, init, 6).unwrap();
            assert_ne!(a, b, "{init:?}: another seed");
        }
    }
}

#[test]
fn dense_fans_and_zero_fans() {
    // Dense [10, 100]: fan_out is the number of outputs (a filter of size one).
    assert_eq!(Init::HeFanOut.std(100, 10), Some((0.2f32).sqrt()));
    assert_eq!(Init::He.std(100, 10), Some((0.02f32).sqrt()));
    // Fans of zero count as one rather than dividing by zero.
    assert_eq!(Init::He.std(0, 0), Some(2.0f32.sqrt()));
    assert_eq!(Init::Zeros.std(3, 3), None);
}

#[test]
fn bad_settings_are_errors_naming_the_value() {
    for (std, shown) in [
        (-0.1, "-0.1"),
        (0.0, "0"),
        (f32::NAN, "NaN"),
        (f32::INFINITY, "inf"),
        (f32::NEG_INFINITY, "-inf"),
    ] {
        let init = Init::Gaussian { std };
        let m = init.validate().unwrap_err().to_string();
        assert_eq!(
            m,
            format!("Init::Gaussian's std must be in (0, inf), found {shown}")
        );
        let mut w = [1.0f32; 8];
        let p = [tensor(ParamRole::Weight, 0, 8, 2, 2)];
        assert!(initialize(&mut w, &p, init, 1).is_err());
        assert_eq!(w, [1.0; 8], "a refused init leaves the weights untouched");
    }
    for init in SCHEMES {
        assert!(init.validate().is_ok(), "{init:?}");
    }
}
