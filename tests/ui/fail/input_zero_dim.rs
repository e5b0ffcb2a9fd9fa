// Input dimensions are at least 1.
cnn::network! {
    struct Net {
        input: [3, 0, 32],
        flatten,
        dense(10),
    }
}

fn main() {}
