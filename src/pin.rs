//! The sandbox image pin: which of the config's keys each containerd release honours, what image
//! it will use, and the rewrite that pins a new one. String in, string out; no I/O.

use crate::release::Release;
use crate::schema::{KEY_V1, KEY_V2, KEY_V3, Schema};
use crate::splice::{self, Lookup, Style};
use std::collections::BTreeMap;
use toml_edit::{ImDocument, Item, Value};

const BOM: char = '\u{feff}';

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
    #[error("containerd {release} refuses this file and would not start: {why}")]
    Refused {
        /// The release.
        release: Release,
        /// Why it refuses the file.
        why: String,
        /// What to do about it.
        help: String,
    },
    /// The rewrite did not come out as intended; nothing is written.
    #[error("internal check failed ({0}); the file is left as it was, please report this")]
    Verify(String),
}

impl Error {
    /// Line and column (1-based) of the problem in the file, when there is one.
    pub fn at(&self) -> Option<(usize, usize)> {
        match self {
            Error::Toml { at, .. }
            | Error::Version { at, .. }
            | Error::WrongType { at, .. }
            | Error::Invalid { at, .. } => Some(*at),
            Error::Refused { .. } | Error::Verify(_) => None,
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
        };
        text.to_string()
    }
}

/// One key in the file that holds a sandbox image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Pin {
    /// The dotted key path, e.g. `plugins."io.containerd.grpc.v1.cri".sandbox_image`.
    pub key: String,
    /// The image it names.
    pub image: String,
    /// 1-based line number.
    pub line: usize,
}

/// What a config says about the sandbox image, for one containerd release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The schema version.
    pub schema: Schema,
    /// The image that containerd will use; `None` when it cannot be known (release unknown and
    /// nothing set) or the release refuses the file.
    pub image: Option<String>,
    /// The key it comes from; `None` when the release's built-in default applies.
    pub source: Option<Pin>,
    /// Every key in the file that holds a sandbox image.
    pub pins: Vec<Pin>,
    /// Sentences that say what containerd will do and what to do about it.
    pub warnings: Vec<String>,
    /// Why the release refuses to load the file at all, and what to do; `None` when it loads it.
    pub refusal: Option<(String, String)>,
    /// The file starts with a UTF-8 byte-order mark.
    pub bom: bool,
}

/// The result of pinning an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The new text (equal to the input when nothing needed to change).
    pub text: String,
    /// The report for the input.
    pub before: Report,
    /// What was done beyond the obvious, then the warnings that still hold for the new text.
    pub warnings: Vec<String>,
}

struct Parsed<'a> {
    raw: &'a str,
    bom: bool,
    doc: ImDocument<&'a str>,
    schema: Schema,
}

