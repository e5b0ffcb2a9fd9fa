// `bias` is `true` or `false`.
cnn::network! {
    struct Net {
        input: [16],
        fc1: dense(10, bias = 0),
    }
}

fn main() {}
