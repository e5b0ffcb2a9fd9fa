//! Preprocessing saved with the weights: round trips, old files, bad
//! files, and compiled-in preprocessing against the loaded model, bit for
//! bit.
//!
//! The fixtures in `tests/data/preprocess/` are written by
//! `cargo test --release --test preprocess_fixtures -- --ignored`.

use std::path::{Path, PathBuf};

use cnn::data::{Preprocessing, Standardizer, Whitening};
use cnn::io::safetensors::RawTensor;
use cnn::{Error, Init, Model};

cnn::network! {
    /// The network of the per-channel fixture, weights and preprocessing
    /// compiled in.
    #[cnn(weights = "tests/data/preprocess/per_channel.safetensors")]
    struct Tiny {
        input: [2, 3, 3],
        conv1: conv(2, kernel = 2), relu,
        flatten,
        fc: dense(3),
    }
}

cnn::network! {
    /// The same network, from the per-sample fixture.
    #[cnn(weights = "tests/data/preprocess/per_sample.safetensors")]
    struct TinyPerSample {
        input: [2, 3, 3],
        conv1: conv(2, kernel = 2), relu,
        flatten,
        fc: dense(3),
    }
}

cnn::network! {
    /// A vector network for whitening (PCA to 3 values, ZCA of 3).
    struct Vec3 { input: [3], fc: dense(2) }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/preprocess")
}

fn per_channel() -> Preprocessing {
    Preprocessing::PerChannel(Standardizer {
        mean: vec![10.0, -5.0],
        std: vec![2.0, 0.5],
    })
}

/// Raw samples with the fixtures' statistics, deterministic.
fn raw_samples(n: usize) -> Vec<f32> {
    (0..n * 18)
        .map(|i| {
            let c = (i % 18) / 9;
            let wave = ((i * 37 % 101) as f32 * 0.37).sin();
            if c == 0 {
                10.0 + 2.0 * wave
            } else {
                -5.0 + 0.5 * wave
            }
        })
        .collect()
}

fn correlated(n: usize) -> Vec<f32> {
    (0..n)
        .flat_map(|i| {
            let (a, b) = ((i as f32 * 0.37).sin(), (i as f32 * 0.71).cos());
            [a, a + 0.5 * b, 2.0 - b]
        })
        .collect()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn compiled_in_per_channel_equals_the_loaded_model_bit_for_bit() {
    let model = Model::<Tiny>::load(fixtures().join("per_channel.safetensors")).unwrap();
    assert_eq!(model.preprocessing, Some(per_channel()));
    assert_eq!(
        bits(model.network.weights()),
        bits(Tiny::embedded().weights())
    );
    match Tiny::PREPROCESSING {
        cnn::preprocess::Preprocess::PerChannel { mean, std } => {
            assert_eq!((mean, std), (&[10.0, -5.0][..], &[2.0, 0.5][..]))
        }
        other => panic!("{other:?}"),
    }
    let raw = raw_samples(5);
    let loaded = model.predict_raw(&raw).unwrap();
    let net = Tiny::embedded();
    let mut arena = TinyArena::new();
    let mut compiled = Vec::new();
    for sample in raw.chunks_exact(18) {
        compiled.extend(net.infer_raw(sample.try_into().unwrap(), &mut arena));
    }
    assert_eq!(bits(&compiled), bits(&loaded));
    // `infer` takes preprocessed input: the same as `infer_raw` after
    // applying the preprocessing by hand.
    let mut x: [f32; 18] = raw[..18].try_into().unwrap();
    for (i, v) in x.iter_mut().enumerate() {
        let (m, s) = if i < 9 { (10.0, 2.0) } else { (-5.0, 0.5) };
        *v = (*v - m) / (s + 1e-8f32);
    }
    assert_eq!(bits(&net.infer(&x, &mut arena)), bits(&compiled[..3]));
    // In place, from the arena's input region.
    *Tiny::arena_input(&mut arena) = raw[..18].try_into().unwrap();
    assert_eq!(
        bits(&net.infer_raw_in_place(&mut arena)),
        bits(&compiled[..3])
    );
}

#[test]
fn compiled_in_per_sample_equals_the_loaded_model_bit_for_bit() {
    let path = fixtures().join("per_sample.safetensors");
    let model = Model::<TinyPerSample>::load(&path).unwrap();
    assert_eq!(model.preprocessing, Some(Preprocessing::PerSample));
    assert_eq!(
        TinyPerSample::PREPROCESSING,
        cnn::preprocess::Preprocess::PerSample
    );
    let raw = raw_samples(4);
    let loaded = model.predict_raw(&raw).unwrap();
    let net = TinyPerSample::embedded();
    let mut arena = TinyPerSampleArena::new();
    let compiled: Vec<f32> = raw
        .chunks_exact(18)
        .flat_map(|s| net.infer_raw(s.try_into().unwrap(), &mut arena))
        .collect();
    assert_eq!(bits(&compiled), bits(&loaded));
    // Per-sample standardisation agrees with scale_each_sample to rounding.
    let mut data = cnn::Dataset::regression(raw.clone(), &[2, 3, 3], vec![0.0; 4], 1).unwrap();
    cnn::data::scale_each_sample(&mut data);
    let ours = Preprocessing::PerSample.apply(&raw, &[2, 3, 3]).unwrap();
    for (a, b) in ours.iter().zip(data.inputs()) {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} {b}");
    }
}

