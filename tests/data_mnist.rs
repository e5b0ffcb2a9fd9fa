//! The data module on the real MNIST subset in `data/mnist` (8,000 training
//! and 2,000 held-out digits, gzip-compressed IDX files).

use std::path::{Path, PathBuf};

use cnn::data::{self, mnist, IdxArray, IdxData, Standardizer};
use cnn::{Dataset, Error};

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

fn train() -> Dataset {
    mnist::load(&mnist_dir(), "train").expect("data/mnist/train-*.gz loads")
}

fn t2k() -> Dataset {
    mnist::load(&mnist_dir(), "t2k").expect("data/mnist/t2k-*.gz loads")
}

/// Mean and population standard deviation.
fn stats(values: impl Iterator<Item = f32> + Clone) -> (f64, f64) {
    let n = values.clone().count() as f64;
    let mean = values.clone().map(f64::from).sum::<f64>() / n;
    let var = values.map(|v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// An IDX file's bytes (plain), written back from what `read_idx` gave.
fn to_idx_bytes(array: &IdxArray) -> Vec<u8> {
    let IdxData::U8(values) = &array.data else {
        panic!("MNIST files are u8")
    };
    let mut out = array.magic().to_be_bytes().to_vec();
    for &d in &array.dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(values);
    out
}

#[test]
fn loads_the_subset() {
    let (train, test) = (train(), t2k());
    assert_eq!(train.len(), 8_000);
    assert_eq!(test.len(), 2_000);
    for d in [&train, &test] {
        assert_eq!(d.sample_shape(), &[1, 28, 28]);
        assert_eq!(d.sample_len(), 784);
        assert_eq!(d.classes(), Some(10));
        assert_eq!(d.inputs().len(), d.len() * 784);
        let counts = d.class_counts().unwrap();
        assert_eq!(counts.iter().sum::<usize>(), d.len());
        assert!(
            counts.iter().all(|&c| c > 0),
            "every digit is present: {counts:?}"
        );
        // Pixels p / 255 in [0, 1], both ends reached.
        assert!(d.inputs().iter().all(|&x| (0.0..=1.0).contains(&x)));
        assert_eq!(
            d.inputs().iter().copied().fold(f32::INFINITY, f32::min),
            0.0
        );
        assert_eq!(
            d.inputs().iter().copied().fold(f32::NEG_INFINITY, f32::max),
            1.0
        );
    }
    // Known values, read once from the files.
    assert_eq!(train.labels().unwrap()[..5], [8, 1, 7, 4, 3]);
    assert_eq!(test.labels().unwrap()[..5], [1, 4, 0, 6, 0]);
    let sum: f32 = train.input(0).iter().sum();
    assert!(
        (sum - 22_235.0 / 255.0).abs() < 1e-3,
        "first image's pixel sum {sum}"
    );
    // Mean intensity close to MNIST's well-known 0.1307.
    let (mean, std) = stats(train.inputs().iter().copied());
    assert!(
        (mean - 0.1307).abs() < 0.01 && (std - 0.3081).abs() < 0.01,
        "{mean} {std}"
    );
}

#[test]
fn load_idx_and_read_idx_agree_with_mnist_load() {
    let dir = mnist_dir();
    let images = dir.join("t2k-images-idx3-ubyte.gz");
    let labels = dir.join("t2k-labels-idx1-ubyte.gz");
    let d = data::load_idx(&images, &labels, 10).unwrap();
    assert_eq!(d, t2k());
    let raw = data::read_idx(&images).unwrap();
    assert_eq!(raw.dims, vec![2_000, 28, 28]);
    assert_eq!(raw.magic(), 0x0803);
    let IdxData::U8(pixels) = &raw.data else {
        panic!("u8 expected")
    };
    assert_eq!(pixels.len(), 2_000 * 784);
    assert_eq!(d.inputs()[300], f32::from(pixels[300]) / 255.0);
}

#[test]
fn standardizer_fitted_on_train() {
    let (mut train, mut test) = (train(), t2k());
    let s = Standardizer::fit(&train).unwrap();
    assert_eq!((s.mean.len(), s.std.len()), (1, 1));
    s.apply(&mut train).unwrap();
    s.apply(&mut test).unwrap();
    let (mean, std) = stats(train.inputs().iter().copied());
    assert!(
        mean.abs() < 1e-4 && (std - 1.0).abs() < 1e-4,
        "train: {mean} {std}"
    );
    // The held-out digits get the training statistics: close, not exact.
    let (mean, std) = stats(test.inputs().iter().copied());
    assert!(
        mean.abs() < 0.1 && (std - 1.0).abs() < 0.1,
        "t2k: {mean} {std}"
    );
}

#[test]
fn per_image_scaling() {
    let mut test = t2k();
    data::scale_each_sample(&mut test);
    for i in 0..test.len() {
        let (mean, std) = stats(test.input(i).iter().copied());
        assert!(
            mean.abs() < 1e-5 && (std - 1.0).abs() < 1e-4,
            "image {i}: {mean} {std}"
        );
    }
}

#[test]
fn split_and_filter_on_real_data() {
    let train = train();
    let (a, b) = train.split(0.1, 42).unwrap();
    assert_eq!((a.len(), b.len()), (7_200, 800));
    assert_eq!(train.split(0.1, 42).unwrap(), (a.clone(), b.clone()));
    let counts = b.class_counts().unwrap();
    assert!(
        counts.iter().all(|&c| c > 40),
        "a random 800 holds every digit: {counts:?}"
    );

    let zeros_and_ones = train.filter_classes(|c| c < 2);
    let counts = train.class_counts().unwrap();
    assert_eq!(zeros_and_ones.len(), counts[0] + counts[1]);
    assert!(zeros_and_ones.labels().unwrap().iter().all(|&l| l < 2));
}

#[test]
fn corrupted_copies_are_reported_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = mnist_dir();
    for name in ["t2k-images-idx3-ubyte.gz", "t2k-labels-idx1-ubyte.gz"] {
        std::fs::copy(src.join(name), d.join(name)).unwrap();
    }
    assert_eq!(mnist::load(d, "t2k").unwrap().len(), 2_000);

    let message = |e: Error| {
        assert!(matches!(e, Error::Data { .. }), "{e:?}");
        e.to_string()
    };
    let images = data::read_idx(&src.join("t2k-images-idx3-ubyte.gz")).unwrap();
    let labels = data::read_idx(&src.join("t2k-labels-idx1-ubyte.gz")).unwrap();
    let image_bytes = to_idx_bytes(&images);
    let label_bytes = to_idx_bytes(&labels);

    // A plain file is preferred over the .gz: wrong magic in the labels.
    let mut bad = label_bytes.clone();
    bad[..4].copy_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
    let plain_labels = d.join("t2k-labels-idx1-ubyte");
    std::fs::write(&plain_labels, &bad).unwrap();
    let m = message(mnist::load(d, "t2k").unwrap_err());
    assert!(
        m.contains("t2k-labels-idx1-ubyte") && m.contains("wrong magic number 0xDEADBEEF"),
        "{m}"
    );

    // An image file where a label file should be.
    std::fs::write(&plain_labels, &image_bytes).unwrap();
    let m = message(mnist::load(d, "t2k").unwrap_err());
    assert!(
        m.contains("t2k-labels-idx1-ubyte") && m.contains("0x00000803"),
        "{m}"
    );
    assert!(m.contains("expected 0x00000801"), "{m}");

    // One label too few: both files, both counts.
    let mut short = labels.clone();
    short.dims[0] -= 1;
    let IdxData::U8(v) = &mut short.data else {
        unreachable!()
    };
    v.pop();
    std::fs::write(&plain_labels, to_idx_bytes(&short)).unwrap();
    let m = message(mnist::load(d, "t2k").unwrap_err());
    assert!(
        m.contains("t2k-labels-idx1-ubyte") && m.contains("t2k-images-idx3-ubyte.gz"),
        "{m}"
    );
    assert!(
        m.contains("1999 labels") && m.contains("2000 images"),
        "{m}"
    );
    std::fs::remove_file(&plain_labels).unwrap();

    // Truncated plain images.
    let plain_images = d.join("t2k-images-idx3-ubyte");
    std::fs::write(&plain_images, &image_bytes[..image_bytes.len() - 1000]).unwrap();
    let m = message(mnist::load(d, "t2k").unwrap_err());
    assert!(
        m.contains("t2k-images-idx3-ubyte") && m.contains("truncated data"),
        "{m}"
    );
    // Truncated header.
    std::fs::write(&plain_images, &image_bytes[..10]).unwrap();
    let m = message(mnist::load(d, "t2k").unwrap_err());
    assert!(
        m.contains("t2k-images-idx3-ubyte") && m.contains("truncated header"),
        "{m}"
    );
    std::fs::remove_file(&plain_images).unwrap();

    // Truncated gzip stream.
    let gz = std::fs::read(src.join("t2k-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(d.join("t2k-images-idx3-ubyte.gz"), &gz[..gz.len() / 2]).unwrap();
    let m = message(mnist::load(d, "t2k").unwrap_err());
    assert!(
        m.contains("t2k-images-idx3-ubyte.gz") && m.contains("corrupt or truncated"),
        "{m}"
    );

    // A missing split names the folder and the file names tried.
    let m = message(mnist::load(d, "train").unwrap_err());
    assert!(m.contains("train-images-idx3-ubyte.gz"), "{m}");
}
