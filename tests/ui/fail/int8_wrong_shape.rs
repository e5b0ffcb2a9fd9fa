// An int8 network whose layer is wider than the file's: one error, none
// from the code that uses the network.
cnn::network! {
    #[cnn(weights = "../../../../tests/ui/int8/dense_4_2.safetensors", dtype = "int8")]
    struct Net {
        input: [4],
        fc: dense(3),
    }
}

fn main() {
    let net = Net::embedded();
    let mut arena = NetArena::new();
    let y: [f32; 3] = net.infer(&[0.0; 4], &mut arena);
    *Net::input_mut(&mut arena) = [Net::INPUT_QUANT.zero_point; 4];
    let _ = (y, net.infer_int8(&mut arena), Net::ARENA_BYTES, Net::OUTPUT_QUANT);
}
