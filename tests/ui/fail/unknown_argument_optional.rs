// An unknown optional argument names the arguments the layer takes.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel = 3, strides = 2),
        flatten,
        dense(10),
    }
}

fn main() {}
