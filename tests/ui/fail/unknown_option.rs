// A misspelt `#[cnn(...)]` option.
cnn::network! {
    #[cnn(fusion = false)]
    struct Net {
        input: [64],
        dense(10),
    }
}

fn main() {}
