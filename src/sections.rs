//! A quick look at a large config: where its table headers are, so that only the tables that
//! hold or lead to the pin need toml_edit's full parse.
//!
//! [`reduce`] keeps the root section (`version`, `imports`, `disabled_plugins`), the tables of
//! containerd's own typed settings (`[grpc]`, `[debug]`..., whose types [`crate::fields`]
//! checks) and every table under `[plugins]` that belongs to the CRI plugins (`cri`,
//! `io.containerd.grpc.v1.cri`, `io.containerd.cri.v1.images`), keeps only the header of other
//! plugins' tables (their names matter to 1.x), and blanks every other table down to its line
//! breaks. Lines
//! and columns of what is kept stay where they were, so every position in a message is right.
//! The blanked tables get a structural check only (strings, comments and brackets close), not
//! toml_edit's full TOML 1.0 check: that is the price of reading 10 MB as fast as sed does.

use std::ops::Range;

/// The plugin tables that can hold the pin or decide where it goes.
const PLUGINS: [&str; 3] = [
    "cri",
    "io.containerd.grpc.v1.cri",
    "io.containerd.cri.v1.images",
];

/// A config with the tables that cannot hold the pin blanked out.
#[derive(Debug)]
pub struct Reduced {
    /// The text to parse and edit.
    pub text: String,
    /// Each kept part: its range in the original, and where it starts in `text`.
    kept: Vec<(Range<usize>, usize)>,
}

/// `text` with every table that cannot hold the pin blanked to its line breaks, or `None` when
/// the scan meets something it does not understand (the caller then parses the whole text).
pub fn reduce(text: &str) -> Option<Reduced> {
    if text.starts_with('\u{feff}') {
        return None;
    }
    // Each section: where it starts, and whether it is kept; the root section always is.
    let mut sections = vec![(0, true)];
    sections.extend(headers(text)?);
    let mut out = String::with_capacity(text.len() / 8);
    let mut kept: Vec<(Range<usize>, usize)> = Vec::new();
    for (k, &(start, wanted)) in sections.iter().enumerate() {
        let range = start..sections.get(k + 1).map_or(text.len(), |s| s.0);
        if wanted {
            // Adjacent kept parts are one.
            match kept.last_mut() {
                Some((last, _)) if last.end == range.start => last.end = range.end,
                _ => kept.push((range.clone(), out.len())),
            }
            out.push_str(&text[range]);
        } else {
            let part = &text[range];
            let crlf = part.matches("\r\n").count();
            out.push_str(&"\r\n".repeat(crlf));
            out.push_str(&"\n".repeat(part.matches('\n').count() - crlf));
        }
    }
    Some(Reduced { text: out, kept })
}

impl Reduced {
    /// The original with the one change between `self.text` and `new` made to it, when that
    /// change lies within one kept part (else `None`).
    pub fn apply(&self, original: &str, new: &str) -> Option<String> {
        let old = self.text.as_bytes();
        let new_b = new.as_bytes();
        let mut prefix = old.iter().zip(new_b).take_while(|(a, b)| a == b).count();
        while !self.text.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
            prefix -= 1;
        }
        let max_suffix = old.len().min(new_b.len()) - prefix;
        let mut suffix = old
            .iter()
            .rev()
            .zip(new_b.iter().rev())
            .take(max_suffix)
            .take_while(|(a, b)| a == b)
            .count();
        while !self.text.is_char_boundary(old.len() - suffix)
            || !new.is_char_boundary(new_b.len() - suffix)
        {
            suffix -= 1;
        }
        let (start, end) = (prefix, old.len() - suffix);
        let inserted = &new[prefix..new.len() - suffix];
        // Something added at the very end (a new table) goes at the end of the original.
        if start == old.len() {
            return Some([original, inserted].concat());
        }
        let (part, at) = self
            .kept
            .iter()
            .find(|(r, at)| start >= *at && end <= at + r.len())?;
        let from = part.start + (start - at);
        let to = part.start + (end - at);
        Some([&original[..from], inserted, &original[to..]].concat())
    }
}

/// Each real table header (outside strings, comments and arrays): where its line starts, and
/// whether its table is one to keep. `None` when the text does not scan as TOML's structure.
fn headers(text: &str) -> Option<Vec<(usize, bool)>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut depth, mut line_start, mut first) = (0, 0usize, 0, true);
    let mut names = std::collections::HashSet::new();
    while i < b.len() {
        match b[i] {
            b'\n' => {
                (line_start, first) = (i + 1, true);
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'[' if first && depth == 0 => {
                let (path, end) = header(text, i)?;
                // `PLUGINS` too: a key in another case must be seen (`dialect`).
                let plugins = path[0].eq_ignore_ascii_case("plugins");
                let wanted = plugins && path.get(1).is_none_or(|p| PLUGINS.contains(&p.as_str()))
                    || crate::fields::TABLES
                        .iter()
                        .any(|t| path[0].eq_ignore_ascii_case(t));
                // Another plugin's first table: its header alone, for the plugin's name (1.x
                // checks every name).
                let named = plugins && !wanted && names.insert(path[1].clone());
                out.push((line_start, wanted || named));
                if named {
                    out.push((end, false));
                }
                (i, first) = (end, false);
                continue;
            }
            _ => {}
        }
        first = false;
        i = match b[i] {
            b'#' => b[i..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| i + n),
            b'"' | b'\'' => string(b, i, None)?,
            b'[' | b'{' => {
                depth += 1;
                i + 1
            }
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                i + 1
            }
            _ => i + 1,
        };
    }
    (depth == 0).then_some(out)
}

