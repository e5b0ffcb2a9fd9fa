//! PCA and ZCA whitening: identity covariance, symmetry, round trips, the
//! choice of components, files, and every bad input.

use cnn::data::whiten::Spectrum;
use cnn::data::{Keep, Moments, Whitening, WhiteningKind};
use cnn::Error;

/// A reproducible xorshift generator of uniform values in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// `n` samples of `dim` correlated values: independent sources of
/// decreasing scale (variances 1 to about 1/100), mixed by a random
/// well-conditioned matrix (the identity plus a random one), plus an
/// offset.
fn correlated(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let scale = 0.5 / (dim as f32).sqrt();
    let mix: Vec<f32> = (0..dim * dim)
        .map(|i| rng.next() * scale + f32::from(u8::from(i / dim == i % dim)))
        .collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let z: Vec<f32> = (0..dim)
            .map(|j| rng.next() / (1.0 + j as f32 * 9.0 / dim as f32))
            .collect();
        for i in 0..dim {
            let v: f32 = (0..dim).map(|j| z[j] * mix[j * dim + i]).sum();
            out.push(v + 0.5 + 0.01 * i as f32);
        }
    }
    out
}

fn max_identity_error(y: &[f32], k: usize) -> f64 {
    let m = Moments::compute(y, k).unwrap();
    m.covariance()
        .iter()
        .enumerate()
        .map(|(i, &c)| (c - f64::from(u8::from(i / k == i % k))).abs())
        .fold(0.0, f64::max)
}

#[test]
fn pca_and_zca_whiten_to_the_identity() {
    for (dim, n) in [(48, 3000), (130, 4000)] {
        let data = correlated(n, dim, 7);
        let pca = Whitening::pca().eps(0.0).fit(&data, dim).unwrap();
        assert_eq!(
            (pca.kind(), pca.kept(), pca.output_dim()),
            (WhiteningKind::Pca, dim, dim)
        );
        let err = max_identity_error(&pca.transform(&data).unwrap(), dim);
        assert!(err < 1e-3, "PCA d={dim}: {err}");

        let zca = Whitening::zca().eps(0.0).fit(&data, dim).unwrap();
        assert_eq!(zca.output_dim(), dim);
        let err = max_identity_error(&zca.transform(&data).unwrap(), dim);
        assert!(err < 1e-3, "ZCA d={dim}: {err}");

        // Fewer components: the identity along the kept ones.
        let k = dim / 3;
        let pca = Whitening::pca()
            .eps(0.0)
            .keep(Keep::Components(k))
            .fit(&data, dim)
            .unwrap();
        assert_eq!(pca.output_dim(), k);
        let err = max_identity_error(&pca.transform(&data).unwrap(), k);
        assert!(err < 1e-3, "PCA d={dim} k={k}: {err}");
    }
}

#[test]
fn eps_gives_the_expected_shrinkage() {
    // With eps, the variance along component i is λ_i / (λ_i + eps).
    let (dim, n) = (64, 3000);
    let data = correlated(n, dim, 11);
    let eps = 0.05;
    let pca = Whitening::pca().eps(eps).fit(&data, dim).unwrap();
    let m = Moments::compute(&pca.transform(&data).unwrap(), dim).unwrap();
    for (i, &l) in pca.explained_variance().iter().enumerate() {
        let want = l / (l + eps);
        let got = m.covariance()[i * dim + i];
        assert!((got - want).abs() < 1e-4, "component {i}: {got} vs {want}");
    }
}

