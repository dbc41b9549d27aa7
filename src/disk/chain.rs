//! Following a config's `imports` on disk as containerd does: literal paths and Go globs,
//! breadth-first, stopping at a missing file; and whether some release would load a given
//! path (so that nothing pausectl writes is ever loaded).

use super::read_file;
use crate::goglob;
use crate::imports::{Chain, clean, dir, escape, imports_doc};
use crate::release::Release;
use crate::warning::{Kind, Warning};
use std::io;
use std::path::Path;
use toml_edit::Item;

/// More files than any real node has: a guard against pathological globs.
const MAX_FILES: usize = 1000;

/// A file of the chain that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The OS refused to read it.
    #[error("cannot read the imported file `{path}`: {error}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        error: io::Error,
    },
    /// An `imports` entry names, or its glob matches, a directory.
    #[error(
        "`{path}` is a directory, which an `imports` entry names or its glob matches (in Go's globs `**` is `*`: it matches directories and does not recurse); containerd fails to read it and does not start"
    )]
    Directory {
        /// The directory.
        path: String,
    },
    /// A directory an import glob covers cannot be listed.
    #[error("cannot list `{path}`, which an `imports` glob covers: {error}")]
    ReadDir {
        /// The directory.
        path: String,
        /// Why.
        error: io::Error,
    },
    /// It is not UTF-8.
    #[error("the imported file `{path}` is not UTF-8 text")]
    NotUtf8 {
        /// The file.
        path: String,
    },
    /// An `imports` entry containerd cannot use.
    #[error(
        "`{path}`: `imports` must be an array of paths (strings); containerd refuses this file"
    )]
    BadImports {
        /// The importing file.
        path: String,
    },
    /// A glob that Go's `filepath.Glob` rejects.
    #[error("`{path}`: the import pattern `{pattern}` is malformed; containerd refuses it")]
    BadPattern {
        /// The importing file.
        path: String,
        /// The pattern.
        pattern: String,
    },
    /// Too much text.
    #[error(
        "the files `{path}` imports add up to more than {} MiB, the most pausectl reads (containerd configs are a few KB)",
        super::MAX_BYTES >> 20
    )]
    TooLarge {
        /// The main config.
        path: String,
    },
    /// Too many files.
    #[error("the imports of `{path}` add up to more than {MAX_FILES} files")]
    TooMany {
        /// The main config.
        path: String,
    },
}

/// The `imports` of one file, resolved as `release` resolves them; globs also match the
/// paths in `overlay` (files about to be written).
fn resolve(
    parent: &str,
    text: &str,
    release: Option<Release>,
    overlay: &[(String, String)],
    chain: &mut Chain,
) -> Result<Vec<String>, ImportError> {
    let notes = &mut chain.notes;
    // A file that is not TOML is reported by the caller, which parses it again.
    let Some(doc) = imports_doc(text) else {
        return Ok(Vec::new());
    };
    let Some(item) = doc.get("imports") else {
        return Ok(Vec::new());
    };
    let bad = || ImportError::BadImports {
        path: parent.to_string(),
    };
    let entries = match item {
        Item::Value(v) => v.as_array().ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    // A file of version 3 or later is not one for 1.x.
    let for_1x = doc
        .get("version")
        .and_then(Item::as_integer)
        .is_none_or(|v| v <= 2);
    let mut out = Vec::new();
    for entry in entries.iter() {
        let entry = entry.as_str().ok_or_else(bad)?;
        chain.entries.push((parent.to_string(), entry.to_string()));
        let relative = !entry.starts_with('/');
        let is_glob = entry.contains('*');
        let path = if is_glob && release.is_some_and(|r| r.globs_as_written()) {
            // These releases glob the entry as written: not cleaned, and a relative one from
            // the working directory (source: `resolveImports` before 1.6.29 and 1.7.16).
            if relative {
                notes.push(Warning::new(Kind::RelativeGlob, format!(
                    "containerd {} resolves the relative glob `{entry}` in `{parent}` against its working directory (`/` when systemd starts it), not the file's directory; use an absolute path",
                    release.map_or(String::new(), |r| r.to_string())
                )).file(parent));
            }
            entry.to_string()
        } else if is_glob && relative && release.is_none() && for_1x {
            notes.push(Warning::new(Kind::RelativeGlob, format!(
                "containerd 1.6 before 1.6.29 and 1.7 before 1.7.16 resolve the relative glob `{entry}` in `{parent}` against their working directory (`/` when systemd starts them), not the file's directory, and may load other files; use an absolute path, or pass --containerd-version"
            )).file(parent));
            clean(&format!("{}/{entry}", dir(parent)))
        } else if relative {
            clean(&format!("{}/{entry}", dir(parent)))
        } else {
            clean(entry)
        };
        if !is_glob {
            out.push(path);
            continue;
        }
        out.extend(expand(&path, parent, entry, overlay)?);
    }
    Ok(out)
}

/// The files the glob `path` (the `entry` of `parent`, resolved) matches, on disk and in
/// `overlay`, in Go's order.
fn expand(
    path: &str,
    parent: &str,
    entry: &str,
    overlay: &[(String, String)],
) -> Result<Vec<String>, ImportError> {
    let bad = || ImportError::BadPattern {
        path: parent.to_string(),
        pattern: entry.to_string(),
    };
    // A glob that matches nothing is normal (2.2+ import an empty conf.d by default).
    let mut found: Vec<String> = match goglob::glob(path) {
        Ok(m) => m.iter().map(|p| clean(p)).collect(),
        Err(goglob::GlobError::BadPattern) => return Err(bad()),
        Err(goglob::GlobError::Io(path, error)) => {
            return Err(ImportError::ReadDir { path, error });
        }
    };
    let extra: Vec<String> = overlay
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| goglob::glob_matches(path, p) && !found.contains(p))
        .collect();
    found.extend(extra);
    found.sort_by(|a, b| goglob::glob_order(a, b));
    Ok(found)
}

