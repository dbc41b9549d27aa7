//! A quick look at a config: where its table headers are, so that only the tables that hold
//! or lead to the pin need toml_edit's full parse.
//!
//! [`reduce`] keeps the root section (`version`, `imports`, `disabled_plugins`), the tables
//! named after containerd's own typed settings (`[grpc]`, `[debug]`..., whose types
//! [`crate::fields`] checks) and every table under `[plugins]` that belongs to the CRI plugins
//! (`cri`, `io.containerd.grpc.v1.cri`, `io.containerd.cri.v1.images`) but their runtimes,
//! keeps only the header of other plugins' tables (their names matter to 1.x), and blanks every
//! other table, and every comment line, down to its line break. Lines and columns of what is
//! kept stay where they were, so every position in a message is right. The scan checks the
//! blanked tables as TOML 1.0 itself, and gives up (the whole text is then parsed) on what it
//! does not check.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
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

/// `text` with every table that cannot hold the pin blanked line for line, or `None` when
/// the scan meets something it does not understand (the caller then parses the whole text).
pub fn reduce(text: &str) -> Option<Reduced> {
    if text.starts_with('\u{feff}') {
        return None;
    }
    // Each section: where it starts, and whether it is kept; the root section always is.
    let mut sections = vec![(0, true)];
    sections.extend(headers(text)?);
    if sections.iter().all(|s| s.1) {
        return None; // nothing to blank: the whole parse is the same work
    }
    let mut out = String::with_capacity(text.len() / 8);
    let mut kept: Vec<(Range<usize>, usize)> = Vec::new();
    for (k, &(start, wanted)) in sections.iter().enumerate() {
        let range = start..sections.get(k + 1).map_or(text.len(), |s| s.0);
        if range.is_empty() {
            continue;
        }
        if wanted {
            // Adjacent kept parts are one.
            match kept.last_mut() {
                Some((last, _)) if last.end == range.start => last.end = range.end,
                _ => kept.push((range.clone(), out.len())),
            }
            out.push_str(&text[range]);
        } else {
            // Each line to its line break alone (blank lines are the cheapest for toml_edit to
            // read); but the file's last line to `#` unless it is empty, as a new table at the
            // end of the file gets a blank line before it when the last line is not one.
            let part = &text[range.clone()];
            for at in memchr::memchr_iter(b'\n', part.as_bytes()) {
                out.push_str(if part[..at].ends_with('\r') {
                    "\r\n"
                } else {
                    "\n"
                });
            }
            if let Some(body) = part.strip_suffix('\n').filter(|_| range.end == text.len()) {
                let body = body.strip_suffix('\r').unwrap_or(body);
                if !body[body.rfind('\n').map_or(0, |n| n + 1)..].is_empty() {
                    let crlf = out.ends_with("\r\n");
                    out.insert(out.len() - if crlf { 2 } else { 1 }, '#');
                }
            }
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
        // Something added at the very end (a new table) goes at the end of the original, when
        // that ends a line as the reduced text does (not in a comment on its last line).
        if start == old.len() {
            let whole_lines = original.is_empty() || original.ends_with('\n');
            return whole_lines.then(|| [original, inserted].concat());
        }
        let (part, at) = self
            .kept
            .iter()
            .find(|(r, at)| start >= *at && end <= at + r.len())?;
        let from = part.start + (start - at);
        let to = part.start + (end - at);
        // Where a blanked table follows, the original has that table's text next, not the
        // reduced text's line breaks: only whole lines may go there (not after a plugin's
        // header, whose blanked keys follow on its next line).
        if to == part.end && to < original.len() && to > 0 {
            let whole_lines = original.as_bytes()[to - 1] == b'\n'
                && (inserted.is_empty() || inserted.ends_with('\n'));
            if !whole_lines {
                return None;
            }
        }
        Some([&original[..from], inserted, &original[to..]].concat())
    }
}

/// What a key path holds, as far as the scan has seen.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Node {
    /// A table named only as part of a longer header (`a` of `[a.b]`).
    Implicit,
    /// A table with a header of its own.
    Table,
    /// An array of tables, with its number of elements.
    Array(u32),
    /// The first part of a key of a kept table (toml_edit checks the rest).
    Kept,
}

/// Key paths by their hash ([`child`]), which the map uses as it is.
type Nodes = HashMap<u64, Node, Fast>;

