//! [`write_atomic`]: replacing a file so that a crash at any moment leaves
//! either the old file or the new one, whole.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::vec::Vec;

use crate::error::Error;

/// Writes `bytes` to `path` atomically: a temporary file in the target's
/// directory, flushed to disk, then renamed over the target. A crash at
/// any point leaves either the old file or the new one, never a torn file.
///
/// - **Symbolic links** are written through: the file the link points to
///   is replaced and the link stays.
/// - **Permissions**: a file that exists keeps its permissions; a new one
///   gets the usual mode for new files (`0o666` less the umask on Unix).
/// - **Temporaries**: the temporary file is `.NAME.cnn-tmp-XXXXXX` beside
///   the target `NAME`. One left behind by a crash (a process killed while
///   saving) is removed by the next save of the same file. Saves into one
///   directory take turns (an advisory lock on the directory, on Unix), so
///   a save never removes the temporary of one in progress.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let target = resolve_links(path).map_err(io)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(name) = target.file_name() else {
        return Err(Error::Data {
            path: Some(path.to_path_buf()),
            message: "not a file name (it ends in `..` or is a root)".into(),
        });
    };
    let prefix = temporary_prefix(name);
    let _turn = DirLock::take(&dir);
    remove_stale(&dir, &prefix);
    let old = std::fs::metadata(&target).ok();
    if old.as_ref().is_some_and(|m| m.is_dir()) {
        return Err(Error::Data {
            path: Some(path.to_path_buf()),
            message: "is a directory; a file cannot be written there".into(),
        });
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Created with 0o666 less the umask, as any new file.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(&dir).map_err(io)?;
    if let Some(old) = &old {
        tmp.as_file()
            .set_permissions(old.permissions())
            .map_err(io)?;
    }
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(&target).map_err(|e| io(e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// Checks that [`write_atomic`] can write `path`: its directory exists
/// and takes a new file (one is created there and removed), and `path` is
/// not a directory. For settings checked before long work, such as a
/// checkpoint written after the first epoch.
pub fn check_writable(path: &Path) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let target = resolve_links(path).map_err(io)?;
    if target.is_dir() {
        return Err(Error::Data {
            path: Some(path.to_path_buf()),
            message: "is a directory; a file cannot be written there".into(),
        });
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target.file_name().unwrap_or_default();
    tempfile::Builder::new()
        .prefix(&temporary_prefix(name))
        .tempfile_in(&dir)
        .map_err(io)?;
    Ok(())
}

/// `.NAME.cnn-tmp-`: the prefix of the temporary files of target `NAME`.
fn temporary_prefix(name: &std::ffi::OsStr) -> OsString {
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".cnn-tmp-");
    prefix
}

/// Follows symbolic links from `path` to the file they lead to (which may
/// not exist yet), at most 40 deep as the kernel does.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = std::fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(std::io::Error::other(
        "too many levels of symbolic links (more than 40)",
    ))
}

/// Removes the files in `dir` whose names start with `prefix`: temporaries
/// of the same target left by a save that did not finish. Failures are
/// ignored (the save goes on; the next one tries again).
fn remove_stale(dir: &Path, prefix: &std::ffi::OsStr) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = prefix.as_encoded_bytes();
    let stale: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.as_encoded_bytes();
            name.len() > prefix.len() && name.starts_with(prefix)
        })
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    for path in stale {
        let _ = std::fs::remove_file(path);
    }
}

/// An exclusive advisory lock on a directory, held while one save there
/// runs (released on drop, or when the process dies). Where directories
/// cannot be locked, saves go on without it.
struct DirLock(Option<std::fs::File>);

impl DirLock {
    fn take(dir: &Path) -> DirLock {
        #[cfg(unix)]
        if let Ok(file) = std::fs::File::open(dir) {
            if file.lock().is_ok() {
                return DirLock(Some(file));
            }
        }
        let _ = dir;
        DirLock(None)
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        if let Some(file) = &self.0 {
            let _ = file.unlock();
        }
    }
}

/// Flushes the directory entry of a rename to disk (Unix; elsewhere the
/// rename is durable when the file system makes it so).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_temporary_left_by_a_crash_is_removed_by_the_next_save() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("w.safetensors");
        std::fs::write(&target, b"old").unwrap();
        // What a save killed between creating its temporary and renaming
        // it leaves behind, and the temporary of another file.
        let stale = dir.path().join(".w.safetensors.cnn-tmp-Ab12Cd");
        let other = dir.path().join(".v.safetensors.cnn-tmp-Ab12Cd");
        std::fs::write(&stale, b"half a fi").unwrap();
        std::fs::write(&other, b"half a fi").unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert!(!stale.exists(), "the stale temporary is gone");
        assert!(other.exists(), "another file's temporary is not touched");
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, [".v.safetensors.cnn-tmp-Ab12Cd", "w.safetensors"]);
    }

    #[test]
    #[cfg(unix)]
    fn an_existing_file_keeps_its_permissions_and_a_new_one_gets_the_usual_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let shared = dir.path().join("shared.bin");
        std::fs::write(&shared, b"old").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomic(&shared, b"new").unwrap();
        assert_eq!(mode(&shared), 0o644);
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&shared, b"newer").unwrap();
        assert_eq!(mode(&shared), 0o640);
        // A new file: what `File::create` gives under this process's umask.
        let reference = dir.path().join("reference.bin");
        std::fs::File::create(&reference).unwrap();
        let fresh = dir.path().join("fresh.bin");
        write_atomic(&fresh, b"x").unwrap();
        assert_eq!(mode(&fresh), mode(&reference));
        assert_ne!(mode(&fresh), 0o600, "not the temporary file's private mode");
    }

    #[test]
    #[cfg(unix)]
    fn a_symlink_is_written_through_to_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("runs/real.safetensors");
        std::fs::create_dir(dir.path().join("runs")).unwrap();
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("latest.safetensors");
        std::os::unix::fs::symlink("runs/real.safetensors", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read(&real).unwrap(),
            b"new",
            "the target holds the new bytes"
        );
        // A link to a file that does not exist yet creates it.
        let dangling = dir.path().join("next.safetensors");
        std::os::unix::fs::symlink("runs/next.safetensors", &dangling).unwrap();
        write_atomic(&dangling, b"first").unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("runs/next.safetensors")).unwrap(),
            b"first"
        );
    }

    #[test]
    fn a_directory_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let m = write_atomic(&sub, b"x").unwrap_err().to_string();
        assert!(m.contains("directory"), "{m}");
        assert!(check_writable(&sub).is_err());
        assert!(sub.is_dir());
    }

    #[test]
    fn writability_is_checked_without_leaving_anything() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(&dir.path().join("w.safetensors")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let m = check_writable(&dir.path().join("no/such/dir/w.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(m.contains("no/such/dir/w.safetensors"), "{m}");
    }
}
