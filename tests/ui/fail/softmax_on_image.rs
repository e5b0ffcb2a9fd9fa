// Softmax works on vectors.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(10, kernel = 3),
        softmax,
    }
}

fn main() {}