/// The hasher of the scan's maps: a hash ([`child`]) taken as it is, bytes hashed by
/// [`child`] (not SipHash, whose cost showed at every header).
type Fast = BuildHasherDefault<Id>;

#[derive(Default)]
struct Id(u64);

impl Hasher for Id {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = child(self.0, bytes);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The path `parent` and then `key` (a decoded key, or an array element's number). Two paths
/// that hash alike make the scan give up, never pass what it should not (see [`table`]).
fn child(parent: u64, key: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, word: u64| (h.rotate_left(23) ^ word).wrapping_mul(K);
    let mut h = (parent ^ key.len() as u64).wrapping_mul(K);
    // Eight bytes at a time, little-endian; the last few zero-padded (byte by byte: a copy of
    // a length not known cost a call to memcpy).
    let mut words = key.chunks_exact(8);
    for word in &mut words {
        h = mix(h, word.try_into().map_or(0, u64::from_le_bytes));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let last = rest
            .iter()
            .rev()
            .fold(0u64, |w, &byte| (w << 8) | u64::from(byte));
        h = mix(h, last);
    }
    h ^ (h >> 31)
}

/// Each real table header: where its line starts, and whether its table is one to keep.
/// `None` unless the text is plainly valid TOML 1.0 as far as the scan checks it: every blanked
/// table is `key = value` lines of one-line keys and values (no dotted keys, multi-line strings
/// or date-times), no table or key is defined twice, and no blanked header is escaped or holds
/// a tab (containerd 1.x reads those otherwise). The whole parse then decides, with toml_edit's
/// own message.
fn headers(text: &str) -> Option<Vec<(usize, bool)>> {
    let b = text.as_bytes();
    // The tables (a header's path and the tables it names), and apart, the keys of blanked
    // tables, most of them: listed, each table's checked for repeats when it ends (`once`),
    // and all against the tables at the end (`apart`), for a map of them cost a cache miss at
    // every key. `table_keys`: where the current table's keys start. Sized for some one table
    // per 400 bytes and one key per 50, so that most configs never grow them.
    let mut nodes = Nodes::with_capacity_and_hasher(b.len() / 400, Default::default());
    let (mut values, mut table_keys) = (Vec::with_capacity(b.len() / 50), 0);
    let mut names: HashSet<Vec<u8>, Fast> = HashSet::default();
    let (mut key, mut arrays) = (Vec::new(), HashMap::default());
    let mut path = Path {
        b,
        scratch: Vec::new(),
        parts: Vec::new(),
    };
    let (mut out, mut i, mut section, mut blank) = (Vec::new(), 0, 0u64, false);
    // Comment lines in a kept table are blanked too (they mean nothing to containerd), a run
    // of them at a time: whether one is running.
    let mut comments = false;
    while i < b.len() {
        let line = i;
        i = spaces(b, i);
        match b.get(i) {
            None | Some(b'\n' | b'\r') => {}
            Some(b'#') => {
                i = comment(b, i)?;
                if !blank && !comments {
                    out.push((line, false));
                    comments = true;
                }
            }
            Some(b'[') => {
                comments = false;
                if !once(&mut values[table_keys..]) {
                    return None;
                }
                table_keys = values.len();
                let (escaped, after) = header(b, i, &mut path)?;
                let wanted = wanted(&path);
                if !wanted && (escaped || memchr::memchr(b'\t', &b[i..after]).is_some()) {
                    return None;
                }
                section = table(&mut nodes, &mut arrays, &path, b[i + 1] == b'[')?;
                blank = !wanted;
                i = line_end(b, after)?;
                // Another plugin's first table: its header alone, for the plugin's name (1.x
                // checks every name).
                let plugin = path
                    .get(1)
                    .filter(|_| !wanted && path.get(0).is_some_and(is_plugins))
                    .filter(|p| !is_cri(p) && !names.contains(*p));
                let named = plugin.is_some_and(|p| names.insert(p.to_vec()));
                out.push((line, wanted || named));
                if named {
                    out.push((i, false));
                }
            }
            Some(_) => {
                if comments {
                    out.push((line, true));
                    comments = false;
                }
                key.clear();
                let (end, found) = one_key(b, i, &mut key)?;
                let at = child(section, found.bytes(b, &key));
                if blank {
                    let eq = spaces(b, end);
                    values.push(at);
                    if b.get(eq) != Some(&b'=') {
                        return None;
                    }
                    i = value(b, spaces(b, eq + 1), 0)?;
                } else {
                    if *nodes.entry(at).or_insert(Node::Kept) != Node::Kept {
                        return None;
                    }
                    i = rest_of_statement(b, end)?;
                }
            }
        }
        i = line_end(b, i)?;
        i += match b.get(i) {
            Some(b'\r') => 2,
            Some(_) => 1,
            None => 0,
        };
    }
    (once(&mut values[table_keys..]) && apart(&values, &nodes)).then_some(out)
}

/// Whether one table's keys (their paths' hashes) are each there once: pair by pair for a
/// few, sorted for more. Two that hash alike fail it too, which only sends the file to the
/// whole parse.
fn once(keys: &mut [u64]) -> bool {
    if keys.len() <= 16 {
        return keys
            .iter()
            .enumerate()
            .all(|(i, k)| !keys[i + 1..].contains(k));
    }
    keys.sort_unstable();
    keys.windows(2).all(|w| w[0] != w[1])
}

/// Whether no blanked table's key is also a table (a header's path or part of it, whether it
/// comes before or after the key) or a kept table's key. Each key is first looked up in a
/// bitmap of the tables' hashes, 16 bits a table, small enough to stay in cache; only the few
/// it lets through are looked up in the map.
fn apart(values: &[u64], nodes: &Nodes) -> bool {
    let bits = (nodes.len() * 16).next_power_of_two().max(64);
    let mut bitmap = vec![0u64; bits / 64];
    let slot = |h: u64| ((h as usize) & (bits - 1)) / 64;
    let bit = |h: u64| 1u64 << (h & 63);
    for &h in nodes.keys() {
        bitmap[slot(h)] |= bit(h);
    }
    values
        .iter()
        .all(|&v| bitmap[slot(v)] & bit(v) == 0 || !nodes.contains_key(&v))
}

/// Whether a table with this header holds the pin, decides where it goes, or is one of
/// containerd's own typed settings (`[grpc]`, and `[version]`, which every release refuses):
/// those, `[plugins]` and the CRI plugins' tables,
/// less the CRI runtimes (`[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.*]`).
fn wanted(path: &Path) -> bool {
    let first = path.get(0).unwrap_or_default();
    let runtime = path.len() > 4
        && (path.is(1, "cri") || path.is(1, "io.containerd.grpc.v1.cri"))
        && path.is(2, "containerd")
        && path.is(3, "runtimes");
    is_plugins(first) && !runtime && path.get(1).is_none_or(is_cri)
        || crate::fields::is_setting(first)
}

/// `plugins`, in any case (`PLUGINS` too: a key in another case must be seen, by `dialect`).
fn is_plugins(key: &[u8]) -> bool {
    key.eq_ignore_ascii_case(b"plugins")
}

/// One of the CRI plugins' ids.
fn is_cri(key: &[u8]) -> bool {
    PLUGINS.iter().any(|c| c.as_bytes() == key)
}

/// Records the header `path` (`[[path]]` when `array`): the hash of the table it opens, or
/// `None` where TOML forbids it (a table defined twice, a key's path, an array's name).
/// `arrays` holds each array of tables' path as written, for an array's hash is the one a
/// collision could pass through (any other collision makes the scan give up).
fn table(
    nodes: &mut Nodes,
    arrays: &mut HashMap<u64, Vec<u8>, Fast>,
    path: &Path,
    array: bool,
) -> Option<u64> {
    // The arrays' elements the path goes through: (its key's index, the element).
    let mut elements: Vec<(usize, u64)> = Vec::new();
    // The path up to key `k` as written: its keys, and the elements it goes through.
    let written = |k: usize, elements: &[(usize, u64)]| -> Option<Vec<u8>> {
        let mut w = Vec::new();
        for j in 0..=k {
            w.extend_from_slice(path.get(j)?);
            w.push(0xff); // never in UTF-8
            if let Some((_, n)) = elements.iter().find(|(at, _)| *at == j) {
                w.extend_from_slice(&n.to_le_bytes());
            }
        }
        Some(w)
    };
    let mut at = 0u64;
    for k in 0..path.len() {
        at = child(at, path.get(k)?);
        let last = k + 1 == path.len();
        let mut new = false;
        let node = nodes.entry(at).or_insert_with(|| {
            new = true;
            Node::Implicit
        });
        if let Node::Array(_) = node
            && arrays.get(&at) != Some(&written(k, &elements)?)
        {
            return None;
        }
        match (*node, last, array) {
            (Node::Implicit | Node::Table, false, _) => {}
            (Node::Array(n), false, _) => {
                elements.push((k, u64::from(n)));
                at = child(at, &u64::from(n).to_le_bytes());
            }
            (Node::Implicit, true, false) => *node = Node::Table,
            (Node::Implicit, true, true) if new => {
                *node = Node::Array(1);
                arrays.insert(at, written(k, &elements)?);
                at = child(at, &1u64.to_le_bytes());
            }
            (Node::Array(n), true, true) => {
                let n = n.checked_add(1)?;
                *node = Node::Array(n);
                at = child(at, &u64::from(n).to_le_bytes());
            }
            _ => return None,
        }
    }
    Some(at)
}

/// Spaces and tabs from `i`.
fn spaces(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

/// The end of the comment at `b[i]` (its line break, or the end of the text); `None` when it
/// holds a control character, which TOML forbids there.
fn comment(b: &[u8], i: usize) -> Option<usize> {
    let end = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n);
    let body = b[i + 1..end].strip_suffix(b"\r").unwrap_or(&b[i + 1..end]);
    all_plain(body).then_some(i + 1 + body.len())
}

/// After a statement at `b[i]`: spaces, a comment, then the line's end (the offset of its
/// `\n` or `\r\n`, or the end of the text).
fn line_end(b: &[u8], i: usize) -> Option<usize> {
    let mut i = spaces(b, i);
    if b.get(i) == Some(&b'#') {
        i = comment(b, i)?;
    }
    match b.get(i) {
        None | Some(b'\n') => Some(i),
        Some(b'\r') if b.get(i + 1) == Some(&b'\n') => Some(i),
        _ => None,
    }
}

/// The bytes of a bare key: A-Z, a-z, 0-9, `_` and `-`.
const BARE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
        c += 1;
    }
    t
};

