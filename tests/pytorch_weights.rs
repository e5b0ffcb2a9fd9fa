//! A network trained in PyTorch and saved with
//! `safetensors.torch.save_file(model.state_dict(), path)` loads unchanged
//! and gives PyTorch's outputs (fixture made by
//! `tests/data/pytorch/make_fixture.py`), and every kind of bad weights
//! file is refused with a clear error that leaves the network unchanged.

mod common;

use cnn::{Error, LoadOptions};
use common::{assert_close, data_dir};
use safetensors::tensor::{Dtype, TensorView};

cnn::network! {
    /// The fixture's network, fused (overlapping pools too).
    #[cnn(fuse_overlapping = true)]
    struct SmallNet {
        input: [3, 17, 15],
        conv1: conv(9, kernel = (3, 5), stride = (1, 2), pad = (1, 2)), relu,
        max_pool(3, stride = 2, pad = 1),
        conv2: conv(12, kernel = 3, pad = 1), tanh,
        conv3: conv(6, kernel = 1), relu,
        avg_pool(2),
        flatten,
        fc1: dense(20), sigmoid,
        fc2: dense(5),
        softmax,
    }

    /// The same network without fusion.
    #[cnn(fuse = false)]
    struct SmallNetUnfused {
        input: [3, 17, 15],
        conv1: conv(9, kernel = (3, 5), stride = (1, 2), pad = (1, 2)), relu,
        max_pool(3, stride = 2, pad = 1),
        conv2: conv(12, kernel = 3, pad = 1), tanh,
        conv3: conv(6, kernel = 1), relu,
        avg_pool(2),
        flatten,
        fc1: dense(20), sigmoid,
        fc2: dense(5),
        softmax,
    }

    /// The network without its last layer, for a file that lacks tensors.
    struct Shorter {
        input: [3, 17, 15],
        conv1: conv(9, kernel = (3, 5), stride = (1, 2), pad = (1, 2)), relu,
        max_pool(3, stride = 2, pad = 1),
        conv2: conv(12, kernel = 3, pad = 1), tanh,
        conv3: conv(6, kernel = 1), relu,
        avg_pool(2),
        flatten,
        fc1: dense(20),
    }
}

fn fixture() -> std::path::PathBuf {
    data_dir().join("pytorch").join("small_net.safetensors")
}

fn expected() -> (Vec<f32>, Vec<f32>) {
    let path = data_dir().join("pytorch").join("small_net_expected.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let get = |k: &str| {
        json[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    (get("input"), get("output"))
}

#[test]
fn pytorch_file_gives_pytorch_outputs() {
    let (x, want) = expected();
    let fused = SmallNet::from_safetensors(fixture()).expect("loads");
    let unfused = SmallNetUnfused::from_safetensors(fixture()).expect("loads");
    assert_close(
        "fused batch",
        &fused.predict_batch(&x).unwrap(),
        &want,
        1e-5,
        1e-4,
    );
    assert_close(
        "unfused batch",
        &unfused.predict_batch(&x).unwrap(),
        &want,
        1e-5,
        1e-4,
    );
    // One sample at a time through the heap-free path.
    for s in 0..3 {
        let xs: &[f32; 765] = x[s * 765..(s + 1) * 765].try_into().unwrap();
        let got = fused.predict(xs);
        assert_close("fused single", &got, &want[s * 5..(s + 1) * 5], 1e-5, 1e-4);
    }
}

#[test]
fn the_fixture_exercises_every_conv_algorithm() {
    let kernels: Vec<&str> = SmallNet::PLAN.iter().map(|s| s.kernel).collect();
    assert!(
        kernels.contains(&"conv→ReLU→max-pool (direct)"),
        "{kernels:?}"
    );
    assert!(kernels.contains(&"conv (im2col+GEMM)"), "{kernels:?}");
    assert!(kernels.contains(&"conv→ReLU (1x1 GEMM)"), "{kernels:?}");
}

#[test]
fn save_then_load_round_trips_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    let net = SmallNet::new(cnn::Init::He, 3);
    net.save_safetensors(&path).unwrap();
    let back = SmallNet::from_safetensors(&path).unwrap();
    assert_eq!(net.weights(), back.weights());
    // PyTorch's loader needs the same names and shapes: check the header.
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.tensor("conv1.weight").unwrap().shape(), [9, 3, 3, 5]);
    assert_eq!(file.tensor("fc2.bias").unwrap().shape(), [5]);
}

