// A weights file whose per-channel preprocessing has three channels for a
// two-channel input: one error, on the file, naming the tensor and shapes;
// none from the code that uses `infer_raw`.
cnn::network! {
    #[cnn(weights = "../../../../tests/data/preprocess/three_channels.safetensors")]
    struct Net {
        input: [2, 3, 3],
        conv1: conv(2, kernel = 2), relu,
        flatten,
        fc: dense(3),
    }
}

fn main() {
    let net = Net::embedded();
    let mut arena = NetArena::new();
    let _: [f32; 3] = net.infer_raw(&[0.0; 18], &mut arena);
    let _ = Net::PREPROCESSING;
}