/// The offset just past the string starting at `b[i]` (any of TOML's four kinds). With `value`,
/// the string must be a one-line one (as a key is), and its value is appended there.
fn string(b: &[u8], i: usize, mut value: Option<&mut Vec<u8>>) -> Option<usize> {
    let q = b[i];
    if b[i..].starts_with(&[q, q, q]) {
        if value.is_some() {
            return None;
        }
        // Multi-line: ends at three quotes (up to two more may belong to the content).
        let mut j = i + 3;
        loop {
            match b.get(j)? {
                b'\\' if q == b'"' => j += 2,
                c if *c == q && b[j..].starts_with(&[q, q, q]) => {
                    let mut end = j + 3;
                    while end < j + 5 && b.get(end) == Some(&q) {
                        end += 1;
                    }
                    return Some(end);
                }
                _ => j += 1,
            }
        }
    }
    let mut j = i + 1;
    loop {
        match *b.get(j)? {
            b'\n' => return None,
            c if c == q => return Some(j + 1),
            b'\\' if q == b'"' => {
                let (c, len) = escape(&b[j..])?;
                if let Some(v) = value.as_deref_mut() {
                    v.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                j += len;
            }
            c => {
                if let Some(v) = value.as_deref_mut() {
                    v.push(c);
                }
                j += 1;
            }
        }
    }
}

/// A backslash escape of a basic string: the character and the escape's length.
fn escape(b: &[u8]) -> Option<(char, usize)> {
    let simple = |c| Some((c, 2));
    match *b.get(1)? {
        b'"' => simple('"'),
        b'\\' => simple('\\'),
        b'b' => simple('\u{8}'),
        b'f' => simple('\u{c}'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'u' | b'U' => {
            let n = if b[1] == b'u' { 4 } else { 8 };
            let hex = std::str::from_utf8(b.get(2..2 + n)?).ok()?;
            let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
            Some((c, 2 + n))
        }
        // A line-ending backslash continues a multi-line string; keys have none.
        _ => None,
    }
}

/// The header `[a.b]` or `[[a.b]]` at `b[i]`: its key path, and the offset of its line's end.
fn header(text: &str, i: usize) -> Option<(Vec<String>, usize)> {
    let b = text.as_bytes();
    let double = b.get(i + 1) == Some(&b'[');
    let mut j = i + if double { 2 } else { 1 };
    let mut path = Vec::new();
    let skip = |mut j: usize| {
        while matches!(b.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        j
    };
    loop {
        j = skip(j);
        let key = match *b.get(j)? {
            b'"' | b'\'' => {
                let mut value = Vec::new();
                j = string(b, j, Some(&mut value))?;
                String::from_utf8(value).ok()?
            }
            _ => {
                let len = b[j..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_' || **c == b'-')
                    .count();
                if len == 0 {
                    return None;
                }
                j += len;
                text[j - len..j].to_string()
            }
        };
        path.push(key);
        j = skip(j);
        match *b.get(j)? {
            b'.' => j += 1,
            b']' => break,
            _ => return None,
        }
    }
    j += 1;
    if double {
        (b.get(j) == Some(&b']')).then_some(())?;
        j += 1;
    }
    // Only white space and a comment may follow on the line.
    j = skip(j);
    match b.get(j) {
        None | Some(b'\n') => Some((path, j)),
        Some(b'\r') if b.get(j + 1) == Some(&b'\n') => Some((path, j)),
        Some(b'#') => Some((
            path,
            b[j..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |n| j + n),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_cri_and_typed_tables_and_blanks_the_rest_line_for_line() {
        let text = "version = 3 # v\n[plugins.'io.containerd.cri.v1.runtime'.x]\n  a = \"[not = header]\"\n  b = [\n[1], # [c]\n]\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = 'r/p:1'\n[ other ]\nx = '''\n[y]\n'''\n[ GRPC ]\n  uid = 0\n[[plugins.\"\\u0063ri\".z]]\n";
        let r = reduce(text).unwrap();
        assert_eq!(
            r.text,
            "version = 3 # v\n[plugins.'io.containerd.cri.v1.runtime'.x]\n\n\n\n\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = 'r/p:1'\n\n\n\n\n[ GRPC ]\n  uid = 0\n[[plugins.\"\\u0063ri\".z]]\n"
        );
        assert_eq!(r.text.lines().count(), text.lines().count());
        // An edit inside a kept part goes back to the same place in the original.
        let edited = r.text.replace("r/p:1", "registry.local/pause:3.10");
        assert_eq!(
            r.apply(text, &edited).unwrap(),
            text.replace("r/p:1", "registry.local/pause:3.10")
        );
    }

    #[test]
    fn crlf_and_structure_the_scan_does_not_understand() {
        let r = reduce("a = 1\r\n[x]\r\ny = 2\r\n[plugins]\r\n").unwrap();
        assert_eq!(r.text, "a = 1\r\n\r\n\r\n[plugins]\r\n");
        for text in [
            "a = [\n",             // unclosed array
            "a = \"x\n[b]\n",      // unterminated string
            "a = '''\n",           // unterminated multi-line string
            "[a.]\n",              // bad header
            "[a] b = 1\n",         // text after a header
            "\u{feff}[plugins]\n", // byte-order mark
            "a = ]\n",
        ] {
            assert!(reduce(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn an_edit_across_a_blanked_table_is_not_applied() {
        let text = "[plugins.cri]\na = 1\n[x]\nb = 2\n[plugins.cri.y]\nc = 3\n";
        let r = reduce(text).unwrap();
        let edited = r.text.replace("a = 1", "a = 9").replace("c = 3", "c = 9");
        assert!(r.apply(text, &edited).is_none());
    }
}
