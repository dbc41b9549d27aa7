//! The rewrite: the keys a config gets for its schema and release, the edit of one file
//! (only the pin's bytes change), and the fixed point over a chain that ends with every release
//! that loads it on the new image.

use crate::config::{BOM, ChainError, Error, Parsed, parse, parse_all};
use crate::facts::{Facts, all_facts};
use crate::inspect::{Report, both_lines, fast, old_1_6, report};
use crate::merge::{self, Refusal};
use crate::release::Release;
use crate::schema::{KEY_V1, KEY_V2, KEY_V3, Key, Schema};
use crate::sections;
use crate::splice::{self, Lookup, Style};
use crate::verify::verify;
use crate::warning::{Kind, Warning};
use toml_edit::ImDocument;

/// The result of pinning an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The new text (equal to the input when nothing needed to change).
    pub text: String,
    /// The report for the input.
    pub before: Report,
    /// What was done beyond the obvious, then the warnings that still hold for the new text.
    pub warnings: Vec<Warning>,
}

/// The keys a rewrite sets, adding them where missing, and those it updates only where present.
/// `merged_1x` is the version 1.x merges the chain to, the last non-zero one.
fn targets(schema: Schema, release: Option<Release>, merged_1x: i64) -> (Vec<Key>, Vec<Key>) {
    match schema {
        // A version-1 file in a chain that 1.x merges to version 2 or later: 1.x reads the
        // version-2 key there and refuses `[plugins.cri]` (measured with 1.6.20 and 1.7.24).
        Schema::V1 if merged_1x >= 2 && release.is_none_or(|r| !r.is_2x()) => {
            let add = if release.is_none() {
                vec![KEY_V2, KEY_V3]
            } else {
                vec![KEY_V2]
            };
            (add, vec![KEY_V3])
        }
        // containerd 2.0–2.2 ignore the version-1 key; the version-3 key makes 2.x honour the
        // pin, and 1.x ignores it.
        Schema::V1 if release.is_some_and(|r| !r.is_2x()) => (vec![KEY_V1], vec![KEY_V3]),
        Schema::V1 => (vec![KEY_V1, KEY_V3], vec![]),
        Schema::V2 => (vec![KEY_V2], vec![KEY_V3]),
        // Older 1.x reads a version-3 or 4 file as version 2: give it the key it reads (with the
        // release unknown too: Debian 12 ships 1.6.20).
        Schema::V3 | Schema::V4 if release.is_none_or(|r| r.reads_v3_as_v2()) => {
            (vec![KEY_V3, KEY_V2], vec![])
        }
        Schema::V3 | Schema::V4 => (vec![KEY_V3], vec![KEY_V2]),
    }
}

/// Sets `image` at the keys `add` (adding them where missing) and `update` (only where present)
/// of one file, and checks the result: it parses, those keys read `image`, nothing else changed.
/// Returns the new file (`None` when nothing needed to change) and what it did beyond the
/// obvious.
fn edit(
    p: &Parsed,
    image: &str,
    add: &[&[&str]],
    update: &[&[&str]],
) -> Result<(Option<Parsed>, Vec<Warning>), Error> {
    let style = Style::of(p.raw());
    let mut notes = Vec::new();
    let mut new: Option<Parsed> = None;
    for key in add.iter().chain(update) {
        let cur = new.as_ref().unwrap_or(p);
        let existing = splice::lookup(&cur.doc, key).map_err(|w| Error::Verify(w.path))?;
        let present = matches!(existing, Lookup::Found(_));
        if !present && !add.contains(key) {
            continue;
        }
        if let Lookup::Found(f) = &existing
            && f.value == image
        {
            continue;
        }
        if p.schema == Schema::V1 && *key == KEY_V3 && !present && add.contains(&KEY_V1) {
            notes.push(Warning::new(Kind::AlsoSet, "version-1 config: containerd 2.0–2.2 ignore `[plugins.cri] sandbox_image`, so pausectl also set `[plugins.\"io.containerd.cri.v1.images\".pinned_images] sandbox`, which 2.x reads and 1.x ignores"));
        }
        let edit = splice::set(&cur.doc, key, image, style).map_err(|w| Error::Verify(w.path))?;
        let raw = splice::apply(cur.raw(), &[edit]);
        // Read again as a file is read, so that what a release refuses or reads otherwise is
        // found where it now is.
        let text = if p.bom { format!("{BOM}{raw}") } else { raw };
        let n =
            parse(&text).map_err(|e| Error::Verify(format!("output does not read back: {e}")))?;
        new = Some(n);
    }
    if let Some(n) = &new {
        verify(&p.doc, &n.doc, image, add)?;
    }
    Ok((new, notes))
}

