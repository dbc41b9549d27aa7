//! containerd's `imports`: which files it loads after the main config, and in which order.
//!
//! As containerd does it (measured with 1.6.20, 1.7.24, 2.1.9): breadth-first from the main
//! file; an entry containing `*` is a glob (matches sorted by name), others are literal paths;
//! relative entries are joined to the importing file's directory (1.6 before 1.6.29 and 1.7
//! before 1.7.16 resolved relative globs against the working directory instead); a path seen
//! before, compared as a string after Go's `filepath.Clean`, is skipped, so cycles end; loading
//! stops at a missing file (1.x then refuses to start; 2.x uses what it loaded before it).

use crate::release::Release;
use std::io::{self, Read};
use std::path::Path;
use toml_edit::{ImDocument, Item};

/// More files than any real node has: a guard against pathological globs.
const MAX_FILES: usize = 1000;

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

/// The files containerd loads, main config first, in load order.
#[derive(Debug, Default)]
pub struct Chain {
    /// Each file's path (as containerd spells it) and text.
    pub files: Vec<(String, String)>,
    /// The literal import that does not exist, where loading stopped (at most one).
    pub missing: Vec<String>,
    /// What the user should know about how the imports resolve.
    pub notes: Vec<String>,
}

/// A file of the chain that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The OS refused to read it.
    #[error("cannot read the imported file `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
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
        MAX_BYTES >> 20
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

/// Go's `filepath.Clean`, lexically: no `.`, no `x/..`, no doubled or trailing separators.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            _ => parts.push(part),
        }
    }
    match (rooted, parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".into(),
        (false, false) => parts.join("/"),
    }
}

/// Go's `filepath.Dir`.
fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".into(),
    }
}

/// Releases that resolved a relative glob against the working directory, not the file's.
fn globs_from_cwd(r: Option<Release>) -> bool {
    r.is_some_and(|r| {
        r.major == 1
            && ((r.minor == 6 && r.patch.is_some_and(|p| p < 29))
                || (r.minor == 7 && r.patch.is_some_and(|p| p < 16))
                || r.minor < 6)
    })
}

/// The `imports` of one file, resolved as `release` resolves them; globs also match the
/// paths in `overlay` (files about to be written).
/// The text before the first table header, where a top-level key such as `imports` must be.
/// A line that starts with `[` inside a multi-line string or array cuts it short, but then
/// the part does not parse (the string or array is left open), and the caller parses it all.
fn root_section(text: &str) -> &str {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('[') {
            return &text[..at];
        }
        at += line.len();
    }
    text
}

/// Whether `text` can have an `imports` key: without the word, or an escape in a quoted key
/// that could spell it, it cannot, and parsing it to look would be wasted.
fn may_import(text: &str) -> bool {
    text.contains("imports") || text.contains("\\u") || text.contains("\\U")
}

fn resolve(
    parent: &str,
    text: &str,
    release: Option<Release>,
    overlay: &[(String, String)],
    notes: &mut Vec<String>,
) -> Result<Vec<String>, ImportError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !may_import(text) {
        return Ok(Vec::new());
    } // Only the part before the first table header, unless a header may name `imports` too.
    let head = root_section(text);
    let head = if may_import(&text[head.len()..]) {
        text
    } else {
        head
    };
    // A file that is not TOML is reported by the caller, which parses it again.
    let Ok(doc) = ImDocument::parse(head).or_else(|_| ImDocument::parse(text)) else {
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
    let mut out = Vec::new();
    for entry in entries.iter() {
        let entry = entry.as_str().ok_or_else(bad)?;
        let relative = !entry.starts_with('/');
        let is_glob = entry.contains('*');
        let path = if is_glob && relative && globs_from_cwd(release) {
            notes.push(format!(
                "containerd {} resolves the relative glob `{entry}` in `{parent}` against its working directory (`/` when systemd starts it), not the file's directory; use an absolute path",
                release.map_or(String::new(), |r| r.to_string())
            ));
            clean(entry)
        } else if relative {
            clean(&format!("{}/{entry}", dir(parent)))
        } else {
            clean(entry)
        };
        if !is_glob {
            out.push(path);
            continue;
        }
        let matches = glob::glob(&path).map_err(|_| ImportError::BadPattern {
            path: parent.to_string(),
            pattern: entry.to_string(),
        })?;
        // A glob that matches nothing is normal (2.2+ import an empty conf.d by default).
        let mut found: Vec<String> = matches
            .flatten()
            .map(|p| clean(&p.to_string_lossy()))
            .collect();
        let pattern = glob::Pattern::new(&path).expect("glob() accepted it");
        // As in Go's filepath.Glob, `*` does not cross a `/`.
        let options = glob::MatchOptions {
            require_literal_separator: true,
            ..glob::MatchOptions::new()
        };
        let extra: Vec<String> = overlay
            .iter()
            .map(|(p, _)| p.clone())
            .filter(|p| pattern.matches_with(p, options) && !found.contains(p))
            .collect();
        found.extend(extra);
        found.sort();
        out.extend(found);
    }
    Ok(out)
}

