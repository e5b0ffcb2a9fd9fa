// The kernel given both positionally and by name.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, 3, kernel = 5),
        flatten,
        dense(10),
    }
}

fn main() {}
