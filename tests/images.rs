//! PNG and JPEG loading, resizing, PNG writing and patches.

use std::path::Path;

use cnn::data::{image, patches, Image};

fn photo(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/photos")
        .join(name)
}

/// `[3, h, w]` values on the 8-bit grid, so a PNG round trip is exact.
fn gradient(h: usize, w: usize) -> Vec<f32> {
    (0..3 * h * w)
        .map(|i| ((i * 37) % 256) as f32 / 255.0)
        .collect()
}

#[test]
fn png_round_trip_and_channels() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.png");
    let (h, w) = (4, 5);
    let data = gradient(h, w);
    image::save_png(&path, &data, &[3, h, w]).unwrap();
    let rgb = Image::open(&path, 3).unwrap();
    assert_eq!(rgb.shape(), [3, h, w]);
    assert_eq!(rgb.data(), &data[..]);
    // One channel: BT.601 luma of the same pixels.
    let gray = Image::open(&path, 1).unwrap();
    for i in 0..h * w {
        let want = 0.299 * data[i] + 0.587 * data[h * w + i] + 0.114 * data[2 * h * w + i];
        assert!((gray.data()[i] - want).abs() < 1e-6);
    }
    // A grayscale file asked for three channels repeats its channel.
    let gpath = dir.path().join("gray.png");
    gray.save_png(&gpath).unwrap();
    let back = Image::open(&gpath, 3).unwrap();
    let plane = &back.data()[..h * w];
    assert_eq!(&back.data()[h * w..2 * h * w], plane);
    assert_eq!(&back.data()[2 * h * w..], plane);
    // The same size: load is open.
    assert_eq!(image::load(&path, &[3, h, w]).unwrap(), data);
}

#[test]
fn resizing_keeps_values_in_range_and_constants_constant() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flat.png");
    image::save_png(&path, &[0.2; 3 * 30 * 40], &[3, 30, 40]).unwrap();
    let small = image::load(&path, &[3, 7, 9]).unwrap();
    assert_eq!(small.len(), 3 * 7 * 9);
    // 0.2 is stored as 51/255.
    assert!(
        small.iter().all(|&v| (v - 51.0 / 255.0).abs() < 1e-5),
        "{small:?}"
    );
    let big = image::load(&path, &[1, 64, 64]).unwrap();
    assert!(big.iter().all(|&v| (v - 51.0 / 255.0).abs() < 1e-5));
}

#[test]
fn photographs_load_at_any_input_shape() {
    let china = Image::open(photo("china.jpg"), 3).unwrap();
    assert_eq!(china.shape(), [3, 427, 640]);
    for shape in [[3, 32, 32], [1, 28, 28], [3, 224, 224]] {
        let x = image::load(photo("china.jpg"), &shape).unwrap();
        assert_eq!(x.len(), shape.iter().product::<usize>());
        assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
        let mean = x.iter().sum::<f32>() / x.len() as f32;
        assert!(mean > 0.2 && mean < 0.8, "{mean}");
    }
    // Shrinking averages: the mean brightness barely moves.
    let full: f32 = china.data().iter().sum::<f32>() / china.data().len() as f32;
    let tiny = image::load(photo("china.jpg"), &[3, 16, 16]).unwrap();
    let small: f32 = tiny.iter().sum::<f32>() / tiny.len() as f32;
    assert!((full - small).abs() < 0.01, "{full} vs {small}");
}

#[test]
fn bad_files_and_shapes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.png");
    let m = image::load(&missing, &[3, 8, 8]).unwrap_err().to_string();
    assert!(m.contains("missing.png"), "{m}");

    let text = dir.path().join("notes.png");
    std::fs::write(&text, "this is text").unwrap();
    let m = image::load(&text, &[3, 8, 8]).unwrap_err().to_string();
    assert!(
        m.contains("notes.png") && m.contains("not a PNG or JPEG"),
        "{m}"
    );

    let good = dir.path().join("good.png");
    image::save_png(&good, &gradient(8, 8), &[3, 8, 8]).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.png");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let m = image::load(&cut, &[3, 8, 8]).unwrap_err().to_string();
    assert!(m.contains("cut.png") && m.contains("cannot decode"), "{m}");

    for shape in [&[2, 8, 8][..], &[3, 0, 8], &[3, 8], &[1, 2, 3, 4]] {
        let m = image::load(&good, shape).unwrap_err().to_string();
        assert!(
            m.contains("must be [C, H, W] with C = 1 or 3"),
            "{shape:?}: {m}"
        );
    }
    assert!(Image::open(&good, 4).is_err());
    let m = image::save_png(dir.path().join("x.png"), &[0.0; 10], &[3, 2, 2])
        .unwrap_err()
        .to_string();
    assert!(m.contains("10 values") && m.contains("[3, 2, 2]"), "{m}");
    assert!(Image::new(vec![0.0; 11], &[3, 2, 2]).is_err());
}

#[test]
fn patches_are_pieces_of_the_image() {
    let (h, w) = (9, 11);
    let image = Image::new((0..3 * h * w).map(|v| v as f32).collect(), &[3, h, w]).unwrap();
    let p = patches(&image, 4, 5, 20, 3).unwrap();
    assert_eq!(p.len(), 20 * 3 * 4 * 5);
    for patch in p.chunks_exact(3 * 4 * 5) {
        // The top-left value gives the position; every value must follow.
        let (y, x) = (patch[0] as usize / w, patch[0] as usize % w);
        assert!(y + 4 <= h && x + 5 <= w);
        for c in 0..3 {
            for r in 0..4 {
                for q in 0..5 {
                    let want = (c * h * w + (y + r) * w + x + q) as f32;
                    assert_eq!(patch[c * 20 + r * 5 + q], want);
                }
            }
        }
    }
    assert_ne!(
        p,
        patches(&image, 4, 5, 20, 4).unwrap(),
        "another seed, other patches"
    );
    let m = patches(&image, 10, 5, 1, 0).unwrap_err().to_string();
    assert!(m.contains("10x5 patch does not fit a 9x11 image"), "{m}");
    assert!(patches(&image, 0, 5, 1, 0).is_err());
}
