// A network needs at least one layer.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
    }
}

fn main() {}
