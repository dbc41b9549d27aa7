//! A config's text as pausectl reads it: TOML 1.0 parsed once (toml_edit), the byte-order mark
//! set aside, the schema `version`, and what a release's own parser or decoder reads otherwise
//! ([`crate::dialect`], [`crate::fields`]). [`Error`] says what is wrong, where, and what to do.

use crate::dialect::{self, Affects};
use crate::fields;
use crate::release::Release;
use crate::schema::Schema;
use toml_edit::ImDocument;

pub(crate) const BOM: char = '\u{feff}';

const DEEP_HELP: &str = "pausectl refuses such nesting; containerd may read the file, but none of its settings is deeper than 8 levels: remove what is nested that deep";

/// An error in a config's text: what is wrong and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not TOML 1.0.
    #[error("invalid TOML: {message}")]
    Toml {
        /// The parser's message.
        message: String,
        /// Line and column (1-based).
        at: (usize, usize),
    },
    /// `version` is not one containerd reads.
    #[error("unsupported config `version = {raw}`: containerd reads versions 1 to 4 (an integer)")]
    Version {
        /// The value as written.
        raw: String,
        /// Line and column (1-based).
        at: (usize, usize),
    },
    /// A table on the pin's path is something else.
    #[error("`{path}` is {found}, but containerd expects a table or a string there")]
    WrongType {
        /// The dotted key path.
        path: String,
        /// What it is instead.
        found: &'static str,
        /// Line and column (1-based).
        at: (usize, usize),
    },
    /// Every containerd release refuses the file, whatever the pin (measured).
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// What to do about it.
        help: String,
        /// Line and column (1-based).
        at: (usize, usize),
    },
    /// The release that reads the file refuses to load it, whatever the pin.
    #[error("{} refuses this file and would not start: {why}", who(.release))]
    Refused {
        /// The release; `None`: every release.
        release: Option<Release>,
        /// Why it refuses the file.
        why: String,
        /// What to do about it.
        help: String,
    },
    /// The rewrite did not come out as intended; nothing is written.
    #[error("internal check failed ({0}); the file is left as it was, please report this")]
    Verify(String),
    /// The bytes are not UTF-8: containerd 2.x refuses them (1.x accepts stray bytes in
    /// comments).
    #[error("the file is not UTF-8 text")]
    NotUtf8 {
        /// The line of the first byte that is not (1-based).
        line: usize,
    },
}

/// An error in one file of a config chain: the file (as the user named it), then what is
/// wrong, where, and what to do. Displayed as `file:line:col: what` and a `help:` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {error}\nhelp: {}", error.place(), error.help())]
pub struct ChainError {
    /// The file, as the user named it (the main config) or as an `imports` entry reaches it.
    pub file: String,
    /// What is wrong with it.
    pub error: Error,
}

/// Reads `bytes` as a config's text, or says which line is not UTF-8.
pub fn decode(bytes: Vec<u8>) -> Result<String, Error> {
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        Error::NotUtf8 {
            line: good.iter().filter(|b| **b == b'\n').count() + 1,
        }
    })
}

/// "containerd 1.7", or every release.
pub(crate) fn who(release: &Option<Release>) -> String {
    release.map_or("every containerd release".into(), |r| {
        format!("containerd {r}")
    })
}

impl Error {
    /// Line and column (1-based) of the problem in the file, when there is one.
    pub fn at(&self) -> Option<(usize, usize)> {
        match self {
            Error::Toml { at, .. }
            | Error::Version { at, .. }
            | Error::WrongType { at, .. }
            | Error::Invalid { at, .. } => Some(*at),
            Error::Refused { .. } | Error::Verify(_) | Error::NotUtf8 { .. } => None,
        }
    }

    /// `:line:col` (or `:line`) to follow the file's name, when the error has a place.
    pub fn place(&self) -> String {
        match (self, self.at()) {
            (Error::NotUtf8 { line }, _) => format!(":{line}"),
            (_, Some((line, col))) => format!(":{line}:{col}"),
            (_, None) => String::new(),
        }
    }

    /// What the user can do about it.
    pub fn help(&self) -> String {
        let text = match self {
            Error::Toml { .. } => {
                "pausectl edits only strict TOML 1.0, the part every containerd release reads; fix the line and run again"
            }
            Error::Version { .. } => {
                "containerd 1.7 and 2.x refuse it; use `version = 2` (containerd 1.3 to 2.x) or `version = 3` (containerd 2.x)"
            }
            Error::WrongType { .. } => "fix or remove that key; containerd refuses it too",
            Error::Refused { help, .. } | Error::Invalid { help, .. } => help,
            Error::Verify(_) => "run with --dry-run to see the intended change",
            Error::NotUtf8 { .. } => {
                "containerd 2.x refuses it (1.x accepts stray bytes in comments); fix the encoding of that line"
            }
        };
        text.to_string()
    }
}

