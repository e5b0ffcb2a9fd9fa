// `#[cnn(allow(batch_norm_with_dropout))]` silences the warning about a
// dropout before a batch norm; a dropout after the last batch norm (as in
// ResNet and GoogLeNet) gets none.
#![deny(warnings)]

cnn::network! {
    #[cnn(allow(batch_norm_with_dropout))]
    struct Allowed {
        input: [1, 8, 8],
        conv1: conv(4, kernel = 3), relu, dropout(0.2),
        bn1: batch_norm,
        flatten,
        fc: dense(10),
    }

    struct DropoutLast {
        input: [1, 8, 8],
        conv1: conv(4, kernel = 3), bn1: batch_norm, relu,
        flatten,
        drop: dropout(0.5),
        fc: dense(10),
    }
}

fn main() {
    assert_eq!(Allowed::PARAM_COUNT, DropoutLast::PARAM_COUNT);
}
