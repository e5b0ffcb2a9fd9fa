//! The PNG digits in `examples/digits`: each file's pixels are the t2k
//! digit its name gives (`t2k-INDEX-LABEL.png`), and the LeNet-5 of the
//! `classify_png` example reads them and classifies eight of the ten as
//! their labels (it takes t2k digit 1, a 4, for a 9, and digit 6, an 8,
//! for a 0, as the firmware does).

use std::path::Path;

cnn::network! {
    struct LeNet5 {
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

/// As `examples/firmware/src/lib.rs` and `examples/classify_png.rs`.
const MEAN: f32 = 0.131_074_28;
const STD: f32 = 0.308_688_52;

#[test]
fn the_png_digits_are_the_t2k_digits_and_are_classified() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let t2k = cnn::data::mnist::load(&root.join("data/mnist"), "t2k").unwrap();
    let net = LeNet5::from_safetensors(root.join("examples/firmware/lenet5.safetensors")).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(root.join("examples/digits"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 10);
    let mut labels = Vec::new();
    let mut wrong = Vec::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_str().unwrap();
        let [_, index, label] = name.split('-').collect::<Vec<_>>()[..] else {
            panic!("{name}: not t2k-INDEX-LABEL");
        };
        let (index, label): (usize, usize) = (index.parse().unwrap(), label.parse().unwrap());
        assert_eq!(t2k.labels().unwrap()[index], label, "{name}");
        let x = cnn::data::image::load(path, &[1, 28, 28]).unwrap();
        for (a, b) in x.iter().zip(t2k.input(index)) {
            assert!((a - b).abs() < 1e-6, "{name}: {a} vs {b}");
        }
        let input: Vec<f32> = x.iter().map(|v| (v - MEAN) / (STD + 1e-8)).collect();
        let p = net.predict(input.as_slice().try_into().unwrap());
        let predicted = cnn::train::argmax(&p).unwrap();
        if predicted != label {
            wrong.push((name.to_string(), predicted));
        }
        labels.push(label);
    }
    labels.sort();
    assert_eq!(labels, (0..10).collect::<Vec<_>>());
    let expected = [("t2k-0001-4".to_string(), 9), ("t2k-0006-8".to_string(), 0)];
    assert_eq!(wrong, expected);
}
