// A dense layer on an image needs an explicit `flatten`.
cnn::network! {
    struct Net {
        input: [3, 8, 8],
        conv(4, kernel = 3), relu,
        fc1: dense(10),
    }
}

fn main() {}
