// A kernel size is a number or a pair, not a boolean.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel = true),
        flatten,
        dense(10),
    }
}

fn main() {}