/// `path` made absolute against the working directory, lexically cleaned.
fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        return clean(path);
    }
    let cwd =
        std::env::current_dir().map_or_else(|_| "/".into(), |d| d.to_string_lossy().into_owned());
    clean(&format!("{cwd}/{path}"))
}

/// `path` with the directories before its last component resolved through symlinks, when they
/// exist.
fn canonical_dir(path: &str) -> Option<String> {
    let (dir, name) = path.rsplit_once('/')?;
    let dir = std::fs::canonicalize(if dir.is_empty() { "/" } else { dir }).ok()?;
    Some(clean(&format!("{}/{name}", dir.to_string_lossy())))
}

/// The `imports` entry (`(importing file, entry)`, from [`Chain::entries`]) under which some
/// containerd release would load a file at `path`, if one would. Every release takes an entry
/// with a `*` as a Go glob and any other as a literal path; a relative entry is joined to the
/// importing file's directory, and a relative glob, for 1.6 before 1.6.29 and 1.7 before
/// 1.7.16, to the daemon's working directory (`/` under systemd; pausectl's own is tried too).
/// Symlinked directories on either side are followed.
pub fn loaded_by<'a>(entries: &'a [(String, String)], path: &Path) -> Option<&'a (String, String)> {
    let path = absolute(&path.to_string_lossy());
    let paths: Vec<String> = [Some(path.clone()), canonical_dir(&path)]
        .into_iter()
        .flatten()
        .collect();
    entries.iter().find(|(file, entry)| {
        let is_glob = entry.contains('*');
        let bases = if entry.starts_with('/') {
            vec![String::new()]
        } else if is_glob {
            vec![dir(&absolute(file)), absolute("."), "/".into()]
        } else {
            vec![dir(&absolute(file))]
        };
        bases.iter().any(|base| {
            // containerd globs the joined path as it is: meta characters in the directory's
            // name are pattern characters too.
            let literal = if base.is_empty() {
                clean(entry)
            } else {
                clean(&format!("{base}/{entry}"))
            };
            let glob = literal.clone();
            // The pattern again with its directory part (the levels without meta characters)
            // resolved through symlinks.
            let lead = glob.split('/').take_while(|c| !goglob::has_meta(c)).count();
            let parts: Vec<&str> = glob.split('/').collect();
            let resolved = (lead > 1 && lead < parts.len())
                .then(|| std::fs::canonicalize(parts[..lead].join("/")).ok())
                .flatten()
                .map(|d| {
                    clean(&format!(
                        "{}/{}",
                        escape(&d.to_string_lossy()),
                        parts[lead..].join("/")
                    ))
                });
            if !is_glob {
                let literals = [Some(literal.clone()), canonical_dir(&literal)];
                return paths
                    .iter()
                    .any(|p| literals.iter().flatten().any(|l| l == p));
            }
            paths.iter().any(|p| {
                goglob::glob_matches(&glob, p)
                    || resolved
                        .as_deref()
                        .is_some_and(|r| goglob::glob_matches(r, p))
            })
        })
    })
}

/// Loads the chain that starts at `main` (its path as given to containerd, and its text, which
/// the chain's first file holds: a `String` is moved there, not copied).
pub fn load(
    main: &Path,
    main_text: impl Into<String>,
    release: Option<Release>,
) -> Result<Chain, ImportError> {
    load_with(main, main_text, release, &[])
}

