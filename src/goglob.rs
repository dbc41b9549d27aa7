//! Go's `path/filepath` globbing, as containerd expands `imports` with it: `Match` for one name,
//! and `Glob`'s rule that a pattern is matched one directory level at a time.
//!
//! The grammar (Go's `filepath.Match` on Unix): `*` is any run of characters but `/`; `?` is
//! one character but `/`; `[a-z]`, `[^a-z]` is a class (`!` is no negation, just a character);
//! `\c` is `c` itself. `**` is `*` twice, no recursion. A leading dot needs no special care.

/// The pattern is not one Go accepts (`filepath.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// Whether `path` has a character that makes Go's `Glob` treat it as a pattern.
pub fn has_meta(path: &str) -> bool {
    path.contains(['*', '?', '[', '\\'])
}

/// Go's `filepath.Match(pattern, name)`.
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let (mut pattern, mut name) = (pattern.as_bytes(), name.as_bytes());
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest, unless it has a `/`.
            return Ok(!name.contains(&b'/'));
        }
        // A match here, unless this is the last chunk and the name is not used up.
        let here = match_chunk(chunk, name);
        if let Ok(Some(t)) = here
            && (t.is_empty() || !pattern.is_empty())
        {
            name = t;
            continue;
        }
        here?;
        if star {
            // Skip i+1 bytes, never a `/`.
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                match match_chunk(chunk, &name[i + 1..])? {
                    Some(t) if pattern.is_empty() && !t.is_empty() => {}
                    Some(t) => {
                        name = t;
                        continue 'pattern;
                    }
                    None => {}
                }
                i += 1;
            }
        }
        // No match. (Go's `path.Match` checks the rest of the pattern here; `filepath.Match`,
        // which containerd uses, does not: `x*[` loads on every release.)
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Go's `scanChunk`: leading stars, then the text up to the next star outside a class.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let (mut in_range, mut i) = (false, 0);
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// The first UTF-8 character of `s` and its length; an invalid byte is U+FFFD, one byte long.
fn decode(s: &[u8]) -> (char, usize) {
    let end = s.len().min(4);
    for n in 1..=end {
        if let Ok(t) = std::str::from_utf8(&s[..n]) {
            return (t.chars().next().unwrap_or('\u{fffd}'), n);
        }
    }
    ('\u{fffd}', 1)
}

/// Go's `matchChunk`: what is left of `s` after `chunk` matched its start, or `None`. The whole
/// chunk is checked for well-formedness even after the match failed.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<Option<&'a [u8]>, BadPattern> {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            b'[' => {
                let mut r = '\0';
                if !failed {
                    let (c, n) = decode(s);
                    r = c;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let (mut matched, mut ranges) = (false, 0);
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    s = &s[decode(s).1..];
                }
                chunk = &chunk[1..];
            }
            c => {
                let c = if c == b'\\' {
                    chunk = &chunk[1..];
                    *chunk.first().ok_or(BadPattern)?
                } else {
                    c
                };
                if !failed {
                    if c != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok((!failed).then_some(s))
}

/// Go's `getEsc`: one character of a class, unescaped, and the rest of the chunk (never empty).
fn get_esc(mut chunk: &[u8]) -> Result<(char, &[u8]), BadPattern> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return Err(BadPattern);
    }
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let (r, n) = decode(chunk);
    if r == '\u{fffd}' && n == 1 {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// Whether Go's `filepath.Glob(pattern)` would return `path` if it existed: both cleaned, the
/// same number of levels, each level's name matched by that level of the pattern (a level
/// without meta characters must be equal). A malformed pattern matches nothing, as `Glob`
/// then returns an error.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    let (p, n): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    p.len() == n.len()
        && p.iter().zip(&n).all(|(p, n)| {
            if has_meta(p) {
                matches(p, n) == Ok(true)
            } else {
                p == n
            }
        })
}

/// Why [`glob`] gave no answer.
#[derive(Debug)]
pub enum GlobError {
    /// The pattern is malformed; containerd refuses it too.
    BadPattern,
    /// A directory could not be read. Go ignores that, but what it hides may be a file
    /// containerd loads, so pausectl stops.
    Io(String, std::io::Error),
}

/// Go's `filepath.Clean`-free `Split`: the directory part (with its trailing `/`) and the name.
fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    }
}

/// Go's `cleanGlobPath`.
fn clean_glob_path(dir: &str) -> &str {
    match dir {
        "" => ".",
        "/" => "/",
        _ => &dir[..dir.len() - 1],
    }
}