#[test]
fn components_are_orthonormal_and_sorted() {
    let (dim, n) = (48, 2000);
    let data = correlated(n, dim, 3);
    let pca = Whitening::pca().fit(&data, dim).unwrap();
    let var = pca.explained_variance();
    assert!(var.windows(2).all(|w| w[0] >= w[1]), "{var:?}");
    let ratio: f64 = pca.explained_variance_ratio().iter().sum();
    assert!((ratio - 1.0).abs() < 1e-12, "{ratio}");
    let u = pca.components();
    for a in 0..dim {
        for b in 0..dim {
            let dot: f64 = (0..dim).map(|j| u[a * dim + j] * u[b * dim + j]).sum();
            let want = if a == b { 1.0 } else { 0.0 };
            assert!((dot - want).abs() < 1e-10, "({a}, {b}): {dot}");
        }
        // Sign convention: the largest entry is positive.
        let row = &u[a * dim..(a + 1) * dim];
        let big = row
            .iter()
            .copied()
            .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        assert!(big > 0.0);
    }
    // Fitting twice, or on other thread counts, gives the same components.
    let again = Whitening::pca().threads(1).fit(&data, dim).unwrap();
    for (a, b) in again.components().iter().zip(u) {
        assert!((a - b).abs() < 1e-9);
    }
}

#[test]
fn zca_matrix_is_symmetric() {
    let (dim, n) = (96, 3000);
    let data = correlated(n, dim, 5);
    for keep in [Keep::All, Keep::Components(40)] {
        let zca = Whitening::zca().keep(keep).fit(&data, dim).unwrap();
        let w = zca.matrix();
        assert_eq!(w.len(), dim * dim);
        for i in 0..dim {
            for j in 0..dim {
                assert_eq!(w[i * dim + j], w[j * dim + i], "W[{i}, {j}]");
            }
        }
        let v = zca.inverse_matrix();
        for i in 0..dim {
            for j in 0..i {
                assert_eq!(v[i * dim + j], v[j * dim + i]);
            }
        }
    }
}

#[test]
fn inverse_transform_undoes_transform() {
    let (dim, n) = (72, 2500);
    let data = correlated(n, dim, 9);
    for config in [
        Whitening::pca(),
        Whitening::zca(),
        Whitening::pca().eps(0.0),
    ] {
        let w = config.fit(&data, dim).unwrap();
        let back = w.inverse_transform(&w.transform(&data).unwrap()).unwrap();
        let err = back
            .iter()
            .zip(&data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err < 1e-4, "{:?}: {err}", w.kind());
    }
    // With fewer components, the projection: a second round trip changes nothing.
    let pca = Whitening::pca()
        .keep(Keep::Components(10))
        .fit(&data, dim)
        .unwrap();
    let once = pca
        .inverse_transform(&pca.transform(&data).unwrap())
        .unwrap();
    let twice = pca
        .inverse_transform(&pca.transform(&once).unwrap())
        .unwrap();
    let err = once
        .iter()
        .zip(&twice)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-4, "{err}");
}

/// 64 samples of `sigmas.len()` values with exactly uncorrelated columns
/// (Sylvester-Hadamard columns 1..): the covariance is diag(σ² · 64/63).
fn axis_aligned(sigmas: &[f32]) -> Vec<f32> {
    let h = |i: usize, j: usize| {
        if (i & j).count_ones().is_multiple_of(2) {
            1.0f32
        } else {
            -1.0
        }
    };
    (0..64)
        .flat_map(|i| sigmas.iter().enumerate().map(move |(j, s)| s * h(i, j + 1)))
        .collect()
}

