// Arguments are literals, not expressions.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel = 2 + 1),
        flatten,
        dense(10),
    }
}

fn main() {}
