// The arguments of `lrn` and of grouped convolutions are checked like any
// other's, each error on its argument or layer.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(6, kernel = 3, groups = 4),
        norm1: lrn(5, k = -1),
        norm2: lrn(0),
        norm3: lrn(alpha = 1e-4),
        norm4: lrn(3, beta = "high"),
    }
}

fn main() {}
