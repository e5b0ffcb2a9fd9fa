// A stride of 0 would never move the window.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel = 3, stride = (1, 0)),
        flatten,
        dense(10),
    }
}

fn main() {}
