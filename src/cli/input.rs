//! Reading: the config (a file, or standard input), its imports, the lock of a run that
//! writes, and the containerd release (`--containerd-version`, or `containerd --version`).

use super::Source;
use super::output::trace;
use anyhow::{Context, Result, anyhow, bail};
use pausectl::disk;
use pausectl::imports::{self, Chain};
use pausectl::managed::{self, Managed};
use pausectl::release::FORMS;
use pausectl::{ChainError, Kind, Release, Warning};
use std::io;
use std::path::{Path, PathBuf};

/// Where the config comes from and what it holds.
pub(super) struct Input {
    /// What to call it in messages: the path as given, or `<stdin>`.
    pub label: String,
    /// The file to write (the end of a symlink chain); `None` for standard input.
    pub target: Option<PathBuf>,
    /// The text (empty for a missing file).
    pub text: String,
    /// The file does not exist yet.
    pub missing: bool,
    /// The tool that regenerates the file, if one does.
    pub managed: Option<Managed>,
    /// The lock of a `set` that writes, held as long as the input.
    pub lock: Option<disk::Lock>,
}

/// A file of the chain changed after it was read (another run wrote it).
#[derive(Debug)]
pub(super) struct ChangedMeanwhile(pub String);

impl std::fmt::Display for ChangedMeanwhile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` kept changing while pausectl read it (other runs?); nothing was written\nhelp: run again",
            self.0
        )
    }
}

impl std::error::Error for ChangedMeanwhile {}

/// The lock that `set` holds while it reads and writes the config file `target`.
fn lock(target: &Path) -> Result<disk::Lock> {
    let lock = disk::lock(target, &[])
        .map_err(|e| anyhow!("{e}; nothing was written"))?
        .expect("no lock is held yet");
    trace(format_args!(
        "locked the directory `{}`",
        lock.path.display()
    ));
    Ok(lock)
}

/// Reads the config; with `take_lock`, takes the lock first (a `set` that writes).
pub(super) fn read(source: &Source, take_lock: bool) -> Result<Input> {
    let (label, target, bytes, lock) = match source {
        Source::Stdin => {
            let buf = disk::read_capped(io::stdin()).context("cannot read standard input")?;
            ("<stdin>".to_string(), None, Some(buf), None)
        }
        Source::File(path) => {
            let label = path.display().to_string();
            let target = disk::resolve(path).with_context(|| format!("cannot use `{label}`"))?;
            // Held from before the read until after the write, so that concurrent runs take
            // turns instead of each overwriting what the other read.
            let lock = take_lock.then(|| lock(&target)).transpose()?;
            let bytes = match disk::read_file(&target) {
                Ok(b) => Some(b),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(e).with_context(|| format!("cannot read `{label}`")),
            };
            (label, Some(target), bytes, lock)
        }
    };
    let path = match source {
        Source::File(p) => Some(p.as_path()),
        Source::Stdin => None,
    };
    match (&target, &bytes) {
        (_, None) => trace(format_args!("`{label}` does not exist")),
        (Some(t), Some(b)) if Some(t.as_path()) != path => trace(format_args!(
            "read `{label}` (the file `{}`): {} bytes",
            t.display(),
            b.len()
        )),
        (_, Some(b)) => trace(format_args!("read `{label}`: {} bytes", b.len())),
    }
    let missing = bytes.is_none();
    let text = match bytes {
        None => String::new(),
        Some(b) => pausectl::decode(b).map_err(|error| ChainError {
            file: label.clone(),
            error,
        })?,
    };
    // The path as given and the file it leads to can each tell who owns the config.
    let managed = path.and_then(|p| {
        managed::detect(p, &text, template_beside(p)).or_else(|| {
            let t = target.as_deref()?;
            managed::detect(t, &text, template_beside(t))
        })
    });
    Ok(Input {
        label,
        target,
        text,
        missing,
        managed,
        lock,
    })
}

/// The files containerd loads with this config: the config itself (its text moved out of
/// `input`, so that a large one is held once), then its imports.
pub(super) fn chain(source: &Source, input: &mut Input, release: Option<Release>) -> Result<Chain> {
    let text = std::mem::take(&mut input.text);
    let path = match source {
        Source::File(path) if !input.missing => path,
        _ => {
            let note = (!input.missing && imports::declared(&text)).then(|| {
                Warning::new(Kind::ImportsNotFollowed, "the imports of standard input are not followed: run on the config file to include them")
            });
            return Ok(Chain {
                files: vec![(input.label.clone(), text)],
                notes: note.into_iter().collect(),
                ..Chain::default()
            });
        }
    };
    let mut chain = disk::load(path, text, release)?;
    chain.files[0].0 = input.label.clone();
    for (file, text) in &chain.files[1..] {
        trace(format_args!("imports `{file}`: {} bytes", text.len()));
    }
    for file in &chain.missing {
        trace(format_args!(
            "imports `{file}`, which does not exist: containerd stops loading there"
        ));
    }
    Ok(chain)
}

/// Whether microk8s's `containerd-template.toml` sits beside the config at `path`.
fn template_beside(path: &Path) -> bool {
    path.with_file_name("containerd-template.toml").exists()
}

/// The release of the `containerd` on `PATH`, without starting it when that can be helped (it
/// takes some 14 to 24 ms): read from the binary's file, else from dpkg's database when a
/// package installed it, else from what an earlier run since boot
/// learnt of that very file, else from its `--version`; `None` when there is none or it says
/// nothing usable.
fn detect_release() -> Option<Release> {
    let bin = disk::containerd_on_path()?;
    if let Some(release) = disk::containerd_release_from_binary(&bin) {
        trace(format_args!(
            "containerd release {release}, the version `{} --version` prints, read from its file",
            bin.display()
        ));
        return Some(release);
    }
    if let Some((release, package)) = disk::containerd_release_from_dpkg(&bin) {
        trace(format_args!(
            "containerd release {release}, from dpkg: package {package} installed {}",
            bin.display()
        ));
        return Some(release);
    }
    let identity = disk::binary_identity(&bin);
    if let Some(release) = identity.as_deref().and_then(disk::cached_release) {
        trace(format_args!(
            "containerd release {release}, from `{} --version` earlier since boot (unchanged since)",
            bin.display()
        ));
        return Some(release);
    }
    let out = std::process::Command::new(&bin)
        .arg("--version")
        .output()
        .ok()?;
    let release = Release::from_version_output(&String::from_utf8_lossy(&out.stdout))?;
    trace(format_args!(
        "containerd release {release}, from `{} --version`",
        bin.display()
    ));
    if let Some(identity) = identity {
        let _ = LEARNT.set((identity, release));
    }
    Some(release)
}

/// A release this run learnt by starting containerd, for [`remember_release`].
static LEARNT: std::sync::OnceLock<(String, Release)> = std::sync::OnceLock::new();

/// Keeps what this run learnt from `containerd --version` for later runs until the next boot;
/// called only when the run succeeded (a refused run creates nothing).
pub(super) fn remember_release() {
    if let Some((identity, release)) = LEARNT.get() {
        disk::remember_release(identity, *release);
    }
}

/// The release `--containerd-version` names, and how it was found (`detected`, `unknown`,
/// `given`).
pub(super) fn release(arg: &str) -> Result<(Option<Release>, &'static str)> {
    if arg == "auto" {
        let found = detect_release();
        let how = match found {
            Some(_) => "detected",
            None => {
                trace("containerd release unknown: no `containerd` on PATH answered `--version`");
                "unknown"
            }
        };
        return Ok((found, how));
    }
    match Release::parse(arg) {
        Some(r) => {
            trace(format_args!(
                "containerd release {r}, from --containerd-version"
            ));
            Ok((Some(r), "given"))
        }
        None => {
            bail!("`--containerd-version {arg}` is not a containerd release: use `auto`, {FORMS}")
        }
    }
}

/// containerd's environment from its systemd unit (for the proxy it uses), or `None` (then
/// pausectl's own) when it has none here.
pub(super) fn containerd_env() -> Option<Vec<(String, String)>> {
    let env = disk::containerd_environment();
    match &env {
        Some(_) => trace("proxy settings: containerd's systemd unit and drop-ins"),
        None => trace("proxy settings: pausectl's environment (no containerd.service found)"),
    }
    env
}
