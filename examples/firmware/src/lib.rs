//! A digit classifier for firmware: LeNet-5 with its weights compiled into
//! the binary, inference in a caller-supplied arena, no heap, no `std`.
//!
//! The weights (`lenet5.safetensors`) are the ones `cargo run --release
//! --example lenet_mnist` trains; `network!` checks every tensor's name and
//! shape at compile time and places the values in a 64-byte-aligned static.
//! The file also carries the training set's standardisation
//! (`preprocess.mean`, `preprocess.std`), which is compiled in as
//! `LeNet5::PREPROCESSING` and applied by `infer_raw_in_place`: the
//! firmware only turns its 8-bit pixels into `[0, 1]`.
//!
//! The int8 variant, [`LeNet5Int8`], compiles in `lenet5_int8.safetensors`
//! (what `cargo run --release --example lenet_int8` writes: the same
//! network quantized as TensorFlow Lite's int8 scheme, with the f32
//! model's preprocessing, compiled in as `LeNet5Int8::PREPROCESSING`) and
//! runs in a 1,960-byte arena on the microcontroller.
//!
//! Build the bare-metal binaries (Cortex-M4F), f32 and int8, with
//!
//! ```text
//! rustup target add thumbv7em-none-eabihf
//! cargo build -p firmware --features device --target thumbv7em-none-eabihf --profile firmware
//! ```
#![cfg_attr(not(test), no_std)]

mod digits;

pub use digits::{DIGITS, LABELS};

cnn::network! {
    /// LeNet-5, trained on the bundled MNIST subset, weights compiled in.
    #[cnn(weights = "lenet5.safetensors")]
    pub struct LeNet5 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
        softmax,
    }
}

cnn::network! {
    /// LeNet-5 quantized to int8, weights compiled in.
    #[cnn(weights = "lenet5_int8.safetensors", dtype = "int8")]
    pub struct LeNet5Int8 {
        input: [1, 28, 28],
        conv1: conv(6, kernel = 5, pad = 2), relu, max_pool(2),
        conv2: conv(16, kernel = 5), relu, max_pool(2),
        flatten,
        fc1: dense(120), relu,
        fc2: dense(84), relu,
        fc3: dense(10),
    }
}

// The whole working memory of one inference, input included, in 8 KB.
const _: () = assert!(LeNet5::ARENA_BYTES <= 8 * 1024);
// Int8: the activations, input included, in 2 KB (on the microcontroller
// the arena is only these: its convolutions need no scratch), the
// parameters in 64 KB.
const _: () = assert!(LeNet5Int8::ARENA_BYTES - LeNet5Int8::SCRATCH_BYTES <= 2 * 1024);
#[cfg(target_os = "none")]
const _: () = assert!(LeNet5Int8::SCRATCH_BYTES == 0);
const _: () = assert!(LeNet5Int8::PARAM_BYTES <= 64 * 1024);

/// The compiled-in network (a `const`: no work at start-up).
pub const NET: LeNet5 = LeNet5::embedded();

/// 8-bit pixels as the network was trained on them before
/// standardisation: `p / 255`, in `[0, 1]`.
pub fn to_unit(pixels: &[u8; 784], out: &mut [f32; 784]) {
    for (o, &p) in out.iter_mut().zip(pixels) {
        *o = f32::from(p) / 255.0;
    }
}

/// Standardises 8-bit pixels as in training: `p / 255`, then the
/// compiled-in [`LeNet5::PREPROCESSING`] (the training set's mean and
/// standard deviation, from `lenet5.safetensors`).
pub fn standardize(pixels: &[u8; 784], out: &mut [f32; 784]) {
    to_unit(pixels, out);
    LeNet5::PREPROCESSING.apply(out);
}

/// Classifies one digit: its class and the network's probability for it.
/// The pixels are written straight into the arena's input region, which
/// `infer_raw_in_place` standardises there.
pub fn classify(pixels: &[u8; 784], arena: &mut LeNet5Arena) -> (usize, f32) {
    to_unit(pixels, LeNet5::arena_input(arena));
    let p = NET.infer_raw_in_place(arena);
    let mut best = 0;
    for (i, &v) in p.iter().enumerate() {
        if v > p[best] {
            best = i;
        }
    }
    (best, p[best])
}

/// The compiled-in int8 network.
pub const NET_INT8: LeNet5Int8 = LeNet5Int8::embedded();

/// Quantizes 8-bit pixels into the int8 network's input in `arena`: `p /
/// 255`, then the int8 network's compiled-in
/// [`LeNet5Int8::PREPROCESSING`] (the training set's standardisation, which
/// calibration copied from `lenet5.safetensors` into
/// `lenet5_int8.safetensors`), then quantized with its input's scale and
/// zero point, one pixel at a time: no f32 buffer.
pub fn quantize_pixels(pixels: &[u8; 784], arena: &mut LeNet5Int8Arena) {
    LeNet5Int8::quantize_raw(arena, |i| {
        pixels.get(i).map_or(f32::NAN, |&p| f32::from(p) / 255.0)
    });
}

/// Classifies one digit with the int8 network: its class (the largest
/// int8 logit, the first of equals) and the softmax probability of the
/// dequantized logits for it. Returns the int8 logits too.
pub fn classify_int8(pixels: &[u8; 784], arena: &mut LeNet5Int8Arena) -> (usize, f32, [i8; 10]) {
    quantize_pixels(pixels, arena);
    let logits = *NET_INT8.infer_int8(arena);
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    let q = LeNet5Int8::OUTPUT_QUANT;
    let top = q.dequantize(logits[best]);
    let sum: f32 = logits
        .iter()
        .map(|&v| cnn::math::exp(q.dequantize(v) - top))
        .sum();
    (best, 1.0 / sum, logits)
}

