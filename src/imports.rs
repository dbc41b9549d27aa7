//! containerd's `imports` as text: the entries a file declares, Go's `filepath.Clean`, and a
//! new entry added without disturbing anything else ([`add_import`]). Following them on disk
//! (globs, missing files, the load order) is the `disk` module's.
//!
//! As containerd does it (measured with 1.6.20, 1.7.24, 2.1.9): breadth-first from the main
//! file; an entry containing `*` is a glob (matches sorted by name), others are literal paths;
//! relative entries are joined to the importing file's directory (1.6 before 1.6.29 and 1.7
//! before 1.7.16 resolved relative globs against the working directory instead); a path seen
//! before, compared as a string after Go's `filepath.Clean`, is skipped, so cycles end; loading
//! stops at a missing file (1.x then refuses to start; 2.x uses what it loaded before it).

use crate::config::Error;
use crate::warning::Warning;
use toml_edit::{ImDocument, Item};

/// The files containerd loads, main config first, in load order.
#[derive(Debug, Default, Clone)]
pub struct Chain {
    /// Each file's path (as containerd spells it) and text.
    pub files: Vec<(String, String)>,
    /// The literal import that does not exist, where loading stopped (at most one).
    pub missing: Vec<String>,
    /// What the user should know about how the imports resolve.
    pub notes: Vec<Warning>,
    /// Every `imports` entry of the files loaded: `(importing file, entry as written)`.
    pub entries: Vec<(String, String)>,
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
pub(crate) fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".into(),
    }
}

/// The text before the first table header, where a top-level key such as `imports` must be.
/// A line that starts with `[` inside a multi-line string or array cuts it short, but then
/// the part does not parse (the string or array is left open), and the caller parses it all.
pub(crate) fn root_section(text: &str) -> &str {
    let mut at = 0;
    for line in crate::config::lines_of(text) {
        if line.trim_start().starts_with('[') {
            return &text[..at];
        }
        at += line.len();
    }
    text
}

/// Whether `text` can have an `imports` key: without the word, or an escape in a quoted key
/// that could spell it, it cannot, and parsing it to look would be wasted.
pub(crate) fn may_import(text: &str) -> bool {
    // In any case: Go's decoders fold it (`IMPORTS` is read by every release). An escape
    // (`\u`, `\U`) in a quoted key could spell it too.
    // Folded a block at a time (blocks overlap by the word's length less one), then searched
    // while the block is in cache: far faster than checking each `i`. `| 0x20` folds exactly
    // the letters of `imports` (only `I` and `i` become `i`, and so on), and `\` to `|`: a
    // `|u` found means an escape may be there (or a `|`: then the caller parses to know).
    const BLOCK: usize = 1 << 16;
    let b = text.as_bytes();
    let (word, escape) = (
        memchr::memmem::Finder::new(b"imports"),
        memchr::memmem::Finder::new(b"|u"),
    );
    let mut lower = vec![0; BLOCK.min(b.len()) + 6];
    (0..b.len()).step_by(BLOCK).any(|start| {
        let block = &b[start.saturating_sub(6)..(start + BLOCK).min(b.len())];
        let lower = &mut lower[..block.len()];
        for (l, c) in lower.iter_mut().zip(block) {
            *l = c | 0x20;
        }
        word.find(lower).is_some() || escape.find(lower).is_some()
    })
}

/// `text` with `path` appended to its root `imports` array (created after the root keys, before
/// the first table, when there is none). Only those bytes change.
pub fn add_import(text: &str, path: &str) -> Result<String, Error> {
    let (bom, raw) = match text.strip_prefix('\u{feff}') {
        Some(rest) => ("\u{feff}", rest),
        None => ("", text),
    };
    let doc = crate::config::toml(raw)?;
    let entry = format!("\"{path}\"");
    let nl = if crate::config::has(raw, "\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let out = match doc.get("imports") {
        Some(Item::Value(toml_edit::Value::Array(a))) => {
            let span = a
                .span()
                .ok_or_else(|| Error::Verify("`imports` has no position".into()))?;
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
        Some(other) => {
            return Err(Error::Invalid {
                message:
                    "`imports` must be an array of paths (strings); containerd refuses this file"
                        .into(),
                help:
                    "make `imports` an array, e.g. `imports = [\"/etc/containerd/conf.d/*.toml\"]`"
                        .into(),
                at: crate::config::position(raw, other.span().map_or(0, |s| s.start)),
            });
        }
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

/// The part of `text` that can hold `imports`, parsed: the text before the first table header,
/// unless a header may name `imports` too, without its comment lines (a config can open with
/// megabytes of them). `None` when it cannot have `imports` or is not TOML.
pub(crate) fn imports_doc(text: &str) -> Option<ImDocument<String>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !may_import(text) {
        return None;
    }
    let head = root_section(text);
    let head = if may_import(&text[head.len()..]) {
        text
    } else {
        head
    };
    // A line that starts with `#` in a multi-line string is the string's: keep those whole.
    let lean = if crate::config::has(head, "\"\"\"") || crate::config::has(head, "'''") {
        head.to_string()
    } else {
        let code = |line: &&str| !line.trim_start_matches([' ', '\t']).starts_with('#');
        crate::config::lines_of(head).filter(code).collect()
    };
    ImDocument::parse(lean)
        .or_else(|_| ImDocument::parse(text.to_string()))
        .ok()
}

/// The entries of `text`'s `imports` as written; none when it has none or is not TOML.
pub fn entries(text: &str) -> Vec<String> {
    let Some(doc) = imports_doc(text) else {
        return Vec::new();
    };
    // Every spelling some release reads: Go's decoders fold the key's case.
    doc.iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("imports"))
        .filter_map(|(_, item)| item.as_array())
        .flat_map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)))
        .collect()
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

/// Go's glob syntax for `text` taken literally (as part of a pattern): each meta character
/// escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

#[cfg(test)]
mod may_import_tests {
    use super::*;
    use crate::disk::load;

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
            "ImPoRtS = []",
        ] {
            assert!(may_import(text), "{text}");
        }
        // Across the blocks the scan reads, and never where the word is not.
        for at in [(1 << 16) - 7, (1 << 16) - 3, 1 << 16] {
            assert!(may_import(&format!("{}IMPORTS = []", "#".repeat(at))));
        }
        assert!(!may_import(&"impo rts import ".repeat(20_000)));
        // An escape anywhere, across blocks too, as `\u` or `\U`; none where there is none.
        for at in [(1 << 16) - 2, (1 << 16) - 1, 1 << 16] {
            for escape in ["\\u", "\\U"] {
                assert!(may_import(&format!("{}{escape}0069", "#".repeat(at))));
            }
        }
        assert!(!may_import(&"a = '\\n \\t \\x u U |'\n".repeat(10_000)));
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