/// Where a key is, decoded: in the text as written, or (an escaped one) in a scratch buffer.
#[derive(Clone, Copy)]
enum At {
    Text(usize, usize),
    Scratch(usize, usize),
}

impl At {
    fn bytes<'a>(self, b: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        match self {
            At::Text(from, to) => &b[from..to],
            At::Scratch(from, to) => &scratch[from..to],
        }
    }
}

/// One key (bare, or quoted on one line) at `b[i]`: the offset past it, and where it is
/// decoded (an escaped one is appended to `scratch`).
fn one_key(b: &[u8], i: usize, scratch: &mut Vec<u8>) -> Option<(usize, At)> {
    match *b.get(i)? {
        b'"' if !b[i..].starts_with(b"\"\"\"") => {
            let end = basic(b, i, None)?;
            if memchr::memchr(b'\\', &b[i..end]).is_none() {
                return Some((end, At::Text(i + 1, end - 1)));
            }
            let from = scratch.len();
            basic(b, i, Some(scratch))?;
            Some((end, At::Scratch(from, scratch.len())))
        }
        b'\'' if !b[i..].starts_with(b"'''") => {
            let end = literal(b, i)?;
            Some((end, At::Text(i + 1, end - 1)))
        }
        _ => {
            let len = b[i..].iter().take_while(|&&c| BARE[c as usize]).count();
            (len > 0).then_some((i + len, At::Text(i, i + len)))
        }
    }
}

