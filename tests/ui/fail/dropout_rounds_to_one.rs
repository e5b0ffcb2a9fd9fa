// A probability below 1 that rounds to 1.0 as an f32: the message says so.
cnn::network! {
    struct Net {
        input: [4],
        dropout(0.99999999999),
        fc: dense(2),
    }
}

fn main() {}
