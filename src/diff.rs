//! Unified diffs of a rewrite, coloured only for a terminal.

use similar::TextDiff;

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// `old` and `new` without the lines they share in front and behind, keeping `CONTEXT` of
/// them on each side; and how many lines were left out in front.
fn around_changes<'a>(old: &'a str, new: &'a str) -> (usize, &'a str, &'a str) {
    let lines = |s: &'a str| s.split_inclusive('\n');
    let front = lines(old)
        .zip(lines(new))
        .take_while(|(a, b)| a == b)
        .count();
    let skip = front.saturating_sub(CONTEXT);
    let cut = |s: &'a str| lines(s).take(skip).map(str::len).sum::<usize>();
    let (old, new) = (&old[cut(old)..], &new[cut(new)..]);
    // Shared lines behind, not counting those still shared in front (a pure insertion or
    // deletion can match the same lines from both ends).
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
}