/// Past the rest of a kept table's statement from `b[i]`, where its strings, comments and
/// brackets close (toml_edit checks the rest): the offset of the line break that ends it.
fn rest_of_statement(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < b.len() {
        i = match b[i] {
            b'\n' if depth == 0 => return Some(i),
            b'#' => memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n),
            b'"' | b'\'' => string(b, i)?,
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
    (depth == 0).then_some(i)
}

/// A value at `b[i]` that the scan can tell is valid TOML 1.0 (one-line strings, booleans,
/// numbers, and arrays and inline tables of those): the offset past it; `None` for any other.
fn value(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    if depth > 32 {
        return None;
    }
    match *b.get(i)? {
        b'"' if !b[i..].starts_with(b"\"\"\"") => basic(b, i, None),
        b'\'' if !b[i..].starts_with(b"'''") => literal(b, i),
        b't' if b[i..].starts_with(b"true") => Some(i + 4),
        b'f' if b[i..].starts_with(b"false") => Some(i + 5),
        b'[' => array(b, i, depth),
        b'{' => inline_table(b, i, depth),
        b'+' | b'-' | b'0'..=b'9' | b'i' | b'n' => {
            let len = b[i..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || b"_+-.:".contains(c))
                .count();
            number(&b[i..i + len]).then_some(i + len)
        }
        _ => None,
    }
}

/// Spaces, line breaks and comments from `b[i]`, as an array allows between its values.
fn blank_lines(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        i = spaces(b, i);
        match b.get(i) {
            Some(b'\n') => i += 1,
            Some(b'\r') if b.get(i + 1) == Some(&b'\n') => i += 2,
            Some(b'#') => i = comment(b, i)?,
            _ => return Some(i),
        }
    }
}

