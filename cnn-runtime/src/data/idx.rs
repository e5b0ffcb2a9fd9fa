//! IDX files, the format MNIST (and Fashion-MNIST, EMNIST, ...) ships in,
//! gzip-compressed or plain.
//!
//! An IDX file is a 4-byte magic number `0x0000TTDD` (two zero bytes, a
//! type code `TT` and the number of dimensions `DD`), then each dimension as
//! a big-endian `u32`, then the values, big-endian, in row-major order.
//! Type codes: `0x08` u8, `0x09` i8, `0x0B` i16, `0x0C` i32, `0x0D` f32,
//! `0x0E` f64. A file that starts with the gzip magic `1f 8b` is
//! decompressed first, whatever its name.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::dataset::{shape_string, Dataset, Targets};
use crate::error::Error;

/// The values of an IDX file, in the file's element type.
#[derive(Clone, Debug, PartialEq)]
pub enum IdxData {
    /// Type code `0x08`.
    U8(Vec<u8>),
    /// Type code `0x09`.
    I8(Vec<i8>),
    /// Type code `0x0B`.
    I16(Vec<i16>),
    /// Type code `0x0C`.
    I32(Vec<i32>),
    /// Type code `0x0D`.
    F32(Vec<f32>),
    /// Type code `0x0E`.
    F64(Vec<f64>),
}

impl IdxData {
    /// The number of values.
    pub fn len(&self) -> usize {
        match self {
            IdxData::U8(v) => v.len(),
            IdxData::I8(v) => v.len(),
            IdxData::I16(v) => v.len(),
            IdxData::I32(v) => v.len(),
            IdxData::F32(v) => v.len(),
            IdxData::F64(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The IDX type code: `0x08` for u8, ... `0x0E` for f64.
    pub fn type_code(&self) -> u8 {
        match self {
            IdxData::U8(_) => 0x08,
            IdxData::I8(_) => 0x09,
            IdxData::I16(_) => 0x0B,
            IdxData::I32(_) => 0x0C,
            IdxData::F32(_) => 0x0D,
            IdxData::F64(_) => 0x0E,
        }
    }

    /// The element type's name: `u8`, `i8`, `i16`, `i32`, `f32` or `f64`.
    pub fn type_name(&self) -> &'static str {
        type_name(self.type_code()).unwrap_or("?")
    }
}

/// The contents of an IDX file: its dimensions and its values, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct IdxArray {
    /// The dimensions, e.g. `[60000, 28, 28]` for MNIST's training images.
    pub dims: Vec<usize>,
    /// The values; `data.len()` is the product of `dims`.
    pub data: IdxData,
}

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
        parse(bytes, None)
    }

    /// The magic number a file of this array starts with, `0x0000TTDD`.
    pub fn magic(&self) -> u32 {
        (u32::from(self.data.type_code()) << 8) | self.dims.len() as u32
    }
}

fn type_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x08 => "u8",
        0x09 => "i8",
        0x0B => "i16",
        0x0C => "i32",
        0x0D => "f32",
        0x0E => "f64",
        _ => return None,
    })
}

fn type_size(code: u8) -> usize {
    match code {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        _ => 8,
    }
}

const TYPE_LIST: &str = "0x08 (u8), 0x09 (i8), 0x0B (i16), 0x0C (i32), 0x0D (f32), 0x0E (f64)";

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads an IDX file, gzip-compressed (detected by the `1f 8b` magic, not
/// by the name) or plain.
///
/// Errors: [`Error::Io`] if the file cannot be read; [`Error::Data`], naming
/// the file, if the gzip stream is corrupt or truncated, the magic number is
/// wrong (the message shows the number found and the form expected), the
/// header is truncated, or the data is shorter or longer than the
/// dimensions say.
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
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    parse(&bytes, Some(path))
}

fn parse(bytes: &[u8], path: Option<&Path>) -> Result<IdxArray, Error> {
    let error = |message: String| Error::Data {
        path: path.map(Path::to_path_buf),
        message,
    };
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut raw = Vec::new();
        MultiGzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .map_err(|e| error(format!("the gzip data is corrupt or truncated ({e})")))?;
        parse_raw(&raw, "the decompressed data", error)
    } else {
        parse_raw(bytes, "the file", error)
    }
}

