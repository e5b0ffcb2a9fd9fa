// PyTorch's, Keras' and Caffe's names for the layers are aliases.
cnn::network! {
    struct PyTorchSpelling {
        input: [1, 28, 28],
        conv1: Conv2d(6, kernel_size = 5, padding = 2), ReLU, MaxPool2d(2),
        conv2: conv2d(16, kernel_size = 5), relu, max_pool2d(2),
        Flatten,
        fc1: Linear(120), ReLU,
        fc2: linear(84), ReLU,
        fc3: Linear(10),
        Softmax,
    }

    struct KerasSpelling {
        input: [3, 32, 32],
        Conv2D(32, kernel = 3, pad = 1), relu, MaxPooling2D(2),
        GlobalAveragePooling2D, Flatten, Dense(10), softmax,
    }

    struct CaffeSpelling {
        input: [3, 32, 32],
        Convolution(32, kernel = 3), ReLU, LRN(5), AveragePooling2D(2),
        Flatten, fc(100), InnerProduct(10), Softmax,
    }
}

const _: () = assert!(PyTorchSpelling::PARAM_COUNT == 61_706);

fn main() {
    assert_eq!(PyTorchSpelling::LAYERS[0].kind, "conv");
    assert_eq!(KerasSpelling::LAYERS[3].name, "global_avg_pool1");
    assert_eq!(CaffeSpelling::LAYERS[5].name, "dense1");
}
