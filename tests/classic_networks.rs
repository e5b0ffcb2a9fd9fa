//! The classic networks' sizes, asserted as compile-time constants, and a
//! forward pass of LeNet-5 through every API.

#[path = "../examples/nets/classic.rs"]
mod classic;

use classic::{AlexNet, GoogLeNet, LeNet5, Vgg16};

const _: () = assert!(LeNet5::PARAM_COUNT == 61_706);
const _: () = assert!(LeNet5::MACS == 416_520);
const _: () = assert!(AlexNet::PARAM_COUNT == 61_100_840);
const _: () = assert!(AlexNet::MACS == 714_188_480);
const _: () = assert!(Vgg16::PARAM_COUNT == 138_357_544);
const _: () = assert!(Vgg16::MACS == 15_470_264_320);
const _: () = assert!(LeNet5::INPUT_LEN == 784 && LeNet5::OUTPUT_LEN == 10);
const _: () = assert!(AlexNet::OUTPUT_SHAPE[0] == 1000);
// GoogLeNet as published: MACs of its convolutions and its dense layer.
const _: () = assert!(GoogLeNet::PARAM_COUNT == 6_998_552);
const _: () = assert!(GoogLeNet::MACS == 1_582_671_872);

#[test]
fn googlenet_concatenates_its_branches() {
    let out = |name: &str| {
        GoogLeNet::LAYERS
            .iter()
            .find(|l| l.name == name)
            .unwrap_or_else(|| panic!("no layer {name}"))
            .output_shape
    };
    assert_eq!(out("inception3a.concat1"), [256, 28, 28]);
    assert_eq!(out("inception4e.concat1"), [832, 14, 14]);
    assert_eq!(out("inception5b.concat1"), [1024, 7, 7]);
    assert_eq!(out("inception4b.branch3.2"), [64, 14, 14]);
    let p = GoogLeNet::PARAMS
        .iter()
        .find(|p| p.name == "inception4b.branch2.2.weight")
        .unwrap();
    assert_eq!(p.shape, [224, 112, 3, 3]);
}

#[test]
fn per_layer_tables_add_up() {
    assert_eq!(
        LeNet5::LAYERS.iter().map(|l| l.params).sum::<usize>(),
        LeNet5::PARAM_COUNT
    );
    assert_eq!(
        AlexNet::LAYERS.iter().map(|l| l.macs).sum::<u64>(),
        AlexNet::MACS
    );
    assert_eq!(
        Vgg16::LAYERS.iter().filter(|l| l.kind == "conv").count(),
        13
    );
    assert_eq!(
        AlexNet::LAYERS.iter().filter(|l| l.kind == "dense").count(),
        3
    );
    let last = Vgg16::LAYERS
        .iter()
        .rev()
        .find(|l| l.kind == "max_pool")
        .unwrap();
    assert_eq!(last.output_shape, [512, 7, 7]);
}

#[test]
fn summary_lists_every_layer_with_shapes_and_totals() {
    let text = LeNet5::summary().to_string();
    for needle in [
        "Model: \"LeNet5\"",
        "conv1 (Conv2D)",
        "(None, 6, 28, 28)",
        "117,600",
        "max_pool2 (MaxPool2D)",
        "(None, 16, 5, 5)",
        "fc1 (Dense)",
        "48,120",
        "Total params: 61,706",
        "MACs per sample: 416,520",
        "conv1 + relu1 + max_pool1",
    ] {
        assert!(text.contains(needle), "summary lacks {needle:?}:\n{text}");
    }
}

#[test]
fn alexnet_and_vgg_plans_fuse_and_pick_algorithms() {
    // AlexNet's 3x3 stride-2 pools overlap: each runs after its conv.
    let kernels: Vec<&str> = AlexNet::PLAN.iter().map(|s| s.kernel).collect();
    assert_eq!(
        kernels[..2],
        ["conv→ReLU (direct)", "max-pool"],
        "{kernels:?}"
    );
    assert_eq!(
        kernels.iter().filter(|k| **k == "max-pool").count(),
        3,
        "{kernels:?}"
    );
    let vgg: Vec<&str> = Vgg16::PLAN.iter().map(|s| s.kernel).collect();
    assert_eq!(
        vgg.iter().filter(|k| k.contains("max-pool")).count(),
        5,
        "{vgg:?}"
    );
    assert!(vgg.iter().any(|k| k.contains("im2col")), "{vgg:?}");
    // 3x3 layers with at least 49 output tiles run Winograd's algorithm
    // (all but the 14x14 ones), their pools after them.
    assert_eq!(
        vgg[..3],
        [
            "conv→ReLU (direct)",
            "conv→ReLU (Winograd F(4x4,3x3))",
            "max-pool"
        ],
        "{vgg:?}"
    );
    assert_eq!(
        vgg.iter().filter(|k| k.contains("Winograd")).count(),
        9,
        "{vgg:?}"
    );
}

/// The batch tail (the steps batched inference runs on groups of samples):
/// the classifier's dense layers, which read most of AlexNet's and VGG-16's
/// weights; below `BATCH_TAIL_MIN_PARAMS` for LeNet-5 and GoogLeNet.
#[test]
fn the_batch_tail_is_the_classifier() {
    use cnn::network::Network;
    use cnn_spec::tuning::BATCH_TAIL_MIN_PARAMS;
    fn tail<N: Network>() -> (&'static str, usize) {
        let t = N::INFER.tail.expect("ends with dense layers");
        (N::PLAN[t.step].layers, t.params)
    }
    let dense = |i: usize, o: usize| i * o + o;
    let (_, alexnet) = tail::<AlexNet>();
    assert_eq!(
        alexnet,
        dense(9216, 4096) + dense(4096, 4096) + dense(4096, 1000)
    );
    let (_, vgg) = tail::<Vgg16>();
    assert_eq!(
        vgg,
        dense(25088, 4096) + dense(4096, 4096) + dense(4096, 1000)
    );
    assert_eq!(tail::<LeNet5>(), ("flatten1", 59_134));
    let (_, googlenet) = tail::<GoogLeNet>();
    assert_eq!(googlenet, dense(1024, 1000));
    assert!(alexnet >= BATCH_TAIL_MIN_PARAMS && vgg >= BATCH_TAIL_MIN_PARAMS);
    assert!(59_134 < BATCH_TAIL_MIN_PARAMS && googlenet < BATCH_TAIL_MIN_PARAMS);
}
