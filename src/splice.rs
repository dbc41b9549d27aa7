//! Format-preserving edits of one string key in a TOML document.
//!
//! The document is parsed with toml_edit's spanned [`ImDocument`], which keeps every byte range.
//! An existing value is replaced by splicing its bytes; a missing key is inserted as one line in
//! the table that should hold it (or a new `[table]` header, or an entry of an inline table).
//! Everything else in the file keeps its bytes: comments, quoting, order, indentation, CRLF.

use crate::config::{count, has};
use std::ops::Range;
use toml_edit::{ImDocument, Item, TableLike, Value};

/// What a key path holds in a parsed document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The key holds a string.
    Found(Found),
    /// The key, or a table on its path, does not exist.
    Missing,
}

/// A string value found in the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The string's value.
    pub value: String,
    /// The bytes of the literal, quotes included.
    pub span: Range<usize>,
}

/// A key path that holds something other than what containerd expects there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongType {
    /// The dotted path of the offending item.
    pub path: String,
    /// What it is instead (`an integer`, `an array of tables`, ...).
    pub found: &'static str,
    /// Where it is, when known.
    pub offset: Option<usize>,
}

/// Reads the string at `path`; every item on the way must be a table.
pub fn lookup(doc: &ImDocument<impl AsRef<str>>, path: &[&str]) -> Result<Lookup, WrongType> {
    let mut table: &dyn TableLike = doc.as_table();
    for (depth, key) in path.iter().enumerate() {
        let last = depth + 1 == path.len();
        let Some(item) = table.get(key) else {
            return Ok(Lookup::Missing);
        };
        let wrong = |found| WrongType {
            path: dotted(&path[..=depth], '"'),
            found,
            offset: item.span().map(|s| s.start),
        };
        if last {
            return match item {
                Item::Value(Value::String(s)) => Ok(Lookup::Found(Found {
                    value: s.value().clone(),
                    span: s.span().unwrap_or(0..0),
                })),
                other => Err(wrong(kind(other))),
            };
        }
        table = match item {
            Item::Table(t) => t,
            Item::Value(Value::InlineTable(t)) => t,
            other => return Err(wrong(kind(other))),
        };
    }
    Ok(Lookup::Missing)
}

/// One change to the text: replace `range` with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The bytes replaced (empty for an insertion).
    pub range: Range<usize>,
    /// The new bytes.
    pub text: String,
}

/// How the file writes its strings and quoted keys, so that new text looks like the old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// `'` or `"`.
    pub quote: char,
    /// `"\n"` or `"\r\n"`.
    pub newline: &'static str,
}

impl Style {
    /// Guesses the file's habits: CRLF if it has any, single quotes if most strings use them.
    pub fn of(raw: &str) -> Style {
        let single = count(raw, "= '") + count(raw, ".'");
        let double = count(raw, "= \"") + count(raw, ".\"");
        Style {
            quote: if single > double { '\'' } else { '"' },
            newline: if has(raw, "\r\n") { "\r\n" } else { "\n" },
        }
    }

    fn string(&self, value: &str) -> String {
        format!("{q}{value}{q}", q = self.quote)
    }
}

/// The edit that makes `path` hold `value` (a string with no quotes, backslashes or control
/// characters, as image references are). An existing value keeps its quote style.
pub fn set(
    doc: &ImDocument<impl AsRef<str>>,
    path: &[&str],
    value: &str,
    style: Style,
) -> Result<Edit, WrongType> {
    let raw = doc.raw();
    if let Lookup::Found(found) = lookup(doc, path)? {
        let quote = if raw[found.span.clone()].starts_with('\'') {
            '\''
        } else {
            '"'
        };
        return Ok(Edit {
            range: found.span,
            text: Style { quote, ..style }.string(value),
        });
    }
    Ok(insert(doc, path, value, style))
}

/// Where the deepest existing table on the path can take new text.
enum Owner {
    /// The top of the file, before the first header.
    Root,
    /// A table with a `[header]` on this line; the last header of its subtree starts at `.1`.
    Header(Range<usize>, usize),
    /// An inline table `{ ... }` at this span.
    Inline(Range<usize>),
    /// A table that exists only because of its sub-tables' headers.
    Implicit,
}

