// Only the window size of a pool is positional; the stride is named.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        pool1: max_pool(2, 2),
        flatten,
        dense(10),
    }
}

fn main() {}
