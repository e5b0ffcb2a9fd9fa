// A whitening saved in format version 1 has no matrix to compile in: one
// error, saying how to add it.
cnn::network! {
    #[cnn(weights = "../../../../tests/data/preprocess/whitening_v1.safetensors")]
    struct Net { input: [3], fc: dense(2) }
}

fn main() {
    let mut arena = NetArena::new();
    let _: [f32; 2] = Net::embedded().infer_raw(&[0.0; 3], &mut arena);
}
