//! Writing a config without ever leaving a half-written one: a temp file beside the target with
//! the target's mode, owner, group and extended attributes, fsync, rename over the target, fsync
//! the directory. Runs that write the same config take turns through an advisory lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt, fchown};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long `lock` waits for another run to let go before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(60);

/// The file to edit for `path`: the end of its chain of symlinks (so the link is kept), or
/// `path` itself when it does not exist yet. A dangling link or a directory is an error.
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path.to_path_buf()),
        Err(e) => Err(e),
        Ok(meta) => {
            let real = if meta.file_type().is_symlink() {
                fs::canonicalize(path).map_err(|e| match e.kind() {
                    io::ErrorKind::NotFound => io::Error::new(
                        e.kind(),
                        "it is a symlink to a file that does not exist; point it at a file or remove it",
                    ),
                    _ => e,
                })?
            } else {
                path.to_path_buf()
            };
            if fs::metadata(&real)?.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::IsADirectory,
                    "it is a directory, not a file",
                ));
            }
            Ok(real)
        }
    }
}

/// A failed write, and whether the target had already been replaced when it failed (only the
/// directory's fsync comes after the rename).
#[derive(Debug)]
pub struct WriteError {
    /// What the OS said.
    pub error: io::Error,
    /// The new contents are in place; only making the rename durable failed.
    pub replaced: bool,
}

impl From<io::Error> for WriteError {
    fn from(error: io::Error) -> Self {
        WriteError {
            error,
            replaced: false,
        }
    }
}

/// The directory `path` is in (`.` for a bare file name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// `path` with `suffix` appended to its file name.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Takes the advisory lock (`flock`) that makes pausectl runs writing `target` take turns, on
/// `TARGET.lock` beside it, and holds it until the returned file is dropped. The config itself
/// cannot carry the lock: every write replaces it. The lock file is empty, which is a valid
/// (empty) config should a glob in `imports` ever pick it up, and it is left in place: removing
/// it would let two runs lock two different files.
pub fn lock(target: &Path) -> io::Result<File> {
    let path = sibling(target, ".lock");
    fs::create_dir_all(parent(target))?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o644)
        .open(&path)?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "another process has held the lock on `{}` for {} s (a stuck pausectl?)",
                        path.display(),
                        LOCK_WAIT.as_secs()
                    ),
                ));
            }
            Err(fs::TryLockError::Error(e)) => return Err(e),
        }
    }
}

/// Refuses a file that nobody may write (no `w` in its mode): someone made it read-only on
/// purpose, and root's power to replace it anyway is no reason to.
pub fn check_writable(path: &Path) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(m) if m.mode() & 0o222 == 0 => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "it is read-only (mode {:04o}); make it writable (chmod u+w) if it should change",
                m.mode() & 0o7777
            ),
        )),
        _ => Ok(()),
    }
}

/// Gives `to` the extended attributes of `from`: the SELinux label and ACLs among them, which a
/// new file would otherwise not have.
fn copy_xattrs(from: &Path, to: &File) -> io::Result<()> {
    use xattr::FileExt;
    let names = match xattr::list(from) {
        Ok(names) => names,
        Err(e) if e.kind() == io::ErrorKind::Unsupported => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in names {
        if let Some(value) = xattr::get(from, &name)? {
            to.set_xattr(&name, &value).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot keep extended attribute `{}` ({e}); run as root",
                        name.to_string_lossy()
                    ),
                )
            })?;
        }
    }
    Ok(())
}

/// Replaces `path` with `contents` atomically, by way of `.NAME.pausectl` beside it (the caller
/// holds the lock from `lock`). An existing file keeps its mode, owner, group and extended
/// attributes; a new one gets mode 0644 (and its directory is created). On error nothing is
/// left behind.
pub fn write(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let dir = parent(path);
    let existing = match fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir)?;
            None
        }
        Err(e) => return Err(e.into()),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // One fixed name, `.NAME.pausectl`: with the lock held no other run is writing it, so one
    // found now was left by a run killed before its rename, and goes.
    let (prefix, suffix) = (format!(".{name}"), ".pausectl");
    match fs::remove_file(dir.join(format!("{prefix}{suffix}"))) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    // Created exclusively, and removed on drop, so an error at any step leaves no temp file.
    let mut tmp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(suffix)
        .rand_bytes(0)
        .tempfile_in(dir)?;
    tmp.write_all(contents)?;
    let mode = existing.as_ref().map_or(0o644, |m| m.mode() & 0o7777);
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))?;
    if let Some(m) = &existing {
        let mine = tmp.as_file().metadata()?;
        if (mine.uid(), mine.gid()) != (m.uid(), m.gid()) {
            fchown(tmp.as_file(), Some(m.uid()), Some(m.gid())).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot keep owner {}:{} ({e}); run as root",
                        m.uid(),
                        m.gid()
                    ),
                )
            })?;
        }
    }
    if existing.is_some() {
        copy_xattrs(path, tmp.as_file())?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|error| WriteError {
            error,
            replaced: true,
        })
}

/// Copies `contents` (the original bytes) to `path.bak`, or `path.bak.1`, `.bak.2`, ... when
/// that exists, with the original's mode. Returns the backup's path.
pub fn backup(path: &Path, contents: &[u8]) -> io::Result<PathBuf> {
    let mode = fs::metadata(path).map_or(0o644, |m| m.mode() & 0o7777);
    for n in 0..1000 {
        let candidate = sibling(
            path,
            &if n == 0 {
                ".bak".into()
            } else {
                format!(".bak.{n}")
            },
        );
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&candidate)
        {
            Ok(mut f) => {
                // A backup that could not be written whole is no backup: remove it.
                return match f.write_all(contents).and_then(|()| f.sync_all()) {
                    Ok(()) => Ok(candidate),
                    Err(e) => {
                        let _ = fs::remove_file(&candidate);
                        Err(e)
                    }
                };
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "1000 backups exist already; remove some",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn keeps_mode_and_links_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.toml");
        fs::write(&real, "old").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.toml");
        symlink("real.toml", &link).unwrap();
        let target = resolve(&link).unwrap();
        assert_eq!(target, fs::canonicalize(&real).unwrap());
        write(&target, b"new").unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&link).unwrap(), "new");
        assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o640);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn creates_missing_file_and_directory_with_0644() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/containerd/config.toml");
        write(&path, b"version = 2\n").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
    }

    #[test]
    fn refuses_dangling_links_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("dangling.toml");
        symlink("nowhere.toml", &link).unwrap();
        assert!(
            resolve(&link)
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        assert!(resolve(dir.path()).is_err());
    }

    #[test]
    fn backups_get_numbered_names() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, "x").unwrap();
        assert_eq!(
            backup(&path, b"1").unwrap(),
            dir.path().join("config.toml.bak")
        );
        assert_eq!(
            backup(&path, b"2").unwrap(),
            dir.path().join("config.toml.bak.1")
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("config.toml.bak")).unwrap(),
            "1"
        );
    }
}
