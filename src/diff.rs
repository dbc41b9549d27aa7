//! Unified diffs of a rewrite, coloured only for a terminal.

use similar::TextDiff;

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// `old` and `new` without the lines they share in front and behind, keeping `CONTEXT` of
/// them on each side; and how many lines were left out in front. Byte scans (the file can be
/// 10 MB and the change one line), cut back to whole lines.
fn around_changes<'a>(old: &'a str, new: &'a str) -> (usize, &'a str, &'a str) {
    let (o, n) = (old.as_bytes(), new.as_bytes());
    let line_start = |s: &[u8], at: usize| memchr::memrchr(b'\n', &s[..at]).map_or(0, |i| i + 1);
    // The whole lines shared in front, less CONTEXT of them.
    let same = shared(o, n, false);
    let front = line_start(o, same);
    let mut cut = front;
    for _ in 0..CONTEXT {
        if cut > 0 {
            cut = line_start(o, cut - 1);
        }
    }
    let skip = crate::config::breaks(&o[..cut]);
    let (o, n) = (&o[cut..], &n[cut..]);
    // The whole lines shared behind, not reaching into those still shared in front (a pure
    // insertion or deletion can match the same lines from both ends), less CONTEXT of them.
    let limit = o.len().min(n.len()) - (front - cut);
    let tail = shared(o, n, true);
    let mut at = o.len() - tail.min(limit);
    let shift = n.len() as isize - o.len() as isize;
    let starts_line = |s: &[u8], i: usize| i == 0 || s[i - 1] == b'\n';
    let next_line = |i: usize| memchr::memchr(b'\n', &o[i..]).map_or(o.len(), |j| i + j + 1);
    if !(starts_line(o, at) && starts_line(n, (at as isize + shift) as usize)) {
        at = next_line(at);
    }
    for _ in 0..CONTEXT {
        if at < o.len() {
            at = next_line(at);
        }
    }
    let keep_new = (at as isize + shift) as usize;
    (skip, &old[cut..cut + at], &new[cut..cut + keep_new])
}

/// How many bytes `a` and `b` share in front (`back`: behind): compared a block at a time as
/// slices (a vectorised compare), then byte by byte.
fn shared(a: &[u8], b: &[u8], back: bool) -> usize {
    const BLOCK: usize = 256;
    let n = a.len().min(b.len());
    let at = |s: &[u8], k: usize, len: usize| {
        if back {
            s.len() - k - len..s.len() - k
        } else {
            k..k + len
        }
    };
    let mut k = 0;
    while k + BLOCK <= n && a[at(a, k, BLOCK)] == b[at(b, k, BLOCK)] {
        k += BLOCK;
    }
    let byte = |s: &[u8], i: usize| s[at(s, i, 1).start];
    k + (k..n).take_while(|&i| byte(a, i) == byte(b, i)).count()
}

/// A hunk header `@@ -a,b +c,d @@` with `skip` added to `a` and `c`; `None` for other lines.
fn renumber(line: &str, skip: usize) -> Option<String> {
    let rest = line.strip_prefix("@@ -")?;
    let (ranges, tail) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let shift = |range: &str| -> Option<String> {
        let (start, len) = match range.split_once(',') {
            Some((s, l)) => (s, Some(l)),
            None => (range, None),
        };
        let start = start.parse::<usize>().ok()? + skip;
        Some(len.map_or(start.to_string(), |l| format!("{start},{l}")))
    };
    Some(format!("@@ -{} +{} @@{tail}", shift(old)?, shift(new)?))
}

