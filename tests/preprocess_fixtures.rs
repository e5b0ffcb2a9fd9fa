//! Writes the fixtures of `tests/preprocess.rs` and of the compile-fail
//! tests into `tests/data/preprocess/`:
//! `cargo test --release --test preprocess_fixtures -- --ignored`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use cnn::data::{Preprocessing, Standardizer, Whitening};
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
    // for a two-channel input, and whitening (host only).
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
    let zca = Whitening::zca().fit(&correlated(50), 3).unwrap();
    Model::new(Vec3::new(Init::He, 3), Some(Preprocessing::Whitening(zca)))
        .unwrap()
        .save(dir.join("whitening.safetensors"))
        .unwrap();
}
