//! The contents of an IDX file: dimensions and typed values.

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
    /// The magic number a file of this array starts with, `0x0000TTDD`.
    pub fn magic(&self) -> u32 {
        (u32::from(self.data.type_code()) << 8) | self.dims.len() as u32
    }
}

pub(super) fn type_name(code: u8) -> Option<&'static str> {
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