#[test]
fn variance_fraction_selects_the_right_k() {
    // Variances 90, 9, 0.9, then 45 of 0.0022: total 99.999 (times 64/63).
    let mut sigmas = vec![90f32.sqrt(), 3.0, 0.9f32.sqrt()];
    sigmas.extend(std::iter::repeat_n(0.0022f32.sqrt(), 45));
    let data = axis_aligned(&sigmas);
    let dim = sigmas.len();
    let k = |f: f64| {
        Whitening::pca()
            .keep(Keep::Variance(f))
            .fit(&data, dim)
            .unwrap()
            .kept()
    };
    // Cumulative fractions of 99.999: 0.90001, 0.99001, 0.99901, then
    // 0.0022 / 99.999 more per component.
    assert_eq!(k(0.5), 1);
    assert_eq!(k(0.9), 1);
    assert_eq!(k(0.95), 2);
    assert_eq!(k(0.995), 3);
    // 0.9995 * 99.999 = 99.9490: 99.9 + 23 * 0.0022 = 99.9506 (22 give 99.9484).
    assert_eq!(k(0.9995), 3 + 23);
    assert_eq!(k(1.0), dim);
    let pca = Whitening::pca().fit(&data, dim).unwrap();
    let var = pca.explained_variance();
    assert!((var[0] - 90.0 * 64.0 / 63.0).abs() < 1e-3, "{}", var[0]);
    assert!((var[1] - 9.0 * 64.0 / 63.0).abs() < 1e-4, "{}", var[1]);
    // Keep::Components sets k directly.
    let pca = Whitening::zca()
        .keep(Keep::Components(5))
        .fit(&data, dim)
        .unwrap();
    assert_eq!((pca.kept(), pca.output_dim()), (5, dim));
}

#[test]
fn one_spectrum_serves_several_whitenings() {
    let (dim, n) = (48, 1000);
    let data = correlated(n, dim, 2);
    let spectrum = Spectrum::compute(&Moments::compute(&data, dim).unwrap()).unwrap();
    let a = Whitening::pca()
        .keep(Keep::Components(8))
        .fit_spectrum(&spectrum)
        .unwrap();
    let b = Whitening::pca()
        .keep(Keep::Components(8))
        .fit(&data, dim)
        .unwrap();
    assert_eq!(a.transform(&data).unwrap(), b.transform(&data).unwrap());
    assert_eq!(spectrum.variance().len(), dim);
    assert_eq!(spectrum.vectors().len(), dim * dim);
}

#[test]
fn save_and_load_round_trip_exactly() {
    let (dim, n) = (60, 1500);
    let data = correlated(n, dim, 4);
    let dir = tempfile::tempdir().unwrap();
    for (name, w) in [
        (
            "pca",
            Whitening::pca()
                .keep(Keep::Components(17))
                .fit(&data, dim)
                .unwrap(),
        ),
        ("zca", Whitening::zca().eps(0.1).fit(&data, dim).unwrap()),
        (
            "zca0",
            Whitening::zca()
                .eps(0.0)
                .keep(Keep::Variance(0.9))
                .fit(&data, dim)
                .unwrap(),
        ),
    ] {
        let path = dir.path().join(format!("{name}.safetensors"));
        w.save(&path).unwrap();
        let back = Whitening::load(&path).unwrap();
        assert_eq!(back, w, "{name}");
        assert_eq!(back.eps().to_bits(), w.eps().to_bits());
        assert_eq!(back.samples(), n);
        assert_eq!(back.transform(&data).unwrap(), w.transform(&data).unwrap());
    }
}

fn message<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn bad_data_are_clear_errors() {
    let data = correlated(100, 8, 1);
    assert!(message(Whitening::pca().fit(&[], 8)).contains("empty"));
    let m = message(Whitening::pca().fit(&data[..799], 8));
    assert!(m.contains("799 values") && m.contains("8"), "{m}");
    assert!(message(Whitening::pca().fit(&data, 0)).contains("dimension is 0"));
    assert!(message(Whitening::pca().fit(&data[..8], 8)).contains("at least 2 samples"));
    let mut bad = data.clone();
    bad[3 * 8 + 5] = f32::NAN;
    let m = message(Whitening::zca().fit(&bad, 8));
    assert!(m.contains("sample 3, value 5 is NaN"), "{m}");
    bad[3 * 8 + 5] = f32::INFINITY;
    assert!(message(Whitening::zca().fit(&bad, 8)).contains("inf"));
}

