//! Writing a config without ever leaving a half-written one, or a file containerd would load:
//! an unnamed temp file with the target's mode, owner, group and extended attributes, fsync,
//! a name outside every `imports` glob, rename over the target, fsync the directory. Backups
//! go where containerd does not load them. Runs that write the same config take turns through
//! an advisory lock on its directory.

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

/// The advisory lock (`flock`) that makes pausectl runs writing one config take turns, held
/// until dropped. It is taken on the directory that holds the config, so it leaves no file
/// behind: the config itself cannot carry it (every write replaces it), and a lock file beside
/// it would be one more file in `/etc/containerd` (and one an `imports` glob could load).
pub struct Lock {
    _dir: File,
    /// The directory locked.
    pub path: PathBuf,
    /// Its device and inode: another path to the same directory is the same lock.
    pub id: (u64, u64),
}

/// Takes the [`Lock`] for writing `target`, waiting up to a minute for another run to let go.
/// When the config's directory does not exist yet (`set --create`), the nearest directory
/// above it that does is locked, and the lock is taken again lower down should another run
/// create the directory meanwhile.
///
/// `held` are the locks this run holds already: a directory among them is not locked again
/// (`None`), since a second `flock` of it would wait for this very run.
pub fn lock(target: &Path, held: &[&Lock]) -> io::Result<Option<Lock>> {
    // The directory and those above it; `.` for the top of a relative path.
    let chain: Vec<&Path> = parent(target)
        .ancestors()
        .map(|a| {
            if a.as_os_str().is_empty() {
                Path::new(".")
            } else {
                a
            }
        })
        .collect();
    loop {
        let at = chain
            .iter()
            .position(|a| a.is_dir())
            .unwrap_or(chain.len() - 1);
        let (dir, below) = (chain[at], at.checked_sub(1).map(|b| chain[b]));
        let file = File::open(dir).map_err(|e| lock_error(dir, e))?;
        let meta = file.metadata().map_err(|e| lock_error(dir, e))?;
        let id = (meta.dev(), meta.ino());
        if held.iter().any(|l| l.id == id) {
            return Ok(None);
        }
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!(
                            "another process has held the lock on `{}` for {} s (a stuck pausectl, or `flock` on that directory?)",
                            dir.display(),
                            LOCK_WAIT.as_secs()
                        ),
                    ));
                }
                Err(fs::TryLockError::Error(e)) => return Err(lock_error(dir, e)),
            }
        }
        // Still the nearest directory that exists: no other run created the one below it.
        if below.is_none_or(|b| !b.exists()) {
            return Ok(Some(Lock {
                _dir: file,
                path: dir.to_path_buf(),
                id,
            }));
        }
    }
}