/// `text` with `path` appended to its root `imports` array (created after the root keys, before
/// the first table, when there is none). Only those bytes change.
pub fn add_import(text: &str, path: &str) -> Result<String, String> {
    let (bom, raw) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    let doc = ImDocument::parse(raw).map_err(|e| e.message().trim().to_string())?;
    let entry = format!("\"{path}\"");
    let nl = if raw.contains("\r\n") { "\r\n" } else { "\n" };
    let out = match doc.get("imports") {
        Some(Item::Value(toml_edit::Value::Array(a))) => {
            let span = a.span().ok_or("`imports` has no position")?;
            // After the last entry (its trailing comma and comments stay after it), or inside `[]`.
            match a.iter().filter_map(|v| v.span()).last() {
                Some(last) => format!("{}, {entry}{}", &raw[..last.end], &raw[last.end..]),
                None => format!(
                    "{}{entry}{}",
                    &raw[..span.start + 1],
                    &raw[span.start + 1..]
                ),
            }
        }
        Some(_) => return Err("`imports` is not an array".into()),
        None => {
            // A root key must come before the first table header.
            let first_table = doc
                .iter()
                .filter_map(|(_, i)| match i {
                    Item::Table(t) if !t.is_dotted() => t.span().map(|s| s.start),
                    Item::ArrayOfTables(a) => {
                        a.iter().filter_map(|t| t.span()).map(|s| s.start).min()
                    }
                    _ => None,
                })
                .min()
                .unwrap_or(raw.len());
            let root_end = doc
                .iter()
                .filter_map(|(_, i)| i.as_value().and_then(|v| v.span()))
                .map(|s| s.end)
                .filter(|e| *e <= first_table)
                .max();
            let at = root_end.map_or(0, |e| raw[e..].find('\n').map_or(raw.len(), |i| e + i + 1));
            let line = format!("imports = [{entry}]");
            if at == raw.len() && !raw.is_empty() && !raw.ends_with('\n') {
                format!("{raw}{nl}{line}")
            } else {
                format!("{}{line}{nl}{}", &raw[..at], &raw[at..])
            }
        }
    };
    Ok(format!("{bom}{out}"))
}

/// True when `text` has a non-empty `imports` array.
pub fn declared(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    may_import(text)
        && ImDocument::parse(text).is_ok_and(|d| {
            d.get("imports")
                .and_then(Item::as_array)
                .is_some_and(|a| !a.is_empty())
        })
}

/// Loads the chain that starts at `main` (its path as given to containerd, and its text).
pub fn load(main: &Path, main_text: &str, release: Option<Release>) -> Result<Chain, ImportError> {
    load_with(main, main_text, release, &[])
}

