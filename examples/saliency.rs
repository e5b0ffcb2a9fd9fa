//! Saliency maps: which pixels of a digit the loss is most sensitive to.
//!
//! ```text
//! cargo run --release --example saliency                    # the ten digits in examples/digits
//! cargo run --release --example saliency -- --out runs/saliency my-digit.png:7
//! ```
//!
//! Loads the LeNet-5 that `lenet_mnist` trained (the weights the firmware
//! example embeds, `examples/firmware/lenet5.safetensors`), reads held-out
//! digits (by default the ten in `examples/digits`, taken from the t2k
//! split that training never saw; a file's label is the digit after the
//! last `-` of its name, or given as `path:label`), and for each computes
//! the gradient of the cross-entropy loss with respect to the input
//! pixels with `gradients`. The saliency map is `|dL/dx|`, scaled so that
//! the largest value of each map is white.
//!
//! Writes to `runs/saliency/` (or `--out DIR`): one `NAME.png` per digit,
//! the digit beside its saliency map at 8x, and `all.png`, every digit and
//! map in one sheet, five pairs to a row. Prints each digit's prediction
//! and loss.

use std::path::{Path, PathBuf};

use cnn::data::image;
use cnn::train::TargetRef;

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

/// The training digits' pixel mean and standard deviation (pixels in
/// `[0, 1]`), as in training and in `examples/firmware/src/lib.rs`.
const MEAN: f32 = 0.131_074_28;
/// See [`MEAN`].
const STD: f32 = 0.308_688_52;
/// Side of a digit.
const SIDE: usize = 28;
/// Each pixel is drawn as a `SCALE` x `SCALE` square.
const SCALE: usize = 8;
/// White pixels between and around the tiles.
const GAP: usize = 8;

/// One digit: where it came from, its label and its pixels in `[0, 1]`.
struct Digit {
    name: String,
    label: usize,
    pixels: Vec<f32>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = PathBuf::from("runs/saliency");
    let mut args: Vec<String> = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        if a == "--out" {
            out = PathBuf::from(it.next().ok_or("--out needs a directory")?);
        } else {
            args.push(a);
        }
    }
    let net = LeNet5::from_safetensors(root.join("examples/firmware/lenet5.safetensors"))?;
    let digits = if args.is_empty() {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join("examples/digits"))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        paths.retain(|p| p.extension().is_some_and(|e| e == "png"));
        paths.sort();
        paths
            .iter()
            .map(|p| read(p, None))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        args.iter()
            .map(|a| match a.rsplit_once(':') {
                Some((path, label)) if label.parse::<usize>().is_ok() => {
                    read(Path::new(path), label.parse().ok())
                }
                _ => read(Path::new(a), None),
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    std::fs::create_dir_all(&out)?;

    let mut sheet = Vec::new();
    for d in &digits {
        let x: Vec<f32> = d
            .pixels
            .iter()
            .map(|&p| (p - MEAN) / (STD + 1e-8))
            .collect();
        let g = net.gradients(&x, TargetRef::Classes(&[d.label]))?;
        let saliency: Vec<f32> = g.input().data.iter().map(|v| v.abs()).collect();
        let top = saliency.iter().fold(0.0f32, |m, &v| m.max(v));
        let map: Vec<f32> = saliency
            .iter()
            .map(|&v| if top > 0.0 { v / top } else { 0.0 })
            .collect();
        let input: &[f32; LeNet5::INPUT_LEN] = x.as_slice().try_into()?;
        let p = net.predict(input);
        let guess = cnn::train::argmax(&p).unwrap_or(0);
        println!(
            "{}: label {}, predicted {guess} ({:.1}%), loss {:.4}, largest |dL/dx| {top:.3e}",
            d.name,
            d.label,
            100.0 * p[guess],
            g.loss()
        );
        let path = out.join(format!("{}.png", d.name));
        save_sheet(&path, &[(d.pixels.clone(), map.clone())], 1)?;
        sheet.push((d.pixels.clone(), map));
    }
    save_sheet(&out.join("all.png"), &sheet, 5)?;
    println!(
        "wrote {} maps and all.png to {}",
        digits.len(),
        out.display()
    );
    Ok(())
}

/// Reads a digit as one gray channel resized to 28x28; its label is
/// `label`, or the number after the last `-` of the file name.
fn read(path: &Path, label: Option<usize>) -> Result<Digit, Box<dyn std::error::Error>> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| format!("{}: not a file name", path.display()))?
        .to_string();
    let label = match label {
        Some(l) => l,
        None => name
            .rsplit('-')
            .next()
            .and_then(|l| l.parse().ok())
            .ok_or_else(|| {
                format!(
                    "{}: no label in the name; give it as PATH:LABEL",
                    path.display()
                )
            })?,
    };
    if label >= 10 {
        return Err(format!("{}: label {label} is not a digit", path.display()).into());
    }
    let pixels = image::load(path, &LeNet5::INPUT_SHAPE)?;
    Ok(Digit {
        name,
        label,
        pixels,
    })
}

/// Pairs of tiles, `per_row` pairs to a row: each digit in gray, then its
/// saliency map in a black-red-yellow-white heat scale, both in `[0, 1]`.
fn save_sheet(
    path: &Path,
    pairs: &[(Vec<f32>, Vec<f32>)],
    per_row: usize,
) -> Result<(), cnn::Error> {
    let cell = SIDE * SCALE + GAP;
    let pair = 2 * cell + GAP;
    let rows = pairs.len().div_ceil(per_row);
    let (h, w) = (rows * cell + GAP, per_row.min(pairs.len()) * pair + GAP);
    let mut out = vec![1.0f32; 3 * h * w];
    for (i, (digit, map)) in pairs.iter().enumerate() {
        for (col, tile) in [digit, map].into_iter().enumerate() {
            let y0 = GAP + (i / per_row) * cell;
            let x0 = GAP + (i % per_row) * pair + col * cell;
            for y in 0..SIDE * SCALE {
                for x in 0..SIDE * SCALE {
                    let v = tile[(y / SCALE) * SIDE + x / SCALE].clamp(0.0, 1.0);
                    let rgb = if col == 0 { [v, v, v] } else { heat(v) };
                    for (c, value) in rgb.into_iter().enumerate() {
                        out[c * h * w + (y0 + y) * w + x0 + x] = value;
                    }
                }
            }
        }
    }
    image::save_png(path, &out, &[3, h, w])
}

/// A heat colour for `v` in `[0, 1]`: black, red, yellow, white.
fn heat(v: f32) -> [f32; 3] {
    let t = 3.0 * v;
    [
        t.min(1.0),
        (t - 1.0).clamp(0.0, 1.0),
        (t - 2.0).clamp(0.0, 1.0),
    ]
}