fn parse_raw(bytes: &[u8], what: &str, error: impl Fn(String) -> Error) -> Result<IdxArray, Error> {
    if bytes.len() < 4 {
        return Err(error(format!(
            "truncated header: {what} is {} bytes long, an IDX header needs at least 4 \
             (the magic number)",
            bytes.len()
        )));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(error(format!(
            "wrong magic number 0x{magic:08X}: expected an IDX magic number 0x0000TTDD (two zero \
             bytes, a type code TT and the number of dimensions DD), e.g. 0x00000803 for \
             MNIST images or 0x00000801 for labels"
        )));
    }
    let code = bytes[2];
    let Some(type_name) = type_name(code) else {
        return Err(error(format!(
            "wrong magic number 0x{magic:08X}: unknown type code 0x{code:02X}, expected one of \
             {TYPE_LIST}"
        )));
    };
    let ndims = bytes[3] as usize;
    if ndims == 0 {
        return Err(error(format!(
            "wrong magic number 0x{magic:08X}: it declares 0 dimensions, expected at least 1"
        )));
    }
    let header = 4 + 4 * ndims;
    if bytes.len() < header {
        return Err(error(format!(
            "truncated header: {ndims} dimensions need a {header}-byte header, {what} is only {} \
             bytes long",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let size = type_size(code);
    let need = dims
        .iter()
        .try_fold(size, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            error(format!(
                "the dimensions {} are too large",
                shape_string(&dims)
            ))
        })?;
    let body = &bytes[header..];
    if body.len() != need {
        let dims_text = shape_string(&dims);
        let have = body.len();
        return Err(error(if have < need {
            format!(
                "truncated data: dimensions {dims_text} of {type_name} need {need} bytes after \
                 the header, {what} has only {have}"
            )
        } else {
            format!(
                "the dimensions do not match the data length: {dims_text} of {type_name} need \
                 {need} bytes after the header, {what} has {have} ({} too many)",
                have - need
            )
        }));
    }
    let data = match code {
        0x08 => IdxData::U8(body.to_vec()),
        0x09 => IdxData::I8(body.iter().map(|&b| b as i8).collect()),
        0x0B => IdxData::I16(
            body.chunks_exact(2)
                .map(|c| i16::from_be_bytes(be(c)))
                .collect(),
        ),
        0x0C => IdxData::I32(
            body.chunks_exact(4)
                .map(|c| i32::from_be_bytes(be(c)))
                .collect(),
        ),
        0x0D => IdxData::F32(
            body.chunks_exact(4)
                .map(|c| f32::from_be_bytes(be(c)))
                .collect(),
        ),
        _ => IdxData::F64(
            body.chunks_exact(8)
                .map(|c| f64::from_be_bytes(be(c)))
                .collect(),
        ),
    };
    Ok(IdxArray { dims, data })
}

fn be<const N: usize>(chunk: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(chunk);
    out
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
/// index); `classes == 0` ([`Error::Config`]).
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
    if classes == 0 {
        return Err(Error::Config {
            message: format!(
                "loading {} with 0 classes: a classification dataset needs at least one",
                labels.display()
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
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    use flate2::write::GzEncoder;
    use flate2::Compression;

    /// An IDX file: magic, dims, payload (already big-endian).
    fn idx(code: u8, dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, code, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn data_message(e: Error, path: Option<&Path>) -> String {
        match &e {
            Error::Data { path: p, .. } => assert_eq!(p.as_deref(), path, "{e}"),
            other => panic!("expected Error::Data, got {other:?}"),
        }
        e.to_string()
    }

    /// 3 images of 2x2 and their labels.
    fn images() -> Vec<u8> {
        idx(
            0x08,
            &[3, 2, 2],
            &[0, 255, 51, 102, 1, 2, 3, 4, 255, 255, 0, 0],
        )
    }

    fn labels(values: &[u8]) -> Vec<u8> {
        idx(0x08, &[values.len() as u32], values)
    }

    #[test]
    fn parses_every_type() {
        let a = IdxArray::from_bytes(&idx(0x08, &[2, 3], &[1, 2, 3, 4, 5, 6])).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, IdxData::U8(vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(a.magic(), 0x0802);
        assert_eq!(a.data.type_name(), "u8");

        let a = IdxArray::from_bytes(&idx(0x09, &[2], &[0xFF, 0x7F])).unwrap();
        assert_eq!(a.data, IdxData::I8(vec![-1, 127]));

        let a = IdxArray::from_bytes(&idx(0x0B, &[2], &[0x01, 0x02, 0xFF, 0xFE])).unwrap();
        assert_eq!(a.data, IdxData::I16(vec![0x0102, -2]));

        let mut p = Vec::new();
        p.extend_from_slice(&(-5i32).to_be_bytes());
        p.extend_from_slice(&70000i32.to_be_bytes());
        let a = IdxArray::from_bytes(&idx(0x0C, &[2, 1], &p)).unwrap();
        assert_eq!(a.data, IdxData::I32(vec![-5, 70000]));
        assert_eq!(a.data.type_name(), "i32");

        let p: Vec<u8> = [1.5f32, -0.25]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let a = IdxArray::from_bytes(&idx(0x0D, &[2], &p)).unwrap();
        assert_eq!(a.data, IdxData::F32(vec![1.5, -0.25]));

        let p: Vec<u8> = [1e300f64, -3.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let a = IdxArray::from_bytes(&idx(0x0E, &[1, 2], &p)).unwrap();
        assert_eq!(a.data, IdxData::F64(vec![1e300, -3.0]));
        assert_eq!(a.data.len(), 2);
        assert_eq!(a.magic(), 0x0E02);

        // A zero dimension is valid IDX: no values.
        let a = IdxArray::from_bytes(&idx(0x08, &[0, 28, 28], &[])).unwrap();
        assert!(a.data.is_empty());
    }

    #[test]
    fn reads_plain_and_gzipped_files() {
        let dir = tempfile::tempdir().unwrap();
        let raw = images();
        let plain = write(dir.path(), "plain-idx3-ubyte", &raw);
        let gz = write(dir.path(), "gz-idx3-ubyte.gz", &gzip(&raw));
        // Detection is by content, not name.
        let sneaky = write(dir.path(), "gzipped-but-named-plain", &gzip(&raw));
        let a = read_idx(&plain).unwrap();
        assert_eq!(a.dims, vec![3, 2, 2]);
        assert_eq!(read_idx(&gz).unwrap(), a);
        assert_eq!(read_idx(&sneaky).unwrap(), a);
        assert_eq!(IdxArray::from_bytes(&gzip(&raw)).unwrap(), a);
    }

    #[test]
    fn missing_file_is_an_io_error_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope-idx1-ubyte");
        let e = read_idx(&path).unwrap_err();
        assert!(
            matches!(&e, Error::Io { path: p, .. } if *p == path),
            "{e:?}"
        );
        assert!(e.to_string().contains("nope-idx1-ubyte"));
    }

    #[test]
    fn header_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();

        // Wrong magic: what was found and what is expected.
        let path = write(d, "bad-magic", &[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0]);
        let m = data_message(read_idx(&path).unwrap_err(), Some(&path));
        assert!(m.contains("bad-magic"), "{m}");
        assert!(m.contains("wrong magic number 0x12345678"), "{m}");
        assert!(m.contains("0x0000TTDD") && m.contains("0x00000803"), "{m}");

        // Unknown type code.
        let m = data_message(
            IdxArray::from_bytes(&[0, 0, 0x07, 1, 0, 0, 0, 0]).unwrap_err(),
            None,
        );
        assert!(
            m.contains("0x00000701") && m.contains("type code 0x07"),
            "{m}"
        );
        assert!(m.contains("0x08 (u8)"), "{m}");

        // No dimensions.
        let m = data_message(IdxArray::from_bytes(&[0, 0, 8, 0]).unwrap_err(), None);
        assert!(m.contains("0 dimensions"), "{m}");

        // Shorter than the magic number, plain and gzipped.
        for (name, bytes) in [("short", vec![0, 0, 8]), ("short.gz", gzip(&[0, 0]))] {
            let path = write(d, name, &bytes);
            let m = data_message(read_idx(&path).unwrap_err(), Some(&path));
            assert!(m.contains(name) && m.contains("truncated header"), "{m}");
        }
        let m = data_message(IdxArray::from_bytes(&[]).unwrap_err(), None);
        assert!(m.contains("0 bytes long"), "{m}");

        // Magic fine, dimensions cut off.
        let path = write(d, "short-dims", &[0, 0, 8, 3, 0, 0, 0, 1, 0, 0]);
        let m = data_message(read_idx(&path).unwrap_err(), Some(&path));
        assert!(
            m.contains("truncated header") && m.contains("16-byte header"),
            "{m}"
        );
        assert!(m.contains("10 bytes long"), "{m}");

        // Dimensions whose byte count overflows.
        let huge = idx(0x0E, &[u32::MAX, u32::MAX, u32::MAX], &[]);
        let m = data_message(IdxArray::from_bytes(&huge).unwrap_err(), None);
        assert!(m.contains("too large"), "{m}");
    }

    #[test]
    fn data_length_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let full = images();

        // Truncated, plain.
        let path = write(d, "cut-idx3-ubyte", &full[..full.len() - 5]);
        let m = data_message(read_idx(&path).unwrap_err(), Some(&path));
        assert!(
            m.contains("cut-idx3-ubyte") && m.contains("truncated data"),
            "{m}"
        );
        assert!(
            m.contains("[3, 2, 2] of u8 need 12 bytes") && m.contains("only 7"),
            "{m}"
        );

        // Truncated inside the gzip stream.
        let gz = gzip(&full);
        let path = write(d, "cut-idx3-ubyte.gz", &gz[..gz.len() / 2]);
        let m = data_message(read_idx(&path).unwrap_err(), Some(&path));
        assert!(
            m.contains("cut-idx3-ubyte.gz") && m.contains("gzip data is corrupt"),
            "{m}"
        );

        // A complete gzip stream of truncated IDX data.
        let path = write(d, "cut2-idx3-ubyte.gz", &gzip(&full[..full.len() - 1]));
        let m = data_message(read_idx(&path).unwrap_err(), Some(&path));
        assert!(
            m.contains("truncated data") && m.contains("decompressed"),
            "{m}"
        );

        // Longer than the dimensions say.
        let mut long = full.clone();
        long.extend_from_slice(&[9, 9]);
        let path = write(d, "long-idx3-ubyte", &long);
        let m = data_message(read_idx(&path).unwrap_err(), Some(&path));
        assert!(
            m.contains("do not match the data length") && m.contains("2 too many"),
            "{m}"
        );

        // Wider types count bytes, not values.
        let m = data_message(
            IdxArray::from_bytes(&idx(0x0C, &[2], &[0; 7])).unwrap_err(),
            None,
        );
        assert!(
            m.contains("[2] of i32 need 8 bytes") && m.contains("only 7"),
            "{m}"
        );
    }

    #[test]
    fn load_idx_scales_and_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let img = write(dir.path(), "i-idx3-ubyte.gz", &gzip(&images()));
        let lab = write(dir.path(), "l-idx1-ubyte", &labels(&[2, 0, 9]));
        let data = load_idx(&img, &lab, 10).unwrap();
        assert_eq!(data.len(), 3);
        assert_eq!(data.sample_shape(), &[1, 2, 2]);
        assert_eq!(data.input(0), &[0.0, 1.0, 0.2, 0.4]);
        assert_eq!(data.input(2), &[1.0, 1.0, 0.0, 0.0]);
        assert_eq!(data.labels(), Some(&[2, 0, 9][..]));
        assert_eq!(data.classes(), Some(10));
    }

    #[test]
    fn load_idx_errors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let img = write(d, "img-idx3-ubyte", &images());
        let lab = write(d, "lab-idx1-ubyte", &labels(&[1, 2, 3]));

        // Files swapped: the magic numbers say so.
        let m = data_message(load_idx(&lab, &img, 10).unwrap_err(), Some(&lab));
        assert!(m.contains("lab-idx1-ubyte"), "{m}");
        assert!(
            m.contains("wrong magic number 0x00000801 (u8, 1 dimension)"),
            "{m}"
        );
        assert!(m.contains("expected 0x00000803 (u8, 3 dimensions)"), "{m}");
        let wrong_type = write(d, "f32-labels", &idx(0x0D, &[1], &[0; 4]));
        let m = data_message(
            load_idx(&img, &wrong_type, 10).unwrap_err(),
            Some(&wrong_type),
        );
        assert!(
            m.contains("0x00000D01 (f32, 1 dimension)") && m.contains("0x00000801"),
            "{m}"
        );

        // Counts differ: both files, both counts.
        let two = write(d, "two-idx1-ubyte", &labels(&[1, 2]));
        let m = data_message(load_idx(&img, &two, 10).unwrap_err(), Some(&two));
        assert!(
            m.contains("two-idx1-ubyte") && m.contains("img-idx3-ubyte"),
            "{m}"
        );
        assert!(m.contains("2 labels") && m.contains("3 images"), "{m}");

        // A label out of range: value, index, file.
        let bad = write(d, "bad-idx1-ubyte", &labels(&[1, 2, 10]));
        let m = data_message(load_idx(&img, &bad, 10).unwrap_err(), Some(&bad));
        assert!(
            m.contains("bad-idx1-ubyte") && m.contains("label 10 at index 2"),
            "{m}"
        );
        assert!(m.contains("10 classes"), "{m}");
        let m = data_message(load_idx(&img, &lab, 3).unwrap_err(), Some(&lab));
        assert!(m.contains("label 3 at index 2"), "{m}");

        // Empty.
        let no_img = write(d, "none-idx3-ubyte", &idx(0x08, &[0, 28, 28], &[]));
        let no_lab = write(d, "none-idx1-ubyte", &labels(&[]));
        let m = data_message(load_idx(&no_img, &no_lab, 10).unwrap_err(), Some(&no_img));
        assert!(m.contains("empty") && m.contains("none-idx3-ubyte"), "{m}");

        // Images without pixels.
        let flat = write(d, "flat-idx3-ubyte", &idx(0x08, &[3, 0, 28], &[]));
        let m = data_message(load_idx(&flat, &lab, 10).unwrap_err(), Some(&flat));
        assert!(m.contains("no pixels"), "{m}");

        // No classes.
        let e = load_idx(&img, &lab, 0).unwrap_err();
        assert!(matches!(e, Error::Config { .. }), "{e:?}");

        // A malformed file is reported as such, with its name.
        let junk = write(d, "junk-idx1-ubyte", b"hello world");
        let m = data_message(load_idx(&img, &junk, 10).unwrap_err(), Some(&junk));
        assert!(
            m.contains("junk-idx1-ubyte") && m.contains("wrong magic number 0x68656C6C"),
            "{m}"
        );
    }

    #[test]
    fn mnist_load_finds_plain_or_gzipped_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "train-images-idx3-ubyte.gz", &gzip(&images()));
        write(d, "train-labels-idx1-ubyte", &labels(&[0, 1, 9]));
        let data = mnist::load(d, "train").unwrap();
        assert_eq!(data.labels(), Some(&[0, 1, 9][..]));
        assert_eq!(data.classes(), Some(mnist::CLASSES));

        let e = mnist::load(d, "t10k").unwrap_err();
        let m = data_message(e, Some(d));
        assert!(
            m.contains("t10k-images-idx3-ubyte.gz") && m.contains("`t10k`"),
            "{m}"
        );
        assert!(matches!(
            mnist::load(d, "").unwrap_err(),
            Error::Config { .. }
        ));
        assert!(matches!(
            mnist::load(d, "../x").unwrap_err(),
            Error::Config { .. }
        ));

        // Labels out of MNIST's range.
        write(d, "odd-images-idx3-ubyte", &images());
        let odd = write(d, "odd-labels-idx1-ubyte", &labels(&[0, 10, 1]));
        let m = data_message(mnist::load(d, "odd").unwrap_err(), Some(&odd));
        assert!(m.contains("label 10 at index 1"), "{m}");
    }
}
