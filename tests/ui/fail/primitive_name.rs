// A network named like a primitive type would hide it from its own
// generated code: one error.
cnn::network! {
    struct f32 {
        input: [4],
        fc: dense(2),
    }
}

fn main() {}