/// Like [`load`], as if the files in `overlay` (cleaned paths and texts) existed.
pub fn load_with(
    main: &Path,
    main_text: &str,
    release: Option<Release>,
    overlay: &[(String, String)],
) -> Result<Chain, ImportError> {
    let main = main.to_string_lossy().into_owned();
    let mut chain = Chain::default();
    let mut seen = vec![main.clone()];
    let mut pending = resolve(&main, main_text, release, overlay, &mut chain.notes)?;
    chain.files.push((main.clone(), main_text.to_string()));
    while !pending.is_empty() {
        let path = pending.remove(0);
        if seen.contains(&path) {
            continue;
        }
        seen.push(path.clone());
        if let Some((_, text)) = overlay.iter().find(|(p, _)| *p == path) {
            pending.extend(resolve(&path, text, release, overlay, &mut chain.notes)?);
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
            Err(source) => return Err(ImportError::Read { path, source }),
        };
        let text =
            String::from_utf8(bytes).map_err(|_| ImportError::NotUtf8 { path: path.clone() })?;
        pending.extend(resolve(&path, &text, release, overlay, &mut chain.notes)?);
        chain.files.push((path, text));
        if chain.files.len() > MAX_FILES {
            return Err(ImportError::TooMany { path: main });
        }
        if chain.files.iter().map(|(_, t)| t.len()).sum::<usize>() > MAX_BYTES {
            return Err(ImportError::TooLarge { path: main });
        }
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn cleans_like_go() {
        for (input, want) in [
            ("conf.d/../config.toml", "config.toml"),
            ("./a//b/", "a/b"),
            (
                "/etc/containerd/./conf.d/x.toml",
                "/etc/containerd/conf.d/x.toml",
            ),
            ("../x", "../x"),
            ("/../x", "/x"),
            ("", "."),
        ] {
            assert_eq!(clean(input), want, "{input}");
        }
        assert_eq!(dir("config.toml"), ".");
        assert_eq!(dir("/etc/containerd/config.toml"), "/etc/containerd");
    }

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
    fn adds_an_import_and_nothing_else() {
        let add = |t: &str| add_import(t, "/etc/containerd/conf.d/pause.toml").unwrap();
        let p = "\"/etc/containerd/conf.d/pause.toml\"";
        assert_eq!(
            add("version = 2\n[grpc]\n"),
            format!("version = 2\nimports = [{p}]\n[grpc]\n")
        );
        assert_eq!(add("[grpc]\n"), format!("imports = [{p}]\n[grpc]\n"));
        assert_eq!(add("version = 2"), format!("version = 2\nimports = [{p}]"));
        assert_eq!(
            add("version = 2\nimports = []\n"),
            format!("version = 2\nimports = [{p}]\n")
        );
        assert_eq!(
            add("imports = [\n  \"a.toml\", # a\n]\n"),
            format!("imports = [\n  \"a.toml\", {p}, # a\n]\n")
        );
        assert_eq!(
            add("version = 2\r\n[grpc]\r\n"),
            format!("version = 2\r\nimports = [{p}]\r\n[grpc]\r\n")
        );
        assert!(add_import("imports = 'x'\n", "/a").is_err());
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
                &mut Vec::new(),
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
mod may_import_tests {
    use super::*;

    #[test]
    fn root_section_ends_at_the_first_header() {
        let text = "version = 2\nimports = [\n  'a.toml',\n]\n  [plugins]\nimports = 1\n";
        assert_eq!(
            root_section(text),
            "version = 2\nimports = [\n  'a.toml',\n]\n"
        );
        // Cut inside a multi-line string or array: the part does not parse.
        for text in ["a = '''\n[x]\n'''\n", "a = [\n[1],\n]\n"] {
            assert!(ImDocument::parse(root_section(text)).is_err(), "{text}");
        }
        assert_eq!(root_section("a = 1\n"), "a = 1\n");
    }

    #[test]
    fn only_texts_that_cannot_import_skip_the_parse() {
        assert!(!may_import("version = 2\n[plugins]\n"));
        for text in [
            "imports = [\"a.toml\"]",
            "'imports' = []",
            "\"\\u0069mports\" = [\"a.toml\"]",
            "\"\\U00000069mports\" = []",
        ] {
            assert!(may_import(text), "{text}");
        }
        // The escaped spelling really is `imports`, and is followed.
        let (dir, text) = (
            tempfile::tempdir().unwrap(),
            "\"\\u0069mports\" = [\"a.toml\"]\n",
        );
        std::fs::write(dir.path().join("a.toml"), "version = 2\n").unwrap();
        let main = dir.path().join("config.toml");
        let chain = load(&main, text, None).unwrap();
        assert_eq!(chain.files.len(), 2);
    }
}
