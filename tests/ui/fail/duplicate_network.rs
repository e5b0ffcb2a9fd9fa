// Two networks of one invocation cannot share a name.
cnn::network! {
    struct Net {
        input: [64],
        dense(10),
    }

    struct Net {
        input: [32],
        dense(10),
    }
}

fn main() {}
