//! `network!` with `dtype = "int8"`: the quantized LeNet-5 file compiled
//! in gives, on all 2,000 held-out digits, exactly the int8 logits of the
//! runtime's `QNetwork` built from the same file, at batch 1, heap-free.

#[path = "../examples/nets/classic.rs"]
mod classic;
#[path = "../examples/nets/lenet_int8.rs"]
mod lenet_int8;

use cnn::quant::FileDtype;
use lenet_int8::{correct, F32Lenet, Int8Lenet, CALIBRATION_DIGITS};

cnn::network! {
    /// LeNet-5, int8.
    #[cnn(weights = "examples/firmware/lenet5_int8.safetensors", dtype = "int8")]
    pub struct LeNet5Int8 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
    }

    /// The same with a softmax at the end, a standalone pool and dropout.
    #[cnn(weights = "examples/firmware/lenet5_int8.safetensors", dtype = "int8")]
    pub struct LeNet5Int8Softmax {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), max_pool(2), relu,
        flatten,
        dropout(0.5),
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }
}

const FILE: &str = "examples/firmware/lenet5_int8.safetensors";

const _: () = assert!(LeNet5Int8::PARAM_COUNT == 61_706);
const _: () = assert!(LeNet5Int8::MACS == 416_520);
// The input (784) and conv1's pooled output (1,176) are the largest pair.
const _: () = assert!(LeNet5Int8::ARENA_BYTES >= 784 + 1176);
const _: () = assert!(LeNet5Int8::PARAM_BYTES <= 64 * 1024);

/// The compiled-in file is what calibration makes from the f32 weights
/// today. Activation ranges come from an f32 forward pass, whose last bits
/// depend on the SIMD level (the file was made at the host's widest), so
/// scales may differ by a few ulps and an int32 bias or zero point by one
/// rounding step; int8 weights depend only on the weights and match exactly.
#[test]
fn the_file_is_what_calibration_makes_today() {
    let f32_net = F32Lenet::load();
    let cal = lenet_int8::calibration_digits(CALIBRATION_DIGITS);
    let model = f32_net.quantize(&cal, CALIBRATION_DIGITS, cnn::quant::Method::MinMax);
    let file = cnn::quant::QuantizedModel::load(lenet_int8::root().join(FILE)).unwrap();
    assert_eq!(model.tensors.len(), file.tensors.len());
    let hint = "(`cargo run --release --example lenet_int8` writes runs/lenet_int8/lenet5_int8.safetensors)";
    for t in &model.tensors {
        let name = &t.name;
        let f = file
            .get(name)
            .unwrap_or_else(|| panic!("{FILE}: no `{name}` {hint}"));
        assert_eq!(
            (f.dtype, &f.shape),
            (t.dtype, &t.shape),
            "{FILE}: `{name}` {hint}"
        );
        match t.dtype {
            FileDtype::I8 => assert_eq!(f.as_i8(), t.as_i8(), "{FILE}: `{name}` {hint}"),
            FileDtype::I32 => {
                for (i, (a, b)) in f.as_i32().iter().zip(t.as_i32()).enumerate() {
                    assert!(
                        (a - b).abs() <= 1,
                        "{FILE}: `{name}`[{i}] is {a}, a fresh calibration gives {b} {hint}"
                    );
                }
            }
            FileDtype::F32 => {
                for (i, (a, b)) in f.as_f32().iter().zip(t.as_f32()).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-5 * b.abs(),
                        "{FILE}: `{name}`[{i}] is {a}, a fresh calibration gives {b} {hint}"
                    );
                }
            }
            FileDtype::F64 | FileDtype::Other => {
                panic!("{FILE}: `{name}` has an unexpected type")
            }
        }
    }
}

