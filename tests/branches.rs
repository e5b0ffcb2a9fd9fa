//! Branches and merges: blocks declared once and instantiated with
//! arguments, parallel branches concatenated along channels (inception),
//! residual sums with identity and projection shortcuts. Names follow
//! PyTorch's module names; concatenation is placed, not copied; gradients
//! add up where a value feeds several branches.

mod common;

use cnn::network::Network;
use cnn::train::Loss;
use common::{assert_close, grad, random_vec};

cnn::network! {
    /// GoogLeNet's inception module, small.
    block inception(c1, c3r, c3, pp) = concat(
        branch1: [conv(c1, kernel = 1), relu],
        branch2: [conv(c3r, kernel = 1), relu, conv(c3, kernel = 3, pad = 1), relu],
        branch3: [max_pool(3, stride = 1, pad = 1), conv(pp, kernel = 1), relu],
    );

    /// ResNet's basic block: two 3x3 convolutions and a shortcut.
    block basic(planes, stride = 1) = [
        add(
            [conv1: conv(planes, kernel = 3, stride = stride, pad = 1), relu,
             conv2: conv(planes, kernel = 3, pad = 1)],
            identity,
        ),
        relu,
    ];

    /// A basic block whose shortcut is a projection.
    block down(planes) = [
        add(
            [conv1: conv(planes, kernel = 3, stride = 2, pad = 1), relu,
             conv2: conv(planes, kernel = 3, pad = 1)],
            downsample: [conv(planes, kernel = 1, stride = 2)],
        ),
        relu,
    ];

    struct MiniInception {
        input: [3, 12, 12],
        stem: conv(8, kernel = 3, pad = 1), relu, max_pool(2),
        inception3a: inception(4, 4, 6, 2),
        inception3b: inception(c1 = 3, c3r = 4, c3 = 5, pp = 2),
        global_avg_pool, flatten,
        fc: dense(5),
        softmax,
    }

    #[cnn(fuse = false)]
    struct MiniInceptionUnfused {
        input: [3, 12, 12],
        stem: conv(8, kernel = 3, pad = 1), relu, max_pool(2),
        inception3a: inception(4, 4, 6, 2),
        inception3b: inception(c1 = 3, c3r = 4, c3 = 5, pp = 2),
        global_avg_pool, flatten,
        fc: dense(5),
        softmax,
    }

    struct MiniResNet {
        input: [3, 10, 10],
        conv1: conv(6, kernel = 3, pad = 1), relu,
        layer1: [basic(6), basic(6)],
        layer2: [down(8), basic(8)],
        global_avg_pool, flatten,
        fc: dense(4),
        softmax,
    }

    #[cnn(fuse = false)]
    struct MiniResNetUnfused {
        input: [3, 10, 10],
        conv1: conv(6, kernel = 3, pad = 1), relu,
        layer1: [basic(6), basic(6)],
        layer2: [down(8), basic(8)],
        global_avg_pool, flatten,
        fc: dense(4),
        softmax,
    }

    /// A smooth residual network (tanh, average pooling): no kinks for the
    /// finite differences to straddle.
    block smooth(planes) = add([conv(planes, kernel = 3, pad = 1), tanh, conv(planes, kernel = 3, pad = 1)], identity);
    block smooth_down(planes) = add(
        [conv(planes, kernel = 3, stride = 2, pad = 1), tanh, conv(planes, kernel = 3, pad = 1)],
        downsample: [conv(planes, kernel = 1, stride = 2)],
    );
    #[cnn(fuse = false)]
    struct SmoothResNet {
        input: [3, 10, 10],
        conv1: conv(6, kernel = 3, pad = 1), tanh,
        layer1: [smooth(6), smooth(6)],
        layer2: [smooth_down(8), smooth(8)],
        global_avg_pool, flatten,
        fc: dense(4),
        softmax,
    }

    /// A flat concatenation and a value read by three branches.
    struct Fan {
        input: [6],
        shared: dense(8), tanh,
        concat([dense(3), sigmoid], [dense(2), tanh], identity),
        out: dense(3),
    }
}

fn names<N: Network>() -> Vec<&'static str> {
    N::PARAMS.iter().map(|p| p.name).collect()
}

#[test]
fn tensors_are_named_as_pytorch_names_modules() {
    let inception = names::<MiniInception>();
    for name in [
        "stem.weight",
        "inception3a.branch1.0.weight",
        "inception3a.branch2.0.bias",
        "inception3a.branch2.2.weight",
        "inception3a.branch3.1.weight",
        "inception3b.branch2.2.weight",
        "fc.weight",
    ] {
        assert!(inception.contains(&name), "{name} not in {inception:?}");
    }
    let resnet = names::<MiniResNet>();
    for name in [
        "conv1.weight",
        "layer1.0.conv1.weight",
        "layer1.1.conv2.bias",
        "layer2.0.downsample.0.weight",
        "layer2.1.conv1.weight",
    ] {
        assert!(resnet.contains(&name), "{name} not in {resnet:?}");
    }
    // Shapes follow the block arguments.
    let p = MiniInception::PARAMS
        .iter()
        .find(|p| p.name == "inception3b.branch2.2.weight")
        .unwrap();
    assert_eq!(p.shape, [5, 4, 3, 3]);
    assert_eq!(MiniInception::OUTPUT_SHAPE, [5]);
}

#[test]
fn concatenation_is_placed_not_copied() {
    // The branches' last kernels write the inception's output: no copy
    // step appears in the plan, and the summary shows the merge.
    let plan = MiniInception::PLAN;
    let concat = plan.iter().find(|s| s.layers.ends_with("concat1")).unwrap();
    assert_eq!(concat.kernel, "concat (in place)");
    let text = MiniInception::summary().to_string();
    assert!(text.contains("inception3a.concat1 (Concatenate)"), "{text}");
    assert!(text.contains("(None, 12, 6, 6)"), "{text}");
}

