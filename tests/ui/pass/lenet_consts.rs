// The counts are `const`s, usable in const assertions.
cnn::network! {
    #[cnn(fuse = false)]
    pub struct LeNet5 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2, stride = 2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }
}

const _: () = assert!(LeNet5::PARAM_COUNT == 61_706);
const _: () = assert!(LeNet5::MACS == 416_520);
const _: () = assert!(LeNet5::OUTPUT_LEN == 10);
const _: () = assert!(!LeNet5::FUSED);

fn main() {}