/// The deepest table on `path` that exists and can take new text, the keys from it down to
/// the last existing table when dotted keys made them, and how many keys of `path` exist.
fn find_owner<'p>(
    doc: &ImDocument<impl AsRef<str>>,
    path: &[&'p str],
) -> (Owner, Vec<&'p str>, usize) {
    let raw = doc.raw();
    let mut owner = Owner::Root;
    // Keys from the owner down to the current table, when dotted keys made them.
    let mut rel: Vec<&str> = Vec::new();
    let mut table: &dyn TableLike = doc.as_table();
    let mut depth = 0;
    while depth + 1 < path.len() {
        let Some(item) = table.get(path[depth]) else {
            break;
        };
        match item {
            Item::Table(t) if t.is_dotted() => rel.push(path[depth]),
            Item::Table(t) if t.is_implicit() => (owner, rel) = (Owner::Implicit, Vec::new()),
            Item::Table(t) => {
                // A header is one line; the span may run on over the table's contents.
                let start = t.span().map_or(0, |s| s.start);
                let last = last_header(item).unwrap_or(start);
                (owner, rel) = (Owner::Header(start..line_end(raw, start), last), Vec::new())
            }
            Item::Value(Value::InlineTable(t)) if t.is_dotted() => rel.push(path[depth]),
            Item::Value(Value::InlineTable(t)) => {
                (owner, rel) = (Owner::Inline(t.span().unwrap_or(0..0)), Vec::new())
            }
            _ => break, // lookup() has already refused other types
        }
        table = item.as_table_like().expect("matched a table above");
        depth += 1;
    }
    (owner, rel, depth)
}

fn insert(doc: &ImDocument<impl AsRef<str>>, path: &[&str], value: &str, style: Style) -> Edit {
    let raw = doc.raw();
    let (owner, rel, depth) = find_owner(doc, path);
    let missing = &path[depth..];
    let nl = style.newline;
    let assignment =
        |keys: &[&str]| format!("{} = {}", dotted(keys, style.quote), style.string(value));

    match owner {
        Owner::Inline(span) => {
            // `{ a = 1 }` -> `{ a = 1, key = "v" }`; `{}` -> `{ key = "v" }`. Missing tables
            // become nested inline tables, which every TOML 1.0 parser reads.
            let (key, tables) = missing.split_last().expect("path is not empty");
            let mut entry = assignment(&[*key]);
            for table in tables.iter().rev() {
                entry = format!("{} = {{ {entry} }}", dotted(&[*table], style.quote));
            }
            if !rel.is_empty() {
                entry = format!("{}.{entry}", dotted(&rel, style.quote));
            }
            let close = span.end - 1;
            let body_end = raw[..close].trim_end().len();
            let text = if raw[..body_end].ends_with('{') {
                format!(" {entry} ")
            } else {
                format!(", {entry}")
            };
            Edit {
                range: body_end..body_end,
                text,
            }
        }
        Owner::Root | Owner::Header(..) if !rel.is_empty() || missing.len() == 1 => {
            // A key line in the owner's section, after its last key/value line, or right
            // under the header (indented one step more) when the section has none.
            let (section, first_indent) = match &owner {
                Owner::Header(h, _) => (
                    h.end..next_header(doc, h.end),
                    format!("{}  ", indentation(raw, h.start)),
                ),
                _ => (0..next_header(doc, 0), String::new()),
            };
            let mut keys = rel.clone();
            keys.extend_from_slice(missing);
            let (at, indent) = match last_value_end(doc, &section) {
                Some(end) => (line_end(raw, end), indentation(raw, end)),
                None => (section.start, first_indent),
            };
            line_at(raw, at, format!("{indent}{}", assignment(&keys)), nl)
        }
        _ => {
            // A new `[table]` holding the key: after the last table below the owner, or at the end.
            let header = format!("[{}]", dotted(&path[..path.len() - 1], style.quote));
            let body = format!("{header}{nl}  {}", assignment(&path[path.len() - 1..]));
            let at = match &owner {
                Owner::Header(_, last) => {
                    let header_end = line_end(raw, *last);
                    match last_value_end(doc, &(header_end..next_header(doc, header_end))) {
                        Some(end) => line_end(raw, end),
                        None => header_end,
                    }
                }
                _ => raw.len(),
            };
            let mut edit = line_at(raw, at, body, nl);
            if at > 0 && !raw[..at].ends_with(&format!("{nl}{nl}")) {
                edit.text.insert_str(0, nl); // a blank line before a new header
            }
            edit
        }
    }
}

/// Inserts `line` as a whole line at `at` (the start of a line, or the end of a file that
/// lacks its final newline, which stays missing).
fn line_at(raw: &str, at: usize, line: String, nl: &str) -> Edit {
    let text = if at == raw.len() && !raw.is_empty() && !raw.ends_with('\n') {
        format!("{nl}{line}")
    } else {
        format!("{line}{nl}")
    };
    Edit {
        range: at..at,
        text,
    }
}