fn array(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    let mut j = blank_lines(b, i + 1)?;
    loop {
        if b.get(j) == Some(&b']') {
            return Some(j + 1);
        }
        j = blank_lines(b, value(b, j, depth + 1)?)?;
        match *b.get(j)? {
            b',' => j = blank_lines(b, j + 1)?,
            b']' => return Some(j + 1),
            _ => return None,
        }
    }
}

/// `{ k = v, ... }` on one line, each key once and undotted.
fn inline_table(b: &[u8], i: usize, depth: usize) -> Option<usize> {
    let mut j = spaces(b, i + 1);
    if b.get(j) == Some(&b'}') {
        return Some(j + 1);
    }
    // Each key by its hash: two alike make the scan give up, which is all a repeat does.
    let (mut keys, mut scratch) = (Vec::new(), Vec::new());
    loop {
        let (end, at) = one_key(b, j, &mut scratch)?;
        let key = child(0, at.bytes(b, &scratch));
        j = spaces(b, end);
        if keys.contains(&key) || b.get(j) != Some(&b'=') {
            return None;
        }
        keys.push(key);
        j = spaces(b, value(b, spaces(b, j + 1), depth + 1)?);
        match *b.get(j)? {
            b',' => j = spaces(b, j + 1),
            b'}' => return Some(j + 1),
            _ => return None,
        }
    }
}

/// A TOML 1.0 integer well inside 64 bits, or a float with at most a two-digit exponent.
fn number(t: &[u8]) -> bool {
    let digits = |s: &[u8], ok: fn(&u8) -> bool, max: usize| {
        !s.is_empty()
            && s[0] != b'_'
            && s[s.len() - 1] != b'_'
            && !s.windows(2).any(|w| w == b"__")
            && s.iter().all(|c| ok(c) || *c == b'_')
            && s.iter().filter(|c| **c != b'_').count() <= max
    };
    let dec = |c: &u8| c.is_ascii_digit();
    if let Some((base, rest)) = t.split_at_checked(2) {
        match base {
            b"0x" => return digits(rest, u8::is_ascii_hexdigit, 15),
            b"0o" => return digits(rest, |c| (b'0'..=b'7').contains(c), 20),
            b"0b" => return digits(rest, |c| matches!(c, b'0' | b'1'), 60),
            _ => {}
        }
    }
    let u = t.strip_prefix(b"+").or(t.strip_prefix(b"-")).unwrap_or(t);
    if u == b"inf" || u == b"nan" {
        return true;
    }
    let end = u
        .iter()
        .position(|c| matches!(c, b'.' | b'e' | b'E'))
        .unwrap_or(u.len());
    let (int, mut rest) = u.split_at(end);
    if !digits(int, dec, 18) || (int.len() > 1 && int[0] == b'0') {
        return false;
    }
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac
            .iter()
            .position(|c| matches!(c, b'e' | b'E'))
            .unwrap_or(frac.len());
        if !digits(&frac[..n], dec, 30) {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        [] => true,
        [b'e' | b'E', exp @ ..] => {
            let exp = exp
                .strip_prefix(b"+")
                .or(exp.strip_prefix(b"-"))
                .unwrap_or(exp);
            digits(exp, dec, 2)
        }
        _ => false,
    }
}

/// The offset just past the string at `b[i]` (any of TOML's four kinds), unchecked.
fn string(b: &[u8], i: usize) -> Option<usize> {
    let q = b[i];
    if b[i..].starts_with(&[q, q, q]) {
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
            b'\\' if q == b'"' => j += 2,
            _ => j += 1,
        }
    }
}

/// A byte TOML allows as it is in a one-line string or a comment.
fn plain(c: u8) -> bool {
    c == b'\t' || (c >= 0x20 && c != 0x7f)
}