fn lock_error(dir: &Path, e: io::Error) -> io::Error {
    let hint = if e.kind() == io::ErrorKind::PermissionDenied {
        " (run as root)"
    } else {
        ""
    };
    io::Error::new(
        e.kind(),
        format!(
            "cannot lock the directory `{}`, which pausectl locks while it edits the config in it: {e}{hint}",
            dir.display()
        ),
    )
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

/// Whether containerd would load a file at a path (an `imports` entry of the chain matches it).
pub type Loaded<'a> = &'a dyn Fn(&Path) -> bool;

/// The name of the temp file for `name`, and of the directory a new config's missing
/// directories are built in.
fn temp_name(name: &str) -> String {
    format!(".{name}.pausectl")
}

/// A new file's contents on their way to a name. Unnamed (`O_TMPFILE`) where the file system
/// allows it, so that a run killed before the contents are complete leaves nothing; else a
/// named file, removed on drop unless it was linked into place.
struct Temp {
    file: File,
    named: Option<PathBuf>,
}

impl Temp {
    /// In `dir`, with `mode`; `fallback` names the directory and name it takes where an unnamed
    /// file is not supported (asked for only then).
    fn new(
        dir: &Path,
        mode: u32,
        fallback: impl FnOnce() -> io::Result<PathBuf>,
    ) -> io::Result<Temp> {
        use rustix::fs::{Mode, OFlags};
        use rustix::io::Errno;
        let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
        let file = match rustix::fs::openat(rustix::fs::CWD, dir, flags, Mode::from_raw_mode(0o600))
        {
            Ok(fd) => Temp {
                file: File::from(fd),
                named: None,
            },
            // Not supported by this file system (or kernel).
            Err(e) if [Errno::OPNOTSUPP, Errno::ISDIR, Errno::INVAL].contains(&e) => {
                let named = fallback()?;
                match fs::remove_file(&named) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&named)?;
                Temp {
                    file,
                    named: Some(named),
                }
            }
            Err(e) => return Err(e.into()),
        };
        file.file
            .set_permissions(fs::Permissions::from_mode(mode))?;
        Ok(file)
    }

    /// Gives the contents the name `to`, which must not exist yet (`AlreadyExists` otherwise).
    fn link(&mut self, to: &Path) -> io::Result<()> {
        use rustix::fs::{AtFlags, CWD, linkat};
        if let Some(named) = &self.named {
            if named != to {
                fs::hard_link(named, to)?;
            }
            return Ok(());
        }
        let proc = format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&self.file)
        );
        match linkat(CWD, proc.as_str(), CWD, to, AtFlags::SYMLINK_FOLLOW) {
            // No /proc: the flag that needs CAP_DAC_READ_SEARCH (root has it).
            Err(rustix::io::Errno::NOENT) if !Path::new("/proc/self/fd").exists() => {
                linkat(&self.file, "", CWD, to, AtFlags::EMPTY_PATH)?
            }
            r => r?,
        }
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if let Some(named) = &self.named {
            let _ = fs::remove_file(named);
        }
    }
}

/// Where `.NAME.pausectl`, the name the new contents of `path` take just before they are
/// renamed over it, goes: beside it, unless containerd would load it there (a glob such as
/// `conf.d/*` matches every name, dotfiles too); then the nearest directory above the file's
/// real directory on the same file system (rename cannot cross one) where it would not. When
/// there is none (the directory is a mount point), beside it after all: only a run killed
/// between the link and the rename can then leave it there.
fn temp_path(path: &Path, loaded: Loaded) -> io::Result<PathBuf> {
    let name = temp_name(&file_name(path));
    let beside = parent(path).join(&name);
    if !loaded(&beside) {
        return Ok(beside);
    }
    let dir = fs::canonicalize(parent(path))?;
    let dev = fs::metadata(&dir)?.dev();
    Ok(dir
        .ancestors()
        .take_while(|a| fs::metadata(a).is_ok_and(|m| m.dev() == dev))
        .map(|a| a.join(&name))
        .find(|candidate| !loaded(candidate))
        .unwrap_or(beside))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The directories above `path` that do not exist, the highest last.
pub fn missing_dirs(path: &Path) -> Vec<PathBuf> {
    parent(path)
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .take_while(|a| fs::symlink_metadata(a).is_err())
        .map(Path::to_path_buf)
        .collect()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir).and_then(|d| d.sync_all())
}

/// Replaces `path` with `contents` atomically (the caller holds the [`Lock`]), or creates it.
/// The contents are written to an unnamed file, given the target's mode, owner, group and
/// extended attributes, and synced; then linked as `.NAME.pausectl` where `loaded` says
/// containerd does not load it (see `temp_path`), renamed over the target, and the directory
/// synced. A new file gets mode 0644 and is linked straight to its name, failing if another
/// process created it meanwhile; its missing directories are built under a temporary name and
/// renamed into place with the file in them, so that no other process sees them without it.
/// On error nothing is left behind.
pub fn write(path: &Path, contents: &[u8], loaded: Loaded) -> Result<(), WriteError> {
    match fs::metadata(path) {
        Ok(m) => replace(path, contents, &m, loaded),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(create(path, contents, loaded)?),
        Err(e) => Err(e.into()),
    }
}

