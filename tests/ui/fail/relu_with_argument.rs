// Activations take no arguments.
cnn::network! {
    struct Net {
        input: [64],
        dense(32),
        relu(3),
        dense(10),
    }
}

fn main() {}
