//! Writes the fixtures of `tests/preprocess.rs` and of the compile-fail
//! tests into `tests/data/preprocess/`:
//! `cargo test --release --test preprocess_fixtures -- --ignored`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cnn::data::{Keep, Preprocessing, Standardizer, Whitening};
use cnn::io::safetensors::RawTensor;
use cnn::{Init, Model};

cnn::network! {
    /// `tests/preprocess.rs`'s `Tiny`, without compiled-in weights.
    struct Tiny {
        input: [2, 3, 3],
        conv1: conv(2, kernel = 2), relu,
        flatten,
        fc: dense(3),
    }
}

cnn::network! {
    struct Vec3 { input: [3], fc: dense(2) }
}

cnn::network! {
    /// `tests/preprocess.rs`'s `Pca12`: 8x8 raw images whitened to 12
    /// principal components.
    struct Pca12 { input: [12], fc1: dense(6), relu, fc2: dense(3) }
}

cnn::network! {
    /// `tests/preprocess.rs`'s `Zca5x5`: 5x5 raw images ZCA-whitened.
    struct Zca5x5 {
        input: [1, 5, 5],
        conv1: conv(2, kernel = 3), relu,
        flatten,
        fc: dense(3),
    }
}

/// `n` smooth `side x side` images: a few random waves each, so that
/// neighbouring pixels are correlated.
fn images(n: usize, side: usize, seed: u64) -> Vec<f32> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut out = Vec::with_capacity(n * side * side);
    for _ in 0..n {
        let (a, b, c, d) = (next(), next(), next(), next());
        for y in 0..side {
            for x in 0..side {
                let (x, y) = (x as f32, y as f32);
                out.push(
                    0.5 + 0.3 * (a * 6.0 + x * b).sin() * (y * c * 0.7).cos()
                        + 0.1 * d * (x + y)
                        + 0.05 * next(),
                );
            }
        }
    }
    out
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

fn correlated(n: usize) -> Vec<f32> {
    (0..n)
        .flat_map(|i| {
            let (a, b) = ((i as f32 * 0.37).sin(), (i as f32 * 0.71).cos());
            [a, a + 0.5 * b, 2.0 - b]
        })
        .collect()
}

#[test]
#[ignore = "writes the committed fixtures"]
fn regenerate_fixtures() {
    let dir = fixtures();
    std::fs::create_dir_all(&dir).unwrap();
    let net = Tiny::new(Init::He, 11);
    Model::new(net.clone(), Some(per_channel()))
        .unwrap()
        .save(dir.join("per_channel.safetensors"))
        .unwrap();
    Model::new(net.clone(), Some(Preprocessing::PerSample))
        .unwrap()
        .save(dir.join("per_sample.safetensors"))
        .unwrap();
    // Bad files for the compile-fail tests: three channels of statistics
    // for a two-channel input, and a whitening without its matrix (below).
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let extra: Vec<RawTensor> = ["preprocess.mean", "preprocess.std"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                safetensors::Dtype::F32,
                vec![3],
                f32s(&[1.0; 3]),
            )
        })
        .collect();
    let meta: HashMap<String, String> = [("preprocess", "per_channel")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let path = dir.join("three_channels.safetensors");
    let bytes =
        cnn::io::safetensors::to_bytes_with(&path, Tiny::PARAMS, net.weights(), &extra, meta)
            .unwrap();
    std::fs::write(&path, bytes).unwrap();
    // Whitening compiled in: PCA of 8x8 images to 12 components, ZCA of
    // 5x5 images.
    let pca = Whitening::pca()
        .keep(Keep::Components(12))
        .fit(&images(300, 8, 1), 64)
        .unwrap();
    Model::new(Pca12::new(Init::He, 4), Some(Preprocessing::Whitening(pca)))
        .unwrap()
        .save(dir.join("pca.safetensors"))
        .unwrap();
    let zca = Whitening::zca()
        .eps(1e-3)
        .fit(&images(200, 5, 2), 25)
        .unwrap();
    Model::new(
        Zca5x5::new(Init::He, 5),
        Some(Preprocessing::Whitening(zca)),
    )
    .unwrap()
    .save(dir.join("zca.safetensors"))
    .unwrap();
    // A whitening in format version 1, without its matrix: loads at run
    // time (the matrix rebuilt), cannot be compiled in.
    let zca = Whitening::zca().fit(&correlated(50), 3).unwrap();
    let f64s = |v: &[f64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let (k, d) = (zca.kept(), zca.dim());
    let tensors: Vec<RawTensor> = [
        ("mean", vec![d], f64s(zca.mean())),
        ("components", vec![k, d], f64s(zca.components())),
        ("variance", vec![k], f64s(zca.explained_variance())),
    ]
    .into_iter()
    .map(|(n, shape, bytes)| {
        (
            format!("preprocess.whitening.{n}"),
            safetensors::Dtype::F64,
            shape,
            bytes,
        )
    })
    .collect();
    let meta: HashMap<String, String> = [
        ("preprocess", "whitening".to_string()),
        ("preprocess.version", "1".to_string()),
        ("preprocess.whitening.kind", "zca".to_string()),
        ("preprocess.whitening.eps", zca.eps().to_string()),
        ("preprocess.whitening.samples", zca.samples().to_string()),
        (
            "preprocess.whitening.total_variance",
            zca.total_variance().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let net = Vec3::new(Init::He, 3);
    let path = dir.join("whitening_v1.safetensors");
    let bytes =
        cnn::io::safetensors::to_bytes_with(&path, Vec3::PARAMS, net.weights(), &tensors, meta)
            .unwrap();
    std::fs::write(&path, bytes).unwrap();
}