fn replace(
    path: &Path,
    contents: &[u8],
    existing: &fs::Metadata,
    loaded: Loaded,
) -> Result<(), WriteError> {
    let dir = parent(path);
    let named = temp_path(path, loaded)?;
    // With the lock held no other run is writing it: one found now was left by a run killed
    // between its link and its rename, and goes.
    match fs::remove_file(&named) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let mut tmp = Temp::new(parent(&named), existing.mode() & 0o7777, || {
        Ok(named.clone())
    })?;
    tmp.file.write_all(contents)?;
    let mine = tmp.file.metadata()?;
    if (mine.uid(), mine.gid()) != (existing.uid(), existing.gid()) {
        fchown(&tmp.file, Some(existing.uid()), Some(existing.gid())).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot keep owner {}:{} ({e}); run as root",
                    existing.uid(),
                    existing.gid()
                ),
            )
        })?;
    }
    copy_xattrs(path, &tmp.file)?;
    tmp.file.sync_all()?;
    tmp.link(&named)?;
    // From here the temp file has a name: the guard removes it if the rename fails.
    tmp.named = Some(named.clone());
    fs::rename(&named, path)?;
    tmp.named = None;
    let synced = sync_dir(dir).and_then(|()| match named.parent() {
        Some(t) if t != dir && !t.as_os_str().is_empty() => sync_dir(t),
        _ => Ok(()),
    });
    synced.map_err(|error| WriteError {
        error,
        replaced: true,
    })
}

fn create(path: &Path, contents: &[u8], loaded: Loaded) -> io::Result<()> {
    let created_meanwhile = |e: io::Error| match e.kind() {
        io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty => io::Error::new(
            e.kind(),
            "another process created it meanwhile; run again to edit what it wrote",
        ),
        _ => e,
    };
    let missing = missing_dirs(path);
    let Some(top) = missing.last() else {
        let dir = parent(path);
        let mut tmp = Temp::new(dir, 0o644, || temp_path(path, loaded))?;
        tmp.file.write_all(contents)?;
        tmp.file.sync_all()?;
        tmp.link(path).map_err(created_meanwhile)?;
        return sync_dir(dir);
    };
    // `top/rest/NAME` is built as `.TOP.pausectl/rest/NAME` beside `top`, then renamed.
    let base = parent(top);
    let staging = base.join(temp_name(&file_name(top)));
    if fs::symlink_metadata(&staging).is_ok_and(|m| m.is_dir()) {
        // Left by a run killed while building it (the lock is held).
        fs::remove_dir_all(&staging)?;
    }
    let inside = staging.join(path.strip_prefix(top).map_err(io::Error::other)?);
    let result = (|| {
        fs::create_dir(&staging)?;
        fs::create_dir_all(parent(&inside))?;
        let mut tmp = Temp::new(parent(&inside), 0o644, || temp_path(&inside, &|_| false))?;
        tmp.file.write_all(contents)?;
        tmp.file.sync_all()?;
        tmp.link(&inside)?;
        for d in parent(&inside)
            .ancestors()
            .take_while(|d| d.starts_with(&staging))
        {
            sync_dir(d)?;
        }
        fs::rename(&staging, top).map_err(created_meanwhile)
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&staging);
    }
    result?;
    sync_dir(base)
}

/// Where `--backup` puts the copy of `path`: `dir` when given (`--backup-dir`); else beside
/// the file, or where containerd would load it there, the nearest directory above that it would
/// not load it from. `Err` names the path containerd would load.
pub fn backup_dir(path: &Path, dir: Option<&Path>, loaded: Loaded) -> Result<PathBuf, PathBuf> {
    let name = format!("{}.bak", file_name(path));
    if let Some(d) = dir {
        let candidate = std::path::absolute(d)
            .unwrap_or_else(|_| d.to_path_buf())
            .join(&name);
        return if loaded(&candidate) {
            Err(candidate)
        } else {
            Ok(d.to_path_buf())
        };
    }
    // As spelled: `config.toml` is backed up as `config.toml.bak`.
    let beside = path.parent().unwrap_or(Path::new(""));
    if !loaded(&beside.join(&name)) {
        return Ok(beside.to_path_buf());
    }
    let abs = std::path::absolute(parent(path)).unwrap_or_else(|_| parent(path).to_path_buf());
    abs.ancestors()
        .find(|a| !loaded(&a.join(&name)))
        .map(Path::to_path_buf)
        .ok_or_else(|| abs.join(&name))
}

