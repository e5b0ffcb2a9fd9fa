// A missing comma inside one layer is reported on that layer; the other
// layers are still checked (the unknown layer below is reported too).
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8 kernel = 3), relu,
        max_pool(2),
        flatten,
        dense(10),
        sofmax,
    }
}

fn main() {}
