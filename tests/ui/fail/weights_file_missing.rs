// Compiled-in weights from a file that does not exist.
cnn::network! {
    #[cnn(weights = "no_such_file.safetensors")]
    struct Net {
        input: [4],
        fc: dense(2),
    }
}

fn main() {}
