//! PNG and JPEG images in and out: a network's input from a file, random
//! patches for whitening, PNG pictures of results.
//!
//! Images are `f32`, `[C, H, W]` (channels first, as networks take them),
//! values in `[0, 1]` (8-bit files are divided by 255, 16-bit by 65,535).
//! Decoding and resizing use the [`image`](https://docs.rs/image) crate
//! with only its PNG and JPEG codecs; the file's format is taken from its
//! first bytes, not its name.
//!
//! - **Channels.** One (grayscale) or three (RGB). A colour file asked for
//!   one channel becomes its luma `0.299 R + 0.587 G + 0.114 B` (ITU-R
//!   BT.601, what PIL's `convert("L")`, and so torchvision, computes); a
//!   grayscale file asked for three repeats its channel. Alpha is dropped.
//! - **Resizing** uses the triangle (bilinear) filter, whose support widens
//!   with the reduction factor, so shrinking a photograph averages the
//!   pixels it merges instead of aliasing (like PIL's `BILINEAR` with
//!   antialiasing). Values stay in `[0, 1]`.
//!
//! ```
//! use cnn_runtime::data::image;
//!
//! // A 3x40x60 colour picture written as PNG...
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("picture.png");
//! let pixels: Vec<f32> = (0..3 * 40 * 60).map(|i| (i % 60) as f32 / 59.0).collect();
//! image::save_png(&path, &pixels, &[3, 40, 60])?;
//!
//! // ...read back as LeNet-5's input: one channel, 28x28, values in [0, 1].
//! let x: Vec<f32> = image::load(&path, &[1, 28, 28])?;
//! assert_eq!(x.len(), 784);
//! assert!(x.iter().all(|v| (0.0..=1.0).contains(v)));
//! # Ok::<(), cnn_runtime::Error>(())
//! ```

use std::path::Path;
use std::string::ToString;
use std::vec::Vec;

use ::image::codecs::png::PngEncoder;
use ::image::imageops::FilterType;
use ::image::{ExtendedColorType, ImageEncoder, ImageFormat, Rgb32FImage};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dataset::shape_string;
use crate::Error;

/// An image in memory: `[C, H, W]`, `f32`.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    channels: usize,
    height: usize,
    width: usize,
    data: Vec<f32>,
}

fn shape_error(shape: &[usize], what: &str) -> Error {
    Error::Config {
        message: format!(
            "{what}: the image shape {} must be [C, H, W] with C = 1 or 3 and H, W > 0",
            shape_string(shape)
        ),
    }
}

/// `[C, H, W]` with `C` 1 or 3 and `H`, `W` > 0, or an error.
fn check_shape(shape: &[usize], what: &str) -> Result<[usize; 3], Error> {
    match *shape {
        [c @ (1 | 3), h, w]
            if h > 0 && w > 0 && h <= u32::MAX as usize && w <= u32::MAX as usize =>
        {
            Ok([c, h, w])
        }
        _ => Err(shape_error(shape, what)),
    }
}

impl Image {
    /// An image from `[C, H, W]` values (`C` 1 or 3).
    ///
    /// Errors ([`Error::Config`], [`Error::Data`]) if the shape is not
    /// `[1 or 3, H, W]` or `data` does not hold `C·H·W` values.
    pub fn new(data: Vec<f32>, shape: &[usize]) -> Result<Image, Error> {
        let [channels, height, width] = check_shape(shape, "Image::new")?;
        if data.len() != channels * height * width {
            return Err(Error::Data {
                path: None,
                message: format!(
                    "Image::new: {} values given for the shape {} ({} needed)",
                    data.len(),
                    shape_string(shape),
                    channels * height * width
                ),
            });
        }
        Ok(Image {
            channels,
            height,
            width,
            data,
        })
    }

    /// Reads a PNG or JPEG file at its own size, with `channels` (1 or 3)
    /// channels (see the [module documentation](self)).
    ///
    /// Errors: [`Error::Io`] if the file cannot be read, [`Error::Data`]
    /// naming the file if it is not a PNG or JPEG image or is corrupt,
    /// [`Error::Config`] if `channels` is not 1 or 3.
    pub fn open(path: impl AsRef<Path>, channels: usize) -> Result<Image, Error> {
        let path = path.as_ref();
        if channels != 1 && channels != 3 {
            return Err(shape_error(&[channels, 1, 1], "Image::open"));
        }
        let rgb = decode(path)?;
        Ok(from_rgb(&rgb, channels))
    }

    /// `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }

    /// The values, `[C, H, W]`.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The values, by value.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// The image resized to `height x width` with the triangle filter.
    pub fn resize(&self, height: usize, width: usize) -> Result<Image, Error> {
        check_shape(&[self.channels, height, width], "Image::resize")?;
        if (height, width) == (self.height, self.width) {
            return Ok(self.clone());
        }
        let (h, w) = (self.height, self.width);
        // Resize every channel as a gray plane of an RGB buffer, 3 at a time.
        let mut out = Vec::with_capacity(self.channels * height * width);
        for group in self.data.chunks(3 * h * w) {
            let planes = group.len() / (h * w);
            let mut buf = Rgb32FImage::new(w as u32, h as u32);
            for (i, px) in buf.pixels_mut().enumerate() {
                for c in 0..planes {
                    px.0[c] = group[c * h * w + i];
                }
            }
            let small =
                ::image::imageops::resize(&buf, width as u32, height as u32, FilterType::Triangle);
            for c in 0..planes {
                out.extend(small.pixels().map(|p| p.0[c].clamp(0.0, 1.0)));
            }
        }
        Ok(Image {
            channels: self.channels,
            height,
            width,
            data: out,
        })
    }

