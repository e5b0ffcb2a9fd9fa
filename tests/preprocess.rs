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

cnn::network! {
    /// 8x8 raw images whitened to their 12 principal components, weights
    /// and whitening compiled in.
    #[cnn(weights = "tests/data/preprocess/pca.safetensors")]
    struct Pca12 { input: [12], fc1: dense(6), relu, fc2: dense(3) }
}

cnn::network! {
    /// 5x5 raw images ZCA-whitened, weights and whitening compiled in.
    #[cnn(weights = "tests/data/preprocess/zca.safetensors")]
    struct Zca5x5 {
        input: [1, 5, 5],
        conv1: conv(2, kernel = 3), relu,
        flatten,
        fc: dense(3),
    }
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

/// `n` raw samples of `dim` values in about `[0, 1]`, deterministic.
fn raw_pixels(n: usize, dim: usize) -> Vec<f32> {
    (0..n * dim)
        .map(|i| 0.5 + 0.4 * ((i * 29 % 97) as f32 * 0.53).sin() * ((i % dim) as f32 * 0.2).cos())
        .collect()
}

#[test]
fn compiled_in_whitening_equals_the_loaded_model_bit_for_bit() {
    use cnn::preprocess::{Floats, Preprocess};
    // PCA: 64 raw values into the network's 12 inputs.
    let model = Model::<Pca12>::load(fixtures().join("pca.safetensors")).unwrap();
    let Some(Preprocessing::Whitening(w)) = &model.preprocessing else {
        panic!("{:?}", model.preprocessing)
    };
    assert_eq!((w.dim(), w.output_dim()), (64, 12));
    assert_eq!((Pca12::RAW_LEN, Pca12::INPUT_LEN), (64, 12));
    let Preprocess::Whitening(k) = Pca12::PREPROCESSING else {
        panic!("{:?}", Pca12::PREPROCESSING)
    };
    assert_eq!((k.dim, k.out, k.stride), (64, 12, 12));
    // The embedded matrix is the file's, the mean its f64 rounded to f32.
    let Floats::Le(matrix) = k.matrix else {
        panic!("{:?}", k.matrix)
    };
    let embedded: Vec<f32> = matrix
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(bits(&embedded), bits(&w.matrix()));
    let mean: Vec<f32> = (0..64).map(|j| k.mean.get(j)).collect();
    let mean64: Vec<f32> = w.mean().iter().map(|&m| m as f32).collect();
    assert_eq!(bits(&mean), bits(&mean64));
    assert_eq!(
        bits(model.network.weights()),
        bits(Pca12::embedded().weights())
    );
    let raw = raw_pixels(40, 64);
    let loaded = model.predict_raw(&raw).unwrap();
    let net = Pca12::embedded();
    let mut arena = Pca12Arena::new();
    let compiled: Vec<f32> = raw
        .chunks_exact(64)
        .flat_map(|s| net.infer_raw(s.try_into().unwrap(), &mut arena))
        .collect();
    assert_eq!(bits(&compiled), bits(&loaded));
    // `infer` takes whitened input: the model's preprocessing, applied.
    let white = model
        .preprocessing
        .as_ref()
        .unwrap()
        .apply(&raw[..64], &[12])
        .unwrap();
    assert_eq!(
        bits(&net.infer(&white[..].try_into().unwrap(), &mut arena)),
        bits(&compiled[..3])
    );
    // The GEMM transform of whole data sets agrees to rounding.
    let gemm = w.transform(&raw).unwrap();
    let kernel = model
        .preprocessing
        .as_ref()
        .unwrap()
        .apply(&raw, &[12])
        .unwrap();
    for (a, b) in kernel.iter().zip(&gemm) {
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} {b}");
    }

    // ZCA: 25 raw values into a [1, 5, 5] input.
    let model = Model::<Zca5x5>::load(fixtures().join("zca.safetensors")).unwrap();
    assert_eq!(Zca5x5::RAW_LEN, 25);
    let raw = raw_pixels(30, 25);
    let loaded = model.predict_raw(&raw).unwrap();
    let net = Zca5x5::embedded();
    let mut arena = Zca5x5Arena::new();
    let compiled: Vec<f32> = raw
        .chunks_exact(25)
        .flat_map(|s| net.infer_raw(s.try_into().unwrap(), &mut arena))
        .collect();
    assert_eq!(bits(&compiled), bits(&loaded));
    // NaN in gives NaN out, no panic.
    assert!(net
        .infer_raw(&[f32::NAN; 25], &mut arena)
        .iter()
        .all(|v| v.is_nan()));
}

