// A vector-input MLP: no image layers, no `flatten` needed.
cnn::network! {
    /// Doc comments pass through.
    pub struct Mlp {
        input: [20],
        hidden1: dense(32), relu,
        dropout(0.25),
        hidden2: dense(16, bias = false), tanh,
        out: dense(4),
        sigmoid,
    }
}

const _: () = assert!(Mlp::INPUT_SHAPE[0] == 20);
const _: () = assert!(Mlp::OUTPUT_LEN == 4);
const _: () = assert!(Mlp::PARAM_COUNT == (20 * 32 + 32) + 32 * 16 + (16 * 4 + 4));
const _: () = assert!(Mlp::MACS == 20 * 32 + 32 * 16 + 16 * 4);

fn main() {
    let net = Mlp::zeros();
    let y = net.predict(&[1.0; 20]);
    assert_eq!(y, [0.5; 4]);
}