/// A unified diff of `old` against `new` with three lines of context, labelled with the path.
/// Empty when the two are equal.
pub fn unified(old: &str, new: &str, label: &str, color: bool) -> String {
    if old == new {
        return String::new();
    }
    // Only the lines around the changes go to the diff (a 10 MB config costs little), and the
    // hunk headers are renumbered by the lines left out in front.
    let (skip, old, new) = around_changes(old, new);
    let diff = TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(CONTEXT)
        .header(label, label)
        .to_string();
    let text: String = text
        .split_inclusive('\n')
        .map(|line| renumber(line, skip).unwrap_or_else(|| line.to_string()))
        .collect();
    if !color {
        return text;
    }
    text.split_inclusive('\n')
        .map(|line| {
            let code = match line.as_bytes().first() {
                Some(b'+') if !line.starts_with("+++") => "32",
                Some(b'-') if !line.starts_with("---") => "31",
                Some(b'@') => "36",
                _ => return line.to_string(),
            };
            let (body, end) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
            format!("\x1b[{code}m{body}\x1b[0m{end}")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_only_the_changed_line_with_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = old.replace("e\n", "E\n");
        let d = unified(old, &new, "config.toml", false);
        assert_eq!(
            d,
            "--- config.toml\n+++ config.toml\n@@ -2,7 +2,7 @@\n b\n c\n d\n-e\n+E\n f\n g\n h\n"
        );
        assert!(unified(old, &new, "x", true).contains("\x1b[31m-e\x1b[0m\n"));
        assert_eq!(unified(old, old, "x", false), "");
    }

    /// The block compare finds what a byte-by-byte compare finds, at every length and place.
    #[test]
    fn shared_bytes_as_a_plain_compare_counts_them() {
        let naive = |a: &[u8], b: &[u8], back: bool| match back {
            false => a.iter().zip(b).take_while(|(x, y)| x == y).count(),
            true => a
                .iter()
                .rev()
                .zip(b.iter().rev())
                .take_while(|(x, y)| x == y)
                .count(),
        };
        let base: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 251) as u8).collect();
        for at in [0, 1, 255, 256, 257, 511, 512, 1000, 1999] {
            for len in [1500, 1999, 2000] {
                let mut b = base[..len].to_vec();
                if at < len {
                    b[at] ^= 1;
                }
                for back in [false, true] {
                    assert_eq!(
                        shared(&base, &b, back),
                        naive(&base, &b, back),
                        "{at} {len}"
                    );
                }
            }
        }
    }

    /// Trimming the shared lines changes nothing in the diff: the same as diffing whole texts.
    #[test]
    fn trimmed_diffs_equal_whole_diffs() {
        let whole = |old: &str, new: &str| {
            TextDiff::from_lines(old, new)
                .unified_diff()
                .context_radius(CONTEXT)
                .header("x", "x")
                .to_string()
        };
        let base: String = (0..40).map(|i| format!("line {i}\n")).collect();
        let mut checked = 0;
        for at in [0, 1, 2, 3, 4, 10, 36, 37, 38, 39] {
            let line = format!("line {at}\n");
            for edit in ["", "new\n", "line x\nline y\n"] {
                let mut variants = vec![base.replacen(&line, edit, 1)];
                variants.push(base.replacen(&line, &format!("{line}{edit}"), 1));
                variants.push(format!("{}{edit}", base.trim_end_matches('\n')));
                variants.push(
                    base.replacen(&line, edit, 1)
                        .replacen("line 20\n", "twenty\n", 1),
                );
                for new in variants.iter().filter(|v| **v != base) {
                    assert_eq!(unified(&base, new, "x", false), whole(&base, new), "{new}");
                    assert_eq!(unified(new, &base, "x", false), whole(new, &base), "{new}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100, "{checked}");
    }

    /// The lines-based trimming this module had before it scanned bytes: the reference.
    fn around_changes_by_lines<'a>(old: &'a str, new: &'a str) -> (usize, &'a str, &'a str) {
        let lines = |s: &'a str| s.split_inclusive('\n');
        let front = lines(old)
            .zip(lines(new))
            .take_while(|(a, b)| a == b)
            .count();
        let skip = front.saturating_sub(CONTEXT);
        let cut = |s: &'a str| lines(s).take(skip).map(str::len).sum::<usize>();
        let (old, new) = (&old[cut(old)..], &new[cut(new)..]);
        let shared_front = front - skip;
        let back = lines(old)
            .rev()
            .zip(lines(new).rev())
            .take_while(|(a, b)| a == b)
            .count()
            .min(lines(old).count().min(lines(new).count()) - shared_front)
            .saturating_sub(CONTEXT);
        let keep = |s: &'a str| s.len() - lines(s).rev().take(back).map(str::len).sum::<usize>();
        (skip, &old[..keep(old)], &new[..keep(new)])
    }

    /// Every pair of short texts made of a few lines (with and without a final newline, CRLF,
    /// repeated lines), bare and with shared lines around: the byte scans trim exactly what
    /// the line-by-line reference trims.
    #[test]
    fn byte_trimming_equals_line_trimming_on_every_small_pair() {
        let parts = ["a\n", "b\n", "a\r\n", "", "b", "é\n"];
        let mut texts = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| parts.iter().map(move |p| format!("{t}{p}")))
                .collect();
            texts.extend(longer);
        }
        texts.sort();
        texts.dedup();
        let wrap = |pre: &str, post: &str| -> Vec<String> {
            texts.iter().map(|t| format!("{pre}{t}{post}")).collect()
        };
        let sets = [
            wrap("", ""),
            wrap("1\n2\n3\n4\n5\n", ""),
            wrap("1\n2\n3\n4\n5\n", "6\n7\n8\n9\n"),
            wrap("", "6\n7\n8\n9\n"),
        ];
        for set in &sets {
            for a in set {
                for b in set.iter().filter(|b| *b != a) {
                    assert_eq!(
                        around_changes(a, b),
                        around_changes_by_lines(a, b),
                        "{a:?} -> {b:?}"
                    );
                }
            }
        }
    }
}