#[test]
fn bad_settings_are_clear_errors() {
    let data = correlated(100, 8, 1);
    let m = message(Whitening::pca().keep(Keep::Components(9)).fit(&data, 8));
    assert!(
        m.contains("Components(9)") && m.contains("dimension 8"),
        "{m}"
    );
    let m = message(Whitening::pca().keep(Keep::Components(0)).fit(&data, 8));
    assert!(m.contains("Components(0)"), "{m}");
    for f in [0.0, -0.5, 1.5, f64::NAN] {
        let m = message(Whitening::pca().keep(Keep::Variance(f)).fit(&data, 8));
        assert!(m.contains("(0, 1]"), "{f}: {m}");
    }
    for eps in [-1e-5, f64::NAN, f64::INFINITY] {
        let m = message(Whitening::zca().eps(eps).fit(&data, 8));
        assert!(m.contains("eps must be finite and >= 0"), "{eps}: {m}");
    }
}

#[test]
fn singular_covariance_without_eps_is_a_clear_error() {
    // Value 3 copies value 1: rank 7 of 8.
    let mut data = correlated(200, 8, 6);
    for row in data.chunks_exact_mut(8) {
        row[3] = row[1];
    }
    let e = Whitening::pca().eps(0.0).fit(&data, 8).unwrap_err();
    match &e {
        Error::SingularCovariance { component, eps, .. } => {
            assert_eq!((*component, *eps), (7, 0.0));
        }
        other => panic!("{other:?}"),
    }
    let m = e.to_string();
    assert!(
        m.contains("component 7") && m.contains("use eps > 0"),
        "{m}"
    );
    // With eps, or without the null direction, it fits.
    assert!(Whitening::pca().eps(1e-5).fit(&data, 8).is_ok());
    assert!(Whitening::zca()
        .eps(0.0)
        .keep(Keep::Components(7))
        .fit(&data, 8)
        .is_ok());

    // A constant value.
    let mut constant = correlated(200, 8, 6);
    for row in constant.chunks_exact_mut(8) {
        row[0] = 0.25;
    }
    assert!(matches!(
        Whitening::zca().eps(0.0).fit(&constant, 8),
        Err(Error::SingularCovariance { component: 7, .. })
    ));
    // All values constant.
    let m = message(Whitening::pca().eps(0.0).fit(&[1.0; 40], 4));
    assert!(m.contains("component 0"), "{m}");

    // Fewer samples than values: the message says why.
    let few = correlated(5, 8, 6);
    let m = message(Whitening::pca().eps(0.0).fit(&few, 8));
    assert!(
        m.contains("5 samples of 8 values") && m.contains("rank at most 4"),
        "{m}"
    );
}

#[test]
fn bad_batches_are_clear_errors() {
    let (dim, n) = (8, 100);
    let data = correlated(n, dim, 1);
    let pca = Whitening::pca()
        .keep(Keep::Components(3))
        .fit(&data, dim)
        .unwrap();
    assert!(message(pca.transform(&data[..9])).contains("9 values"));
    assert!(message(pca.transform(&[])).contains("empty"));
    let mut x = data[..16].to_vec();
    x[9] = f32::NAN;
    assert!(message(pca.transform(&x)).contains("sample 1, value 1 is NaN"));
    let m = message(pca.transform_into(&data[..16], &mut [0.0; 5]));
    assert!(m.contains("holds 5 values") && m.contains("need 6"), "{m}");
    // The inverse takes k = 3 values per sample.
    assert!(message(pca.inverse_transform(&[0.0; 8])).contains("8 values"));
    let y = pca.inverse_transform(&[0.0; 6]).unwrap();
    assert_eq!(y.len(), 16);
    // Zero whitened values map back to the mean.
    for (a, b) in y[..8].iter().zip(pca.mean()) {
        assert!((f64::from(*a) - b).abs() < 1e-6);
    }
}