#[test]
fn batches_equal_single_samples() {
    // Slots of a concatenation hold samples far apart: the kernels writing
    // them run sample by sample; a batch must give what single samples do.
    fn check<N: Network>(net: &N, seed: u64) {
        let n = 5;
        let x = random_vec(n * N::INPUT_LEN, seed);
        let batch = cnn::batch::predict(net, &x).unwrap();
        for s in 0..n {
            let one =
                cnn::batch::predict(net, &x[s * N::INPUT_LEN..(s + 1) * N::INPUT_LEN]).unwrap();
            assert_eq!(
                &batch[s * N::OUTPUT_LEN..(s + 1) * N::OUTPUT_LEN],
                &one[..],
                "{}",
                N::NAME
            );
        }
    }
    check(&MiniInception::new(cnn::Init::He, 1), 2);
    check(&MiniResNet::new(cnn::Init::He, 3), 4);
    check(&Fan::new(cnn::Init::Xavier, 5), 6);
}

#[test]
fn fused_branches_equal_unfused() {
    let fused = MiniInception::new(cnn::Init::He, 7);
    let unfused = MiniInceptionUnfused::from_weights(fused.weights().to_vec()).unwrap();
    let x = random_vec(3 * MiniInception::INPUT_LEN, 8);
    assert_close(
        "inception, fused vs unfused",
        &fused.predict_batch(&x).unwrap(),
        &unfused.predict_batch(&x).unwrap(),
        1e-5,
        1e-5,
    );
    let labels = [1, 4, 0];
    let (la, ga) = grad::analytic(&fused, &x, &labels, Loss::CrossEntropy, 1);
    let (lb, gb) = grad::analytic(&unfused, &x, &labels, Loss::CrossEntropy, 1);
    assert!((la - lb).abs() < 1e-5);
    assert_close("inception gradients", &ga, &gb, 1e-5, 1e-4);

    let fused = MiniResNet::new(cnn::Init::He, 9);
    let unfused = MiniResNetUnfused::from_weights(fused.weights().to_vec()).unwrap();
    let x = random_vec(3 * MiniResNet::INPUT_LEN, 10);
    assert_close(
        "resnet, fused vs unfused",
        &fused.predict_batch(&x).unwrap(),
        &unfused.predict_batch(&x).unwrap(),
        1e-5,
        1e-5,
    );
    let labels = [3, 0, 2];
    let (_, ga) = grad::analytic(&fused, &x, &labels, Loss::CrossEntropy, 1);
    let (_, gb) = grad::analytic(&unfused, &x, &labels, Loss::CrossEntropy, 1);
    assert_close("resnet gradients", &ga, &gb, 1e-5, 1e-4);
}

#[test]
fn gradients_through_branches_and_sums_match_finite_differences() {
    let x = random_vec(3 * MiniInceptionUnfused::INPUT_LEN, 11);
    let net = MiniInceptionUnfused::new(cnn::Init::He, 12);
    assert!(grad::check(&net, &x, &[0, 2, 4], Loss::CrossEntropy, 6, 1e-2) > 50);
    let x = random_vec(3 * SmoothResNet::INPUT_LEN, 13);
    let net = SmoothResNet::new(cnn::Init::He, 14);
    assert!(grad::check(&net, &x, &[0, 1, 3], Loss::CrossEntropy, 6, 1e-2) > 50);
    // A value read by three branches, one of them the identity: its
    // gradient is the sum of theirs.
    let x = random_vec(4 * Fan::INPUT_LEN, 15);
    let net = Fan::new(cnn::Init::Xavier, 16);
    assert!(grad::check(&net, &x, &[0, 1, 2, 1], Loss::MeanSquaredError, 8, 1e-2) > 20);
}

#[test]
fn branchy_networks_train() {
    use cnn::train::{Optimizer, TrainConfig, Trainer};
    // Two well-separated classes of random images.
    let n = 64;
    let mut x = random_vec(n * MiniResNet::INPUT_LEN, 17);
    let labels: Vec<usize> = (0..n).map(|i| i % 4).collect();
    for (i, &l) in labels.iter().enumerate() {
        for v in &mut x[i * MiniResNet::INPUT_LEN..][..MiniResNet::INPUT_LEN] {
            *v = 0.3 * *v + l as f32 - 1.5;
        }
    }
    let data = cnn::Dataset::classification(x, &[3, 10, 10], labels, 4).unwrap();
    let mut net = MiniResNet::new(cnn::Init::He, 18);
    let config = TrainConfig::default()
        .epochs(15)
        .batch_size(16)
        .optimizer(Optimizer::sgd(0.01, 0.9))
        .threads(2)
        .quiet();
    let history = Trainer::new(config).fit(&mut net, &data, None).unwrap();
    let (first, last) = (
        history.epochs[0].train_loss,
        history.epochs.last().unwrap().train_loss,
    );
    let accuracy = cnn::train::accuracy(&net, &data).unwrap();
    assert!(
        last < first * 0.5 && accuracy > 0.9,
        "{first} -> {last}, {accuracy}"
    );
}

#[test]
fn relu_resnet_gradients_with_small_steps() {
    let x = random_vec(3 * MiniResNetUnfused::INPUT_LEN, 13);
    let net = MiniResNetUnfused::new(cnn::Init::He, 14);
    assert!(grad::check(&net, &x, &[0, 1, 3], Loss::CrossEntropy, 6, 1e-3) > 50);
}
