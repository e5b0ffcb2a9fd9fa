// The classic networks, shared by the examples and the tests
// (`#[path = "../examples/nets/classic.rs"] mod classic;`).

cnn::network! {
    /// LeNet-5 as most modern code writes it: ReLU and max-pooling in place
    /// of the original's scaled tanh and subsampling, padding on the first
    /// convolution so the 28x28 MNIST digits keep their size.
    pub struct LeNet5 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }

    /// AlexNet in its torchvision form (single tower, 64-192-384-256-256
    /// filters) at 3x224x224: five convolutions, three fully connected layers.
    pub struct AlexNet {
        input: [3, 224, 224],
        conv1: conv(64, kernel = 11, stride = 4, pad = 2), relu, max_pool(3, stride = 2),
        conv2: conv(192, kernel = 5, pad = 2), relu, max_pool(3, stride = 2),
        conv3: conv(384, kernel = 3, pad = 1), relu,
        conv4: conv(256, kernel = 3, pad = 1), relu,
        conv5: conv(256, kernel = 3, pad = 1), relu, max_pool(3, stride = 2),
        flatten,
        dropout(0.5),
        fc6: dense(4096), relu,
        dropout(0.5),
        fc7: dense(4096), relu,
        fc8: dense(1000),
        softmax,
    }

    /// AlexNet as published (Krizhevsky, Sutskever and Hinton 2012; the
    /// layout of Caffe's `bvlc_alexnet`) at 3x227x227: 96-256-384-384-256
    /// filters, the two GPU towers as `groups = 2` in conv2, conv4 and conv5,
    /// local response normalisation after conv1 and conv2 (the paper's
    /// `k = 2`, `n = 5`, `alpha = 1e-4`, `beta = 0.75`).
    pub struct AlexNetOriginal {
        input: [3, 227, 227],
        conv1: conv(96, kernel = 11, stride = 4), relu, norm1: lrn(5, k = 2.0), max_pool(3, stride = 2),
        conv2: conv(256, kernel = 5, pad = 2, groups = 2), relu, norm2: lrn(5, k = 2.0),
        max_pool(3, stride = 2),
        conv3: conv(384, kernel = 3, pad = 1), relu,
        conv4: conv(384, kernel = 3, pad = 1, groups = 2), relu,
        conv5: conv(256, kernel = 3, pad = 1, groups = 2), relu, max_pool(3, stride = 2),
        flatten,
        fc6: dense(4096), relu, dropout(0.5),
        fc7: dense(4096), relu, dropout(0.5),
        fc8: dense(1000),
        softmax,
    }

    /// VGG-16 (configuration D of Simonyan and Zisserman) at 3x224x224.
    pub struct Vgg16 {
        input: [3, 224, 224],
        conv1_1: conv(64, kernel = 3, pad = 1), relu,
        conv1_2: conv(64, kernel = 3, pad = 1), relu, max_pool(2),
        conv2_1: conv(128, kernel = 3, pad = 1), relu,
        conv2_2: conv(128, kernel = 3, pad = 1), relu, max_pool(2),
        conv3_1: conv(256, kernel = 3, pad = 1), relu,
        conv3_2: conv(256, kernel = 3, pad = 1), relu,
        conv3_3: conv(256, kernel = 3, pad = 1), relu, max_pool(2),
        conv4_1: conv(512, kernel = 3, pad = 1), relu,
        conv4_2: conv(512, kernel = 3, pad = 1), relu,
        conv4_3: conv(512, kernel = 3, pad = 1), relu, max_pool(2),
        conv5_1: conv(512, kernel = 3, pad = 1), relu,
        conv5_2: conv(512, kernel = 3, pad = 1), relu,
        conv5_3: conv(512, kernel = 3, pad = 1), relu, max_pool(2),
        flatten,
        fc6: dense(4096), relu, dropout(0.5),
        fc7: dense(4096), relu, dropout(0.5),
        fc8: dense(1000),
        softmax,
    }
}

cnn::network! {
    /// GoogLeNet's inception module as published (Szegedy et al. 2014):
    /// 1x1, 1x1 → 3x3, 1x1 → 5x5 and 3x3 max-pool → 1x1 branches,
    /// concatenated along channels.
    block inception(c1, c3r, c3, c5r, c5, pool) = concat(
        branch1: [conv(c1, kernel = 1), relu],
        branch2: [conv(c3r, kernel = 1), relu, conv(c3, kernel = 3, pad = 1), relu],
        branch3: [conv(c5r, kernel = 1), relu, conv(c5, kernel = 5, pad = 2), relu],
        branch4: [max_pool(3, stride = 1, pad = 1), conv(pool, kernel = 1), relu],
    );

    /// GoogLeNet as published (no auxiliary heads) at 3x224x224: local
    /// response normalisation after the stem, pools in ceil mode as Caffe's.
    pub struct GoogLeNet {
        input: [3, 224, 224],
        conv1: conv(64, kernel = 7, stride = 2, pad = 3), relu,
        max_pool(3, stride = 2, ceil_mode = true), lrn(5),
        conv2_reduce: conv(64, kernel = 1), relu,
        conv2: conv(192, kernel = 3, pad = 1), relu, lrn(5),
        max_pool(3, stride = 2, ceil_mode = true),
        inception3a: inception(64, 96, 128, 16, 32, 32),
        inception3b: inception(128, 128, 192, 32, 96, 64),
        max_pool(3, stride = 2, ceil_mode = true),
        inception4a: inception(192, 96, 208, 16, 48, 64),
        inception4b: inception(160, 112, 224, 24, 64, 64),
        inception4c: inception(128, 128, 256, 24, 64, 64),
        inception4d: inception(112, 144, 288, 32, 64, 64),
        inception4e: inception(256, 160, 320, 32, 128, 128),
        max_pool(3, stride = 2, ceil_mode = true),
        inception5a: inception(256, 160, 320, 32, 128, 128),
        inception5b: inception(384, 192, 384, 48, 128, 128),
        global_avg_pool, flatten, dropout(0.4),
        fc: dense(1000),
        softmax,
    }
}
