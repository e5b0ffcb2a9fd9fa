// An int8 network compiled in: constants, heap-free inference.
cnn::network! {
    /// A dense layer, int8.
    #[cnn(weights = "../../../../tests/ui/int8/dense_4_2.safetensors", dtype = "int8")]
    pub struct Tiny {
        input: [4],
        fc: dense(2), relu,
    }
}

const _: () = assert!(Tiny::PARAM_COUNT == 10);
const _: () = assert!(Tiny::ARENA_BYTES >= 4 + 2);

fn main() {
    static NET: Tiny = Tiny::embedded();
    let mut arena = TinyArena::new();
    let y = NET.infer(&[0.5, -1.0, 2.0, 0.0], &mut arena);
    assert!(y.iter().all(|v| v.is_finite() && *v >= 0.0));
}