/// The text a config that holds no settings starts from: a missing file (`text` empty) or one
/// that is empty or only comments and blank lines, which containerd reads the same way. It
/// gets the version a new config has, `version = 3` for a release known to be 2.x, else
/// `version = 2` (containerd 1.3 to 2.x read it), after what it holds, so that the pin goes
/// where that version keeps it instead of into a version-1 file. `None` when `text` has any
/// setting (or is not TOML).
pub fn fresh(text: &str, release: Option<Release>) -> Option<String> {
    let body = text.strip_prefix(BOM).unwrap_or(text);
    // Only comments and blank lines, seen without a parse (a large config is parsed once).
    let blank = |l: &str| {
        let l = l.trim_start_matches([' ', '\t', '\r', '\n']);
        l.is_empty() || l.starts_with('#')
    };
    if !crate::config::lines_of(body).all(blank) {
        return None;
    }
    let doc = ImDocument::parse(body).ok()?;
    if !doc.as_table().is_empty() {
        return None;
    }
    let version = if release.is_some_and(|r| r.is_2x()) {
        3
    } else {
        2
    };
    let nl = if crate::config::has(text, "\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        nl
    };
    Some(format!("{text}{sep}version = {version}{nl}"))
}

/// Rewrites `text` so that every containerd that reads it uses `image` (already validated: no
/// quotes, backslashes or control characters). Only the pin's bytes change.
pub fn set(text: &str, image: &str, release: Option<Release>) -> Result<Change, Error> {
    let mut c = set_chain(&[("", text)], &[], image, release).map_err(|e| e.error)?;
    Ok(Change {
        text: c.texts.remove(0),
        before: c.before,
        warnings: c.warnings,
    })
}

/// The result of pinning an image in a config and the files it imports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainChange {
    /// The new text of each file, in the order given (equal to the old where nothing changed).
    pub texts: Vec<String>,
    /// The report for the files as they were.
    pub before: Report,
    /// What was done beyond the obvious, then the warnings that still hold afterwards.
    pub warnings: Vec<Warning>,
}

/// Like [`set`], for a config and the files it imports (`(label, text)` in load order, as for
/// [`crate::inspect_chain`]): the main config gets the pin where its schema puts it, every imported
/// file that sets the pin gets the new image in place, and where a release's merge rules would
/// still let another value win (1.x: the last file with a CRI plugin table replaces the others;
/// 2.0–2.2: a newer drop-in stops `sandbox_image` from migrating), the pin goes into the file
/// that wins. No file outside the chain is touched.
pub fn set_chain(
    files: &[(&str, &str)],
    missing: &[String],
    image: &str,
    release: Option<Release>,
) -> Result<ChainChange, ChainError> {
    set_chain_at(files, missing, image, release, 0)
}

/// Like [`set_chain`], with the pin put into file `primary` (a drop-in of its own) instead of
/// the main config. Files loaded after it that set the pin are updated; files before it are
/// touched only when a release's merge would otherwise not end on the image.
pub fn set_chain_at(
    files: &[(&str, &str)],
    missing: &[String],
    image: &str,
    release: Option<Release>,
    primary: usize,
) -> Result<ChainChange, ChainError> {
    if let Some(r) = fast(files)
        && let Some(c) = set_reduced(&r, files, missing, image, release)?
    {
        return Ok(c);
    }
    set_files(files, missing, image, release, primary)
}

/// [`set_files`] on the reduced text of a single file; `None` when the change cannot be put
/// back into the whole text (it spans a blanked table), which is then edited whole.
fn set_reduced(
    r: &sections::Reduced,
    files: &[(&str, &str)],
    missing: &[String],
    image: &str,
    release: Option<Release>,
) -> Result<Option<ChainChange>, ChainError> {
    let mut c = set_files(&[(files[0].0, &r.text)], missing, image, release, 0)?;
    let text = if c.texts[0] == r.text {
        Some(files[0].1.to_string())
    } else {
        r.apply(files[0].1, &c.texts[0])
    };
    Ok(text.map(|t| {
        c.texts[0] = t;
        c
    }))
}

