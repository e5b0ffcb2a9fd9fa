// An 8x8 pooling window on a 4x6x6 input.
cnn::network! {
    struct Net {
        input: [1, 8, 8],
        conv(4, kernel = 3), relu,
        pool: max_pool(8),
        flatten,
        dense(10),
    }
}

fn main() {}