fn position(raw: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(raw.len());
    while !raw.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &raw[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn parse(text: &str) -> Result<Parsed<'_>, Error> {
    let (raw, bom) = match text.strip_prefix(BOM) {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    let doc = ImDocument::parse(raw).map_err(|e| Error::Toml {
        message: e.message().trim().replace('\n', ": "),
        at: position(raw, e.span().map_or(0, |s| s.start)),
    })?;
    let schema = Schema::of(&doc).map_err(|v| Error::Version {
        raw: v.raw,
        at: position(raw, v.offset),
    })?;
    // Version 2 and later want full plugin URIs here; every release refuses a short name.
    for key in ["disabled_plugins", "required_plugins"] {
        let Some(list) = doc
            .get(key)
            .and_then(Item::as_array)
            .filter(|_| schema != Schema::V1)
        else {
            continue;
        };
        for v in list.iter() {
            if let Some(name) = v.as_str().filter(|n| !n.contains('.')) {
                return Err(Error::Invalid {
                    message: format!(
                        "`{key}` names `{name}`, which is not a full plugin URI: containerd refuses that in a version-{schema} config"
                    ),
                    help: format!(
                        "use the plugin's full name (`io.containerd.grpc.v1.{name}` for `{name}`), or remove it"
                    ),
                    at: position(raw, v.span().map_or(0, |s| s.start)),
                });
            }
        }
    }
    Ok(Parsed {
        raw,
        bom,
        doc,
        schema,
    })
}

fn find(p: &Parsed, key: &[&str]) -> Result<Option<Pin>, Error> {
    match splice::lookup(&p.doc, key) {
        Ok(Lookup::Found(f)) => Ok(Some(Pin {
            key: splice::dotted(key, '"'),
            image: f.value,
            line: position(p.raw, f.span.start).0,
        })),
        Ok(Lookup::Missing) => Ok(None),
        Err(w) => Err(Error::WrongType {
            path: w.path,
            found: w.found,
            at: position(p.raw, w.offset.unwrap_or(0)),
        }),
    }
}

/// Tells which image `release` (or, when `None`, the release that the schema is meant for)
/// will use for the config `text`.
pub fn inspect(text: &str, release: Option<Release>) -> Result<Report, Error> {
    let p = parse(text)?;
    report(&p, release)
}

fn report(p: &Parsed, release: Option<Release>) -> Result<Report, Error> {
    let (k1, k2, k3) = (find(p, KEY_V1)?, find(p, KEY_V2)?, find(p, KEY_V3)?);
    let mut warnings = Vec::new();
    let r = release;
    let is_1x = r.is_some_and(|r| !r.is_2x());
    let is_20_22 = r.is_some_and(|r| r.is_2x() && !r.at_least(2, 3));
    let is_23 = r.is_some_and(|r| r.at_least(2, 3));
    let name = |r: Option<Release>| r.map_or(String::new(), |r| r.to_string());

    let reads_as_v2 = reads_as_v2(r);
    // `[plugins.cri]` in any spelling (header, dotted key, inline table) in a version-2+ file.
    let cri_v1_table = p
        .doc
        .get("plugins")
        .and_then(|t| t.get("cri"))
        .filter(|i| i.is_table_like() && p.schema != Schema::V1);
    // Why the release refuses to load the file at all, if it does, and what to do.
    let refusal = if p.bom && r.is_some_and(|r| r.is_2x()) {
        Some((
            "it starts with a UTF-8 byte-order mark".into(),
            "remove the first 3 bytes of the file".into(),
        ))
    } else if is_1x && cri_v1_table.is_some() && (p.schema == Schema::V2 || reads_as_v2) {
        Some((
            "`[plugins.cri]` is not a full plugin name (\"invalid plugin key URI\")".into(),
            "remove the `[plugins.cri]` table: a version-2 config names the plugin `io.containerd.grpc.v1.cri`".into(),
        ))
    } else if (is_1x && !reads_as_v2 && p.schema >= Schema::V3)
        || (is_20_22 && p.schema == Schema::V4)
    {
        Some((
            format!("it does not read config version {}", p.schema),
            if p.schema == Schema::V4 && !is_1x {
                "use `version = 3` for containerd 2.0–2.2".into()
            } else {
                "use `version = 2` for containerd 1.x".into()
            },
        ))
    } else {
        None
    };
    // The pin this release honours; `None` inside when nothing sets it (the default applies).
    let honoured: Option<Option<&Pin>> = match p.schema {
        _ if refusal.is_some() => None,
        Schema::V1 if is_1x => Some(k1.as_ref()),
        Schema::V1 if is_20_22 => Some(k3.as_ref()),
        Schema::V1 => Some(k1.as_ref().or(k3.as_ref())),
        Schema::V2 if is_1x => Some(k2.as_ref()),
        Schema::V2 => Some(k2.as_ref().or(k3.as_ref())),
        Schema::V3 | Schema::V4 if reads_as_v2 => Some(k2.as_ref()),
        Schema::V3 | Schema::V4 if is_23 => Some(k2.as_ref().or(k3.as_ref())),
        Schema::V3 | Schema::V4 => Some(k3.as_ref()),
    };
    if p.schema == Schema::V1 && is_20_22 && k1.is_some() && k3.is_none() {
        warnings.push(format!(
            "containerd {} ignores `[plugins.cri] sandbox_image` in a version-1 config and uses its built-in default; run `pausectl set` to add the version-3 key it reads",
            name(r)
        ));
    }
    if matches!(p.schema, Schema::V3 | Schema::V4)
        && let Some(k2) = &k2
    {
        warnings.push(format!(
                "line {}: `sandbox_image` under `[plugins.\"io.containerd.grpc.v1.cri\"]` is a version-2 key in a version-{} config: containerd 2.0–2.2 ignore it, 2.3+ let it override `pinned_images.sandbox`; pausectl keeps both in step, or remove it",
                k2.line, p.schema
            ));
    }
    if let (Some(release), Some((why, help))) = (r, &refusal) {
        warnings.push(format!(
            "containerd {release} refuses this file and will not start: {why}; {help}"
        ));
    }
    if p.schema >= Schema::V3 && reads_as_v2 {
        warnings.push(format!(
            "containerd {} reads a version-{} config as version 2 and ignores `pinned_images.sandbox`; use `version = 2` for 1.x",
            name(r),
            p.schema
        ));
    }
    if let (Some(cri), None) = (cri_v1_table, &refusal) {
        warnings.push(format!(
            "line {}: `[plugins.cri]` is a version-1 name in a version-{} config: containerd 1.x refuses to start with it and 2.x ignores it; remove that table",
            position(p.raw, cri.span().map_or(0, |s| s.start)).0,
            p.schema
        ));
    }
    if p.bom && refusal.is_none() {
        warnings.push("the file starts with a UTF-8 byte-order mark, which containerd 2.x refuses; remove the first 3 bytes".into());
    }
    if let Some(imports) = p
        .doc
        .get("imports")
        .and_then(Item::as_array)
        .filter(|a| !a.is_empty())
    {
        warnings.push(format!(
            "the config imports other files ({}); pausectl does not read them yet, and a file imported later that sets the sandbox image wins (on 1.x, one that touches the CRI plugin at all erases this file's pin)",
            imports.iter().filter_map(Value::as_str).map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    if disables_cri(&p.doc) {
        warnings.push("`disabled_plugins` turns off the CRI plugin: no sandbox image is used until it is enabled".into());
    }

    let source = honoured.flatten().cloned();
    let image = match (honoured.is_none(), &source) {
        (true, _) => None,
        (false, Some(pin)) => Some(pin.image.clone()),
        (false, None) => r.and_then(|r| r.default_image()).map(str::to_string),
    };
    let pins = [k1, k2, k3].into_iter().flatten().collect();
    Ok(Report {
        schema: p.schema,
        image,
        source,
        pins,
        warnings,
        refusal,
        bom: p.bom,
    })
}

/// Releases before the version check (1.6.32, 1.7.17) read any version above 2 as version 2
/// and ignore the version-3 key (measured: 1.6.20 with versions 3 and 4).
fn reads_as_v2(r: Option<Release>) -> bool {
    r.is_some_and(|r| {
        r.major == 1
            && (r.minor < 6
                || (r.minor == 6 && r.patch.is_some_and(|p| p < 32))
                || (r.minor == 7 && r.patch.is_some_and(|p| p < 17)))
    })
}

fn disables_cri(doc: &ImDocument<&str>) -> bool {
    let Some(Item::Value(Value::Array(a))) = doc.as_table().get("disabled_plugins") else {
        return false;
    };
    a.iter()
        .any(|v| matches!(v.as_str(), Some("cri" | "io.containerd.grpc.v1.cri")))
}

/// The keys a rewrite sets, adding them where missing, and those it updates only where present.
fn targets(
    schema: Schema,
    release: Option<Release>,
) -> (Vec<&'static [&'static str]>, Vec<&'static [&'static str]>) {
    match schema {
        // containerd 2.0–2.2 ignore the version-1 key; the version-3 key makes 2.x honour the
        // pin, and 1.x ignores it.
        Schema::V1 if release.is_some_and(|r| !r.is_2x()) => (vec![KEY_V1], vec![KEY_V3]),
        Schema::V1 => (vec![KEY_V1, KEY_V3], vec![]),
        Schema::V2 => (vec![KEY_V2], vec![KEY_V3]),
        // Older 1.x reads a version-3 or 4 file as version 2: give it the key it reads.
        Schema::V3 | Schema::V4 if reads_as_v2(release) => (vec![KEY_V3, KEY_V2], vec![]),
        Schema::V3 | Schema::V4 => (vec![KEY_V3], vec![KEY_V2]),
    }
}

/// Rewrites `text` so that every containerd that reads it uses `image` (already validated: no
/// quotes, backslashes or control characters). Only the pin's bytes change.
pub fn set(text: &str, image: &str, release: Option<Release>) -> Result<Change, Error> {
    let p = parse(text)?;
    let before = report(&p, release)?;
    let style = Style::of(p.raw);
    let (add, update) = targets(p.schema, release);
    let mut warnings = Vec::new();
    let mut raw = p.raw.to_string();
    for key in add.iter().chain(&update) {
        let doc = ImDocument::parse(raw.as_str()).map_err(|e| Error::Verify(e.to_string()))?;
        let existing = splice::lookup(&doc, key).map_err(|w| Error::Verify(w.path))?;
        let present = matches!(existing, Lookup::Found(_));
        if !present && !add.contains(key) {
            continue;
        }
        if let Lookup::Found(f) = &existing
            && f.value == image
        {
            continue;
        }
        if p.schema == Schema::V1 && *key == KEY_V3 && !present {
            warnings.push("version-1 config: containerd 2.0–2.2 ignore `[plugins.cri] sandbox_image`, so pausectl also set `[plugins.\"io.containerd.cri.v1.images\".pinned_images] sandbox`, which 2.x reads and 1.x ignores".into());
        }
        let edit = splice::set(&doc, key, image, style).map_err(|w| Error::Verify(w.path))?;
        raw = splice::apply(&raw, &[edit]);
    }
    verify(p.raw, &raw, image, &add)?;
    let text = if p.bom { format!("{BOM}{raw}") } else { raw };
    let after = inspect(&text, release)?;
    warnings.extend(after.warnings);
    // With a known release, the promise is that it uses `image`: check that it will.
    if let Some(release) = release {
        if let Some((why, help)) = after.refusal {
            return Err(Error::Refused { release, why, help });
        }
        if after.image.as_deref() != Some(image) {
            return Err(Error::Verify(format!(
                "containerd {release} would use {:?}",
                after.image
            )));
        }
    }
    Ok(Change {
        text,
        before,
        warnings,
    })
}

/// Checks the rewrite: it parses, the pins read `image`, and nothing else changed, key by key.
fn verify(old: &str, new: &str, image: &str, keys: &[&[&str]]) -> Result<(), Error> {
    let parse =
        |s| ImDocument::parse(s).map_err(|e| Error::Verify(format!("output is not TOML: {e}")));
    let (old_doc, new_doc) = (parse(old)?, parse(new)?);
    for key in keys {
        match splice::lookup(&new_doc, key) {
            Ok(Lookup::Found(f)) if f.value == image => {}
            _ => {
                return Err(Error::Verify(format!(
                    "`{}` does not read back",
                    splice::dotted(key, '"')
                )));
            }
        }
    }
    if without_pins(old_doc.as_item()) != without_pins(new_doc.as_item()) {
        return Err(Error::Verify("a key other than the pin changed".into()));
    }
    Ok(())
}

/// A comparable form of a TOML item: tables by key, scalars by type and value.
#[derive(Debug, PartialEq)]
enum Canon {
    Table(BTreeMap<String, Canon>),
    Array(Vec<Canon>),
    Scalar(String),
}

fn canon_value(v: &Value) -> Canon {
    match v {
        Value::Array(a) => Canon::Array(a.iter().map(canon_value).collect()),
        Value::InlineTable(t) => Canon::Table(
            t.iter()
                .map(|(k, v)| (k.to_string(), canon_value(v)))
                .collect(),
        ),
        Value::String(s) => Canon::Scalar(format!("s:{}", s.value())),
        other => Canon::Scalar(other.clone().decorated("", "").to_string()),
    }
}

fn canon(item: &Item) -> Canon {
    match item {
        Item::Value(v) => canon_value(v),
        Item::Table(t) => Canon::Table(t.iter().map(|(k, i)| (k.to_string(), canon(i))).collect()),
        Item::ArrayOfTables(a) => {
            Canon::Array(a.iter().map(|t| canon(&Item::Table(t.clone()))).collect())
        }
        Item::None => Canon::Scalar(String::new()),
    }
}

/// The document without the pin keys, and without tables left empty on their paths.
fn without_pins(root: &Item) -> Canon {
    let mut c = canon(root);
    for key in [KEY_V1, KEY_V2, KEY_V3] {
        remove(&mut c, key);
    }
    c
}

fn remove(c: &mut Canon, path: &[&str]) {
    let Canon::Table(t) = c else { return };
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        t.remove(*first);
        return;
    }
    if let Some(child) = t.get_mut(*first) {
        remove(child, rest);
        if matches!(child, Canon::Table(m) if m.is_empty()) {
            t.remove(*first);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let raw = "version = 3\n[plugins.'io.containerd.grpc.v1.cri']\n  sandbox_image = 'old.io/p:1'\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = 'old.io/p:1'\n";
        let c = set(raw, IMG, None).unwrap();
        assert_eq!(c.text, raw.replace("old.io/p:1", IMG));
        assert!(
            c.before.warnings.iter().any(|w| w.contains("line 3")),
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
                    .any(|w| w.contains("byte-order mark"))
        );
    }

    #[test]
    fn effective_image_follows_each_release() {
        let both = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = \"a.io/p:2\"\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\nsandbox = \"a.io/p:3\"\n";
        let image = |raw, r| inspect(raw, rel(r)).unwrap().image;
        assert_eq!(image(both, "1.7.24").as_deref(), Some("a.io/p:2"));
        assert_eq!(image(both, "2.1.9").as_deref(), Some("a.io/p:2"));
        assert_eq!(image("version = 3", "1.7.24"), None);
        assert_eq!(image("version = 4", "2.1"), None);
        assert_eq!(
            image("version = 3", "1.6.20").as_deref(),
            Some("registry.k8s.io/pause:3.6")
        );
        assert_eq!(
            image("version = 3", "2.1").as_deref(),
            Some("registry.k8s.io/pause:3.10")
        );
        assert_eq!(inspect("version = 3", None).unwrap().image, None);
        // Measured: 1.6.20 reads versions 3 and 4 as version 2; 2.x refuses a byte-order mark;
        // 1.x refuses `[plugins.cri]` in a version-2 file.
        assert_eq!(
            image("version = 4", "1.6.20").as_deref(),
            Some("registry.k8s.io/pause:3.6")
        );
        assert_eq!(image("version = 4", "1.6.32"), None);
        assert_eq!(image("\u{feff}version = 2", "2.1.9"), None);
        assert_eq!(
            image("\u{feff}version = 2", "1.7.24").as_deref(),
            Some("registry.k8s.io/pause:3.8")
        );
        assert_eq!(image("version = 2\n[plugins.cri]\nx = 1", "1.7.24"), None);
        assert_eq!(
            image("version = 2\n[plugins.cri]\nx = 1", "2.1.9").as_deref(),
            Some("registry.k8s.io/pause:3.10")
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
    fn imports_are_reported() {
        let r = inspect(
            "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n",
            None,
        )
        .unwrap();
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("`/etc/containerd/conf.d/*.toml`")),
            "{:?}",
            r.warnings
        );
        assert!(
            inspect("version = 2\nimports = []\n", None)
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(
            set("a = 1\nb = \n", IMG, None).unwrap_err().at(),
            Some((2, 5))
        );
        assert!(matches!(
            set("version = 5\n", IMG, None),
            Err(Error::Version { at: (1, 11), .. })
        ));
        let e = set(
            "version = 2\n[plugins]\n\"io.containerd.grpc.v1.cri\" = 7\n",
            IMG,
            None,
        )
        .unwrap_err();
        assert!(matches!(e, Error::WrongType { at: (3, 31), .. }), "{e:?}");
    }

    #[test]
    fn verification_catches_collateral_changes() {
        assert!(verify("a = 1\n", "a = 2\n", IMG, &[]).is_err());
        assert!(verify("a = 1\n", "a = 1 # now\n", IMG, &[]).is_ok());
        assert!(
            verify(
                "",
                "[plugins.cri]\nsandbox_image = 'x.io/y:1'\n",
                IMG,
                &[KEY_V1]
            )
            .is_err()
        );
    }
}
