//! IDX files, the format MNIST (and Fashion-MNIST, EMNIST, ...) ships in,
//! gzip-compressed or plain.
//!
//! An IDX file is a 4-byte magic number `0x0000TTDD` (two zero bytes, a
//! type code `TT` and the number of dimensions `DD`), then each dimension as
//! a big-endian `u32`, then the values, big-endian, in row-major order.
//! Type codes: `0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32,
//! `0x0E` f64. A file that starts with the gzip magic `1f 8b` is
//! decompressed first, whatever its name.

use std::path::Path;

use super::dataset::{Dataset, Targets};
use crate::error::Error;

mod array;
mod parse;

pub use array::{IdxArray, IdxData};

impl IdxArray {
    /// Parses an IDX file's bytes, gzip-compressed or plain (see
    /// [`read_idx`]). Errors are [`Error::Data`] without a path.
    ///
    /// ```
    /// use cnn_runtime::data::{IdxArray, IdxData};
    ///
    /// // Magic 0x00000801 (u8, 1 dimension), 3 items: 7 2 1.
    /// let bytes = [0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1];
    /// let array = IdxArray::from_bytes(&bytes)?;
    /// assert_eq!(array.dims, vec![3]);
    /// assert_eq!(array.data, IdxData::U8(vec![7, 2, 1]));
    /// assert_eq!(array.magic(), 0x0000_0801);
    /// # Ok::<(), cnn_runtime::Error>(())
    /// ```
    pub fn from_bytes(bytes: &[u8]) -> Result<IdxArray, Error> {
        parse::parse(std::io::Cursor::new(bytes), bytes.len() as u64, None)
    }
}

/// Reads an IDX file, gzip-compressed (detected by the `1f 8b` magic, not
/// by the name) or plain.
///
/// Reading is bounded by the header: the data's length is checked against
/// the dimensions before anything of that size is allocated (for a plain
/// file from its length; for a gzip file by decompressing once without
/// keeping anything, then again into a buffer of exactly the declared
/// size), so a small file that declares a huge array is refused at the
/// cost of a few kilobytes.
///
/// Errors: [`Error::Io`] if the file cannot be read; [`Error::Data`], naming
/// the file, if it is not a regular file (a FIFO or a directory), the gzip
/// stream is corrupt or truncated, the magic number is wrong (the message
/// shows the number found and the form expected), the header is truncated,
/// or the data is shorter or longer than the dimensions say.
///
/// ```no_run
/// use std::path::Path;
/// use cnn_runtime::data::{read_idx, IdxData};
///
/// let labels = read_idx(Path::new("data/mnist/train-labels-idx1-ubyte.gz"))?;
/// if let IdxData::U8(labels) = &labels.data {
///     println!("{} labels, the first is {}", labels.len(), labels[0]);
/// }
/// # Ok::<(), cnn_runtime::Error>(())
/// ```
pub fn read_idx(path: &Path) -> Result<IdxArray, Error> {
    let (file, len) = crate::io::open_regular(path)?;
    parse::parse(file, len, Some(path))
}

/// Checks that `array` (read from `path`) is u8 with `ndims` dimensions.
fn expect_u8(array: &IdxArray, path: &Path, ndims: usize, kind: &str) -> Result<(), Error> {
    if array.dims.len() == ndims && matches!(array.data, IdxData::U8(_)) {
        return Ok(());
    }
    let expected = (0x08 << 8) | ndims as u32;
    Err(Error::Data {
        path: Some(path.to_path_buf()),
        message: format!(
            "wrong magic number 0x{:08X} ({}, {} dimension{}): expected 0x{expected:08X} \
             (u8, {ndims} dimension{}) for {kind}",
            array.magic(),
            array.data.type_name(),
            array.dims.len(),
            if array.dims.len() == 1 { "" } else { "s" },
            if ndims == 1 { "" } else { "s" },
        ),
    })
}

