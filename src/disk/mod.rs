//! All of pausectl's disk I/O, behind the pure core: reading a file with a size cap,
//! following `imports` on disk ([`load`], [`loaded_by`]), and writing ([`write()`], [`backup`],
//! [`lock`]): never a half-written config, never a file containerd would load.

mod chain;
mod write;

pub use chain::{ImportError, load, load_with, loaded_by};
pub use write::{
    Backup, Loaded, Lock, WriteError, backup, backup_dir, check_writable, lock, missing_dirs,
    resolve, sibling, write,
};

use std::io::{self, Read};

/// The most pausectl reads, of one file or of a chain's files together: 16 MiB, some 1,800
/// times the largest config in the wild we know of (9 KB). It bounds time and memory.
pub const MAX_BYTES: usize = 16 << 20;

/// Reads all of `r`, or fails with `FileTooLarge` past [`MAX_BYTES`].
pub fn read_capped(r: impl io::Read) -> io::Result<Vec<u8>> {
    read_capped_sized(r, 0)
}

/// Reads the whole file at `path` (its size known, so that the buffer is allocated once).
pub fn read_file(path: impl AsRef<std::path::Path>) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata().map_or(0, |m| m.len() as usize);
    read_capped_sized(file, size.min(MAX_BYTES) + 1)
}

fn read_capped_sized(r: impl io::Read, capacity: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(capacity);
    r.take(MAX_BYTES as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > MAX_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::FileTooLarge,
            format!(
                "it is larger than {} MiB, the most pausectl reads; containerd configs are a few KB, so check that this is the right file",
                MAX_BYTES >> 20
            ),
        ));
    }
    Ok(buf)
}

