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
