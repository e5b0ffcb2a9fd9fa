// A whitening whose output is not the network's input: one error, naming
// the file, the tensors and both shapes. (The weights fit: only the input
// differs, 7x7 instead of the whitening's 5x5.)
cnn::network! {
    #[cnn(weights = "../../../../tests/data/preprocess/zca.safetensors")]
    struct Net {
        input: [1, 7, 7],
        conv1: conv(2, kernel = 3, stride = 2), relu,
        flatten,
        fc: dense(3),
    }
}

fn main() {
    let mut arena = NetArena::new();
    let _: [f32; 3] = Net::embedded().infer_raw(&[0.0; 49], &mut arena);
}
