// Positional arguments come first.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(kernel = 3, 8),
        flatten,
        dense(10),
    }
}

fn main() {}
