//! Writing what `set` planned: which file each change goes to, locks, backups, and the writes
//! themselves (imported files first, the main config last), each atomic.

use super::input::ChangedMeanwhile;
use super::output::trace;
use anyhow::{Context, Result, anyhow, bail};
use pausectl::{FilePlan, Kind, Warning, disk, imports};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file `set` writes.
pub(super) struct Target {
    /// Its index in the plan.
    pub index: usize,
    /// The file (the end of its symlinks).
    pub path: PathBuf,
    /// Where its backup goes, with `--backup`.
    pub backup: Option<PathBuf>,
}

/// Every `imports` entry of the plan's files, before and after the change, with the file that
/// has it: what decides which other files containerd loads, now and after the write.
pub(super) fn import_entries(files: &[FilePlan]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in files {
        let new = f.changed().then(|| imports::entries(&f.new));
        for entry in imports::entries(&f.old)
            .into_iter()
            .chain(new.into_iter().flatten())
        {
            if !out.iter().any(|(l, e)| *l == f.path && *e == entry) {
                out.push((f.path.clone(), entry));
            }
        }
    }
    out
}

/// The files each changed entry of `files` is written to, and where their backups go. One file
/// reached under two spellings must not get two different texts; a read-only file is refused;
/// hard links are warned about; a backup goes nowhere containerd loads it.
pub(super) fn targets(
    files: &[FilePlan],
    changes: &[usize],
    main: &Path,
    backup: Option<Option<&Path>>,
    entries: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Target>> {
    let mut targets: Vec<Target> = Vec::new();
    // Each target's canonical path, to find one file reached under two spellings.
    let mut keys: Vec<PathBuf> = Vec::new();
    for &i in changes {
        let (label, file) = (files[i].path.as_str(), &files[i]);
        let target = if i == 0 {
            main.to_path_buf()
        } else {
            disk::resolve(Path::new(label)).with_context(|| format!("cannot use `{label}`"))?
        };
        let key = std::fs::canonicalize(&target).unwrap_or_else(|_| target.clone());
        if let Some(k) = keys.iter().position(|k| *k == key) {
            let j = targets[k].index;
            if files[j].new != file.new {
                bail!(
                    "containerd loads `{}` twice, as `{}` and `{label}`, and the two would need different edits; nothing was written\nhelp: spell the imports of that file one way",
                    key.display(),
                    files[j].path
                );
            }
            continue;
        }
        disk::check_writable(&target)
            .map_err(|e| anyhow!("cannot write `{label}`: {e}; nothing was written"))?;
        if file.created {
            refuse_loaded_dirs(&target, entries, &format!("creating `{label}`"))?;
        }
        let links = std::fs::metadata(&target).map_or(1, |m| m.nlink());
        if links > 1 {
            let text = format!(
                "`{label}` has {links} hard links; pausectl replaces it by rename, so its other names keep the old text"
            );
            warnings.push(Warning::new(Kind::HardLinks, text).file(label));
        }
        let backup = match backup.filter(|_| !file.created) {
            None => None,
            Some(given) => Some(backup_place(label, &target, given, entries, warnings)?),
        };
        targets.push(Target {
            index: i,
            path: target,
            backup,
        });
        keys.push(key);
    }
    Ok(targets)
}

/// Where the backup of `target` goes (`given`: `--backup-dir`), or why it cannot go anywhere
/// containerd would not load it.
fn backup_place(
    label: &str,
    target: &Path,
    given: Option<&Path>,
    entries: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<PathBuf> {
    let loaded = |p: &Path| disk::loaded_by(entries, p).is_some();
    let dir = match disk::backup_dir(target, given, &loaded) {
        Ok(dir) => dir,
        Err(at) => {
            let (file, entry) = disk::loaded_by(entries, &at).cloned().unwrap_or_default();
            let place = match given {
                Some(d) => format!("in --backup-dir `{}`", d.display()),
                None => "beside it or in any directory above".into(),
            };
            bail!(
                "a backup of `{label}` {place} would be loaded by containerd: `{file}` imports `{entry}`, which matches `{}`; nothing was written\nhelp: pass a --backup-dir that no `imports` entry covers, e.g. /var/backups/pausectl",
                at.display()
            );
        }
    };
    let beside = disk::sibling(target, ".bak");
    if given.is_none() && loaded(&beside) {
        let (file, entry) = disk::loaded_by(entries, &beside)
            .cloned()
            .unwrap_or_default();
        let text = format!(
            "the backup of `{label}` goes to `{}`, not beside it, where containerd would load it (`{file}` imports `{entry}`); --backup-dir chooses the place",
            dir.display()
        );
        warnings.push(Warning::new(Kind::BackupMoved, text).file(label));
    }
    refuse_loaded_dirs(&dir.join("backup"), entries, "--backup-dir")?;
    Ok(dir)
}

/// "; run as root" for an error that says permission was denied.
fn root_hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::PermissionDenied {
        "; run as root (sudo)"
    } else {
        ""
    }
}

/// Refuses (nothing written) when a directory that writing `path` would create is one an
/// `imports` entry loads: containerd fails to read a directory and does not start.
fn refuse_loaded_dirs(path: &Path, entries: &[(String, String)], what: &str) -> Result<()> {
    let missing = disk::missing_dirs(path);
    // The highest is built under a temporary name beside it first.
    let staging = missing.last().map(|top| {
        let name = top.file_name().unwrap_or_default().to_string_lossy();
        top.with_file_name(format!(".{name}.pausectl"))
    });
    for d in missing.iter().chain(&staging) {
        if let Some((file, entry)) = disk::loaded_by(entries, d) {
            bail!(
                "{what} needs the directory `{}`, which containerd would try to load as a config (`{file}` imports `{entry}`) and then refuse to start; nothing was written\nhelp: choose a path outside every `imports` glob",
                d.display()
            );
        }
    }
    Ok(())
}

/// Locks the directory of each of `targets` besides the one `held` (in path order, so that two
/// runs take them in the same order; a directory already held is not locked again).
fn lock_other_dirs(targets: &[Target], held: Option<&disk::Lock>) -> Result<Vec<disk::Lock>> {
    let mut locks: Vec<disk::Lock> = Vec::new();
    let mut paths: Vec<&Path> = targets.iter().map(|t| t.path.as_path()).collect();
    paths.sort();
    for path in paths {
        let mut all: Vec<&disk::Lock> = locks.iter().collect();
        all.extend(held);
        if let Some(l) = disk::lock(path, &all).map_err(|e| anyhow!("{e}; nothing was written"))? {
            trace(format_args!("locked the directory `{}`", l.path.display()));
            locks.push(l);
        }
    }
    Ok(locks)
}

/// The error of a write that failed; `written` names the files of the chain written before
/// it, `backups` the backups kept of them.
fn write_error(
    label: &str,
    e: &disk::WriteError,
    written: &[&str],
    backups: &[&Path],
) -> anyhow::Error {
    if e.replaced {
        return anyhow!(
            "`{label}` now holds the new config, but syncing its directory failed ({}); a crash before the next sync could bring back the old file",
            e.error
        );
    }
    let list = |v: Vec<String>| v.join(", ");
    let mut backup = String::new();
    if !written.is_empty() {
        backup = format!(
            "; {} was written already (run again to finish)",
            list(written.iter().map(|w| format!("`{w}`")).collect())
        );
    }
    if !backups.is_empty() {
        backup.push_str(&format!(
            " (its backup: {})",
            list(
                backups
                    .iter()
                    .map(|b| format!("`{}`", b.display()))
                    .collect()
            )
        ));
    }
    let help = match e.error.kind() {
        io::ErrorKind::ResourceBusy => {
            "\nhelp: the config is a mount point (a bind mount?), which cannot be replaced by rename; edit the file it is mounted from"
        }
        io::ErrorKind::PermissionDenied => "\nhelp: run as root (sudo)",
        _ => "",
    };
    anyhow!(
        "cannot write `{label}`: {}; the file is left as it was{backup}{help}",
        e.error
    )
}

/// Checks, with every target's directory locked, that each file still holds what was read:
/// another run may have written one since (then the whole run starts over: see `cli::main`).
pub(super) fn unchanged(
    files: &[FilePlan],
    targets: &[Target],
    held: Option<&disk::Lock>,
) -> Result<Vec<disk::Lock>> {
    // A drop-in in another directory may belong to another config's chain too: its directory
    // is locked as well.
    let locks = lock_other_dirs(targets, held)?;
    for t in targets {
        let file = &files[t.index];
        if !file.created && !disk::holds(&t.path, file.old.as_bytes()) {
            return Err(ChangedMeanwhile(file.path.clone()).into());
        }
    }
    Ok(locks)
}

/// Writes every target: all backups first (a failed one leaves nothing written), then the
/// imported files, then the main config, which a rerun starts from. Returns the backups kept,
/// the main config's first.
pub(super) fn write_all(
    files: &[FilePlan],
    targets: &[Target],
    entries: &[(String, String)],
) -> Result<Vec<PathBuf>> {
    let loaded = |p: &Path| disk::loaded_by(entries, p).is_some();
    let mut saved: Vec<(usize, disk::Backup)> = Vec::new();
    for t in targets {
        let Some(dir) = &t.backup else { continue };
        let (label, old) = (files[t.index].path.as_str(), &files[t.index].old);
        match disk::backup(&t.path, old.as_bytes(), dir, &loaded) {
            Ok(b) => {
                trace(format_args!("backup of `{label}`: `{}`", b.path.display()));
                saved.push((t.index, b));
            }
            Err(e) => {
                saved.into_iter().rev().for_each(|(_, b)| b.discard());
                bail!(
                    "cannot write a backup of `{label}` in `{}`: {e}{}; nothing was written",
                    dir.display(),
                    root_hint(&e)
                );
            }
        }
    }
    let mut done: Vec<usize> = Vec::new();
    for t in targets.iter().rev() {
        trace(format_args!("writing `{}`", t.path.display()));
        if let Err(e) = disk::write(&t.path, files[t.index].new.as_bytes(), &loaded) {
            if e.replaced {
                done.push(t.index);
            }
            // A backup of a file left as it was is no backup: only those of files written stay.
            let (keep, drop): (Vec<_>, Vec<_>) =
                saved.into_iter().partition(|(i, _)| done.contains(i));
            drop.into_iter().rev().for_each(|(_, b)| b.discard());
            let kept: Vec<&Path> = keep.iter().map(|(_, b)| b.path.as_path()).collect();
            let others: Vec<&str> = done
                .iter()
                .filter(|&&i| i != t.index)
                .map(|&i| files[i].path.as_str())
                .collect();
            return Err(write_error(&files[t.index].path, &e, &others, &kept));
        }
        done.push(t.index);
    }
    saved.sort_by_key(|(i, _)| *i);
    Ok(saved.into_iter().map(|(_, b)| b.path).collect())
}
