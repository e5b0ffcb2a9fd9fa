// Pooling padding is at most half the window.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        pool1: max_pool(2, pad = 2),
        flatten,
        dense(10),
    }
}

fn main() {}
