//! Parsing IDX data from a file or bytes, bounded by the header: nothing
//! the size of the declared array is allocated before the data is known to
//! have exactly that size.

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::vec::Vec;

use flate2::read::MultiGzDecoder;

use super::array::{type_name, IdxArray, IdxData};
use crate::data::dataset::shape_string;
use crate::error::Error;

fn type_size(code: u8) -> usize {
    match code {
        0x08 | 0x09 => 1,
        0x0B => 2,
        0x0C | 0x0D => 4,
        _ => 8,
    }
}

const TYPE_LIST: &str = "0x08 (u8), 0x09 (i8), 0x0B (i16), 0x0C (i32), 0x0D (f32), 0x0E (f64)";

/// Bytes of data past the declared length a gzip stream is decompressed
/// for, to say how many too many it holds; beyond, it says "at least".
const EXTRA_COUNTED: u64 = 1 << 20;

/// A header read: the dimensions, the type code and the data's length.
struct Header {
    dims: Vec<usize>,
    code: u8,
    /// Bytes of data the dimensions need.
    need: u64,
    /// The header's own length.
    len: u64,
}

/// Where the bytes come from, for messages and errors.
struct Origin<'a> {
    path: Option<&'a Path>,
    /// `the file` or `the decompressed data`.
    what: &'static str,
    gzip: bool,
}

impl Origin<'_> {
    fn error(&self, message: String) -> Error {
        Error::Data {
            path: self.path.map(Path::to_path_buf),
            message,
        }
    }

    /// A read error: in a gzip stream, corrupt or truncated data; else an
    /// I/O error of the file.
    fn read_error(&self, e: std::io::Error) -> Error {
        match self.path {
            Some(path) if !self.gzip => Error::Io {
                path: path.to_path_buf(),
                source: e,
            },
            _ => self.error(format!("the gzip data is corrupt or truncated ({e})")),
        }
    }
}

/// Parses the `len` bytes of `source`: gzip-compressed (they start with
/// `1f 8b`) or plain IDX.
pub(super) fn parse<R: Read + Seek>(
    mut source: R,
    len: u64,
    path: Option<&Path>,
) -> Result<IdxArray, Error> {
    let plain = Origin {
        path,
        what: "the file",
        gzip: false,
    };
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut source, &mut magic).map_err(|e| plain.read_error(e))?;
    source
        .seek(SeekFrom::Start(0))
        .map_err(|e| plain.read_error(e))?;
    if got == 2 && magic == [0x1f, 0x8b] {
        let gz = Origin {
            path,
            what: "the decompressed data",
            gzip: true,
        };
        // Once to measure, keeping nothing...
        let mut stream = MultiGzDecoder::new(BufReader::new(&mut source));
        let header = read_header(&mut stream, &gz)?;
        let limit = header.need.saturating_add(EXTRA_COUNTED);
        let have = std::io::copy(&mut (&mut stream).take(limit), &mut std::io::sink())
            .map_err(|e| gz.read_error(e))?;
        check_length(&header, have, have == limit, &gz)?;
        drop(stream);
        // ... then into a buffer of the size now known.
        source
            .seek(SeekFrom::Start(0))
            .map_err(|e| plain.read_error(e))?;
        let mut stream = MultiGzDecoder::new(BufReader::new(&mut source));
        let header = read_header(&mut stream, &gz)?;
        read_body(&mut stream, header, &gz)
    } else {
        let mut file = BufReader::new(source);
        let header = read_header(&mut file, &plain)?;
        check_length(&header, len - header.len, false, &plain)?;
        read_body(&mut file, header, &plain)
    }
}