/// The one-line basic string at `b[i]`, checked (and decoded into `value`): the offset past it.
fn basic(b: &[u8], i: usize, mut value: Option<&mut Vec<u8>>) -> Option<usize> {
    let mut j = i + 1;
    loop {
        // A run of bytes that stand for themselves, at once: up to a quote or a backslash
        // (memchr), then checked.
        let run = memchr::memchr2(b'"', b'\\', &b[j..])?;
        let run = if all_plain(&b[j..j + run]) {
            run
        } else {
            b[j..].iter().take_while(|&&c| plain(c)).count()
        };
        if let Some(v) = value.as_deref_mut() {
            v.extend_from_slice(&b[j..j + run]);
        }
        j += run;
        match *b.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => {
                let (c, len) = escape(&b[j..])?;
                if let Some(v) = value.as_deref_mut() {
                    v.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                j += len;
            }
            c if plain(c) => {
                if let Some(v) = value.as_deref_mut() {
                    v.push(c);
                }
                j += 1;
            }
            _ => return None,
        }
    }
}

/// The one-line literal string at `b[i]`, checked: the offset past it.
fn literal(b: &[u8], i: usize) -> Option<usize> {
    // The closing quote found with memchr, then what is before it checked at once.
    let len = memchr::memchr(b'\'', &b[i + 1..])?;
    all_plain(&b[i + 1..i + 1 + len]).then_some(i + len + 2)
}

/// Whether every byte is [`plain`]: folded with `&`, not searched, so that it vectorises.
fn all_plain(s: &[u8]) -> bool {
    s.iter().fold(true, |ok, &c| ok & plain(c))
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
            let hex = b.get(2..2 + n)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let code = u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            Some((char::from_u32(code)?, 2 + n))
        }
        // A line-ending backslash continues a multi-line string; one-line strings have none.
        _ => None,
    }
}

/// A header's keys, decoded: where each is (one per scan, reused).
struct Path<'a> {
    b: &'a [u8],
    scratch: Vec<u8>,
    parts: Vec<At>,
}

impl Path<'_> {
    fn len(&self) -> usize {
        self.parts.len()
    }

    fn get(&self, k: usize) -> Option<&[u8]> {
        Some(self.parts.get(k)?.bytes(self.b, &self.scratch))
    }

    fn is(&self, k: usize, key: &str) -> bool {
        self.get(k) == Some(key.as_bytes())
    }
}

