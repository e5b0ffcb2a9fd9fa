// Absurdly large arguments are refused, not overflowed.
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        conv1: conv(8, kernel = 3, pad = 9223372036854775808),
        flatten,
        dense(10),
    }
}

fn main() {}
