// A 5x5 kernel cannot slide over a 3x3 input without padding.
cnn::network! {
    struct Net {
        input: [1, 12, 12],
        conv1: conv(8, kernel = 3), relu, max_pool(2),
        conv2: conv(16, kernel = 3), relu,
        conv3: conv(32, kernel = 5),
        flatten,
        dense(10),
    }
}

fn main() {}
