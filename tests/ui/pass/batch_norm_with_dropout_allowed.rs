// `#[cnn(allow(batch_norm_with_dropout))]` silences the warning.
#![deny(warnings)]

cnn::network! {
    #[cnn(allow(batch_norm_with_dropout))]
    struct Net {
        input: [1, 8, 8],
        conv1: conv(4, kernel = 3), bn1: batch_norm, relu,
        flatten,
        drop: dropout(0.5),
        fc: dense(10),
    }
}

fn main() {
    assert_eq!(Net::PARAM_COUNT, 4 * 9 + 4 + 4 * 4 + 1 + 10 * 144 + 10);
}
