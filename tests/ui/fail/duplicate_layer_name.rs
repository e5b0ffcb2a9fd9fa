// Two layers cannot share a name.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel = 3), relu,
        conv1: conv(16, kernel = 3), relu,
        flatten,
        dense(10),
    }
}

fn main() {}
