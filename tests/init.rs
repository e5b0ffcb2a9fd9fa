//! Initialisation through generated networks: the fans the macro records
//! for conv and dense weights give each scheme's σ, and bad settings are
//! errors.

use cnn::Init;

cnn::network! {
    /// A conv weight [64, 16, 5, 5] (fan-in 400, fan-out 1600) and a dense
    /// weight [10, 1024] (fan-in 1024, fan-out 10).
    struct Fans {
        input: [16, 8, 8],
        conv1: conv(64, kernel = 5, pad = 2), relu, max_pool(2),
        flatten,
        fc: dense(10),
    }
}

/// The sample standard deviation (about zero) of a tensor.
fn std_of(net: &Fans, name: &str) -> f64 {
    let p = Fans::PARAMS.iter().find(|p| p.name == name).unwrap();
    let w = &net.weights()[p.range()];
    (w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64).sqrt()
}

/// Five standard errors of a normal sample's standard deviation,
/// `σ / √(2n)`, relative to σ.
fn tolerance(name: &str) -> f64 {
    let n = Fans::PARAMS.iter().find(|p| p.name == name).unwrap().len as f64;
    5.0 / (2.0 * n).sqrt()
}

#[test]
fn fan_in_and_fan_out_as_the_notes_write_them() {
    let conv = Fans::PARAMS
        .iter()
        .find(|p| p.name == "conv1.weight")
        .unwrap();
    assert_eq!((conv.fan_in, conv.fan_out), (16 * 25, 64 * 25));
    let fc = Fans::PARAMS.iter().find(|p| p.name == "fc.weight").unwrap();
    assert_eq!((fc.fan_in, fc.fan_out), (64 * 16, 10));

    let cases = [
        (Init::He, "conv1.weight", (2.0 / 400.0f64).sqrt()),
        (
            Init::HeFanOut,
            "conv1.weight",
            (2.0 / (25.0 * 64.0f64)).sqrt(),
        ),
        (Init::XavierNormal, "conv1.weight", (2.0 / 2000.0f64).sqrt()),
        (Init::Xavier, "conv1.weight", (2.0 / 2000.0f64).sqrt()),
        (Init::GAUSSIAN, "conv1.weight", 0.01),
        (Init::He, "fc.weight", (2.0 / 1024.0f64).sqrt()),
        (Init::HeFanOut, "fc.weight", (2.0 / 10.0f64).sqrt()),
    ];
    for (init, name, expected) in cases {
        let net = Fans::new(init, 9);
        let found = std_of(&net, name);
        let tol = tolerance(name);
        assert!(
            (found / expected - 1.0).abs() < tol,
            "{init:?} {name}: σ {found}, expected {expected} (±{:.1}%)",
            100.0 * tol
        );
        assert!(net.weights()[Fans::PARAMS[1].range()]
            .iter()
            .all(|&b| b == 0.0));
    }
}

#[test]
fn bad_gaussian_is_an_error_everywhere() {
    let e = Fans::try_new(Init::Gaussian { std: f32::NAN }, 1)
        .err()
        .unwrap();
    assert_eq!(
        e.to_string(),
        "Init::Gaussian's std must be in (0, inf), found NaN"
    );
    let mut net = Fans::new(Init::He, 1);
    let before = net.weights().to_vec();
    let e = net
        .reinitialize_layer("fc", Init::Gaussian { std: -0.5 }, 2)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Init::Gaussian's std must be in (0, inf), found -0.5"
    );
    assert_eq!(net.weights(), &before[..]);
    net.reinitialize_layer("fc", Init::HeFanOut, 2).unwrap();
    assert_ne!(net.weights(), &before[..]);
}

#[test]
#[should_panic(expected = "Fans::new: Init::Gaussian's std must be in (0, inf), found -1")]
fn new_panics_with_the_message() {
    let _ = Fans::new(Init::Gaussian { std: -1.0 }, 1);
}
