// A convolution must produce at least one channel.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(0, kernel = 3),
        flatten,
        dense(10),
    }
}

fn main() {}