/// Like [`load`], as if the files in `overlay` (cleaned paths and texts) existed.
pub fn load_with(
    main: &Path,
    main_text: impl Into<String>,
    release: Option<Release>,
    overlay: &[(String, String)],
) -> Result<Chain, ImportError> {
    let main_text = main_text.into();
    let main = main.to_string_lossy().into_owned();
    let mut chain = Chain::default();
    let mut seen = vec![main.clone()];
    let mut pending = resolve(&main, &main_text, release, overlay, &mut chain)?;
    chain.files.push((main.clone(), main_text));
    while !pending.is_empty() {
        let path = pending.remove(0);
        if seen.contains(&path) {
            continue;
        }
        seen.push(path.clone());
        if let Some((_, text)) = overlay.iter().find(|(p, _)| *p == path) {
            pending.extend(resolve(&path, text, release, overlay, &mut chain)?);
            chain.files.push((path, text.clone()));
            continue;
        }
        let bytes = match read_file(&path) {
            Ok(b) => b,
            // containerd stops loading at a missing file: 1.x refuses to start, 2.x ignores the
            // error but reads nothing after it (measured with 2.1.9).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                chain.missing.push(path);
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
                return Err(ImportError::Directory { path });
            }
            Err(error) => return Err(ImportError::Read { path, error }),
        };
        let text =
            String::from_utf8(bytes).map_err(|_| ImportError::NotUtf8 { path: path.clone() })?;
        pending.extend(resolve(&path, &text, release, overlay, &mut chain)?);
        chain.files.push((path, text));
        if chain.files.len() > MAX_FILES {
            return Err(ImportError::TooMany { path: main });
        }
        if chain.files.iter().map(|(_, t)| t.len()).sum::<usize>() > super::MAX_BYTES {
            return Err(ImportError::TooLarge { path: main });
        }
    }
    for (path, _) in &chain.files[1..] {
        if looks_left_behind(path) {
            chain.notes.push(Warning::new(Kind::LeftBehind, format!(
                "containerd loads `{path}` as a config, and its name looks like a backup or temp file (left by an editor, a package manager or an older pausectl?); move it out of the directory the imports glob covers"
            )).file(path));
        }
    }
    Ok(chain)
}

