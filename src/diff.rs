//! Unified diffs of a rewrite, coloured only for a terminal.

use similar::TextDiff;

/// A unified diff of `old` against `new` with three lines of context, labelled with the path.
/// Empty when the two are equal.
pub fn unified(old: &str, new: &str, label: &str, color: bool) -> String {
    if old == new {
        return String::new();
    }
    let diff = TextDiff::from_lines(old, new);
    let text = diff
        .unified_diff()
        .context_radius(3)
        .header(label, label)
        .to_string();
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
}
