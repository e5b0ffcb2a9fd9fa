// Every network starts with its input shape.
cnn::network! {
    struct Net {
        conv1: conv(8, kernel = 3), relu,
        flatten,
        dense(10),
    }
}

fn main() {}