/// A file name that backups, editors and package managers leave beside the file they copy.
fn looks_left_behind(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    let numbered = name
        .rsplit_once(".bak.")
        .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    numbered
        || name.ends_with('~')
        || [
            ".bak",
            ".pausectl",
            ".orig",
            ".old",
            ".swp",
            ".tmp",
            ".dpkg-old",
            ".dpkg-dist",
            ".dpkg-new",
            ".rpmsave",
            ".rpmnew",
            ".ucf-old",
            ".ucf-dist",
        ]
        .iter()
        .any(|s| name.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn loads_breadth_first_skipping_repeats() {
        let d = tempfile::tempdir().unwrap();
        let p = |s: &str| d.path().join(s).to_string_lossy().into_owned();
        fs::create_dir(d.path().join("conf.d")).unwrap();
        // main imports a (which imports c) and b; then a glob that matches a and b again.
        let main = format!(
            "imports = [\"conf.d/a.toml\", \"{}\", \"conf.d/*.toml\", \"missing.toml\"]\n",
            p("conf.d/b.toml")
        );
        fs::write(p("config.toml"), &main).unwrap();
        fs::write(
            p("conf.d/a.toml"),
            "imports = [\"c.toml\", \"../config.toml\"]\n",
        )
        .unwrap();
        fs::write(p("conf.d/b.toml"), "").unwrap();
        fs::write(p("conf.d/c.toml"), "").unwrap();
        let chain = load(Path::new(&p("config.toml")), &main, None).unwrap();
        let names: Vec<&str> = chain
            .files
            .iter()
            .map(|(f, _)| f.rsplit('/').next().unwrap())
            .collect();
        assert_eq!(names, ["config.toml", "a.toml", "b.toml", "c.toml"]);
        assert_eq!(chain.missing, [p("missing.toml")]);
        // Loading stops at a missing file: what comes after it is not read.
        let main = "imports = [\"missing.toml\", \"conf.d/b.toml\"]\n";
        let chain = load(Path::new(&p("config.toml")), main, None).unwrap();
        assert_eq!(chain.files.len(), 1);
        assert_eq!(chain.missing, [p("missing.toml")]);
    }
    #[test]
    fn overlay_globs_do_not_cross_directories() {
        let d = tempfile::tempdir().unwrap();
        let main = d.path().join("config.toml").to_string_lossy().into_owned();
        let sub = format!("{}/conf.d/sub/zz.toml", d.path().display());
        let top = format!("{}/conf.d/zz.toml", d.path().display());
        let overlay = [(sub.clone(), String::new()), (top.clone(), String::new())];
        let chain = load_with(
            Path::new(&main),
            "imports = [\"conf.d/*.toml\"]\n",
            None,
            &overlay,
        )
        .unwrap();
        let names: Vec<&String> = chain.files.iter().map(|(f, _)| f).collect();
        assert_eq!(names, [&main, &top]);
    }

    #[test]
    fn refuses_what_containerd_refuses() {
        let bad = |text: &str| {
            resolve(
                "/etc/containerd/config.toml",
                text,
                None,
                &[],
                &mut Chain::default(),
            )
        };
        assert!(bad("imports = \"x.toml\"\n").is_err());
        assert!(bad("imports = [1]\n").is_err());
        assert!(bad("[imports]\n").is_err());
        assert!(bad("imports = [\"/tmp/[*.toml\"]\n").is_err());
        assert_eq!(bad("imports = []\n").unwrap(), Vec::<String>::new());
    }
}

#[cfg(test)]
mod loaded_by_tests {
    use super::*;
    use crate::imports::entries;

    fn e(file: &str, entry: &str) -> Vec<(String, String)> {
        vec![(file.into(), entry.into())]
    }

    #[test]
    fn globs_are_gos_and_literals_are_exact() {
        let loaded =
            |entries: &[(String, String)], p: &str| loaded_by(entries, Path::new(p)).is_some();
        let star = e("/etc/containerd/config.toml", "conf.d/*");
        assert!(loaded(&star, "/etc/containerd/conf.d/20-cri.toml.bak"));
        assert!(loaded(
            &star,
            "/etc/containerd/conf.d/.20-cri.toml.pausectl"
        ));
        assert!(!loaded(&star, "/etc/containerd/20-cri.toml.bak"));
        assert!(!loaded(&star, "/etc/containerd/conf.d/sub/x.toml"));
        let toml = e(
            "/etc/containerd/config.toml",
            "/etc/containerd/conf.d/*.toml",
        );
        assert!(!loaded(&toml, "/etc/containerd/conf.d/20-cri.toml.bak"));
        assert!(loaded(&toml, "/etc/containerd/conf.d/.x.toml"));
        // `**` is `*`: no recursion.
        let twice = e("/etc/containerd/config.toml", "conf.d/**");
        assert!(!loaded(&twice, "/etc/containerd/conf.d/sub/x.toml.bak"));
        // Without a `*`, every release opens the entry as it is, `?` and `[` included.
        let lit = e("/etc/containerd/config.toml", "drop?.toml");
        assert!(loaded(&lit, "/etc/containerd/drop?.toml"));
        assert!(!loaded(&lit, "/etc/containerd/dropx.toml"));
        // A relative glob: old 1.6/1.7 resolved it against the daemon's working directory.
        let rel = e("/etc/containerd/config.toml", "*.bak");
        assert!(loaded(&rel, "/etc/containerd/config.toml.bak"));
        assert!(loaded(&rel, "/config.toml.bak"));
    }

    #[test]
    fn the_importing_directory_is_part_of_the_pattern() {
        // containerd globs `Join(dir, entry)` as it is: `[ab]` in the directory is a class.
        let entries = e("/srv/x[ab]/config.toml", "conf.d/*");
        assert!(loaded_by(&entries, Path::new("/srv/xa/conf.d/20.toml.bak")).is_some());
        assert!(loaded_by(&entries, Path::new("/srv/x[ab]/conf.d/20.toml.bak")).is_none());
    }

    #[test]
    fn every_case_of_imports_is_an_entry() {
        assert_eq!(
            entries("IMPORTS = ['a/*']\nImports = ['b']\n"),
            ["a/*", "b"]
        );
        assert_eq!(
            entries("version = 2\n[x]\nimports = ['c']\n"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn symlinked_directories_are_followed() {
        let d = tempfile::tempdir().unwrap();
        let real = d.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, d.path().join("conf.d")).unwrap();
        let main = d.path().join("config.toml").to_string_lossy().into_owned();
        let entries = e(&main, "conf.d/*");
        assert!(loaded_by(&entries, &real.join("x.bak")).is_some());
        let entries = e(&main, "conf.d/x.toml");
        assert!(loaded_by(&entries, &real.join("x.toml")).is_some());
    }
}