/// A file parsed once, owning its text (without the byte-order mark, which `bom` records).
pub(crate) struct Parsed {
    pub(crate) bom: bool,
    pub(crate) doc: ImDocument<String>,
    pub(crate) schema: Schema,
    /// What some release reads differently ([`dialect`]).
    pub(crate) unsure: Option<dialect::Unsure>,
    /// Why containerd 1.x's parser refuses it, and where.
    pub(crate) refused_1x: Option<(String, usize)>,
    /// Why containerd 2.x refuses it (and 1.x does not), and where.
    pub(crate) refused_2x: Option<(String, usize)>,
}

impl Parsed {
    pub(crate) fn raw(&self) -> &str {
        self.doc.raw()
    }

    /// The text as the file holds it, byte-order mark included.
    pub(crate) fn text(&self) -> String {
        if self.bom {
            format!("{BOM}{}", self.raw())
        } else {
            self.raw().to_string()
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `raw`; see [`Lines`] for many.
pub(crate) fn position(raw: &str, offset: usize) -> (usize, usize) {
    Lines::new(raw).position(offset)
}

/// A text's line breaks counted per block (256 bytes), for many [`position`]s in one text (a report names
/// every key it found by line): one counting pass, then each position counts within a block.
pub(crate) struct Lines<'a> {
    raw: &'a str,
    /// The number of line breaks before each block of `BLOCK` bytes.
    blocks: Vec<usize>,
}

const BLOCK: usize = 256;

/// How many line breaks `b` holds (a loop with no early exit: it vectorises).
pub(crate) fn breaks(b: &[u8]) -> usize {
    b.iter().filter(|&&c| c == b'\n').count()
}

impl<'a> Lines<'a> {
    pub(crate) fn new(raw: &'a str) -> Lines<'a> {
        let mut n = 0;
        let counts = raw.as_bytes().chunks(BLOCK).map(|c| {
            n += breaks(c);
            n
        });
        let blocks = std::iter::once(0).chain(counts).collect();
        Lines { raw, blocks }
    }

    /// Like [`position`]: 1-based line and column (in characters) of byte `offset`.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.raw.len());
        while !self.raw.is_char_boundary(offset) {
            offset -= 1;
        }
        let (b, k) = (self.raw.as_bytes(), offset / BLOCK);
        let line = self.blocks[k] + breaks(&b[k * BLOCK..offset]) + 1;
        let start = memchr::memrchr(b'\n', &b[..offset]).map_or(0, |n| n + 1);
        let column = self.raw[start..offset].chars().count() + 1;
        (line, column)
    }
}

/// The lines of `text` (with their line breaks), as `str::split_inclusive('\n')` gives them,
/// found with memchr's SIMD search (a config can have hundreds of thousands of lines).
pub(crate) fn lines_of(text: &str) -> impl Iterator<Item = &str> {
    let ends = memchr::memchr_iter(b'\n', text.as_bytes()).map(|n| n + 1);
    let mut start = 0;
    ends.chain(std::iter::once(text.len()))
        .filter_map(move |end| {
            let line = (end > start).then(|| &text[start..end]);
            start = end;
            line
        })
}

/// Whether `text` holds `needle` (memchr's SIMD search: `str::contains` is far slower on MBs).
pub(crate) fn has(text: &str, needle: &str) -> bool {
    memchr::memmem::find(text.as_bytes(), needle.as_bytes()).is_some()
}

/// How many times `needle` occurs in `text`, without overlaps.
pub(crate) fn count(text: &str, needle: &str) -> usize {
    memchr::memmem::find_iter(text.as_bytes(), needle.as_bytes()).count()
}

/// The first CR that does not start a CRLF (old Mac line endings): TOML 1.0 and containerd 2.x
/// refuse them.
pub(crate) fn bare_cr(raw: &str) -> Option<usize> {
    memchr::memchr_iter(b'\r', raw.as_bytes()).find(|&i| raw.as_bytes().get(i + 1) != Some(&b'\n'))
}

/// Parses a config's text: TOML 1.0, a version containerd reads, and settings of the types it
/// decodes; what only one release line refuses, or reads otherwise, is recorded for the merge.
pub(crate) fn parse(text: &str) -> Result<Parsed, Error> {
    let (raw, bom) = match text.strip_prefix(BOM) {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let doc = toml(raw)?;
    let (schema, unsure) = schema(&doc, raw)?;
    let mistyped = fields::mistyped(&doc);
    if let Some(m) = mistyped.as_ref().filter(|m| m.every) {
        return Err(Error::Invalid {
            message: format!(
                "containerd reads `{}` as {}, and every release refuses to start with another value there",
                m.name, m.want
            ),
            help: format!("give `{}` {}, or remove it", m.name, m.want),
            at: position(raw, m.offset),
        });
    }
    let refused_2x = mistyped.map(|m| {
        let why = format!(
            "`{}`, in another case, is read by 2.x (not 1.x), which wants {} there",
            m.name, m.want
        );
        (why, m.offset)
    });
    let refused_1x = dialect::refused_by_1x(&doc, raw).or_else(|| {
        let m = fields::mistyped_1x(&doc)?;
        let why = format!(
            "`{}` is not {}, which containerd 1.x refuses (2.x has no such setting)",
            m.name, m.want
        );
        Some((why, m.offset))
    });
    let unsure = dialect::unsure(&doc, raw).or(unsure);
    Ok(Parsed {
        bom,
        doc,
        schema,
        unsure,
        refused_1x,
        refused_2x,
    })
}

/// `raw` parsed as TOML 1.0, with bare CRs and deep nesting refused in plain words.
pub(crate) fn toml(raw: &str) -> Result<ImDocument<String>, Error> {
    if let Some(at) = bare_cr(raw) {
        return Err(Error::Invalid {
            message: "the file has bare CR line endings, which TOML 1.0 and containerd 2.x refuse"
                .into(),
            help: "convert it to LF line endings, e.g. `sed -i 's/\\r/\\n/g' FILE`".into(),
            at: position(raw, at),
        });
    }
    ImDocument::parse(raw.to_string()).map_err(|e| {
        let at = position(raw, e.span().map_or(0, |s| s.start));
        // toml_edit's bound on nesting, which keeps a hostile file from exhausting the stack.
        if e.message().contains("recursion limit exceeded") {
            return Error::Invalid {
                message: "tables, arrays or keys are nested more than 80 levels deep".into(),
                help: DEEP_HELP.into(),
                at,
            };
        }
        Error::Toml {
            message: e.message().trim().replace('\n', ": "),
            at,
        }
    })
}

/// The schema the file's keys are read in, and what is uncertain about an odd version.
fn schema(doc: &ImDocument<String>, raw: &str) -> Result<(Schema, Option<dialect::Unsure>), Error> {
    match Schema::of(doc) {
        Ok(s) => Ok((s, None)),
        Err(v) => match odd_version(doc) {
            Some((schema, why, affects)) => {
                let unsure = dialect::Unsure {
                    why,
                    help: "use `version = 2` (containerd 1.3 to 2.x) or `version = 3` (2.x)".into(),
                    offset: v.offset,
                    affects,
                };
                Ok((schema, Some(unsure)))
            }
            None => Err(Error::Version {
                raw: v.raw,
                at: position(raw, v.offset),
            }),
        },
    }
}

/// A `version` that containerd reads although it is none of 1 to 4: the schema its keys are
/// read in, what containerd does, and for which releases that is uncertain (measured with
/// 1.6.20, 1.7.24, 2.1.9).
fn odd_version(doc: &ImDocument<String>) -> Option<(Schema, String, Affects)> {
    let v = doc.get("version")?.as_integer()?;
    if v < 0 {
        return Some((
            Schema::V2,
            format!("containerd reads `version = {v}` like version 2, but without its checks"),
            Affects::Every,
        ));
    }
    // The merge refuses it, or reads it as version 2 on 1.6 before 1.6.32.
    (v >= 5).then(|| {
        (
            Schema::V2,
            format!("containerd refuses `version = {v}`, except 1.6 before 1.6.32, which reads it as version 2"),
            Affects::UnknownRelease,
        )
    })
}

/// Each file of a chain parsed; an error names the index of the file it is in.
pub(crate) fn parse_all(files: &[(&str, &str)]) -> Result<Vec<Parsed>, (usize, Error)> {
    files
        .iter()
        .enumerate()
        .map(|(i, (_, text))| parse(text).map_err(|e| (i, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_splits_as_split_inclusive_does() {
        for text in ["", "\n", "a", "a\n", "a\nb", "a\r\n\nb\n", "\n\n", "é\nü"] {
            let want: Vec<&str> = text.split_inclusive('\n').collect();
            assert_eq!(lines_of(text).collect::<Vec<_>>(), want, "{text:?}");
        }
    }

    #[test]
    fn lines_count_lines_and_characters_at_every_offset() {
        // The reference: count the line breaks before the offset, and the characters after
        // the last of them (an offset inside a character, or past the end, moves back).
        let naive = |raw: &str, offset: usize| {
            let mut offset = offset.min(raw.len());
            while !raw.is_char_boundary(offset) {
                offset -= 1;
            }
            let before = &raw[..offset];
            let line = before.matches('\n').count() + 1;
            (
                line,
                before.rsplit('\n').next().unwrap().chars().count() + 1,
            )
        };
        let text = "a = 1\r\n[é]\n\nkey = \"ü\" # ∑\nlast";
        let lines = Lines::new(text);
        for offset in 0..=text.len() + 3 {
            assert_eq!(lines.position(offset), naive(text, offset), "{offset}");
        }
        assert_eq!(lines.position(0), (1, 1));
        assert_eq!(Lines::new("").position(5), (1, 1));
    }
}
