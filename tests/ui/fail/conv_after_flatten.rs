// Image layers need an image; after `flatten` there is only a vector.
cnn::network! {
    struct Net {
        input: [3, 8, 8],
        conv1: conv(4, kernel = 3),
        flatten,
        conv2: conv(4, kernel = 3),
        dense(10),
    }
}

fn main() {}
