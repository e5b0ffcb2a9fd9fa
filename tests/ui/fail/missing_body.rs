// A network declaration without its body.
cnn::network! {
    struct Net
}

fn main() {}