/// The offset just past the newline that ends the line holding `offset`.
fn line_end(raw: &str, offset: usize) -> usize {
    raw[offset..]
        .find('\n')
        .map_or(raw.len(), |i| offset + i + 1)
}

/// The white space that starts the line holding `offset`.
fn indentation(raw: &str, offset: usize) -> String {
    let start = raw[..offset].rfind('\n').map_or(0, |i| i + 1);
    raw[start..]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

/// The start of the first table header after `from`, or the end of the file.
fn next_header(doc: &ImDocument<impl AsRef<str>>, from: usize) -> usize {
    let mut next = doc.raw().len();
    visit_children(doc, &mut |item| {
        let header = match item {
            Item::Table(t) if !t.is_dotted() && !t.is_implicit() => t.span(),
            Item::ArrayOfTables(a) => a.iter().filter_map(|t| t.span()).find(|s| s.start >= from),
            _ => None,
        };
        if let Some(s) = header.filter(|s| s.start >= from) {
            next = next.min(s.start);
        }
    });
    next
}

/// The start of the last `[header]` (by position) of `item` and the tables below it.
fn last_header(item: &Item) -> Option<usize> {
    let mut last = None;
    visit(item, &mut |i| {
        let start = match i {
            Item::Table(t) if !t.is_dotted() && !t.is_implicit() => t.span().map(|s| s.start),
            Item::ArrayOfTables(a) => a.iter().filter_map(|t| t.span()).map(|s| s.start).max(),
            _ => None,
        };
        last = last.max(start);
    });
    last
}

/// The end of the last value that lies inside `section`.
fn last_value_end(doc: &ImDocument<impl AsRef<str>>, section: &Range<usize>) -> Option<usize> {
    let mut last = None;
    visit_children(doc, &mut |item| {
        if let Some(span) = item.as_value().and_then(Value::span)
            && span.start >= section.start
            && span.end <= section.end
        {
            last = last.max(Some(span.end));
        }
    });
    last
}

/// Calls `f` on every item below the root, tables and their contents alike.
fn visit_children(doc: &ImDocument<impl AsRef<str>>, f: &mut dyn FnMut(&Item)) {
    doc.as_table().iter().for_each(|(_, i)| visit(i, f));
}

fn visit(item: &Item, f: &mut dyn FnMut(&Item)) {
    f(item);
    match item {
        Item::Table(t) => t.iter().for_each(|(_, i)| visit(i, f)),
        Item::ArrayOfTables(a) => a
            .iter()
            .for_each(|t| t.iter().for_each(|(_, i)| visit(i, f))),
        _ => {}
    }
}

/// Writes a key path as TOML: bare keys where allowed, quoted otherwise.
pub fn dotted(keys: &[&str], quote: char) -> String {
    let bare = |k: &str| {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    keys.iter()
        .map(|k| {
            if bare(k) {
                k.to_string()
            } else {
                format!("{quote}{k}{quote}")
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}

fn kind(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(v) => match v {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::InlineTable(_) => "an inline table",
        },
    }
}

/// Applies edits that do not overlap, in any order.
pub fn apply(raw: &str, edits: &[Edit]) -> String {
    let mut sorted: Vec<&Edit> = edits.iter().collect();
    sorted.sort_by_key(|e| (e.range.start, e.range.end));
    let mut out = String::with_capacity(raw.len() + 256);
    let mut pos = 0;
    for e in sorted {
        out.push_str(&raw[pos..e.range.start]);
        out.push_str(&e.text);
        pos = e.range.end;
    }
    out.push_str(&raw[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "r.local/pause:1";

    fn set_str(raw: &str, path: &[&str]) -> String {
        let doc = ImDocument::parse(raw).unwrap();
        let edit = set(&doc, path, IMAGE, Style::of(raw)).unwrap();
        let out = apply(raw, &[edit]);
        let back = ImDocument::parse(out.as_str()).unwrap_or_else(|e| panic!("{e}\n{out}"));
        match lookup(&back, path) {
            Ok(Lookup::Found(f)) => assert_eq!(f.value, IMAGE, "{out}"),
            other => panic!("{other:?}\n{out}"),
        }
        out
    }

    const V2: &[&str] = &["plugins", "io.containerd.grpc.v1.cri", "sandbox_image"];
    const V3: &[&str] = &[
        "plugins",
        "io.containerd.cri.v1.images",
        "pinned_images",
        "sandbox",
    ];

    #[test]
    fn replaces_value_keeping_quotes_and_comment() {
        let raw = "[plugins.'io.containerd.grpc.v1.cri']\n  sandbox_image = 'a/b:1' # keep\n";
        assert_eq!(
            set_str(raw, V2),
            "[plugins.'io.containerd.grpc.v1.cri']\n  sandbox_image = 'r.local/pause:1' # keep\n"
        );
    }

    #[test]
    fn adds_key_after_last_line_of_table() {
        let raw = "[plugins.\"io.containerd.grpc.v1.cri\"]\n    x = 1 # c\n\n# next\n[other]\n";
        assert_eq!(
            set_str(raw, V2),
            "[plugins.\"io.containerd.grpc.v1.cri\"]\n    x = 1 # c\n    sandbox_image = \"r.local/pause:1\"\n\n# next\n[other]\n"
        );
    }

    #[test]
    fn adds_key_to_empty_table_with_crlf() {
        let raw = "version = 2\r\n[plugins.\"io.containerd.grpc.v1.cri\"]\r\n";
        assert_eq!(
            set_str(raw, V2),
            "version = 2\r\n[plugins.\"io.containerd.grpc.v1.cri\"]\r\n  sandbox_image = \"r.local/pause:1\"\r\n"
        );
    }

    #[test]
    fn dotted_keys_at_root_get_a_dotted_line() {
        let raw =
            "version = 3\nplugins.\"io.containerd.cri.v1.images\".snapshotter = \"x\"\n[grpc]\n";
        assert_eq!(
            set_str(raw, V3),
            "version = 3\nplugins.\"io.containerd.cri.v1.images\".snapshotter = \"x\"\nplugins.\"io.containerd.cri.v1.images\".pinned_images.sandbox = \"r.local/pause:1\"\n[grpc]\n"
        );
    }

    #[test]
    fn inline_tables_get_an_entry() {
        let raw = "[plugins]\n\"io.containerd.grpc.v1.cri\" = { a = 1 }\n";
        assert_eq!(
            set_str(raw, V2),
            "[plugins]\n\"io.containerd.grpc.v1.cri\" = { a = 1, sandbox_image = \"r.local/pause:1\" }\n"
        );
        let raw = "[plugins]\n\"io.containerd.cri.v1.images\" = {}\n";
        assert_eq!(
            set_str(raw, V3),
            "[plugins]\n\"io.containerd.cri.v1.images\" = { pinned_images = { sandbox = \"r.local/pause:1\" } }\n"
        );
    }

    #[test]
    fn implicit_parent_gets_its_own_header_at_the_end() {
        let raw = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  x = 1";
        assert_eq!(
            set_str(raw, V2),
            "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  x = 1\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"r.local/pause:1\""
        );
    }

    #[test]
    fn missing_sub_table_gets_a_header_after_its_parent_section() {
        let raw = "version = 3\n[plugins.'io.containerd.cri.v1.images']\n  a = 'x'\n\n[grpc]\n";
        assert_eq!(
            set_str(raw, V3),
            "version = 3\n[plugins.'io.containerd.cri.v1.images']\n  a = 'x'\n\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = 'r.local/pause:1'\n\n[grpc]\n"
        );
    }

    #[test]
    fn empty_table_followed_by_a_header_gets_the_key_under_its_own_header() {
        // Regression: the key landed one line too far, inside the next table.
        let raw = "version = 2\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nx = 1\n";
        assert_eq!(
            set_str(raw, V2),
            "version = 2\n  [plugins.\"io.containerd.grpc.v1.cri\"]\n    sandbox_image = \"r.local/pause:1\"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nx = 1\n"
        );
        let raw = "version = 3\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n\n# registry\n[plugins.\"io.containerd.cri.v1.images\".registry]\n";
        assert_eq!(
            set_str(raw, V3),
            "version = 3\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = \"r.local/pause:1\"\n\n# registry\n[plugins.\"io.containerd.cri.v1.images\".registry]\n"
        );
        let raw = "[plugins.cri]";
        assert_eq!(
            set_str(raw, &["plugins", "cri", "sandbox_image"]),
            "[plugins.cri]\n  sandbox_image = \"r.local/pause:1\""
        );
    }

    #[test]
    fn empty_file_gets_a_header() {
        assert_eq!(
            set_str("", V2),
            "[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"r.local/pause:1\"\n"
        );
    }

    #[test]
    fn wrong_types_are_refused() {
        for raw in [
            "plugins = 1\n",
            "[[plugins]]\n",
            "[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = 3\n",
        ] {
            let doc = ImDocument::parse(raw).unwrap();
            assert!(set(&doc, V2, IMAGE, Style::of(raw)).is_err(), "{raw}");
        }
    }
}
