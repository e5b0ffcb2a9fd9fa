//! torchvision's ResNet-18, GoogLeNet, AlexNet and VGG-16, declared so that a `state_dict`
//! saved from torchvision (`safetensors.torch.save_file(model.state_dict(),
//! ...)`) loads unchanged: the blocks give their tensors torchvision's module
//! names (`layer2.0.downsample.1.running_mean`, `inception4a.branch2.1.bn.weight`),
//! `num_batches_tracked` included. Small networks built from the same
//! blocks are checked against PyTorch in `tests/torchvision_interop.rs`.

cnn::network! {
    /// torchvision's `BasicConv2d` (GoogLeNet): a convolution without bias,
    /// batch norm (eps 1e-3) and ReLU, tensors `conv.*` and `bn.*`.
    block basic_conv(out, kernel, stride = 1, pad = 0) = [
        conv: conv(out, kernel = kernel, stride = stride, pad = pad, bias = false),
        bn: batch_norm(eps = 1e-3),
        relu,
    ];

    /// torchvision's `Inception` module. Its third branch uses a 3x3
    /// convolution where the paper has 5x5, as torchvision does.
    block inception(c1, c3r, c3, c5r, c5, pool) = concat(
        branch1: basic_conv(c1, 1),
        branch2: [basic_conv(c3r, 1), basic_conv(c3, 3, pad = 1)],
        branch3: [basic_conv(c5r, 1), basic_conv(c5, 3, pad = 1)],
        branch4: [max_pool(3, stride = 1, pad = 1, ceil_mode = true), basic_conv(pool, 1)],
    );

    /// torchvision's ResNet `BasicBlock` with an identity shortcut.
    block basic(planes) = [
        add(
            [conv1: conv(planes, kernel = 3, pad = 1, bias = false), bn1: batch_norm, relu,
             conv2: conv(planes, kernel = 3, pad = 1, bias = false), bn2: batch_norm],
            identity,
        ),
        relu,
    ];

    /// A `BasicBlock` that halves the resolution, with the projection
    /// shortcut `downsample` (1x1 stride-2 convolution and batch norm).
    block down(planes) = [
        add(
            [conv1: conv(planes, kernel = 3, stride = 2, pad = 1, bias = false), bn1: batch_norm,
             relu,
             conv2: conv(planes, kernel = 3, pad = 1, bias = false), bn2: batch_norm],
            downsample: [conv(planes, kernel = 1, stride = 2, bias = false), batch_norm],
        ),
        relu,
    ];

    /// `torchvision.models.resnet18()`.
    pub struct ResNet18 {
        input: [3, 224, 224],
        conv1: conv(64, kernel = 7, stride = 2, pad = 3, bias = false), bn1: batch_norm, relu,
        maxpool: max_pool(3, stride = 2, pad = 1),
        layer1: [basic(64), basic(64)],
        layer2: [down(128), basic(128)],
        layer3: [down(256), basic(256)],
        layer4: [down(512), basic(512)],
        avgpool: global_avg_pool, flatten,
        fc: dense(1000),
    }

    /// `torchvision.models.googlenet(aux_logits=False)` (with
    /// `transform_input=False`: the input is used as given).
    pub struct GoogLeNetTv {
        input: [3, 224, 224],
        conv1: basic_conv(64, 7, stride = 2, pad = 3),
        maxpool1: max_pool(3, stride = 2, ceil_mode = true),
        conv2: basic_conv(64, 1),
        conv3: basic_conv(192, 3, pad = 1),
        maxpool2: max_pool(3, stride = 2, ceil_mode = true),
        inception3a: inception(64, 96, 128, 16, 32, 32),
        inception3b: inception(128, 128, 192, 32, 96, 64),
        maxpool3: max_pool(3, stride = 2, ceil_mode = true),
        inception4a: inception(192, 96, 208, 16, 48, 64),
        inception4b: inception(160, 112, 224, 24, 64, 64),
        inception4c: inception(128, 128, 256, 24, 64, 64),
        inception4d: inception(112, 144, 288, 32, 64, 64),
        inception4e: inception(256, 160, 320, 32, 128, 128),
        maxpool4: max_pool(2, stride = 2, ceil_mode = true),
        inception5a: inception(256, 160, 320, 32, 128, 128),
        inception5b: inception(384, 192, 384, 48, 128, 128),
        avgpool: global_avg_pool, flatten, dropout: dropout(0.2),
        fc: dense(1000),
    }

    /// `torchvision.models.alexnet()`: the layers of its `features` and
    /// `classifier` sequences take their tensors from `features.0`,
    /// `classifier.1`, ... (its adaptive average pool to 6x6 is the identity
    /// at 224x224 and is left out).
    pub struct AlexNetTv {
        input: [3, 224, 224],
        conv1: conv(64, kernel = 11, stride = 4, pad = 2) as "features.0", relu,
        max_pool(3, stride = 2),
        conv2: conv(192, kernel = 5, pad = 2) as "features.3", relu,
        max_pool(3, stride = 2),
        conv3: conv(384, kernel = 3, pad = 1) as "features.6", relu,
        conv4: conv(256, kernel = 3, pad = 1) as "features.8", relu,
        conv5: conv(256, kernel = 3, pad = 1) as "features.10", relu,
        max_pool(3, stride = 2),
        flatten, dropout(0.5),
        fc6: dense(4096) as "classifier.1", relu, dropout(0.5),
        fc7: dense(4096) as "classifier.4", relu,
        fc8: dense(1000) as "classifier.6",
    }

    /// `torchvision.models.vgg16()`, tensors named as its `features` and
    /// `classifier` sequences name them (the adaptive pool to 7x7 is the
    /// identity at 224x224).
    pub struct Vgg16Tv {
        input: [3, 224, 224],
        conv1_1: conv(64, kernel = 3, pad = 1) as "features.0", relu,
        conv1_2: conv(64, kernel = 3, pad = 1) as "features.2", relu, max_pool(2),
        conv2_1: conv(128, kernel = 3, pad = 1) as "features.5", relu,
        conv2_2: conv(128, kernel = 3, pad = 1) as "features.7", relu, max_pool(2),
        conv3_1: conv(256, kernel = 3, pad = 1) as "features.10", relu,
        conv3_2: conv(256, kernel = 3, pad = 1) as "features.12", relu,
        conv3_3: conv(256, kernel = 3, pad = 1) as "features.14", relu, max_pool(2),
        conv4_1: conv(512, kernel = 3, pad = 1) as "features.17", relu,
        conv4_2: conv(512, kernel = 3, pad = 1) as "features.19", relu,
        conv4_3: conv(512, kernel = 3, pad = 1) as "features.21", relu, max_pool(2),
        conv5_1: conv(512, kernel = 3, pad = 1) as "features.24", relu,
        conv5_2: conv(512, kernel = 3, pad = 1) as "features.26", relu,
        conv5_3: conv(512, kernel = 3, pad = 1) as "features.28", relu, max_pool(2),
        flatten,
        fc6: dense(4096) as "classifier.0", relu, dropout(0.5),
        fc7: dense(4096) as "classifier.3", relu, dropout(0.5),
        fc8: dense(1000) as "classifier.6",
    }

    /// ResNet-18's blocks at 3x32x32 with fewer channels, for the
    /// interoperability tests.
    pub struct MiniResNet {
        input: [3, 32, 32],
        conv1: conv(8, kernel = 7, stride = 2, pad = 3, bias = false), bn1: batch_norm, relu,
        maxpool: max_pool(3, stride = 2, pad = 1),
        layer1: [basic(8), basic(8)],
        layer2: [down(16), basic(16)],
        avgpool: global_avg_pool, flatten,
        fc: dense(10),
    }

    /// GoogLeNet's blocks at 3x32x32 with fewer channels, for the
    /// interoperability tests.
    pub struct MiniGoogLeNet {
        input: [3, 32, 32],
        conv1: basic_conv(8, 3, pad = 1),
        maxpool1: max_pool(3, stride = 2, ceil_mode = true),
        inception3a: inception(4, 4, 8, 2, 4, 4),
        inception3b: inception(8, 6, 8, 2, 4, 4),
        maxpool3: max_pool(3, stride = 2, ceil_mode = true),
        inception4a: inception(8, 4, 8, 2, 4, 4),
        avgpool: global_avg_pool, flatten, dropout: dropout(0.2),
        fc: dense(10),
    }
}

/// The counts torchvision reports (`sum(p.numel() for p in
/// model.parameters())`; multiply-accumulates of convolutions and linear
/// layers for one 3x224x224 image), checked at compile time.
const _: () = {
    assert!(ResNet18::TRAINED_PARAM_COUNT == 11_689_512);
    assert!(ResNet18::MACS == 1_814_073_344);
    assert!(GoogLeNetTv::TRAINED_PARAM_COUNT == 6_624_904);
    assert!(GoogLeNetTv::MACS == 1_498_376_192);
    assert!(AlexNetTv::TRAINED_PARAM_COUNT == 61_100_840);
    assert!(AlexNetTv::MACS == 714_188_480);
    assert!(Vgg16Tv::TRAINED_PARAM_COUNT == 138_357_544);
    assert!(Vgg16Tv::MACS == 15_470_264_320);
};