    /// Writes the image as an 8-bit PNG (gray or RGB), values clamped to
    /// `[0, 1]`; atomically (a temporary file renamed over `path`).
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        save_png(path, &self.data, &self.shape())
    }
}

/// The largest image file read (1 GiB). Decoding has the `image` crate's
/// own limits (512 MiB of pixels by default).
const MAX_FILE_BYTES: u64 = 1 << 30;

/// Decodes a file to RGB, `f32` in `[0, 1]`; the format from the file's
/// signature.
fn decode(path: &Path) -> Result<Rgb32FImage, Error> {
    let bad = |message: std::string::String| Error::Data {
        path: Some(path.to_path_buf()),
        message,
    };
    let bytes = crate::io::read_limited(path, MAX_FILE_BYTES, "PNG or JPEG image")?;
    let format = match ::image::guess_format(&bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg)) => f,
        Ok(other) => {
            return Err(bad(format!(
                "a {other:?} image; only PNG and JPEG are read"
            )))
        }
        Err(_) => {
            return Err(bad(
                "not a PNG or JPEG image (unrecognised file signature)".into()
            ))
        }
    };
    let image = ::image::load_from_memory_with_format(&bytes, format)
        .map_err(|e| bad(format!("cannot decode the image: {e}")))?;
    Ok(image.into_rgb32f())
}

/// `[C, H, W]` planes from an RGB image: RGB, or BT.601 luma.
fn from_rgb(rgb: &Rgb32FImage, channels: usize) -> Image {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let mut data = vec![0.0f32; channels * h * w];
    for (i, px) in rgb.pixels().enumerate() {
        let [r, g, b] = px.0;
        if channels == 1 {
            data[i] = (0.299 * r + 0.587 * g + 0.114 * b).clamp(0.0, 1.0);
        } else {
            data[i] = r;
            data[h * w + i] = g;
            data[2 * h * w + i] = b;
        }
    }
    Image {
        channels,
        height: h,
        width: w,
        data,
    }
}

/// Loads a PNG or JPEG file as a network input of `shape` `[C, H, W]`
/// (`C` 1 or 3): converted to `C` channels and resized to `H x W` (see the
/// [module documentation](self)); values in `[0, 1]`.
///
/// Errors: [`Error::Config`] for a shape that is not `[1 or 3, H, W]`;
/// otherwise as [`Image::open`], naming the file.
pub fn load(path: impl AsRef<Path>, shape: &[usize]) -> Result<Vec<f32>, Error> {
    let [c, h, w] = check_shape(shape, "image::load")?;
    Ok(Image::open(path, c)?.resize(h, w)?.into_data())
}

/// Writes `data`, `[C, H, W]` with `C` 1 or 3, as an 8-bit PNG, values
/// clamped to `[0, 1]` (NaN becomes 0); atomically.
///
/// Errors: [`Error::Config`] / [`Error::Data`] for a bad shape or length,
/// [`Error::Io`] if the file cannot be written.
pub fn save_png(path: impl AsRef<Path>, data: &[f32], shape: &[usize]) -> Result<(), Error> {
    let path = path.as_ref();
    let [c, h, w] = check_shape(shape, "image::save_png")?;
    if data.len() != c * h * w {
        return Err(Error::Data {
            path: Some(path.to_path_buf()),
            message: format!(
                "image::save_png: {} values given for the shape {}",
                data.len(),
                shape_string(shape)
            ),
        });
    }
    let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8; // NaN clamps to NaN, casts to 0
    let mut pixels = Vec::with_capacity(c * h * w);
    for i in 0..h * w {
        for ch in 0..c {
            pixels.push(byte(data[ch * h * w + i]));
        }
    }
    let mut png = Vec::new();
    let color = if c == 1 {
        ExtendedColorType::L8
    } else {
        ExtendedColorType::Rgb8
    };
    PngEncoder::new(&mut png)
        .write_image(&pixels, w as u32, h as u32, color)
        .map_err(|e| Error::Data {
            path: Some(path.to_path_buf()),
            message: e.to_string(),
        })?;
    crate::io::write_atomic(path, &png)
}

/// `count` random `height x width` patches of `image`, `[count, C, height,
/// width]`: positions drawn uniformly (with replacement) from every place
/// the patch fits, reproducibly from `seed` (ChaCha8).
///
/// ```
/// use cnn_runtime::data::{patches, Image};
///
/// let image = Image::new((0..3 * 8 * 10).map(|v| v as f32).collect(), &[3, 8, 10])?;
/// let p = patches(&image, 4, 4, 5, 7)?;
/// assert_eq!(p.len(), 5 * 3 * 4 * 4);
/// assert_eq!(p, patches(&image, 4, 4, 5, 7)?); // same seed, same patches
/// # Ok::<(), cnn_runtime::Error>(())
/// ```
///
/// Errors ([`Error::Config`]) if the patch is empty or larger than the
/// image.
pub fn patches(
    image: &Image,
    height: usize,
    width: usize,
    count: usize,
    seed: u64,
) -> Result<Vec<f32>, Error> {
    let [c, h, w] = image.shape();
    if height == 0 || width == 0 || height > h || width > w {
        return Err(Error::Config {
            message: format!(
                "patches: a {height}x{width} patch does not fit a {h}x{w} image (shape {})",
                shape_string(&image.shape())
            ),
        });
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(count * c * height * width);
    for _ in 0..count {
        let y = rng.random_range(0..=h - height);
        let x = rng.random_range(0..=w - width);
        for ch in 0..c {
            for r in 0..height {
                let start = ch * h * w + (y + r) * w + x;
                out.extend_from_slice(&image.data[start..start + width]);
            }
        }
    }
    Ok(out)
}