/// Go's `filepath.Join(dir, name)` for a name without `/`: `.` is dropped.
fn join(dir: &str, name: &str) -> String {
    match dir {
        "." => name.to_string(),
        "/" => format!("/{name}"),
        _ => format!("{dir}/{name}"),
    }
}

/// Go's `filepath.Glob(pattern)`: the existing paths that match, directory by directory, each
/// directory's names sorted. A missing directory matches nothing, as in Go; any other error
/// reading one is returned.
pub fn glob(pattern: &str) -> Result<Vec<String>, GlobError> {
    glob_depth(pattern, 0)
}

fn glob_depth(pattern: &str, depth: usize) -> Result<Vec<String>, GlobError> {
    if depth == 10_000 {
        return Err(GlobError::BadPattern);
    }
    matches(pattern, "").map_err(|_| GlobError::BadPattern)?;
    if !has_meta(pattern) {
        return match std::fs::symlink_metadata(pattern) {
            Ok(_) => Ok(vec![pattern.to_string()]),
            Err(e) if gone(&e) => Ok(Vec::new()),
            Err(e) => Err(GlobError::Io(pattern.to_string(), e)),
        };
    }
    let (dir, file) = split(pattern);
    let dir = clean_glob_path(dir);
    if !has_meta(dir) {
        return glob_dir(dir, file, Vec::new());
    }
    if dir == pattern {
        return Err(GlobError::BadPattern);
    }
    let mut out = Vec::new();
    for d in glob_depth(dir, depth + 1)? {
        out = glob_dir(&d, file, out)?;
    }
    Ok(out)
}

/// Go reads "does not exist" and "not a directory" as no match.
fn gone(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// Go's `glob(dir, pattern, matches)`.
fn glob_dir(dir: &str, pattern: &str, mut out: Vec<String>) -> Result<Vec<String>, GlobError> {
    let io = |e| GlobError::Io(dir.to_string(), e);
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Ok(out),
        Err(e) if gone(&e) => return Ok(out),
        Err(e) => return Err(io(e)),
    }
    // rustix's directory reader: std's panics in debug builds when `closedir` fails.
    let fd = std::fs::File::open(dir).map_err(io)?;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::new(fd).map_err(|e| io(e.into()))? {
        let entry = entry.map_err(|e| io(e.into()))?;
        let name = entry.file_name().to_string_lossy();
        if name != "." && name != ".." {
            names.push(name.into_owned());
        }
    }
    names.sort();
    for n in names {
        if matches(pattern, &n).map_err(|_| GlobError::BadPattern)? {
            out.push(join(dir, &n));
        }
    }
    Ok(out)
}

