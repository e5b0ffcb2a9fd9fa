// A misspelt argument is one error: the network type the macro emits in its
// place still has every constant and method, so the code using it does not
// add a cascade of "no associated item" errors.
cnn::network! {
    pub struct Net {
        input: [1, 28, 28],
        conv1: conv(6, kernal = 5), relu, max_pool(2),
        flatten,
        fc1: dense(10),
        softmax,
    }
}

fn main() {
    let net = Net::new(cnn::Init::He, 1);
    let x = [0.0f32; Net::INPUT_LEN];
    let p: [f32; 10] = net.predict(&x);
    let mut arena = NetArena::new();
    let q: [f32; Net::OUTPUT_LEN] = net.infer(&x, &mut arena);
    let _ = (p, q, Net::PARAM_COUNT, Net::MACS, Net::ARENA_BYTES, Net::LAYERS, Net::PARAMS);
    println!("{}", Net::summary());
    let _ = Net::from_safetensors("w.safetensors");
    let _ = net.predict_batch(&[0.0; 784]);
    let _ = cnn::train::accuracy(&net, &cnn::Dataset::classification(vec![], &[784], vec![], 10).unwrap());
}
