// A kernel size is a number or a pair, not a string.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel = "3x3"),
        flatten,
        dense(10),
    }
}

fn main() {}
