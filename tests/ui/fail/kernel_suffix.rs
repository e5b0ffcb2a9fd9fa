// `3x5` is the integer literal 3 with a suffix, not a 3x5 kernel.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel = 3x5),
        flatten,
        dense(10),
    }
}

fn main() {}
