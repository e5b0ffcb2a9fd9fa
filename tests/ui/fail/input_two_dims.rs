// An input is [C, H, W] or [N], never [H, W].
cnn::network! {
    struct Net {
        input: [28, 28],
        flatten,
        dense(10),
    }
}

fn main() {}
