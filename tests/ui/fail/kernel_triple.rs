// A kernel is one size or a (height, width) pair.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel = (3, 3, 3)),
        flatten,
        dense(10),
    }
}

fn main() {}
