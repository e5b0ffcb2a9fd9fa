// Two commas in a row.
cnn::network! {
    struct Net {
        input: [64],
        dense(32),,
        dense(10),
    }
}

fn main() {}
