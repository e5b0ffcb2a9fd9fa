// A named argument written with `:` instead of `=`.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel: 3),
        flatten,
        dense(10),
    }
}

fn main() {}
