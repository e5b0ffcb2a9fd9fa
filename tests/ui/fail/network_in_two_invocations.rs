// One network declared in two invocations: one error, on the second name.
cnn::network! {
    struct Net {
        input: [64],
        fc: dense(10),
    }
}

cnn::network! {
    struct Net {
        input: [32],
        fc: dense(10),
    }
}

fn main() {
    let _ = Net::PARAM_COUNT;
}
