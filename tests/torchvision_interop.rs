//! torchvision's blocks and names: small networks built from ResNet's
//! `BasicBlock` and GoogLeNet's `BasicConv2d` and `Inception`, saved by
//! PyTorch in eval mode with non-trivial running statistics
//! (`tests/data/pytorch/make_torchvision_minis.py`), load unchanged and give
//! PyTorch's logits. The full ResNet-18 and GoogLeNet (same blocks, same
//! file), and torchvision's AlexNet and VGG-16 (tensor prefixes given with
//! `as "features.0"`), are checked against torchvision's counts at compile
//! time and its tensor names here.

mod common;

#[path = "../examples/nets/torchvision.rs"]
#[allow(dead_code)]
mod nets;

use cnn::network::Network;
use common::{assert_close, data_dir};
use nets::{AlexNetTv, GoogLeNetTv, MiniGoogLeNet, MiniResNet, ResNet18, Vgg16Tv};
use safetensors::SafeTensors;

fn floats(file: &SafeTensors, name: &str) -> Vec<f32> {
    let t = file.tensor(name).unwrap();
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Loads `NET.safetensors` and compares the logits of the saved inputs,
/// fused (batch norm folded) and sample by sample.
fn check<N: Network>(name: &str, load: fn(&std::path::Path) -> cnn::Result<N>) -> N {
    let dir = data_dir().join("pytorch");
    let net = load(&dir.join(format!("{name}.safetensors"))).unwrap();
    let bytes = std::fs::read(dir.join(format!("{name}_expected.safetensors"))).unwrap();
    let expected = SafeTensors::deserialize(&bytes).unwrap();
    let (x, want) = (floats(&expected, "x"), floats(&expected, "logits"));
    let got = cnn::batch::predict(&net, &x).unwrap();
    assert_close(&format!("{name} logits"), &got, &want, 1e-4, 1e-4);
    net
}

#[test]
fn resnet_blocks_load_torchvision_names_and_match_pytorch() {
    let net = check("mini_resnet", |p| MiniResNet::from_safetensors(p));
    // Every tensor of the file, buffers included, went somewhere: saving
    // writes the same names back.
    let names: Vec<_> = MiniResNet::PARAMS.iter().map(|p| p.name).collect();
    for name in [
        "layer1.0.conv1.weight",
        "layer1.1.bn2.running_var",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.running_mean",
        "layer2.0.downsample.1.num_batches_tracked",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
    let saved = tempfile::tempdir().unwrap();
    let path = saved.path().join("again.safetensors");
    net.save_safetensors(&path).unwrap();
    let original = std::fs::read(data_dir().join("pytorch/mini_resnet.safetensors")).unwrap();
    let again = std::fs::read(&path).unwrap();
    let (a, b) = (
        SafeTensors::deserialize(&original).unwrap(),
        SafeTensors::deserialize(&again).unwrap(),
    );
    let mut names_a = a.names();
    let mut names_b = b.names();
    names_a.sort();
    names_b.sort();
    assert_eq!(names_a, names_b);
    for name in names_a {
        let (ta, tb) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
        assert_eq!(ta.dtype(), tb.dtype(), "{name}");
        assert_eq!(ta.shape(), tb.shape(), "{name}");
        assert_eq!(ta.data(), tb.data(), "{name}");
    }
}

#[test]
fn inception_blocks_load_torchvision_names_and_match_pytorch() {
    check("mini_googlenet", |p| MiniGoogLeNet::from_safetensors(p));
    let names: Vec<_> = MiniGoogLeNet::PARAMS.iter().map(|p| p.name).collect();
    for name in [
        "conv1.conv.weight",
        "conv1.bn.running_mean",
        "inception3a.branch1.conv.weight",
        "inception3a.branch2.1.bn.bias",
        "inception4a.branch4.1.conv.weight",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
}

#[test]
fn full_networks_have_torchvision_tensors() {
    // The names and shapes of a few of the 122 (ResNet-18) and 344
    // (GoogLeNet) tensors torchvision saves.
    let shape = |params: &[cnn::ParamInfo], name: &str| -> Vec<usize> {
        params
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .shape
            .to_vec()
    };
    assert_eq!(ResNet18::PARAMS.len(), 122);
    assert_eq!(
        shape(ResNet18::PARAMS, "layer3.0.downsample.0.weight"),
        [256, 128, 1, 1]
    );
    assert_eq!(shape(ResNet18::PARAMS, "fc.weight"), [1000, 512]);
    assert_eq!(GoogLeNetTv::PARAMS.len(), 344);
    assert_eq!(
        shape(GoogLeNetTv::PARAMS, "inception4e.branch3.1.conv.weight"),
        [128, 32, 3, 3]
    );
    assert_eq!(shape(GoogLeNetTv::PARAMS, "fc.weight"), [1000, 1024]);
    // AlexNet and VGG-16 name their tensors by position in `features` and
    // `classifier`.
    let names = |params: &[cnn::ParamInfo]| params.iter().map(|p| p.name).collect::<Vec<_>>();
    assert_eq!(
        names(AlexNetTv::PARAMS),
        [0, 3, 6, 8, 10]
            .map(|i| format!("features.{i}"))
            .into_iter()
            .chain([1, 4, 6].map(|i| format!("classifier.{i}")))
            .flat_map(|l| [format!("{l}.weight"), format!("{l}.bias")])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        shape(AlexNetTv::PARAMS, "classifier.1.weight"),
        [4096, 9216]
    );
    assert_eq!(Vgg16Tv::PARAMS.len(), 32);
    assert_eq!(
        shape(Vgg16Tv::PARAMS, "features.28.weight"),
        [512, 512, 3, 3]
    );
    assert_eq!(shape(Vgg16Tv::PARAMS, "classifier.0.weight"), [4096, 25088]);
}