/// The header `[a.b]` or `[[a.b]]` at `b[i]`, its keys put in `path`: whether a key in it is
/// escaped, and the offset past its closing bracket(s).
fn header(b: &[u8], i: usize, path: &mut Path) -> Option<(bool, usize)> {
    let double = b.get(i + 1) == Some(&b'[');
    let mut j = i + if double { 2 } else { 1 };
    let mut escaped = false;
    path.scratch.clear();
    path.parts.clear();
    loop {
        j = spaces(b, j);
        let (end, at) = one_key(b, j, &mut path.scratch)?;
        escaped |= matches!(at, At::Scratch(..));
        path.parts.push(at);
        if path.len() >= 80 {
            return None; // toml_edit's bound on nesting: the whole parse refuses it
        }
        j = spaces(b, end);
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
    Some((escaped, j))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_cri_and_typed_tables_and_blanks_the_rest_line_for_line() {
        let text = "version = 3 # v\n[plugins.'io.containerd.cri.v1.runtime'.x]\n  a = \"[not = header]\"\n  b = [\n[1], # [c]\n]\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = 'r/p:1'\n[ other ]\nx = { y = [1.5, 0x1f, 'z', -3e-2] }\n[ GRPC ]\n  uid = 0\n  x = '''\n[y]\n'''\n[[plugins.\"\\u0063ri\".z]]\n[plugins.cri.containerd.runtimes.runc]\n  q = 1\n";
        let r = reduce(text).unwrap();
        assert_eq!(
            r.text,
            "version = 3 # v\n[plugins.'io.containerd.cri.v1.runtime'.x]\n\n\n\n\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = 'r/p:1'\n\n\n[ GRPC ]\n  uid = 0\n  x = '''\n[y]\n'''\n[[plugins.\"\\u0063ri\".z]]\n\n#\n"
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
            // In a blanked table: what the scan does not check, or TOML forbids.
            "[x]\na = '''\n'''\n",   // multi-line string
            "[x]\na.b = 1\n",        // dotted key
            "[x]\na = 1979-05-27\n", // date
            "[x]\na = 1\na = 2\n",   // a key twice
            "[x]\n[x]\n",            // a table twice
            "[x]\na = 1\n[x.a]\n",   // a key's table
            "[x.a]\n[x]\na = 1\n",   // a table's key
            "[x.a]\n[[x]]\n",        // an array of a table
            "x = 1\n[x]\n",          // a kept key's table
            "[x]\na = 01\n",         // leading zero
            "[x]\na = 1__0\n",       // double underscore
            "[x]\na = 99999999999999999999\n",
            "[x]\na = 1.\n",
            "[x]\na = \"\\u+041\"\n", // not four hex digits
            "[x]\na = \"\\ud800\"\n", // a surrogate
            "[x]\na = \"\\e\"\n",     // TOML 1.1's escape
            "[x]\na = {b = 1,}\n",    // trailing comma
            "[x]\na = {b = 1, b = 2}\n",
            "[x]\na = {\nb = 1}\n", // a line break in an inline table
            "[x]\na = 1 b = 2\n",
            "[x]\na = \"\u{7}\"\n", // a control character
            "[x]\na = 'a\u{7f}b'\n",
            "[x]\na = \"a\u{1}b\\n\"\n",
            // A string left open, a quote on a later line.
            "[x]\na = 'abc\nb = 'x'\n",
            "[x]\na = \"abc\nb = \"x\"\n",
            "[x]\na = \"abc\\\"\nb = \"x\"\n",
            "[x] # \u{7f}\n",
            "[x.\tb]\n",         // a tab in a blanked header (1.x refuses it)
            "[x.\"\\u0062\"]\n", // an escape in a blanked header (1.x does not decode it)
            // Two paths that hash alike, one an array of tables: the array's path is compared.
            "[['umenhtij//Op2]Gy']]\n[AAAAAAAABBBBBBBB.x]\n[[AAAAAAAABBBBBBBB]]\n",
            "[x]\na = 1\n[x.a.b]\n", // a table under a key
            "[x]\na = 1\n[[x.a]]\n",
            "[[x]]\na = 1\n[x.a]\n", // under an element's key
        ] {
            assert!(reduce(text).is_none(), "{text:?}");
        }
        // A key twice in a table of many (sorted, not compared pair by pair), wherever it is,
        // the table last or not; and the same keys in other tables are no repeat.
        let many: String = (0..40).map(|n| format!("k{n} = {n}\n")).collect();
        for (dup, after) in [("k0", ""), ("k39", ""), ("k20", "[y]\n")] {
            let text = format!("[plugins]\n[x]\n{many}{dup} = 1\n{after}");
            assert!(reduce(&text).is_none(), "{dup} {after}");
        }
        let fine = format!("[plugins]\n[x]\n{many}[y]\n{many}[[z]]\n{many}[[z]]\n{many}[x.q]\n");
        assert!(reduce(&fine).is_some());
    }

    /// A table named after one of containerd's own settings is kept, whatever the setting's
    /// type: `[version]` makes every release refuse the file, and the whole parse must see it.
    #[test]
    fn tables_named_after_settings_are_kept() {
        for name in [
            "version",
            "Version.x",
            "disabled_plugins",
            "[imports]",
            "oom_score",
        ] {
            let text = format!("[{name}]\n[x]\na = 1\n");
            let r = reduce(&text).unwrap();
            assert!(
                r.text.starts_with(&format!("[{name}]\n")),
                "{name}: {:?}",
                r.text
            );
        }
    }

    #[test]
    fn comment_lines_of_kept_tables_are_blanked_too() {
        let text = "# a\n\n# b\nversion = 2 # c\n[plugins.cri]\n  # d\nx = '#'\n[x]\n# e\n";
        let r = reduce(text).unwrap();
        assert_eq!(
            r.text,
            "\n\n\nversion = 2 # c\n[plugins.cri]\n\nx = '#'\n\n#\n"
        );
        assert!(reduce("# \u{7}\n[x]\n").is_none(), "a control character");
    }

    #[test]
    fn an_edit_across_a_blanked_table_is_not_applied() {
        let text = "[plugins.cri]\na = 1\n[x]\nb = 2\n[plugins.cri.y]\nc = 3\n";
        let r = reduce(text).unwrap();
        let edited = r.text.replace("a = 1", "a = 9").replace("c = 3", "c = 9");
        assert!(r.apply(text, &edited).is_none());
    }
}