/// Reads into `buf` until it is full or the data ends; the bytes read.
fn read_up_to(source: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match source.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn read_header(source: &mut impl Read, from: &Origin<'_>) -> Result<Header, Error> {
    let what = from.what;
    let mut magic = [0u8; 4];
    let got = read_up_to(source, &mut magic).map_err(|e| from.read_error(e))?;
    if got < 4 {
        return Err(from.error(format!(
            "truncated header: {what} is {got} bytes long, an IDX header needs at least 4 \
             (the magic number)"
        )));
    }
    let value = u32::from_be_bytes(magic);
    if magic[0] != 0 || magic[1] != 0 {
        return Err(from.error(format!(
            "wrong magic number 0x{value:08X}: expected an IDX magic number 0x0000TTDD (two zero \
             bytes, a type code TT and the number of dimensions DD), e.g. 0x00000803 for \
             MNIST images or 0x00000801 for labels"
        )));
    }
    let code = magic[2];
    if type_name(code).is_none() {
        return Err(from.error(format!(
            "wrong magic number 0x{value:08X}: unknown type code 0x{code:02X}, expected one of \
             {TYPE_LIST}"
        )));
    }
    let ndims = usize::from(magic[3]);
    if ndims == 0 {
        return Err(from.error(format!(
            "wrong magic number 0x{value:08X}: it declares 0 dimensions, expected at least 1"
        )));
    }
    let header = 4 + 4 * ndims;
    let mut raw = [0u8; 4 * 255];
    let raw = &mut raw[..4 * ndims];
    let got = read_up_to(source, raw).map_err(|e| from.read_error(e))?;
    if got < raw.len() {
        return Err(from.error(format!(
            "truncated header: {ndims} dimensions need a {header}-byte header, {what} is only {} \
             bytes long",
            4 + got
        )));
    }
    let dims: Vec<usize> = raw
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let need = dims
        .iter()
        .try_fold(type_size(code) as u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&n| usize::try_from(n).is_ok())
        .ok_or_else(|| {
            from.error(format!(
                "the dimensions {} are too large",
                shape_string(&dims)
            ))
        })?;
    Ok(Header {
        dims,
        code,
        need,
        len: header as u64,
    })
}

/// Checks that `have` bytes of data (at least that many when `more`) are
/// what `header` declares.
fn check_length(header: &Header, have: u64, more: bool, from: &Origin<'_>) -> Result<(), Error> {
    let need = header.need;
    if have == need {
        return Ok(());
    }
    let dims = shape_string(&header.dims);
    let type_name = type_name(header.code).unwrap_or("?");
    let what = from.what;
    Err(from.error(if have < need {
        format!(
            "truncated data: dimensions {dims} of {type_name} need {need} bytes after the \
             header, {what} has only {have}"
        )
    } else {
        format!(
            "the dimensions do not match the data length: {dims} of {type_name} need {need} \
             bytes after the header, {what} has {}{have} ({}{} too many)",
            if more { "more than " } else { "" },
            if more { "at least " } else { "" },
            have - need
        )
    }))
}

/// Reads the data `header` declares (its length already checked), typed.
fn read_body(source: &mut impl Read, header: Header, from: &Origin<'_>) -> Result<IdxArray, Error> {
    let count = header.dims.iter().product::<usize>();
    let fail = |e| from.read_error(e);
    let data = match header.code {
        0x08 => {
            let mut v = vec![0u8; count];
            source.read_exact(&mut v).map_err(fail)?;
            IdxData::U8(v)
        }
        0x09 => IdxData::I8(read_typed(source, count, |[b]| b as i8).map_err(fail)?),
        0x0B => IdxData::I16(read_typed(source, count, i16::from_be_bytes).map_err(fail)?),
        0x0C => IdxData::I32(read_typed(source, count, i32::from_be_bytes).map_err(fail)?),
        0x0D => IdxData::F32(read_typed(source, count, f32::from_be_bytes).map_err(fail)?),
        _ => IdxData::F64(read_typed(source, count, f64::from_be_bytes).map_err(fail)?),
    };
    Ok(IdxArray {
        dims: header.dims,
        data,
    })
}

/// `count` values of `N` big-endian bytes each, converted by `from` as
/// they are read (no second buffer the size of the data).
fn read_typed<T, const N: usize>(
    source: &mut impl Read,
    count: usize,
    from: impl Fn([u8; N]) -> T,
) -> std::io::Result<Vec<T>> {
    let mut out = Vec::with_capacity(count);
    let mut buf = [0u8; 8192];
    let per = buf.len() / N;
    while out.len() < count {
        let m = per.min(count - out.len());
        let bytes = &mut buf[..m * N];
        source.read_exact(bytes)?;
        out.extend(bytes.chunks_exact(N).map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            from(a)
        }));
    }
    Ok(out)
}