/// [`set_chain_at`] on the files as given, each parsed whole.
fn set_files(
    files: &[(&str, &str)],
    missing: &[String],
    image: &str,
    release: Option<Release>,
    primary: usize,
) -> Result<ChainChange, ChainError> {
    let labels: Vec<&str> = files.iter().map(|(l, _)| *l).collect();
    let in_file = |(i, error): (usize, Error)| ChainError {
        file: labels[i].to_string(),
        error,
    };
    // Each file is parsed once, and again only after an edit of it.
    let old = parse_all(files).map_err(in_file)?;
    let mut new: Vec<Option<Parsed>> = old.iter().map(|_| None).collect();
    let before_edit: Vec<&Parsed> = old.iter().collect();
    let old_facts = all_facts(&before_edit).map_err(in_file)?;
    let before = report(&labels, &before_edit, &old_facts, missing, release);
    pinnable(&before, release).map_err(|e| e.unwrap_or_else(|e| in_file((0, e))))?;
    let mut notes = Vec::new();
    let mut edit_file = |new: &mut [Option<Parsed>], i: usize, add: &[Key], update: &[Key]| {
        let (n, more) = edit(new[i].as_ref().unwrap_or(&old[i]), image, add, update)
            .map_err(|error| in_file((i, error)))?;
        if let Some(n) = n {
            new[i] = Some(n);
        }
        notes.extend(more);
        Ok::<(), ChainError>(())
    };
    let merged_1x = old_facts.iter().rev().map(|f| f.version).find(|v| *v != 0);
    let (add, update) = targets(old_facts[primary].schema, release, merged_1x.unwrap_or(0));
    edit_file(&mut new, primary, &add, &update)?;
    let others = [KEY_V1, KEY_V2, KEY_V3];
    for i in primary + 1..files.len() {
        edit_file(&mut new, i, &[], &others)?;
    }
    // Without a release, each line's merge rules must end on the image, a 1.6 before 1.6.32's too.
    let releases = match release {
        Some(r) => vec![r],
        None => [&both_lines(old_facts[0].schema)[..], &[old_1_6()]].concat(),
    };
    for round in 0..=files.len() + 1 {
        let facts = all_facts(&current(&new, &old)).map_err(in_file)?;
        let Some((file, key)) = releases.iter().find_map(|r| {
            let o = merge::merge(&facts, missing, *r);
            let wins = o.source.as_ref().is_some_and(|p| p.image == image);
            (o.refusal.is_none() && !wins).then(|| winner(&facts, *r, primary))
        }) else {
            break;
        };
        if round == files.len() && primary > 0 {
            // Last resort: files before the drop-in that set the pin get the image too.
            for i in 0..primary {
                edit_file(&mut new, i, &[], &others)?;
            }
            continue;
        }
        edit_file(&mut new, file, &[key], &[])?;
    }
    let now = current(&new, &old);
    let facts = all_facts(&now).map_err(in_file)?;
    let after = report(&labels, &now, &facts, missing, release);
    check_releases(&old_facts, &facts, missing, image, release, &releases).map_err(in_file)?;
    notes.extend(after.warnings);
    let texts = new
        .iter()
        .zip(files)
        .map(|(n, (_, text))| n.as_ref().map_or_else(|| text.to_string(), Parsed::text))
        .collect();
    Ok(ChainChange {
        texts,
        before,
        warnings: notes,
    })
}

/// Whether a chain can be pinned at all: not when pausectl cannot tell what a release reads,
/// nor, with the release unknown, when no release loads it (an error of the main config).
fn pinnable(before: &Report, release: Option<Release>) -> Result<(), Result<ChainError, Error>> {
    if let Some(e) = &before.unsure {
        return Err(Ok(e.clone()));
    }
    if let (None, Some(Refusal { why, help })) = (release, &before.refusal) {
        let (why, help) = (why.clone(), help.clone());
        return Err(Err(Error::Refused {
            release: None,
            why,
            help,
        }));
    }
    Ok(())
}

/// The last check of a rewrite's chain: each release in `releases` that loaded the files before
/// still loads them and uses `image` (with the release unknown, a line that refused before may
/// go on refusing).
fn check_releases(
    old_facts: &[Facts],
    facts: &[Facts],
    missing: &[String],
    image: &str,
    release: Option<Release>,
    releases: &[Release],
) -> Result<(), (usize, Error)> {
    for r in releases {
        let o = merge::merge(facts, missing, *r);
        // A release that loaded the files before must still load them.
        let refused_before = merge::merge(old_facts, missing, *r).refusal.is_some();
        if let Some(Refusal { why, help }) =
            o.refusal.filter(|_| release.is_some() || !refused_before)
        {
            return Err((
                0,
                Error::Refused {
                    release: Some(*r),
                    why,
                    help,
                },
            ));
        }
        let got = o.source.map(|p| p.image);
        if got.as_deref().is_some_and(|g| g != image) || (got.is_none() && release.is_some()) {
            return Err((
                0,
                Error::Verify(format!("containerd {r} would use {got:?}")),
            ));
        }
    }
    Ok(())
}