#[test]
fn version_1_whitening_files_load_with_the_matrix_rebuilt() {
    let path = fixtures().join("whitening_v1.safetensors");
    let model = Model::<Vec3>::load(&path).unwrap();
    let Some(Preprocessing::Whitening(w)) = &model.preprocessing else {
        panic!("{:?}", model.preprocessing)
    };
    let fitted = Whitening::zca().fit(&correlated(50), 3).unwrap();
    assert_eq!(w.matrix(), fitted.matrix());
    // Saved again, it is version 2, with the matrix.
    let dir = tempfile::tempdir().unwrap();
    let again = dir.path().join("v2.safetensors");
    model.save(&again).unwrap();
    assert_eq!(Model::<Vec3>::load(&again).unwrap(), model);
    let bytes = std::fs::read(&again).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["preprocess.version"], "2");
    assert!(safetensors::SafeTensors::deserialize(&bytes)
        .unwrap()
        .tensor("preprocess.whitening.matrix")
        .is_ok());
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
        // `predict_raw` whitens with the kernel (which the GEMM transform
        // agrees with to rounding), then runs the network.
        let white = Preprocessing::Whitening(w.clone())
            .apply(&data, &[3])
            .unwrap();
        let gemm = w.transform(&data).unwrap();
        for (a, b) in white.iter().zip(&gemm) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} {b}");
        }
        let expected = model.network.predict_batch(&white).unwrap();
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
        &[("preprocess", "per_sample"), ("preprocess.version", "3")],
    );
    assert!(e.to_string().contains("version `3`"), "{e}");
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
fn bad_whitening_matrices_give_clear_errors() {
    // The version 2 ZCA fixture's tensors, with the matrix changed.
    let bytes = std::fs::read(fixtures().join("zca.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta: Vec<(String, String)> = header.metadata().clone().unwrap().into_iter().collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zca.safetensors");
    let write = |matrix: Option<(safetensors::Dtype, Vec<usize>, Vec<u8>)>| {
        let mut tensors: Vec<RawTensor> = file
            .tensors()
            .into_iter()
            .filter(|(n, _)| n.starts_with("preprocess.") && n != "preprocess.whitening.matrix")
            .map(|(n, t)| (n, t.dtype(), t.shape().to_vec(), t.data().to_vec()))
            .collect();
        if let Some((dtype, shape, data)) = matrix {
            tensors.push(("preprocess.whitening.matrix".into(), dtype, shape, data));
        }
        let net = Zca5x5::embedded();
        let meta = meta.iter().cloned().collect();
        let b = cnn::io::safetensors::to_bytes_with(
            &path,
            Zca5x5::PARAMS,
            net.weights(),
            &tensors,
            meta,
        )
        .unwrap();
        std::fs::write(&path, b).unwrap();
        Model::<Zca5x5>::load(&path).unwrap_err()
    };
    let e = write(None);
    assert!(matches!(e, Error::MissingTensor { .. }), "{e}");
    assert!(e.to_string().contains("preprocess.whitening.matrix"), "{e}");
    let e = write(Some((safetensors::Dtype::F32, vec![25, 24], vec![0; 2400])));
    let m = e.to_string();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{m}");
    assert!(m.contains("[25, 24]") && m.contains("[25, 25]"), "{m}");
    let e = write(Some((safetensors::Dtype::F64, vec![25, 25], vec![0; 5000])));
    assert!(matches!(e, Error::DtypeMismatch { .. }), "{e}");
    let nan: Vec<u8> = (0..625)
        .flat_map(|i| if i == 7 { f32::NAN } else { 0.0 }.to_le_bytes())
        .collect();
    let e = write(Some((safetensors::Dtype::F32, vec![25, 25], nan)));
    assert!(e.to_string().contains("flat index 7"), "{e}");
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