/// Writes a safetensors file of the given tensors (f32 unless stated).
fn write_file(path: &std::path::Path, tensors: &[(&str, Dtype, Vec<usize>)]) {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, dt, shape)| vec![0u8; shape.iter().product::<usize>() * dt.bitsize() / 8])
        .collect();
    let views: Vec<(&str, TensorView)> = tensors
        .iter()
        .zip(&data)
        .map(|((name, dt, shape), d)| (*name, TensorView::new(*dt, shape.clone(), d).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

fn all_tensors() -> Vec<(&'static str, Dtype, Vec<usize>)> {
    SmallNet::PARAMS
        .iter()
        .map(|p| (p.name, Dtype::F32, p.shape.to_vec()))
        .collect()
}

/// Loading `path` into a network fails with a message containing every
/// `needle`, and leaves the network exactly as it was.
fn refused(path: &std::path::Path, needles: &[&str]) -> Error {
    let mut net = SmallNet::new(cnn::Init::He, 11);
    let before = net.weights().to_vec();
    let err = net.load_safetensors(path).expect_err("the load must fail");
    let msg = err.to_string();
    for needle in needles {
        assert!(msg.contains(needle), "message {msg:?} lacks {needle:?}");
    }
    assert_eq!(
        net.weights(),
        &before[..],
        "a failed load changed the network"
    );
    err
}

#[test]
fn missing_file() {
    let path = data_dir().join("pytorch").join("no_such_file.safetensors");
    let err = refused(&path, &["no_such_file.safetensors"]);
    assert!(matches!(err, Error::Io { .. }));
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("truncated.safetensors");
    let bytes = std::fs::read(fixture()).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let err = refused(
        &path,
        &["truncated.safetensors", "not a valid safetensors file"],
    );
    assert!(matches!(err, Error::Safetensors { .. }));
}

#[test]
fn not_safetensors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weights.json");
    std::fs::write(&path, b"{\"conv1.weight\": [1, 2, 3]}").unwrap();
    refused(&path, &["weights.json", "not a valid safetensors file"]);
}

#[test]
fn missing_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partial.safetensors");
    let mut tensors = all_tensors();
    tensors.retain(|(n, _, _)| *n != "fc2.weight");
    write_file(&path, &tensors);
    let err = refused(
        &path,
        &["partial.safetensors", "`fc2.weight`", "[5, 20]", "missing"],
    );
    assert!(matches!(err, Error::MissingTensor { .. }));
}

#[test]
fn wrong_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shape.safetensors");
    let mut tensors = all_tensors();
    tensors[0].2 = vec![9, 3, 5, 3];
    write_file(&path, &tensors);
    let err = refused(
        &path,
        &[
            "shape.safetensors",
            "`conv1.weight`",
            "[9, 3, 5, 3]",
            "[9, 3, 3, 5]",
        ],
    );
    assert!(matches!(err, Error::ShapeMismatch { .. }));
}

#[test]
fn wrong_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f64.safetensors");
    let mut tensors = all_tensors();
    tensors[3].1 = Dtype::F64;
    write_file(&path, &tensors);
    let err = refused(
        &path,
        &["f64.safetensors", "`conv2.bias`", "F64", "F32", "[12]"],
    );
    assert!(matches!(err, Error::DtypeMismatch { .. }));
}

#[test]
fn unknown_tensors_are_an_error_unless_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("extra.safetensors");
    let mut tensors = all_tensors();
    tensors.push(("bn1.running_mean", Dtype::F32, vec![9]));
    write_file(&path, &tensors);
    refused(
        &path,
        &["extra.safetensors", "`bn1.running_mean`", "ignore_unknown"],
    );
    let mut net = SmallNet::new(cnn::Init::He, 11);
    net.load_safetensors_with(&path, LoadOptions::ignore_unknown())
        .expect("ignored");
    assert!(
        net.weights().iter().all(|&w| w == 0.0),
        "the file's zeros were loaded"
    );
}

#[test]
fn a_smaller_network_reads_a_prefix_only_when_asked() {
    // The fixture has fc2.*, which `Shorter` lacks: refused by default.
    let mut net = Shorter::new(cnn::Init::He, 1);
    let err = net.load_safetensors(fixture()).unwrap_err();
    assert!(
        err.to_string().contains("`fc2.bias`, `fc2.weight`"),
        "{err}"
    );
    net.load_safetensors_with(fixture(), LoadOptions::ignore_unknown())
        .unwrap();
}

#[test]
fn batches_must_hold_whole_samples() {
    let net = SmallNet::new(cnn::Init::He, 1);
    let err = net.predict_batch(&vec![0.0; 765 * 2 + 1]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("1531") && msg.contains("765") && msg.contains("SmallNet"),
        "{msg}"
    );
    let mut out = vec![0.0; 9];
    let err = net
        .forward_batch(&vec![0.0; 765 * 2], &mut out)
        .unwrap_err();
    assert!(err.to_string().contains("output of length 9"), "{err}");
    assert!(
        out.iter().all(|&v| v == 0.0),
        "a failed call wrote its output"
    );
    assert!(net.predict_batch(&[]).unwrap().is_empty());
}
