// The input shape must come before the layers.
cnn::network! {
    struct Net {
        conv1: conv(8, kernel = 3),
        input: [3, 32, 32],
        flatten,
        dense(10),
    }
}

fn main() {}
