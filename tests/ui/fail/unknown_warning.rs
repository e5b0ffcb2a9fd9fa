cnn::network! {
    #[cnn(allow(batchnorm_with_dropout))]
    struct Net {
        input: [4],
        fc: dense(2),
    }
}

fn main() {}