/// The order Go's `Glob` returns paths in: by directory level, each level's names sorted, so
/// `a/x` comes before `a-b/x` (a whole-string sort puts `-` before `/`).
pub fn glob_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of Go's own `filepath` match tests (src/path/filepath/match_test.go), Unix only.
    #[test]
    fn agrees_with_gos_match_tests() {
        let ok = |p: &str, s: &str, want: bool| {
            assert_eq!(matches(p, s), Ok(want), "Match({p:?}, {s:?})");
        };
        let bad = |p: &str, s: &str| {
            assert_eq!(matches(p, s), Err(BadPattern), "Match({p:?}, {s:?})");
        };
        ok("abc", "abc", true);
        ok("*", "abc", true);
        ok("*c", "abc", true);
        ok("a*", "a", true);
        ok("a*", "abc", true);
        ok("a*", "ab/c", false);
        ok("a*/b", "abc/b", true);
        ok("a*/b", "a/c/b", false);
        ok("a*b*c*d*e*/f", "axbxcxdxe/f", true);
        ok("a*b*c*d*e*/f", "axbxcxdxexxx/f", true);
        ok("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false);
        ok("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false);
        ok("a*b?c*x", "abxbbxdbxebxczzx", true);
        ok("a*b?c*x", "abxbbxdbxebxczzy", false);
        ok("ab[c]", "abc", true);
        ok("ab[b-d]", "abc", true);
        ok("ab[e-g]", "abc", false);
        ok("ab[^c]", "abc", false);
        ok("ab[^b-d]", "abc", false);
        ok("ab[^e-g]", "abc", true);
        ok("a\\*b", "a*b", true);
        ok("a\\*b", "ab", false);
        ok("a?b", "a☺b", true);
        ok("a[^a]b", "a☺b", true);
        ok("a???b", "a☺b", false);
        ok("a[^a][^a][^a]b", "a☺b", false);
        ok("[a-ζ]*", "α", true);
        ok("*[a-ζ]", "A", false);
        ok("a?b", "a/b", false);
        ok("a*b", "a/b", false);
        ok("[\\]a]", "]", true);
        ok("[\\-]", "-", true);
        ok("[x\\-]", "x", true);
        ok("[x\\-]", "-", true);
        ok("[x\\-]", "z", false);
        ok("[\\-x]", "x", true);
        ok("[\\-x]", "-", true);
        ok("[\\-x]", "a", false);
        bad("[]a]", "]");
        bad("[-]", "-");
        bad("[x-]", "x");
        bad("[x-]", "-");
        bad("[x-]", "z");
        bad("[-x]", "x");
        bad("[-x]", "-");
        bad("[-x]", "a");
        bad("\\", "a");
        bad("[a-b-c]", "a");
        bad("[", "a");
        bad("[^", "a");
        bad("[^bc", "a");
        bad("a[", "a");
        bad("a[", "ab");
        bad("a[", "x");
        bad("a/b[", "x");
        // A malformed chunk after one that does not match is not looked at.
        ok("x*[", "abc", false);
        bad("x*[", "xa");
        ok("*x", "xxx", true);
    }

    #[test]
    fn globs_a_tree_as_go_does() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_string_lossy().into_owned();
        for dir in ["a", "a-b", "a.b", "a/sub"] {
            std::fs::create_dir_all(d.path().join(dir)).unwrap();
        }
        for file in [
            "a/x.toml",
            "a-b/x.toml",
            "a.b/x.toml",
            "a/sub/y.toml",
            "a/.hidden.toml",
            "a/x.toml.bak",
        ] {
            std::fs::write(d.path().join(file), "").unwrap();
        }
        let got = |p: &str| -> Vec<String> {
            glob(&format!("{root}/{p}"))
                .unwrap()
                .into_iter()
                .map(|m| m[root.len() + 1..].to_string())
                .collect()
        };
        // Level by level: `a` before `a-b` before `a.b`.
        assert_eq!(got("*/x.toml"), ["a/x.toml", "a-b/x.toml", "a.b/x.toml"]);
        // Dotfiles match; `**` does not recurse.
        assert_eq!(got("a/*.toml"), ["a/.hidden.toml", "a/x.toml"]);
        assert_eq!(
            got("a/**"),
            ["a/.hidden.toml", "a/sub", "a/x.toml", "a/x.toml.bak"]
        );
        assert_eq!(got("a/**.toml"), ["a/.hidden.toml", "a/x.toml"]);
        assert_eq!(got("nothing/*"), Vec::<String>::new());
        assert!(matches!(
            glob(&format!("{root}/a/[")),
            Err(GlobError::BadPattern)
        ));
        let mut v = vec!["/d/a.b/x", "/d/a/x", "/d/a-b/x"];
        v.sort_by(|a, b| glob_order(a, b));
        assert_eq!(v, ["/d/a/x", "/d/a-b/x", "/d/a.b/x"]);
    }

    #[test]
    fn go_specifics_containerd_users_meet() {
        // `**` is `*` twice: it never crosses a directory.
        assert!(glob_matches(
            "/etc/containerd/conf.d/**.toml",
            "/etc/containerd/conf.d/a.toml"
        ));
        assert!(!glob_matches(
            "/etc/containerd/conf.d/**",
            "/etc/containerd/conf.d/sub/a.toml"
        ));
        // Dotfiles match `*`, so a backup or temp file beside a drop-in is loaded.
        assert!(glob_matches(
            "/d/conf.d/*",
            "/d/conf.d/.20-cri.toml.pausectl"
        ));
        assert!(glob_matches("/d/conf.d/*", "/d/conf.d/20-cri.toml.bak"));
        assert!(!glob_matches(
            "/d/conf.d/*.toml",
            "/d/conf.d/20-cri.toml.bak"
        ));
        // `!` is a plain character in a class; `^` negates.
        assert!(glob_matches("/d/[!a]*", "/d/!x"));
        assert!(!glob_matches("/d/[!a]*", "/d/bx"));
        assert!(glob_matches("/d/[^a]*", "/d/bx"));
        // Levels with meta characters in the directory part.
        assert!(glob_matches("/d/*/x.toml", "/d/a-b/x.toml"));
        assert!(!glob_matches("/d/*/x.toml", "/d/x.toml"));
        // A malformed pattern matches nothing.
        assert!(!glob_matches("/d/[", "/d/["));
    }
}
