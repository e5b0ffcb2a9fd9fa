// Pooling after `flatten`.
cnn::network! {
    struct Net {
        input: [3, 8, 8],
        conv(4, kernel = 3),
        flatten,
        avg_pool(2),
        dense(10),
    }
}

fn main() {}