#[test]
fn round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let net = Tiny::new(Init::He, 5);
    for p in [None, Some(Preprocessing::PerSample), Some(per_channel())] {
        let model = Model::new(net.clone(), p).unwrap();
        model.save(&path).unwrap();
        assert_eq!(Model::<Tiny>::load(&path).unwrap(), model);
        // The weights alone, by the network's own loaders.
        let alone = Tiny::from_safetensors(&path).unwrap();
        assert_eq!(bits(alone.weights()), bits(net.weights()));
        let mut other = Tiny::zeros();
        other.load_safetensors(&path).unwrap();
        assert_eq!(bits(other.weights()), bits(net.weights()));
    }
    // Whitening, PCA and ZCA, with the network's input as its output.
    let data = correlated(200);
    for w in [
        Whitening::pca().fit(&data, 3).unwrap(),
        Whitening::zca().eps(1e-3).fit(&data, 3).unwrap(),
    ] {
        let model = Model::new(
            Vec3::new(Init::He, 1),
            Some(Preprocessing::Whitening(w.clone())),
        )
        .unwrap();
        model.save(&path).unwrap();
        let loaded = Model::<Vec3>::load(&path).unwrap();
        assert_eq!(loaded, model);
        let expected = model
            .network
            .predict_batch(&w.transform(&data).unwrap())
            .unwrap();
        assert_eq!(bits(&loaded.predict_raw(&data).unwrap()), bits(&expected));
    }
}

#[test]
fn weights_only_files_load_as_models_without_preprocessing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.safetensors");
    let net = Tiny::new(Init::He, 9);
    net.save_safetensors(&path).unwrap();
    let model = Model::<Tiny>::load(&path).unwrap();
    assert_eq!(model.preprocessing, None);
    assert_eq!(bits(model.network.weights()), bits(net.weights()));
    let raw = raw_samples(2);
    assert_eq!(
        bits(&model.predict_raw(&raw).unwrap()),
        bits(&net.predict_batch(&raw).unwrap())
    );
}

