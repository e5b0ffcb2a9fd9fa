// An int8 network whose layer is wider than the file's.
cnn::network! {
    #[cnn(weights = "../../../../tests/ui/int8/dense_4_2.safetensors", dtype = "int8")]
    struct Net {
        input: [4],
        fc: dense(3),
    }
}

fn main() {}