#[test]
fn compiled_in_network_equals_the_runtime_network_on_every_digit() {
    let net = LeNet5Int8::embedded();
    let soft = LeNet5Int8Softmax::embedded();
    let host = Int8Lenet::load(&lenet_int8::root().join(FILE));
    assert_eq!(LeNet5Int8::INPUT_QUANT, host.net.input);
    assert_eq!(LeNet5Int8::OUTPUT_QUANT, host.net.output());
    let (x, labels) = lenet_int8::test_digits();
    let n = labels.len();
    let mut host_arena = host.arena(n);
    let mut host_logits = vec![0.0; n * 10];
    host.infer(&x, &mut host_arena, &mut host_logits, n);
    let host_int8 = host.logits_int8(&host_arena, n);

    let mut arena = cnn_arena();
    let mut logits = vec![0.0; n * 10];
    for i in 0..n {
        let xi: &[f32; 784] = x[i * 784..(i + 1) * 784].try_into().unwrap();
        let y = net.infer(xi, &mut arena);
        assert_eq!(y[..], host_logits[i * 10..(i + 1) * 10], "digit {i}");
        // The int8 output is the host's byte for byte.
        let q = LeNet5Int8::INPUT_QUANT;
        for (o, &v) in LeNet5Int8::input_mut(&mut arena).iter_mut().zip(xi) {
            *o = q.quantize(v);
        }
        let out = net.infer_int8(&mut arena);
        assert_eq!(&out[..], &host_int8[i * 10..(i + 1) * 10], "digit {i}");
        logits[i * 10..(i + 1) * 10].copy_from_slice(&y);
        let p = soft.predict(xi);
        let sum: f32 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "digit {i}: softmax sums to {sum}");
        let argmax = |r: &[f32]| (0..10).fold(0, |b, j| if r[j] > r[b] { j } else { b });
        assert_eq!(argmax(&p), argmax(&y), "digit {i}");
    }
    assert_eq!(correct(&logits, &labels), correct(&host_logits, &labels));
    assert!(correct(&logits, &labels) >= 1950);
}

/// The int8 input written directly gives what `infer` gives.
#[test]
fn int8_input_through_the_arena() {
    let net = LeNet5Int8::embedded();
    let (x, _) = lenet_int8::test_digits();
    let xi: &[f32; 784] = x[..784].try_into().unwrap();
    let mut arena = cnn_arena();
    let expected = net.infer(xi, &mut arena);
    let mut arena = cnn_arena();
    let q = LeNet5Int8::INPUT_QUANT;
    for (o, &v) in LeNet5Int8::input_mut(&mut arena).iter_mut().zip(xi) {
        *o = q.quantize(v);
    }
    let out = *net.infer_int8(&mut arena);
    let s = LeNet5Int8::OUTPUT_QUANT;
    for (j, &v) in out.iter().enumerate() {
        assert_eq!(s.dequantize(v), expected[j]);
    }
}

/// The file carries the f32 model's preprocessing, which the compiled-in
/// network applies to raw pixels in `infer_raw`: bit for bit the network
/// on the standardised digits.
#[test]
fn the_int8_file_carries_the_f32_preprocessing() {
    let f32_model = cnn::Model::<classic::LeNet5>::load(
        lenet_int8::root().join("examples/firmware/lenet5.safetensors"),
    )
    .unwrap();
    let path = lenet_int8::root().join(FILE);
    let file = cnn::quant::QuantizedModel::load(&path).unwrap();
    let carried = file.preprocessing(&path, &[1, 28, 28]).unwrap();
    assert!(carried.is_some());
    assert_eq!(carried, f32_model.preprocessing);
    let kernel = f32_model.preprocessing.as_ref().unwrap().kernel();
    assert_eq!(LeNet5Int8::PREPROCESSING, kernel);
    assert_eq!(LeNet5Int8::RAW_LEN, 784);

    let test = cnn::data::mnist::load(&lenet_int8::root().join("data/mnist"), "t2k").unwrap();
    let (x, _) = lenet_int8::test_digits();
    let net = LeNet5Int8::embedded();
    let soft = LeNet5Int8Softmax::embedded();
    let mut arena = cnn_arena();
    for i in 0..200 {
        let raw: &[f32; 784] = test.input(i).try_into().unwrap();
        let xi: &[f32; 784] = x[i * 784..(i + 1) * 784].try_into().unwrap();
        let expected = net.infer(xi, &mut arena);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(&net.infer_raw(raw, &mut arena)),
            bits(&expected),
            "digit {i}"
        );
        assert_eq!(
            bits(&soft.infer_raw(raw, &mut arena)),
            bits(&soft.infer(xi, &mut arena)),
            "digit {i}"
        );
        // Value by value, into the int8 input.
        LeNet5Int8::quantize_raw(&mut arena, |j| raw[j]);
        let q = LeNet5Int8::INPUT_QUANT;
        let by_hand: Vec<i8> = xi.iter().map(|&v| q.quantize(v)).collect();
        assert_eq!(
            LeNet5Int8::input_mut(&mut arena)[..],
            by_hand[..],
            "digit {i}"
        );
    }
}

fn cnn_arena() -> LeNet5Int8Arena {
    LeNet5Int8Arena::new()
}
