// Whitening is applied on the host only: compiling it in is one error.
cnn::network! {
    #[cnn(weights = "../../../../tests/data/preprocess/whitening.safetensors")]
    struct Net { input: [3], fc: dense(2) }
}

fn main() {
    let mut arena = NetArena::new();
    let _: [f32; 2] = Net::embedded().infer_raw(&[0.0; 3], &mut arena);
}