#[test]
fn bad_files_are_clear_errors() {
    use safetensors::tensor::{Dtype, TensorView};
    use std::collections::HashMap;

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.safetensors");
    let m = message(Whitening::load(&missing));
    assert!(m.contains("missing.safetensors"), "{m}");

    let garbage = dir.path().join("garbage.safetensors");
    std::fs::write(&garbage, b"not a safetensors file").unwrap();
    let m = message(Whitening::load(&garbage));
    assert!(
        m.contains("garbage.safetensors") && m.contains("not a valid safetensors"),
        "{m}"
    );

    // Files written by hand: metadata and tensors chosen per case.
    let write = |name: &str, meta: &[(&str, &str)], tensors: &[(&str, Dtype, Vec<usize>)]| {
        let bytes: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, dtype, shape)| {
                vec![0u8; shape.iter().product::<usize>() * dtype.bitsize() / 8]
            })
            .collect();
        let views: Vec<(&str, TensorView)> = tensors
            .iter()
            .zip(&bytes)
            .map(|((n, dtype, shape), b)| (*n, TensorView::new(*dtype, shape.clone(), b).unwrap()))
            .collect();
        let meta: HashMap<String, String> = meta
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let path = dir.path().join(name);
        std::fs::write(&path, safetensors::serialize(views, Some(meta)).unwrap()).unwrap();
        path
    };
    let meta = [
        ("format", "cnn.whitening"),
        ("version", "1"),
        ("kind", "pca"),
        ("eps", "0.00001"),
        ("samples", "10"),
        ("total_variance", "3.5"),
    ];
    let good = |k: usize, d: usize| {
        vec![
            ("whitening.mean", Dtype::F64, vec![d]),
            ("whitening.components", Dtype::F64, vec![k, d]),
            ("whitening.variance", Dtype::F64, vec![k]),
        ]
    };
    // A well-formed file of zeros loads (eps > 0).
    let path = write("zeros.safetensors", &meta, &good(2, 5));
    let w = Whitening::load(&path).unwrap();
    assert_eq!((w.kept(), w.dim(), w.samples()), (2, 5, 10));

    let mut t = good(2, 5);
    t[1].2 = vec![2, 6];
    let m = message(Whitening::load(write("shape.safetensors", &meta, &t)));
    assert!(
        m.contains("shape.safetensors")
            && m.contains("`whitening.components` has shape [2, 6], expected [2, 5]"),
        "{m}"
    );
    let m = message(Whitening::load(write("k.safetensors", &meta, &good(6, 5))));
    assert!(m.contains("1 <= k <= dim"), "{m}");
    let mut t = good(2, 5);
    t.remove(2);
    let m = message(Whitening::load(write("lack.safetensors", &meta, &t)));
    assert!(m.contains("`whitening.variance` is missing"), "{m}");
    let mut t = good(2, 5);
    t[0].1 = Dtype::I32;
    let m = message(Whitening::load(write("dtype.safetensors", &meta, &t)));
    assert!(m.contains("`whitening.mean` (shape [5]) is I32"), "{m}");
    let mut t = good(2, 5);
    t.push(("conv1.weight", Dtype::F32, vec![3]));
    let m = message(Whitening::load(write("extra.safetensors", &meta, &t)));
    assert!(m.contains("unexpected tensor `conv1.weight`"), "{m}");

    let with = |key: &str, value: &str| -> Vec<(&str, String)> {
        meta.iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == key {
                        value.to_string()
                    } else {
                        v.to_string()
                    },
                )
            })
            .collect()
    };
    for (key, value, expect) in [
        ("kind", "lda", "unknown whitening kind `lda`"),
        ("version", "2", "version 2"),
        ("format", "pt", "not a whitening file"),
        ("eps", "-1", "metadata `eps` is `-1`"),
    ] {
        let meta = with(key, value);
        let meta: Vec<(&str, &str)> = meta.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let m = message(Whitening::load(write(
            "meta.safetensors",
            &meta,
            &good(2, 5),
        )));
        assert!(m.contains(expect), "{key}: {m}");
    }
    let meta0 = with("eps", "0");
    let meta0: Vec<(&str, &str)> = meta0.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let m = message(Whitening::load(write(
        "eps0.safetensors",
        &meta0,
        &good(2, 5),
    )));
    assert!(m.contains("singular"), "{m}");
}
