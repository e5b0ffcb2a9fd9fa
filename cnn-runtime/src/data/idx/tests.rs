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