/// Whether the file at `path` holds exactly `bytes`: compared a block at a time, so that
/// checking a large config does not hold a second copy of it.
pub fn holds(path: &std::path::Path, bytes: &[u8]) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut block = vec![0; 64 << 10];
    let mut rest = bytes;
    loop {
        match file.read(&mut block) {
            Ok(0) => return rest.is_empty(),
            Ok(n) => match rest.strip_prefix(&block[..n]) {
                Some(r) => rest = r,
                None => return false,
            },
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

/// A file's text (bytes that are not UTF-8 replaced), or `None` when it cannot be read.
fn read_text(path: &str) -> Option<String> {
    read_file(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// The first of `candidates` that exists (a registry's host directory under `config_path`):
/// its path, its `hosts.toml` when that is not empty, and the names of its files (for the
/// docker `certs.d` layout).
pub fn host_dir(candidates: &[String]) -> Option<(String, Option<String>, Vec<String>)> {
    let dir = candidates
        .iter()
        .find(|p| std::fs::metadata(p.as_str()).is_ok())?;
    let hosts_toml = read_text(&format!("{dir}/hosts.toml")).filter(|t| !t.is_empty());
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    Some((dir.clone(), hosts_toml, files))
}

/// The texts of containerd's systemd unit and its drop-ins (sorted by name; a drop-in in
/// `/etc` hides one of the same name in `/run` or `/usr/lib`), or `None` when there is no unit.
pub fn containerd_units() -> Option<Vec<String>> {
    let dirs = [
        "/etc/systemd/system",
        "/run/systemd/system",
        "/usr/local/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/lib/systemd/system",
    ];
    let unit = dirs
        .iter()
        .find_map(|d| read_text(&format!("{d}/containerd.service")))?;
    let mut dropins: Vec<(String, String)> = Vec::new();
    for d in dirs {
        let dir = format!("{d}/containerd.service.d");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".conf"))
            .collect();
        names.sort();
        for name in names {
            if !dropins.iter().any(|(n, _)| *n == name)
                && let Some(text) = read_text(&format!("{dir}/{name}"))
            {
                dropins.push((name, text));
            }
        }
    }
    dropins.sort();
    Some(
        std::iter::once(unit)
            .chain(dropins.into_iter().map(|(_, t)| t))
            .collect(),
    )
}

/// The environment systemd gives containerd, or `None` when it has no unit here.
pub fn containerd_environment() -> Option<Vec<(String, String)>> {
    let units = containerd_units()?;
    Some(crate::pull::systemd::environment(&units, read_text))
}

/// The `containerd` that `PATH` finds, as the shell would: the first executable file.
pub fn containerd_on_path() -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join("containerd"))
        .find(|f| {
            std::fs::metadata(f).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Where `containerd --version`'s answer is kept until the next boot: `PAUSECTL_CACHE_DIR`, else
/// `/run/pausectl` (a tmpfs, emptied at boot; only root can make it).
fn release_cache() -> std::path::PathBuf {
    let dir = std::env::var_os("PAUSECTL_CACHE_DIR").unwrap_or_else(|| "/run/pausectl".into());
    std::path::Path::new(&dir).join("containerd-release")
}

/// What tells one containerd binary from another: its real path, device, inode, size, and
/// modification and change times (any rewrite, replacement or `touch` changes one of them).
/// `None` (nothing is cached) when the real file is not named `containerd`: a wrapper such as
/// snap's keeps its identity when the containerd it starts is upgraded.
pub fn binary_identity(bin: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let real = std::fs::canonicalize(bin).ok()?;
    if real.file_name()? != "containerd" {
        return None;
    }
    let m = std::fs::metadata(&real).ok()?;
    Some(format!(
        "{}\t{}:{}:{}:{}.{}:{}.{}",
        real.to_str()?,
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec()
    ))
}

/// The release cached for the binary with `identity` (see [`remember_release`]), when the
/// cache belongs to root or to this user and no one else can write it.
pub fn cached_release(identity: &str) -> Option<crate::Release> {
    let file = release_cache();
    if !trusted(&file) || !trusted(file.parent()?) {
        return None;
    }
    let text = read_text(file.to_str()?)?;
    let (id, release) = text.trim_end().rsplit_once('\t')?;
    (id == identity)
        .then(|| crate::Release::parse(release))
        .flatten()
}

/// Whether `path` (not followed if a link) belongs to root or to this user and no one else can
/// write it.
fn trusted(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return false;
    };
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| (m.uid() == 0 || m.uid() == me) && m.mode() & 0o022 == 0)
}

/// Keeps `release` as the answer of the binary with `identity` until the next boot; nothing
/// when the cache cannot be written (not root, no `/run`) or its directory is not
/// trusted (root's or this user's, and no one else can write it). Written whole to a new file
/// (never through a link), then renamed.
pub fn remember_release(identity: &str, release: crate::Release) {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let file = release_cache();
    let Some(dir) = file.parent() else { return };
    let _ = std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir);
    if !trusted(dir) {
        return;
    }
    let temp = dir.join(format!(".containerd-release.{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&temp)
        .and_then(|mut f| f.write_all(format!("{identity}\t{release}\n").as_bytes()));
    if written.is_err() || std::fs::rename(&temp, &file).is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

/// The release `bin` prints with `--version`, read from its file without starting it
/// (see `gobinary`); `None` when that cannot be done without doubt.
pub fn containerd_release_from_binary(bin: &std::path::Path) -> Option<crate::Release> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(bin).ok()?;
    crate::gobinary::release(|at, len| {
        let mut buf = vec![0; len];
        file.read_exact_at(&mut buf, at).ok()?;
        Some(buf)
    })
}

/// containerd's release from dpkg's database, without running it: when `bin` is the file that
/// the `containerd` or `containerd.io` package installed, not changed since (not newer than the
/// package's file list), that package's version, and the package's name. dpkg's own
/// `DPKG_ADMINDIR` names the database (default `/var/lib/dpkg`).
pub fn containerd_release_from_dpkg(
    bin: &std::path::Path,
) -> Option<(crate::Release, &'static str)> {
    let admin = std::env::var_os("DPKG_ADMINDIR").unwrap_or_else(|| "/var/lib/dpkg".into());
    let admin = std::path::Path::new(&admin);
    let real = std::fs::canonicalize(bin).ok()?;
    let changed = std::fs::metadata(&real).ok()?.modified().ok()?;
    ["containerd", "containerd.io"]
        .into_iter()
        .find_map(|package| {
            let list_path = admin.join(format!("info/{package}.list"));
            let installed = std::fs::metadata(&list_path).ok()?.modified().ok()?;
            let list = read_text(list_path.to_str()?)?;
            let ours = list
                .lines()
                .filter(|l| l.ends_with("/containerd"))
                .any(|l| std::fs::canonicalize(l).is_ok_and(|p| p == real));
            if !ours || changed > installed {
                return None;
            }
            let status = read_text(admin.join("status").to_str()?)?;
            crate::Release::from_dpkg_status(&status, package).map(|r| (r, package))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn holds_compares_every_byte_and_the_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let text: Vec<u8> = (0..200_000u32).map(|n| (n % 251) as u8).collect();
        std::fs::write(&path, &text).unwrap();
        assert!(super::holds(&path, &text));
        assert!(!super::holds(&path, &text[..text.len() - 1]));
        assert!(!super::holds(&path, &[&text[..], b"x"].concat()));
        // A byte changed in the second block, and in the last.
        for at in [70_000, text.len() - 1] {
            let mut other = text.clone();
            other[at] ^= 1;
            assert!(!super::holds(&path, &other));
        }
        assert!(!super::holds(&dir.path().join("missing"), b""));
        std::fs::write(&path, b"").unwrap();
        assert!(super::holds(&path, b""));
    }
}
