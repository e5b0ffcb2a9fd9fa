//! Classifies handwritten digits in PNG (or JPEG) files with the LeNet-5
//! that `lenet_mnist` trained, whose weights the firmware example embeds
//! (`examples/firmware/lenet5.safetensors`).
//!
//! ```text
//! cargo run --release --example classify_png                       # the ten digits in examples/digits
//! cargo run --release --example classify_png -- my-digit.png other.png
//! ```
//!
//! Each image is read as one gray channel in `[0, 1]`, resized to 28x28
//! (a white digit on black, as MNIST draws them), and standardised as in
//! training and in the firmware by the preprocessing saved in the weights
//! file (the training digits' mean and standard deviation), which
//! `cnn::Model` loads with the weights.

use std::path::{Path, PathBuf};

cnn::network! {
    /// LeNet-5 as `lenet_mnist` trains it and `examples/firmware` embeds it.
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = cnn::Model::<LeNet5>::load(root.join("examples/firmware/lenet5.safetensors"))?;
    let mut paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        let dir = root.join("examples/digits");
        paths = std::fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        paths.retain(|p| p.extension().is_some_and(|e| e == "png"));
        paths.sort();
    }
    for path in &paths {
        let x = cnn::data::image::load(path, &LeNet5::INPUT_SHAPE)?;
        let p = model.predict_raw(&x)?;
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        println!(
            "{}: {} ({:.1}%; then {} {:.1}%, {} {:.1}%)",
            path.display(),
            order[0],
            100.0 * p[order[0]],
            order[1],
            100.0 * p[order[1]],
            order[2],
            100.0 * p[order[2]]
        );
    }
    Ok(())
}