/// Writes the weights of `net` with `extra` tensors and `meta`.
fn write_with(path: &Path, extra: &[RawTensor], meta: &[(&str, &str)]) {
    let net = Tiny::new(Init::He, 2);
    let meta = meta
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let bytes = cnn::io::safetensors::to_bytes_with(path, Tiny::PARAMS, net.weights(), extra, meta)
        .unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn f32_tensor(name: &str, values: &[f32]) -> RawTensor {
    (
        name.to_string(),
        safetensors::Dtype::F32,
        vec![values.len()],
        values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    )
}

fn load_error(extra: &[RawTensor], meta: &[(&str, &str)]) -> Error {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    write_with(&path, extra, meta);
    // A failed reload leaves the model as it was.
    let mut model = Model::new(Tiny::new(Init::He, 1), Some(Preprocessing::PerSample)).unwrap();
    let before = model.clone();
    let e = model.reload(&path).unwrap_err();
    assert_eq!(model, before);
    assert!(e.to_string().contains("bad.safetensors"), "{e}");
    e
}

#[test]
fn bad_preprocessing_gives_clear_errors() {
    let per_channel = [("preprocess", "per_channel")];
    // Three channels for a two-channel input.
    let e = load_error(
        &[
            f32_tensor("preprocess.mean", &[0.0; 3]),
            f32_tensor("preprocess.std", &[1.0; 3]),
        ],
        &per_channel,
    );
    let m = e.to_string();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{m}");
    assert!(
        m.contains("`preprocess.mean` has shape [3], the network expects [2]")
            && m.contains("[2, 3, 3]"),
        "{m}"
    );
    // Missing std.
    let e = load_error(&[f32_tensor("preprocess.mean", &[0.0; 2])], &per_channel);
    assert!(matches!(e, Error::MissingTensor { .. }) && e.to_string().contains("preprocess.std"));
    // NaN and negative statistics.
    for (mean, std) in [([f32::NAN, 0.0], [1.0, 1.0]), ([0.0, 0.0], [1.0, -1.0])] {
        let e = load_error(
            &[
                f32_tensor("preprocess.mean", &mean),
                f32_tensor("preprocess.std", &std),
            ],
            &per_channel,
        );
        assert!(e.to_string().contains("must be finite"), "{e}");
    }
    // Tensors without the metadata naming their kind, an unknown kind, a
    // newer version, tensors that do not belong to the kind.
    let stats = [
        f32_tensor("preprocess.mean", &[0.0; 2]),
        f32_tensor("preprocess.std", &[1.0; 2]),
    ];
    let e = load_error(&stats, &[]);
    assert!(e.to_string().contains("no `preprocess` metadata"), "{e}");
    let e = load_error(&[], &[("preprocess", "fourier")]);
    assert!(
        e.to_string().contains("unknown preprocessing `fourier`"),
        "{e}"
    );
    let e = load_error(
        &[],
        &[("preprocess", "per_sample"), ("preprocess.version", "2")],
    );
    assert!(e.to_string().contains("version `2`"), "{e}");
    let e = load_error(&stats, &[("preprocess", "per_sample")]);
    assert!(
        e.to_string()
            .contains("unexpected tensors `preprocess.mean`, `preprocess.std`"),
        "{e}"
    );
    // A whitening whose output is not the network's input.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.safetensors");
    let pca = Whitening::pca()
        .keep(cnn::data::Keep::Components(2))
        .fit(&correlated(100), 3)
        .unwrap();
    let mut model = Model::new(Vec3::new(Init::He, 1), None).unwrap();
    model.preprocessing = Some(Preprocessing::Whitening(pca.clone()));
    let e = model.save(&path).unwrap_err();
    assert!(matches!(e, Error::Config { .. }), "{e}");
    assert!(!path.exists(), "nothing is written");
    let e = Model::new(Vec3::new(Init::He, 1), Some(Preprocessing::Whitening(pca))).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("into 2") && m.contains("[3] takes 3"), "{m}");
}

#[test]
fn raw_batches_must_be_whole_samples() {
    let model = Model::new(Tiny::new(Init::He, 1), Some(per_channel())).unwrap();
    let e = model.predict_raw(&[0.0; 19]).unwrap_err();
    assert!(e.to_string().contains("19 raw values"), "{e}");
    // NaN in gives NaN out.
    let out = model.predict_raw(&[f32::NAN; 18]).unwrap();
    assert!(out.iter().all(|v| v.is_nan()), "{out:?}");
}

#[test]
fn mutated_model_files_are_errors_not_panics() {
    let good = std::fs::read(fixtures().join("per_channel.safetensors")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let (mut loaded, mut refused) = (0, 0);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..2000 {
        let mut bytes = good.clone();
        for _ in 0..1 + (state % 3) as usize {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % bytes.len() as u64) as usize;
            bytes[at] = (state >> 32) as u8;
        }
        std::fs::write(&path, &bytes).unwrap();
        match Model::<Tiny>::load(&path) {
            Ok(model) => {
                loaded += 1;
                // Whatever loaded fits the network.
                if let Some(p) = &model.preprocessing {
                    p.check(&Tiny::INPUT_SHAPE).unwrap();
                }
            }
            Err(e) => {
                refused += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(
        loaded > 0 && refused > 0,
        "{loaded} loaded, {refused} refused"
    );
}
