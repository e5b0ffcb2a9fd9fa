// An int8 network whose layer name is not in the file.
cnn::network! {
    #[cnn(weights = "../../../../tests/ui/int8/dense_4_2.safetensors", dtype = "int8")]
    struct Net {
        input: [4],
        out: dense(2),
    }
}

fn main() {}