/// Each file of a chain as it is now: edited (`new`) or as it was (`old`).
fn current<'a>(new: &'a [Option<Parsed>], old: &'a [Parsed]) -> Vec<&'a Parsed> {
    new.iter()
        .zip(old)
        .map(|(n, o)| n.as_ref().unwrap_or(o))
        .collect()
}

/// The file whose pin release `r` reads last, and the key to set there (`primary`: the file
/// that holds the pin).
fn winner(facts: &[Facts], r: Release, primary: usize) -> (usize, Key) {
    if r.is_2x() {
        // Nothing reaches `pinned_images.sandbox`: set it in the file that holds the pin, which
        // every 2.x reads; 1.x ignores it there.
        return (primary, KEY_V3);
    }
    // 1.x: the last file with the CRI plugin's table (under the name the merge reads) wins.
    let version = facts
        .iter()
        .rev()
        .map(|f| f.version)
        .find(|v| *v != 0)
        .unwrap_or(0);
    let (key, has): (Key, fn(&Facts) -> bool) = if version == 0 || version == 1 {
        (KEY_V1, |f| f.cri_short)
    } else {
        (KEY_V2, |f| f.cri_full)
    };
    (facts.iter().rposition(has).unwrap_or(primary), key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::{inspect, inspect_files};
    use crate::verify::same_but_pins;

    const IMG: &str = "registry.local:5000/pause:3.10";

    fn rel(s: &str) -> Option<Release> {
        Release::parse(s)
    }

    #[test]
    fn version_2_sets_sandbox_image_and_keeps_everything_else() {
        let raw = "version = 2\n\n# cri\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.8\" # pinned\n  x = 1\n";
        let c = set(raw, IMG, None).unwrap();
        assert_eq!(c.text, raw.replace("registry.k8s.io/pause:3.8", IMG));
        assert_eq!(c.before.image.as_deref(), Some("registry.k8s.io/pause:3.8"));
        assert_eq!(c.before.source.as_ref().map(|s| s.line), Some(5));
    }

    #[test]
    fn second_run_changes_nothing() {
        for raw in [
            "",
            "version = 2\n",
            "version = 3\n[grpc]\n",
            "[plugins.cri]\n  sandbox_image = 'a.b/c:1'\n",
        ] {
            let once = set(raw, IMG, None).unwrap().text;
            assert_ne!(once, raw);
            assert_eq!(set(&once, IMG, None).unwrap().text, once, "{raw:?}");
        }
    }

    #[test]
    fn version_1_gets_both_keys_unless_release_is_1x() {
        let raw = "[plugins.cri]\n  sandbox_image = \"k8s.gcr.io/pause:3.1\"\n";
        let both = set(raw, IMG, None).unwrap();
        assert!(
            both.text
                .contains("pinned_images]\n  sandbox = \"registry.local:5000/pause:3.10\""),
            "{}",
            both.text
        );
        assert_eq!(both.warnings.len(), 1);
        let only = set(raw, IMG, rel("1.7")).unwrap();
        assert_eq!(only.text, raw.replace("k8s.gcr.io/pause:3.1", IMG));
        assert_eq!(
            inspect(&both.text, rel("2.1")).unwrap().image.as_deref(),
            Some(IMG)
        );
        assert_eq!(
            inspect(raw, rel("2.1")).unwrap().image.as_deref(),
            Some("registry.k8s.io/pause:3.10")
        );
    }

    #[test]
    fn version_3_updates_leftover_v2_key_and_warns() {
        let raw = "version = 3\n[plugins.'io.containerd.grpc.v1.cri']\n  sandbox_image = 'older.io/p:0'\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = 'old.io/p:1'\n";
        let c = set(raw, IMG, None).unwrap();
        let want = raw.replace("old.io/p:1", IMG).replace("older.io/p:0", IMG);
        assert_eq!(c.text, want);
        // In step, it is the key a 1.6 before 1.6.32 reads: no warning.
        assert!(
            !c.warnings.iter().any(|w| w.line == Some(3)),
            "{:?}",
            c.warnings
        );
        assert!(
            c.before
                .warnings
                .iter()
                .any(|w| w.kind == Kind::KeyIgnored && w.line == Some(3)),
            "{:?}",
            c.before.warnings
        );
    }

    #[test]
    fn byte_order_mark_is_kept_and_reported() {
        let raw = "\u{feff}version = 2\n";
        let c = set(raw, IMG, None).unwrap();
        assert!(c.text.starts_with('\u{feff}'));
        assert!(
            c.before.bom
                && c.before
                    .warnings
                    .iter()
                    .any(|w| w.kind == Kind::ByteOrderMark)
        );
    }

    #[test]
    fn set_with_a_known_release_promises_that_release_uses_the_image() {
        // 1.6 before 1.6.32 reads a version-3 file as version 2: it gets the key it reads.
        let c = set("version = 3\n", IMG, rel("1.6.20")).unwrap();
        assert!(
            c.text.contains("sandbox_image = ") && c.text.contains("sandbox = "),
            "{}",
            c.text
        );
        assert_eq!(
            inspect(&c.text, rel("1.6.20")).unwrap().image.as_deref(),
            Some(IMG)
        );
        assert_eq!(
            inspect(&c.text, rel("2.1")).unwrap().image.as_deref(),
            Some(IMG)
        );
        // Files the release will not load at all are an error, with what to do.
        for (raw, r) in [
            ("version = 3\n", "1.7.24"),
            ("version = 4\n", "2.1"),
            ("\u{feff}version = 2\n", "2.1.9"),
            ("version = 2\nplugins.cri = { x = 1 }\n", "1.7"),
            ("version = 2\n[plugins]\ncri = {}\n", "1.6.20"),
        ] {
            let e = set(raw, IMG, rel(r)).unwrap_err();
            assert!(matches!(e, Error::Refused { .. }), "{raw:?} on {r}: {e:?}");
            assert!(!e.help().is_empty());
        }
        // Without a release, pausectl pins and warns.
        assert!(set("\u{feff}version = 2\n", IMG, None).is_ok());
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(
            set("a = 1\nb = \n", IMG, None).unwrap_err().at(),
            Some((2, 5))
        );
        assert!(matches!(
            set("version = \"2\"\n", IMG, None),
            Err(Error::Version { at: (1, 11), .. })
        ));
        // No release reads `version = 5` but 1.6 before 1.6.32: with the release unknown,
        // pausectl cannot tell.
        let e = set("version = 5\n", IMG, None).unwrap_err();
        assert!(matches!(e, Error::Invalid { at: (1, 11), .. }), "{e:?}");
        let e = set(
            "version = 2\n[plugins]\n\"io.containerd.grpc.v1.cri\" = 7\n",
            IMG,
            None,
        )
        .unwrap_err();
        assert!(matches!(e, Error::WrongType { at: (3, 31), .. }), "{e:?}");
    }
    /// Whether `text`, read through `sections::reduce`, gives the same report and the same
    /// result as the whole parse (errors too, by their message); `None` when the scan gives up.
    /// Counts: checked, the same text, redone whole.
    fn sections_agree(text: &str, counts: &mut [usize; 3]) -> Option<()> {
        let reduced = fast(&[("", text)])?;
        let files = [("", text)];
        for r in [None, rel("1.7.24"), rel("2.1.9"), rel("2.3")] {
            assert_eq!(
                inspect_files(&files, &[], r),
                inspect_files(&[("", &reduced.text)], &[], r),
                "{text}"
            );
            let whole = set_files(&files, &[], IMG, r, 0);
            let sections = set_reduced(&reduced, &files, &[], IMG, r).map(|c| {
                c.unwrap_or_else(|| {
                    counts[2] += 1;
                    set_files(&files, &[], IMG, r, 0).unwrap()
                })
            });
            match (whole, sections) {
                (Ok(w), Ok(s)) => {
                    assert_eq!(w.before, s.before, "{text}");
                    assert_eq!(w.warnings, s.warnings, "{text}");
                    if w.texts == s.texts {
                        counts[1] += 1;
                    } else {
                        // A new table may go elsewhere; the content must be the same.
                        let doc = |t: &str| ImDocument::parse(t.to_string()).unwrap();
                        let (a, b) = (doc(&w.texts[0]), doc(&s.texts[0]));
                        assert!(same_but_pins(a.as_item(), b.as_item()), "{text}");
                        let again = set_files(&[("", &s.texts[0])], &[], IMG, r, 0).unwrap();
                        assert_eq!(again.texts, s.texts, "{text}");
                    }
                }
                (Err(a), Err(b)) => assert_eq!(a.error.to_string(), b.error.to_string()),
                (a, b) => panic!("{text}: whole {:?}, sections {:?}", a.err(), b.err()),
            }
            counts[0] += 1;
        }
        let breaks = |t: &str| t.matches('\n').count();
        assert_eq!(breaks(&reduced.text), breaks(text));
        Some(())
    }

    fn fixtures() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
        let cases = std::fs::read_dir(root.join("cases")).unwrap();
        let cases = cases.map(|c| c.unwrap().path().join("in.toml"));
        let defaults = std::fs::read_dir(root.join("defaults")).unwrap();
        let mut paths: Vec<_> = cases.chain(defaults.map(|d| d.unwrap().path())).collect();
        paths.sort();
        paths
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// `text` with tables of another plugin after it.
    fn padded(text: &str) -> String {
        let nl = if crate::config::has(text, "\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        let mut big = text.to_string();
        if !big.is_empty() && !big.ends_with('\n') {
            big.push_str(nl);
        }
        for n in 0..20 {
            big.push_str(&format!("[pausectl_padding.t{n}]{nl}  k = 'v' # [x]{nl}"));
        }
        big
    }

    /// Every fixture, as it is and with tables of another plugin after it: read through
    /// `sections::reduce`, it gives the same report and the same result as the whole parse.
    #[test]
    fn configs_read_by_sections_agree_with_the_whole_parse() {
        let mut counts = [0; 3];
        let mut reduced = 0;
        for text in fixtures() {
            for t in [&text, &padded(&text)] {
                reduced += usize::from(sections_agree(t, &mut counts).is_some());
            }
        }
        // Tables named after containerd's own settings, refused or read by every release.
        for text in [
            "[version]\n[x]\na = 1\n[plugins.cri]\nsandbox_image = 'r/p:1'\n",
            "version = 2\n[disabled_plugins]\n[x]\na = 1\n",
            "version = 2\n[[imports]]\n[x]\na = 1\n",
            "[Version.x]\n[x]\na = 1\n",
            "version = 2\n[oom_score]\n[x]\na = 1\n",
            "version = 2\n[plugin_dir]\n[x]\na = 1\n",
        ] {
            assert!(sections_agree(text, &mut counts).is_some(), "{text}");
        }
        let [checked, same_text, put_back_whole] = counts;
        let counts = format!(
            "{reduced} reduced, {checked} checked, {same_text} same text, {put_back_whole} redone whole"
        );
        assert!(
            // Short configs (`version = 2` and imports) get their new table after the padding
            // on one path and before it on the other, so not every text is the same.
            reduced > 250 && same_text > checked * 2 / 5 && put_back_whole < checked / 10,
            "{counts}"
        );
    }

    /// The fixtures with bytes TOML gives meaning to put in, taken out and lines repeated, at
    /// random places: whatever the scan lets through, the whole parse reads the same way (so
    /// every file it passes as valid is valid, and every error is the whole parse's).
    #[test]
    fn mutated_configs_read_by_sections_agree_with_the_whole_parse() {
        const BYTES: &[u8] = b"\"'[]{}=,.#\n \t0123456789aeEfinx_+-:\\\x07";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n.max(1) as u64) as usize
        };
        let (mut counts, mut reduced, mut tried) = ([0; 3], 0, 0);
        let padded = fixtures().into_iter().map(|t| padded(&t));
        let texts = fixtures().into_iter().chain(padded);
        for text in texts.filter(|t| t.is_ascii() && fast(&[("", t)]).is_some()) {
            for _ in 0..20 {
                let mut b = text.clone().into_bytes();
                for _ in 0..1 + next(2) {
                    let at = next(b.len() + 1);
                    match next(4) {
                        0 if at < b.len() => {
                            b.remove(at);
                        }
                        1 => {
                            let line_start = b[..at].iter().rposition(|&c| c == b'\n');
                            let from = line_start.map_or(0, |n| n + 1);
                            let to = b[at..].iter().position(|&c| c == b'\n').map(|n| at + n + 1);
                            let line = b[from..to.unwrap_or(b.len())].to_vec();
                            let to = to.unwrap_or(b.len());
                            b.splice(to..to, line);
                        }
                        _ => b.insert(at, BYTES[next(BYTES.len())]),
                    }
                }
                let t = String::from_utf8(b).unwrap();
                tried += 1;
                reduced += usize::from(sections_agree(&t, &mut counts).is_some());
            }
        }
        assert!(reduced > tried / 4, "{reduced} of {tried} reduced");
    }
}
