// `kernel` has no default.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, stride = 2),
        flatten,
        dense(10),
    }
}

fn main() {}
