// A layer name that would clash with a generated constant (`Net::PLAN`).
cnn::network! {
    struct Net {
        input: [3, 32, 32],
        plan: conv(8, kernel = 3),
        flatten,
        dense(10),
    }
}

fn main() {}
