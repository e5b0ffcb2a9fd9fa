// An int8 network whose file holds f32 weights for a layer.
cnn::network! {
    #[cnn(weights = "../../../../tests/ui/int8/dense_4_2_f32_weight.safetensors", dtype = "int8")]
    struct Net {
        input: [4],
        fc: dense(2),
    }
}

fn main() {}