/// A backup written, and the directories made for it.
#[derive(Debug)]
pub struct Backup {
    /// The copy.
    pub path: PathBuf,
    made: Vec<PathBuf>,
}

impl Backup {
    /// Removes the copy, and the directories made for it if nothing else is in them.
    pub fn discard(self) {
        let _ = fs::remove_file(&self.path);
        for d in &self.made {
            let _ = fs::remove_dir(d);
        }
    }
}

/// Copies `contents` (the original bytes of `path`) to `NAME.bak` in `dir`, or `NAME.bak.1`,
/// `.bak.2`, ... when that exists (or containerd would load it), with the original's mode. The
/// copy appears whole or not at all; `dir` is created if missing (and removed again if the
/// copy fails).
pub fn backup(path: &Path, contents: &[u8], dir: &Path, loaded: Loaded) -> io::Result<Backup> {
    let mode = fs::metadata(path).map_or(0o644, |m| m.mode() & 0o7777);
    let name = file_name(path);
    let here = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let made: Vec<PathBuf> = missing_dirs(&here.join(&name));
    fs::create_dir_all(here)?;
    let result = (|| {
        let mut tmp = Temp::new(here, mode, || {
            Ok(dir.join(temp_name(&format!("{name}.bak"))))
        })?;
        tmp.file.write_all(contents)?;
        tmp.file.sync_all()?;
        for n in 0..1000 {
            let suffix = if n == 0 {
                ".bak".into()
            } else {
                format!(".bak.{n}")
            };
            let candidate = dir.join(format!("{name}{suffix}"));
            if loaded(&std::path::absolute(&candidate)?) {
                continue;
            }
            match tmp.link(&candidate) {
                Ok(()) => {
                    sync_dir(here)?;
                    return Ok(candidate);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "1000 backups exist already; remove some",
        ))
    })();
    match result {
        Ok(path) => Ok(Backup { path, made }),
        Err(e) => {
            for d in &made {
                let _ = fs::remove_dir(d);
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn nothing(_: &Path) -> bool {
        false
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

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
        write(&target, b"new", &nothing).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_to_string(&link).unwrap(), "new");
        assert_eq!(fs::metadata(&real).unwrap().mode() & 0o777, 0o640);
        assert_eq!(names(dir.path()), ["link.toml", "real.toml"]);
    }

    #[test]
    fn creates_missing_file_and_directory_with_0644() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("etc/containerd/config.toml");
        write(&path, b"version = 2\n", &nothing).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
        assert_eq!(names(dir.path()), ["etc"]);
        // A file or directory that appeared meanwhile is not overwritten by a creating write.
        let err = create(&path, b"x", &nothing).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let deep = dir.path().join("etc/containerd/conf.d/x.toml");
        fs::create_dir(dir.path().join("etc/containerd/conf.d")).unwrap();
        fs::write(&deep, "mine").unwrap();
        let missing = dir.path().join("etc/other/config.toml");
        create(&missing, b"new", &nothing).unwrap();
        assert!(create(&deep, b"x", &nothing).is_err());
        assert_eq!(fs::read(&deep).unwrap(), b"mine");
        assert_eq!(names(&dir.path().join("etc")), ["containerd", "other"]);
    }

    /// Where containerd would load `.NAME.pausectl` beside the file, the temp file is made a
    /// level up; a stale one left there by a killed run is removed.
    #[test]
    fn temp_file_goes_where_no_glob_loads_it() {
        let dir = tempfile::tempdir().unwrap();
        let conf_d = dir.path().join("conf.d");
        fs::create_dir(&conf_d).unwrap();
        let target = conf_d.join("20-cri.toml");
        fs::write(&target, "old").unwrap();
        let in_conf_d = |p: &Path| p.parent() == Some(conf_d.as_path());
        assert_eq!(
            temp_path(&target, &in_conf_d).unwrap(),
            fs::canonicalize(dir.path())
                .unwrap()
                .join(".20-cri.toml.pausectl")
        );
        fs::write(dir.path().join(".20-cri.toml.pausectl"), "stale").unwrap();
        write(&target, b"new", &in_conf_d).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(names(&conf_d), ["20-cri.toml"]);
        assert_eq!(names(dir.path()), ["conf.d"]);
        // Loaded everywhere (a directory that is a mount point): beside it after all.
        let everywhere = |_: &Path| true;
        assert_eq!(
            temp_path(&target, &everywhere).unwrap(),
            conf_d.join(".20-cri.toml.pausectl")
        );
        write(&target, b"newer", &everywhere).unwrap();
        assert_eq!(names(&conf_d), ["20-cri.toml"]);
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
    fn backups_get_numbered_names_and_skip_loaded_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, "x").unwrap();
        let d = dir.path();
        assert_eq!(
            backup(&path, b"1", d, &nothing).unwrap().path,
            d.join("config.toml.bak")
        );
        assert_eq!(
            backup(&path, b"2", d, &nothing).unwrap().path,
            d.join("config.toml.bak.1")
        );
        assert_eq!(fs::read_to_string(d.join("config.toml.bak")).unwrap(), "1");
        // A name containerd would load (say `*.bak.2`) is passed over.
        let two = |p: &Path| p.to_string_lossy().ends_with(".bak.2");
        assert_eq!(
            backup(&path, b"3", d, &two).unwrap().path,
            d.join("config.toml.bak.3")
        );
        // A missing --backup-dir is created.
        let other = d.join("backups/pausectl");
        assert_eq!(
            backup(&path, b"4", &other, &nothing).unwrap().path,
            other.join("config.toml.bak")
        );
        // Discarded: the copy and the directories made for it go.
        let b = backup(&path, b"5", &other.join("a/b"), &nothing).unwrap();
        b.discard();
        assert_eq!(names(&other), ["config.toml.bak"]);
    }

    #[test]
    fn backup_dir_is_beside_or_above_what_a_glob_loads() {
        let dir = tempfile::tempdir().unwrap();
        let conf_d = dir.path().join("conf.d");
        let target = conf_d.join("20-cri.toml");
        let in_conf_d = |p: &Path| p.parent() == Some(conf_d.as_path());
        assert_eq!(backup_dir(&target, None, &nothing).unwrap(), conf_d);
        assert_eq!(backup_dir(&target, None, &in_conf_d).unwrap(), dir.path());
        assert_eq!(
            backup_dir(&target, Some(&conf_d), &in_conf_d).unwrap_err(),
            conf_d.join("20-cri.toml.bak")
        );
    }

    /// The lock is on the directory: a second taker waits, and no file appears.
    #[test]
    fn lock_is_on_the_directory_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        let held = lock(&config, &[]).unwrap().unwrap();
        assert_eq!(held.path, dir.path());
        let other = File::open(dir.path()).unwrap();
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        drop(held);
        other.try_lock().unwrap();
        // A config whose directory is missing locks the nearest one that exists.
        let deep = dir.path().join("etc/containerd/config.toml");
        drop(other);
        assert_eq!(lock(&deep, &[]).unwrap().unwrap().path, dir.path());
        // The same directory again, under another name: not locked twice.
        let first = lock(&config, &[]).unwrap().unwrap();
        let same = dir.path().join("./sub/../config.toml");
        fs::create_dir(dir.path().join("sub")).unwrap();
        assert!(lock(&same, &[&first]).unwrap().is_none());
        fs::remove_dir(dir.path().join("sub")).unwrap();
        assert_eq!(names(dir.path()), Vec::<String>::new());
    }
}