/// Loads an image classification dataset from a pair of IDX files as
/// MNIST ships them: `images` u8 `[n, rows, cols]` and `labels` u8 `[n]`,
/// each gzip-compressed or plain.
///
/// Pixels are scaled to `[0, 1]` (`p / 255`); the sample shape is
/// `[1, rows, cols]`.
///
/// Errors ([`Error::Data`] naming the file unless noted): a file that
/// cannot be read ([`Error::Io`]); one that is not valid IDX (see
/// [`read_idx`]); an image file that is not u8 with 3 dimensions or a label
/// file that is not u8 with 1 dimension (the message gives the magic number
/// found and the one expected); image and label counts that differ (the
/// message names both files and both counts); no images, or images with a
/// zero dimension; a label `>= classes` (the message gives the value and its
/// index); `classes` not in `1..=`[`MAX_CLASSES`](crate::data::MAX_CLASSES)
/// ([`Error::Config`]).
///
/// ```no_run
/// use std::path::Path;
/// use cnn_runtime::data::load_idx;
///
/// let train = load_idx(
///     Path::new("data/mnist/train-images-idx3-ubyte.gz"),
///     Path::new("data/mnist/train-labels-idx1-ubyte.gz"),
///     10,
/// )?;
/// assert_eq!(train.sample_shape(), &[1, 28, 28]);
/// # Ok::<(), cnn_runtime::Error>(())
/// ```
pub fn load_idx(images: &Path, labels: &Path, classes: usize) -> Result<Dataset, Error> {
    if classes == 0 || classes > super::dataset::MAX_CLASSES {
        return Err(Error::Config {
            message: format!(
                "loading {} with {classes} classes: the number of classes must be in [1, {}]",
                labels.display(),
                super::dataset::MAX_CLASSES
            ),
        });
    }
    let image_array = read_idx(images)?;
    expect_u8(&image_array, images, 3, "images (count x rows x columns)")?;
    let label_array = read_idx(labels)?;
    expect_u8(&label_array, labels, 1, "labels")?;
    let image_error = |message: String| Error::Data {
        path: Some(images.to_path_buf()),
        message,
    };
    let label_error = |message: String| Error::Data {
        path: Some(labels.to_path_buf()),
        message,
    };

    let (n, rows, cols) = (
        image_array.dims[0],
        image_array.dims[1],
        image_array.dims[2],
    );
    let n_labels = label_array.dims[0];
    if n != n_labels {
        return Err(label_error(format!(
            "the label file holds {n_labels} labels, but the image file {} holds {n} images",
            images.display()
        )));
    }
    if n == 0 {
        return Err(image_error(
            "the dataset is empty: the file holds 0 images".into(),
        ));
    }
    if rows == 0 || cols == 0 {
        return Err(image_error(format!(
            "the images have no pixels ({rows} x {cols})"
        )));
    }
    let (IdxData::U8(pixels), IdxData::U8(label_bytes)) = (image_array.data, label_array.data)
    else {
        unreachable!("checked by expect_u8");
    };
    if let Some((index, &label)) = label_bytes
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= classes)
    {
        return Err(label_error(format!(
            "label {label} at index {index} is out of range for {classes} classes \
             (labels must be in 0..{classes})"
        )));
    }
    let inputs: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let labels: Vec<usize> = label_bytes.iter().map(|&l| usize::from(l)).collect();
    Ok(Dataset::from_checked_parts(
        inputs,
        vec![1, rows, cols],
        Targets::Classes { labels, classes },
    ))
}

/// The MNIST digits (and other datasets in its file layout).
pub mod mnist {
    use std::path::{Path, PathBuf};

    use super::load_idx;
    use crate::data::dataset::Dataset;
    use crate::error::Error;

    /// MNIST has ten classes, the digits 0-9.
    pub const CLASSES: usize = 10;

    /// Loads split `split` from `dir`: the files
    /// `{split}-images-idx3-ubyte[.gz]` and `{split}-labels-idx1-ubyte[.gz]`
    /// (the uncompressed name is tried first), 10 classes, pixels scaled to
    /// `[0, 1]`, samples `[1, 28, 28]`. The full MNIST names its splits
    /// `train` and `t10k`; this repository's subset in `data/mnist` has
    /// `train` (8,000 digits) and `t2k` (2,000).
    ///
    /// Errors as [`load_idx`]; [`Error::Data`] naming `dir` if neither name
    /// of a file exists there.
    ///
    /// ```no_run
    /// use std::path::Path;
    ///
    /// let train = cnn_runtime::data::mnist::load(Path::new("data/mnist"), "train")?;
    /// let test = cnn_runtime::data::mnist::load(Path::new("data/mnist"), "t2k")?;
    /// println!("{} training and {} test digits", train.len(), test.len());
    /// # Ok::<(), cnn_runtime::Error>(())
    /// ```
    pub fn load(dir: &Path, split: &str) -> Result<Dataset, Error> {
        if split.is_empty() || split.contains(['/', '\\']) {
            return Err(Error::Config {
                message: format!(
                    "`{split}` is not an MNIST split name (e.g. `train`, `t10k`, `t2k`)"
                ),
            });
        }
        let images = find(dir, &format!("{split}-images-idx3-ubyte"), split)?;
        let labels = find(dir, &format!("{split}-labels-idx1-ubyte"), split)?;
        load_idx(&images, &labels, CLASSES)
    }

    fn find(dir: &Path, name: &str, split: &str) -> Result<PathBuf, Error> {
        let plain = dir.join(name);
        if plain.is_file() {
            return Ok(plain);
        }
        let gz = dir.join(format!("{name}.gz"));
        if gz.is_file() {
            return Ok(gz);
        }
        Err(Error::Data {
            path: Some(dir.to_path_buf()),
            message: format!("no MNIST split `{split}` here: neither {name} nor {name}.gz exists"),
        })
    }
}

#[cfg(test)]
mod tests;
