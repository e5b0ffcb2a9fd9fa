// `fuse` takes `true` or `false`.
cnn::network! {
    #[cnn(fuse = "no")]
    struct Net {
        input: [64],
        dense(10),
    }
}

fn main() {}
