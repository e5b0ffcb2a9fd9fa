//! Files: safetensors weights and checkpoints, atomic writes, and reading
//! files with bounds.
//!
//! | module | what |
//! | --- | --- |
//! | [`safetensors`] | weights files with PyTorch names; checkpoints with training state |
//! | `atomic` | [`write_atomic`]: a crash leaves the old file or the new one |
//! | `mismatch` | why a tensor's shape differs from the network's, for load errors |

mod atomic;
mod mismatch;
pub mod safetensors;

use std::fs::File;
use std::path::Path;
use std::vec::Vec;

pub use atomic::{check_writable, write_atomic};

use crate::error::Error;

/// An I/O error naming `path`.
pub(crate) fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens `path` for reading if it is a regular file (after following
/// symbolic links) and returns it with its length. A FIFO, socket, device
/// or directory is an error rather than a read that blocks or never ends:
/// the type is checked before opening (opening a FIFO blocks until a
/// writer comes) and again on the open file.
pub fn open_regular(path: &Path) -> Result<(File, u64), Error> {
    let not_regular = |kind: std::fs::FileType| Error::Data {
        path: Some(path.to_path_buf()),
        message: format!(
            "not a regular file ({}); only regular files are read",
            describe(kind)
        ),
    };
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    Ok((file, meta.len()))
}

/// What kind of file `kind` is, in words.
fn describe(kind: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Reads the regular file `path` (see [`open_regular`]) if it holds at most
/// `limit` bytes; `what` names the kind of file in the error.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let (file, len) = open_regular(path)?;
    if len > limit {
        return Err(Error::Data {
            path: Some(path.to_path_buf()),
            message: format!("the file holds {len} bytes, more than the {limit} a {what} may have"),
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(limit)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, e))?;
    Ok(bytes)
}
