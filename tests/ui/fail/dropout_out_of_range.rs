// A dropout probability is in [0, 1).
cnn::network! {
    struct Net {
        input: [64],
        dense(32), relu,
        drop: dropout(1.5),
        dense(10),
    }
}

fn main() {}