/// Classifies every bundled digit; returns how many match their label.
pub fn check_all(arena: &mut LeNet5Arena) -> usize {
    DIGITS
        .iter()
        .zip(&LABELS)
        .filter(|(d, &l)| classify(d, arena).0 == usize::from(l))
        .count()
}

#[cfg(test)]
mod int8_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_bundled_digits() {
        // The network is 98% accurate on the 2,000 held-out digits; these
        // are the first eight of them, taken as they come.
        let mut arena = LeNet5Arena::new();
        let correct = check_all(&mut arena);
        assert!(correct + 2 >= DIGITS.len(), "{correct}/{}", DIGITS.len());
    }

    #[test]
    fn compiled_in_network_is_accurate_on_all_held_out_digits() {
        // The firmware's own preprocessing (8-bit pixels through
        // `standardize`) on every held-out digit of the bundled subset: the
        // eight compiled-in digits are a small sample of this.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist");
        let test = cnn::data::mnist::load(std::path::Path::new(dir), "t2k").unwrap();
        let labels = test.labels().unwrap();
        let mut arena = LeNet5Arena::new();
        let mut correct = 0;
        for (i, &label) in labels.iter().enumerate() {
            let mut pixels = [0u8; 784];
            for (p, &x) in pixels.iter_mut().zip(test.input(i)) {
                *p = (x * 255.0).round() as u8;
            }
            correct += usize::from(classify(&pixels, &mut arena).0 == label);
        }
        let accuracy = correct as f64 / labels.len() as f64;
        assert!(accuracy >= 0.975, "{correct}/{} correct", labels.len());
    }

    #[test]
    fn firmware_path_is_bit_identical_to_the_std_path() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/lenet5.safetensors");
        let loaded = LeNet5::from_safetensors(path).expect("the committed weights load");
        assert_eq!(
            loaded.weights(),
            NET.weights(),
            "compiled-in weights equal the file's"
        );
        for level in cnn::simd::available_levels() {
            cnn::simd::force(level).unwrap();
            let mut batch = Vec::new();
            let mut singles = Vec::new();
            for d in &DIGITS {
                let mut arena = LeNet5Arena::new();
                standardize(d, LeNet5::arena_input(&mut arena));
                batch.extend_from_slice(LeNet5::arena_input(&mut arena));
                singles.extend(NET.infer_in_place(&mut arena));
            }
            let std_path = loaded.predict_batch(&batch).unwrap();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&singles), bits(&std_path), "{level:?}");
            // And `classify` reports the std path's classes.
            let mut arena = LeNet5Arena::new();
            for (i, d) in DIGITS.iter().enumerate() {
                let row = &std_path[i * 10..(i + 1) * 10];
                let best = (0..10).fold(0, |b, j| if row[j] > row[b] { j } else { b });
                assert_eq!(classify(d, &mut arena).0, best);
            }
        }
        cnn::simd::force(cnn::simd::best_available()).unwrap();
    }

    #[test]
    fn compiled_in_preprocessing_is_the_hand_written_standardisation() {
        // The constants and formula this firmware used before the
        // preprocessing shipped in the weights file.
        const MEAN: f32 = 0.131_074_28;
        const STD: f32 = 0.308_688_52;
        assert_eq!(
            LeNet5::PREPROCESSING,
            cnn::preprocess::Preprocess::PerChannel {
                mean: &[MEAN],
                std: &[STD]
            }
        );
        let all: [u8; 256] = core::array::from_fn(|p| p as u8);
        for chunk in all.chunks(28) {
            let mut pixels = [0u8; 784];
            pixels[..chunk.len()].copy_from_slice(chunk);
            let mut ours = [0.0f32; 784];
            standardize(&pixels, &mut ours);
            let before = pixels.map(|p| (f32::from(p) / 255.0 - MEAN) / (STD + 1e-8));
            assert_eq!(ours.map(f32::to_bits), before.map(f32::to_bits));
        }
    }

    #[test]
    fn the_int8_network_has_the_f32_networks_preprocessing() {
        assert_eq!(LeNet5Int8::PREPROCESSING, LeNet5::PREPROCESSING);
        // Quantized pixels are the standardised f32 pixels, quantized.
        let mut arena = LeNet5Int8Arena::new();
        for d in &DIGITS {
            quantize_pixels(d, &mut arena);
            let mut x = [0.0f32; 784];
            standardize(d, &mut x);
            let q = LeNet5Int8::INPUT_QUANT;
            let expected = x.map(|v| q.quantize(v));
            assert_eq!(*LeNet5Int8::input_mut(&mut arena), expected);
        }
    }

    #[test]
    fn infer_raw_is_bit_identical_to_the_loaded_model() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/lenet5.safetensors");
        let model = cnn::Model::<LeNet5>::load(path).expect("the committed model loads");
        let mut raw = Vec::new();
        let mut compiled = Vec::new();
        let mut arena = LeNet5Arena::new();
        for d in &DIGITS {
            let mut unit = [0.0f32; 784];
            to_unit(d, &mut unit);
            raw.extend_from_slice(&unit);
            compiled.extend(NET.infer_raw(&unit, &mut arena));
        }
        let loaded = model.predict_raw(&raw).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&compiled), bits(&loaded));
    }

    #[test]
    fn any_input_gives_an_output_without_panicking() {
        let mut arena = LeNet5Arena::new();
        for v in [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            -f32::MAX,
            0.0,
        ] {
            *LeNet5::arena_input(&mut arena) = [v; 784];
            let p = NET.infer_in_place(&mut arena);
            if v.is_nan() {
                assert!(p.iter().all(|x| x.is_nan()), "NaN in gives NaN out: {p:?}");
            }
        }
    }
}
