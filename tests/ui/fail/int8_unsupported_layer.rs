// A layer without an int8 kernel.
cnn::network! {
    #[cnn(weights = "../../../../tests/ui/int8/dense_4_2.safetensors", dtype = "int8")]
    struct Net {
        input: [4],
        fc: dense(2),
        sigmoid,
    }
}

fn main() {}
