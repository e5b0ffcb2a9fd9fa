// A dropout before a batch norm: a warning on the dropout that explains
// why (an error here, under `deny`).
#![deny(deprecated)]

cnn::network! {
    struct Net {
        input: [1, 8, 8],
        conv1: conv(4, kernel = 3), bn1: batch_norm, relu,
        drop: dropout(0.25),
        conv2: conv(4, kernel = 3), bn2: batch_norm, relu,
        flatten,
        fc: dense(10),
    }
}

fn main() {}
