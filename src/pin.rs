//! The sandbox image pin: which of the config's keys each containerd release honours, what image
//! it will use, and the rewrite that pins a new one. String in, string out; no I/O.

use crate::dialect::{self, Affects};
use crate::fields;
use crate::merge::{self, Facts, Outcome, PluginName};
use crate::release::Release;
use crate::schema::{KEY_V1, KEY_V2, KEY_V3, Schema};
use crate::sections;
use crate::splice::{self, Lookup, Style};
use toml_edit::{ImDocument, Item, TableLike, Value};

const BOM: char = '\u{feff}';

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
}

/// "containerd 1.7", or every release.
fn who(release: &Option<Release>) -> String {
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
    /// Which file of the chain holds it (0: the main config).
    #[serde(skip)]
    pub file: usize,
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
    /// Why pausectl cannot tell which image the release uses (the file it is in, and the
    /// error `set` gives for it); `image` is then `None`.
    pub unsure: Option<(usize, Error)>,
    /// With the release unknown, what 1.x and 2.x do when they differ (an image, "its built-in
    /// default" or "refuses to start"); `image` is then `None`.
    pub lines_differ: Option<(String, String)>,
    /// The `disabled_plugins` entry that turns the CRI plugin off; `image` is then `None`.
    pub cri_disabled: Option<String>,
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

/// A file parsed once, owning its text (without the byte-order mark, which `bom` records).
struct Parsed {
    bom: bool,
    doc: ImDocument<String>,
    schema: Schema,
    /// What some release reads differently ([`dialect`]).
    unsure: Option<dialect::Unsure>,
    /// Why containerd 1.x's parser refuses it, and where.
    refused_1x: Option<(String, usize)>,
    /// Why containerd 2.x refuses it (and 1.x does not), and where.
    refused_2x: Option<(String, usize)>,
}

impl Parsed {
    fn raw(&self) -> &str {
        self.doc.raw()
    }

    /// The text as the file holds it, byte-order mark included.
    fn text(&self) -> String {
        if self.bom {
            format!("{BOM}{}", self.raw())
        } else {
            self.raw().to_string()
        }
    }
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

/// The first CR that does not start a CRLF (old Mac line endings): TOML 1.0 and containerd 2.x
/// refuse them.
fn bare_cr(raw: &str) -> Option<usize> {
    raw.match_indices('\r')
        .map(|(i, _)| i)
        .find(|&i| !raw[i + 1..].starts_with('\n'))
}

fn parse(text: &str) -> Result<Parsed, Error> {
    let (raw, bom) = match text.strip_prefix(BOM) {
        Some(rest) => (rest, true),
        None => (text, false),
    };
    if let Some(at) = bare_cr(raw) {
        return Err(Error::Invalid {
            message: "the file has bare CR line endings, which TOML 1.0 and containerd 2.x refuse"
                .into(),
            help: "convert it to LF line endings, e.g. `sed -i 's/\\r/\\n/g' FILE`".into(),
            at: position(raw, at),
        });
    }
    let doc = ImDocument::parse(raw.to_string()).map_err(|e| {
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
    })?;
    let mut unsure = dialect::unsure(&doc, raw);
    let schema = match Schema::of(&doc) {
        Ok(s) => s,
        Err(v) => match odd_version(&doc) {
            Some((schema, why, affects)) => {
                unsure = unsure.or(Some(dialect::Unsure {
                    why,
                    help: "use `version = 2` (containerd 1.3 to 2.x) or `version = 3` (2.x)".into(),
                    offset: v.offset,
                    affects,
                }));
                schema
            }
            None => {
                return Err(Error::Version {
                    raw: v.raw,
                    at: position(raw, v.offset),
                });
            }
        },
    };
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
    let refused_1x = dialect::refused_by_1x(&doc, raw);
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
        bom,
        doc,
        schema,
        unsure,
        refused_1x,
        refused_2x,
    })
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

fn find(p: &Parsed, key: &[&str], file: usize) -> Result<Option<Pin>, Error> {
    match splice::lookup(&p.doc, key) {
        Ok(Lookup::Found(f)) => Ok(Some(Pin {
            key: splice::dotted(key, '"'),
            image: f.value,
            line: position(p.raw(), f.span.start).0,
            file,
        })),
        Ok(Lookup::Missing) => Ok(None),
        Err(w) => Err(Error::WrongType {
            path: w.path,
            found: w.found,
            at: position(p.raw(), w.offset.unwrap_or(0)),
        }),
    }
}

/// `plugins."<name>"` in the file, in whatever spelling.
fn plugin<'a>(p: &'a Parsed, name: &str) -> Option<&'a Item> {
    p.doc.get("plugins").and_then(|t| t.get(name))
}

fn facts(p: &Parsed, file: usize) -> Result<Facts, Error> {
    let table = |name| plugin(p, name).is_some_and(Item::is_table_like);
    Ok(Facts {
        schema: p.schema,
        version: p.doc.get("version").and_then(Item::as_integer).unwrap_or(0),
        k1: find(p, KEY_V1, file)?,
        k2: find(p, KEY_V2, file)?,
        k3: find(p, KEY_V3, file)?,
        cri_short: table("cri"),
        cri_full: table("io.containerd.grpc.v1.cri"),
        bom: p.bom,
        refused_2x: p
            .refused_2x
            .as_ref()
            .map(|(why, at)| (why.clone(), position(p.raw(), *at))),
        refused_1x: p
            .refused_1x
            .as_ref()
            .map(|(why, at)| (why.clone(), position(p.raw(), *at))),
        unsure: p
            .unsure
            .clone()
            .map(|u| (u.clone(), position(p.raw(), u.offset))),
        plugin_names: plugin_names(p),
    })
}

/// The plugin names in the file that containerd 1.x checks: the entries of `disabled_plugins`
/// and `required_plugins`, then the keys under `plugins`.
fn plugin_names(p: &Parsed) -> Vec<PluginName> {
    let line =
        |span: Option<std::ops::Range<usize>>| position(p.raw(), span.map_or(0, |s| s.start)).0;
    let mut names = Vec::new();
    for (key, kind) in [
        ("disabled_plugins", "disabled plugin"),
        ("required_plugins", "required plugin"),
    ] {
        if let Some(list) = p.doc.get(key).and_then(Item::as_array) {
            for v in list.iter() {
                if let Some(name) = v.as_str() {
                    let line = line(v.span());
                    names.push(PluginName {
                        kind,
                        name: name.into(),
                        line,
                    });
                }
            }
        }
    }
    if let Some(t) = p.doc.get("plugins").and_then(Item::as_table_like) {
        for (name, item) in t.iter() {
            let at = t.key(name).and_then(|k| k.span()).or_else(|| item.span());
            names.push(PluginName {
                kind: "plugin key",
                name: name.into(),
                line: line(at),
            });
        }
    }
    names
}

/// Tells which image `release` (or, when `None`, the release that the schema is meant for)
/// will use for the config `text`, read on its own.
pub fn inspect(text: &str, release: Option<Release>) -> Result<Report, Error> {
    inspect_chain(&[("", text)], &[], release).map_err(|(_, e)| e)
}

/// Tells which image `release` will use for a config and the files it imports: `files` are
/// `(label, text)` in containerd's load order, the main config first; `missing` names literal
/// imports that do not exist. An error names the index of the file it is in.
pub fn inspect_chain(
    files: &[(&str, &str)],
    missing: &[String],
    release: Option<Release>,
) -> Result<Report, (usize, Error)> {
    let reduced = fast(files, FAST_MIN);
    let files = match &reduced {
        Some(r) => &[(files[0].0, r.text.as_str())][..],
        None => files,
    };
    let parsed = parse_all(files)?;
    let parsed: Vec<&Parsed> = parsed.iter().collect();
    let facts = all_facts(&parsed)?;
    let labels: Vec<&str> = files.iter().map(|(l, _)| *l).collect();
    Ok(report(&labels, &parsed, &facts, missing, release))
}

/// A config this large, alone (no imports), is read through [`sections::reduce`]: only the
/// tables that can hold the pin get toml_edit's full parse. Real configs are some 10 KB.
const FAST_MIN: usize = 1 << 20;

fn fast(files: &[(&str, &str)], min: usize) -> Option<sections::Reduced> {
    match files {
        // Bare CRs (refused, with their own message) are for the full parse to find.
        [(_, text)] if text.len() >= min && bare_cr(text).is_none() => sections::reduce(text),
        _ => None,
    }
}

/// Each file of a chain parsed; an error names the index of the file it is in.
fn parse_all(files: &[(&str, &str)]) -> Result<Vec<Parsed>, (usize, Error)> {
    files
        .iter()
        .enumerate()
        .map(|(i, (_, text))| parse(text).map_err(|e| (i, e)))
        .collect()
}

fn all_facts(parsed: &[&Parsed]) -> Result<Vec<Facts>, (usize, Error)> {
    parsed
        .iter()
        .enumerate()
        .map(|(i, p)| facts(p, i).map_err(|e| (i, e)))
        .collect()
}

/// The report for a parsed chain (`labels` name the files in messages).
fn report(
    labels: &[&str],
    parsed: &[&Parsed],
    facts: &[Facts],
    missing: &[String],
    release: Option<Release>,
) -> Report {
    let mut warnings = Vec::new();
    for (i, (p, f)) in parsed.iter().zip(facts).enumerate() {
        let prefix = if i == 0 {
            String::new()
        } else {
            format!("`{}`: ", labels[i])
        };
        warnings.extend(
            file_warnings(p, f, release, i == 0)
                .into_iter()
                .map(|w| format!("{prefix}{w}")),
        );
    }
    let main = &facts[0];
    for (i, f) in facts.iter().enumerate().skip(1) {
        if main.version >= 2 && f.version > main.version {
            warnings.push(format!(
                "`{}` has version {}, higher than the main config's {}: containerd 2.0–2.2 then leave a `sandbox_image` of the main config unread, and newer releases refuse such a drop-in; give it `version = {}`",
                labels[i], f.version, main.version, main.version
            ));
        }
    }

    let mut lines_differ = None;
    let outcome = match release {
        Some(r) => merge::merge(facts, missing, r),
        None => {
            // 1.x and 2.x read keys and merge imports differently. Say an image only when both
            // agree (1.x does not read a version-3 config, so then only 2.x counts).
            let [old, new] = both_lines(main.schema);
            let b = merge::merge(facts, missing, new);
            let a = merge::merge(facts, missing, old);
            // 1.x refusing a version-3+ config is expected, not a disagreement.
            let a = if a.refusal.is_some() && main.schema >= Schema::V3 {
                b.clone()
            } else {
                a
            };
            let said = |o: &Outcome| match (&o.refusal, &o.source, &o.cri_disabled) {
                (Some(_), _, _) => "refuses to start".to_string(),
                (None, _, Some(_)) => "the CRI plugin is disabled".into(),
                (None, Some(p), None) => p.image.clone(),
                (None, None, None) => "its built-in default".into(),
            };
            if said(&a) == said(&b) {
                b
            } else {
                let (a, b) = (said(&a), said(&b));
                warnings.push(format!(
                    "pausectl cannot tell which sandbox image containerd uses: 1.x and 2.x read {} differently (1.x: {a}; 2.x: {b}); pass --containerd-version to see which applies",
                    if labels.len() > 1 { "these files" } else { "this config" },
                ));
                lines_differ = Some((a, b));
                Outcome::default()
            }
        }
    };
    if let Some((why, help)) = &outcome.refusal {
        let who = who(&release);
        warnings.push(format!(
            "{who} refuses this config and will not start: {why}; {help}"
        ));
    }
    if let Some((name, i, line)) = &outcome.cri_disabled {
        let place = if *i == 0 {
            format!("line {line}")
        } else {
            format!("`{}` line {line}", labels[*i])
        };
        warnings.push(format!(
            "`disabled_plugins` turns off the CRI plugin (`{name}`, {place}): containerd runs no pods, so it uses no sandbox image until that entry is removed"
        ));
    }
    let mut image = match (&outcome.refusal, &outcome.source) {
        _ if outcome.cri_disabled.is_some() => None,
        (Some(_), _) => None,
        (None, Some(pin)) => Some(pin.image.clone()),
        (None, None) => release.and_then(|r| r.default_image()).map(str::to_string),
    };
    // Something a release reads its own way: say so rather than guess. Each is the file it is
    // in, what containerd does, the help, and its line and column.
    let unsure = facts
        .iter()
        .enumerate()
        .find_map(|(i, f)| {
            let (u, at) = f.unsure.as_ref()?;
            u.affects
                .applies(release)
                .then(|| (i, u.why.clone(), u.help.clone(), *at))
        })
        .or_else(|| {
            // With the release unknown, a config 1.x would read but whose TOML it refuses.
            let (i, (why, at)) = facts
                .iter()
                .enumerate()
                .find_map(|(i, f)| Some((i, f.refused_1x.as_ref()?)))?;
            (release.is_none() && main.schema <= Schema::V2).then(|| {
                let help = "write it as every TOML parser reads it, or pass --containerd-version";
                (i, format!("{why}; 2.x reads it"), help.to_string(), *at)
            })
        });
    let mut outcome = outcome;
    if let Some((i, message, help, at)) = unsure.as_ref().filter(|_| outcome.refusal.is_none()) {
        let place = if *i == 0 {
            format!("line {}", at.0)
        } else {
            format!("`{}` line {}", labels[*i], at.0)
        };
        warnings.push(format!(
            "pausectl cannot tell which sandbox image containerd uses: {place}: {message}; {help}"
        ));
        image = None;
        outcome.source = None;
    }
    let unsure = unsure.map(|(i, message, help, at)| (i, Error::Invalid { message, help, at }));
    let pins = facts
        .iter()
        .flat_map(|f| [&f.k1, &f.k2, &f.k3])
        .flatten()
        .cloned()
        .collect();
    Report {
        schema: main.schema,
        image,
        source: outcome.source,
        pins,
        warnings,
        refusal: outcome.refusal,
        bom: main.bom,
        unsure,
        lines_differ,
        cri_disabled: outcome.cri_disabled.map(|(name, _, _)| name),
    }
}

/// The CRI plugin tables (`cri`, `io.containerd.grpc.v1.cri`) in `text` that hold settings
/// besides `sandbox_image`: on 1.x, a later file with the same table replaces them all.
pub fn cri_settings(text: &str) -> Vec<&'static str> {
    let Ok(p) = parse(text) else {
        return Vec::new();
    };
    ["cri", "io.containerd.grpc.v1.cri"]
        .into_iter()
        .filter(|name| {
            plugin(&p, name)
                .and_then(Item::as_table_like)
                .is_some_and(|t| t.iter().any(|(k, _)| k != "sandbox_image"))
        })
        .collect()
}

/// A 1.x and a 2.x release, for when the release is unknown and both merge rules must agree:
/// for a version-4 config, the first 2.x that reads it.
fn both_lines(schema: Schema) -> [Release; 2] {
    let two = if schema == Schema::V4 { "2.3" } else { "2.1" };
    ["1.7", two].map(|v| Release::parse(v).expect("a valid release"))
}

/// What one file alone tells about the release that reads it.
fn file_warnings(p: &Parsed, f: &Facts, r: Option<Release>, root: bool) -> Vec<String> {
    let mut warnings = Vec::new();
    let known_1x = r.is_some_and(|r| !r.is_2x());
    if let Some(r) = r.filter(|r| r.is_2x() && !r.at_least(2, 3))
        && p.schema == Schema::V1
        && root
        && f.k1.is_some()
        && f.k3.is_none()
    {
        warnings.push(format!(
            "containerd {r} ignores `[plugins.cri] sandbox_image` in a version-1 config and uses its built-in default; run `pausectl set` to add the version-3 key it reads"
        ));
    }
    if let (Schema::V3 | Schema::V4, Some(k2)) = (p.schema, &f.k2) {
        warnings.push(format!(
            "line {}: `sandbox_image` under `[plugins.\"io.containerd.grpc.v1.cri\"]` is a version-2 key in a version-{} config: containerd 2.0–2.2 ignore it, 2.3+ let it override `pinned_images.sandbox`; pausectl keeps both in step, or remove it",
            k2.line, p.schema
        ));
    }
    if let Some(r) = r.filter(|r| merge::reads_as_v2(*r))
        && p.schema >= Schema::V3
    {
        warnings.push(format!(
            "containerd {r} reads a version-{} config as version 2 and ignores `pinned_images.sandbox`; use `version = 2` for 1.x",
            p.schema
        ));
    }
    if let Some(r) = r.filter(|r| merge::reads_as_v2(*r))
        && f.version >= 5
    {
        warnings.push(format!(
            "containerd {r} reads `version = {}` as version 2, and newer releases refuse to start with it; use `version = 2`",
            f.version
        ));
    }
    if f.cri_short && p.schema != Schema::V1 && !known_1x {
        let at = plugin(p, "cri").and_then(Item::span);
        warnings.push(format!(
            "line {}: `[plugins.cri]` is a version-1 name in a version-{} config: containerd 1.x refuses to start with it and 2.x ignores it; remove that table",
            position(p.raw(), at.map_or(0, |s| s.start)).0,
            p.schema
        ));
    }
    for n in f.plugin_names.iter().filter(|n| n.kind == "plugin key") {
        let cri = [
            "cri",
            "io.containerd.grpc.v1.cri",
            "io.containerd.cri.v1.images",
        ];
        if let Some(name) = cri
            .iter()
            .find(|c| c.eq_ignore_ascii_case(&n.name) && **c != n.name)
        {
            warnings.push(format!(
                "line {}: `[plugins.\"{}\"]` is not the plugin `{name}`: plugin names are case-sensitive, so no containerd reads that table as that plugin; spell it `{name}`",
                n.line, n.name
            ));
        }
    }
    // A lone `cri` key has its own warning above.
    let [v16, v17] = ["1.6", "1.7"].map(|v| Release::parse(v).expect("a valid release"));
    if let Some(n) = f
        .plugin_names
        .iter()
        .filter(|n| !(n.kind == "plugin key" && n.name == "cri"))
        .find(|n| !n.valid_for(v17))
        .filter(|_| r.is_none() && p.schema == Schema::V2)
    {
        let also = if n.valid_for(v16) { "" } else { " (1.6 too)" };
        warnings.push(format!(
            "line {}: the {} `{}` is not a full plugin URI (`io.containerd.<type>.<version>.<name>`): containerd 1.7 refuses to start with it in a version-2 config{also}; name the plugin in full, or remove it",
            n.line, n.kind, n.name
        ));
    }
    if p.bom && !r.is_some_and(|r| r.is_2x()) {
        warnings.push("the file starts with a UTF-8 byte-order mark, which containerd 2.x refuses; remove the first 3 bytes".into());
    }
    warnings
}

/// A key path, such as [`KEY_V2`].
type Key = &'static [&'static str];

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
        // Older 1.x reads a version-3 or 4 file as version 2: give it the key it reads.
        Schema::V3 | Schema::V4 if release.is_some_and(merge::reads_as_v2) => {
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
) -> Result<(Option<Parsed>, Vec<String>), Error> {
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
            notes.push("version-1 config: containerd 2.0–2.2 ignore `[plugins.cri] sandbox_image`, so pausectl also set `[plugins.\"io.containerd.cri.v1.images\".pinned_images] sandbox`, which 2.x reads and 1.x ignores".into());
        }
        let edit = splice::set(&cur.doc, key, image, style).map_err(|w| Error::Verify(w.path))?;
        let raw = splice::apply(cur.raw(), &[edit]);
        let doc = ImDocument::parse(raw)
            .map_err(|e| Error::Verify(format!("output is not TOML: {e}")))?;
        let unsure = dialect::unsure(&doc, doc.raw()).or(p.unsure.clone());
        let refused_1x = dialect::refused_by_1x(&doc, doc.raw());
        new = Some(Parsed {
            bom: p.bom,
            doc,
            schema: p.schema,
            unsure,
            refused_1x,
            refused_2x: p.refused_2x.clone(),
        });
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
        let l = l.trim_start_matches([' ', '\t', '\r']);
        l.is_empty() || l.starts_with('#')
    };
    if !body.lines().all(blank) {
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
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
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
    let mut c = set_chain(&[("", text)], &[], image, release).map_err(|(_, e)| e)?;
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
    pub warnings: Vec<String>,
}

/// Like [`set`], for a config and the files it imports (`(label, text)` in load order, as for
/// [`inspect_chain`]): the main config gets the pin where its schema puts it, every imported
/// file that sets the pin gets the new image in place, and where a release's merge rules would
/// still let another value win (1.x: the last file with a CRI plugin table replaces the others;
/// 2.0–2.2: a newer drop-in stops `sandbox_image` from migrating), the pin goes into the file
/// that wins. No file outside the chain is touched.
pub fn set_chain(
    files: &[(&str, &str)],
    missing: &[String],
    image: &str,
    release: Option<Release>,
) -> Result<ChainChange, (usize, Error)> {
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
) -> Result<ChainChange, (usize, Error)> {
    if let Some(r) = fast(files, FAST_MIN)
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
) -> Result<Option<ChainChange>, (usize, Error)> {
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
) -> Result<ChainChange, (usize, Error)> {
    let labels: Vec<&str> = files.iter().map(|(l, _)| *l).collect();
    // Each file is parsed once, and again only after an edit of it.
    let old = parse_all(files)?;
    let mut new: Vec<Option<Parsed>> = old.iter().map(|_| None).collect();
    let before_edit: Vec<&Parsed> = old.iter().collect();
    let old_facts = all_facts(&before_edit)?;
    let before = report(&labels, &before_edit, &old_facts, missing, release);
    if let Some((i, e)) = before.unsure.clone() {
        return Err((i, e));
    }
    // With the release unknown, a chain that no release loads is not one to pin in.
    if let (None, Some((why, help))) = (release, &before.refusal) {
        return Err((
            0,
            Error::Refused {
                release: None,
                why: why.clone(),
                help: help.clone(),
            },
        ));
    }
    let mut notes = Vec::new();
    let mut edit_file = |new: &mut [Option<Parsed>], i: usize, add: &[Key], update: &[Key]| {
        let (n, more) =
            edit(new[i].as_ref().unwrap_or(&old[i]), image, add, update).map_err(|e| (i, e))?;
        if let Some(n) = n {
            new[i] = Some(n);
        }
        notes.extend(more);
        Ok::<(), (usize, Error)>(())
    };
    let merged_1x = old_facts.iter().rev().map(|f| f.version).find(|v| *v != 0);
    let (add, update) = targets(old_facts[primary].schema, release, merged_1x.unwrap_or(0));
    edit_file(&mut new, primary, &add, &update)?;
    let others = [KEY_V1, KEY_V2, KEY_V3];
    for i in primary + 1..files.len() {
        edit_file(&mut new, i, &[], &others)?;
    }
    // Without a release, both merge rules must end on the image.
    let releases = match release {
        Some(r) => vec![r],
        None => both_lines(old_facts[0].schema).to_vec(),
    };
    for round in 0..=files.len() + 1 {
        let facts = all_facts(&current(&new, &old))?;
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
    let facts = all_facts(&now)?;
    let after = report(&labels, &now, &facts, missing, release);
    // A release that loaded the files before must still load them; with the release unknown,
    // so must a 1.6 before 1.6.32 (it reads a version-3 file as version 2).
    let old_1_6 = Release::parse("1.6.20").filter(|_| release.is_none());
    if let Some(r) = old_1_6 {
        let o = merge::merge(&facts, missing, r);
        if let Some((why, help)) = o
            .refusal
            .filter(|_| merge::merge(&old_facts, missing, r).refusal.is_none())
        {
            let release = Some(r);
            return Err((0, Error::Refused { release, why, help }));
        }
    }
    for r in &releases {
        let o = merge::merge(&facts, missing, *r);
        // A release that loaded the files before must still load them.
        let refused_before = merge::merge(&old_facts, missing, *r).refusal.is_some();
        if let Some((why, help)) = o.refusal.filter(|_| release.is_some() || !refused_before) {
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
    let (key, has): (Key, fn(&Facts) -> bool) = if version <= 1 {
        (KEY_V1, |f| f.cri_short)
    } else {
        (KEY_V2, |f| f.cri_full)
    };
    (facts.iter().rposition(has).unwrap_or(primary), key)
}

/// Checks the rewrite: it parses, the pins read `image`, and nothing else changed, key by key.
fn verify(
    old_doc: &ImDocument<String>,
    new_doc: &ImDocument<String>,
    image: &str,
    keys: &[&[&str]],
) -> Result<(), Error> {
    for key in keys {
        match splice::lookup(new_doc, key) {
            Ok(Lookup::Found(f)) if f.value == image => {}
            _ => {
                return Err(Error::Verify(format!(
                    "`{}` does not read back",
                    splice::dotted(key, '"')
                )));
            }
        }
    }
    if !same_but_pins(old_doc.as_item(), new_doc.as_item()) {
        return Err(Error::Verify("a key other than the pin changed".into()));
    }
    Ok(())
}

/// Whether two documents hold the same keys and values once the pins, and tables that hold
/// nothing but pins, are left out: tables by key (a `[table]` and an inline table alike),
/// arrays by element, strings by value, other scalars by value and type.
fn same_but_pins(a: &Item, b: &Item) -> bool {
    same(Some(a), Some(b), &[KEY_V1, KEY_V2, KEY_V3])
}

/// Like [`same_but_pins`] for the items at one key (`None`: absent), with `pins` the pin paths
/// below it.
fn same(a: Option<&Item>, b: Option<&Item>, pins: &[&[&str]]) -> bool {
    let a = a.filter(|i| !only_pins(i, pins));
    let b = b.filter(|i| !only_pins(i, pins));
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same_item(a, b, pins),
        _ => false,
    }
}

/// The pin paths below key `k`, and whether `k` is itself a pin.
fn below<'p>(pins: &[&'p [&'p str]], k: &str) -> (Vec<&'p [&'p str]>, bool) {
    let sub: Vec<&[&str]> = pins
        .iter()
        .filter(|p| p.first() == Some(&k))
        .map(|p| &p[1..])
        .collect();
    let leaf = sub.iter().any(|p| p.is_empty());
    (sub, leaf)
}

/// A table on a pin path that holds nothing but pins (or nothing at all).
fn only_pins(item: &Item, pins: &[&[&str]]) -> bool {
    !pins.is_empty()
        && item.as_table_like().is_some_and(|t| {
            t.iter().all(|(k, i)| {
                let (sub, leaf) = below(pins, k);
                leaf || only_pins(i, &sub)
            })
        })
}

fn same_item(a: &Item, b: &Item, pins: &[&[&str]]) -> bool {
    match (a.as_table_like(), b.as_table_like()) {
        (Some(ta), Some(tb)) => return same_table(ta, tb, pins),
        (None, None) => {}
        _ => return false,
    }
    match (a, b) {
        (Item::ArrayOfTables(x), Item::ArrayOfTables(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(x, y)| same_table(x, y, &[]))
        }
        (Item::Value(x), Item::Value(y)) => same_value(x, y),
        _ => false,
    }
}

/// Every key of either table is a pin, or holds the same in both.
fn same_table(a: &dyn TableLike, b: &dyn TableLike, pins: &[&[&str]]) -> bool {
    let ours = a.iter().all(|(k, _)| {
        let (sub, leaf) = below(pins, k);
        leaf || same(a.get(k), b.get(k), &sub)
    });
    ours && b.iter().all(|(k, i)| {
        let (sub, leaf) = below(pins, k);
        a.contains_key(k) || leaf || same(None, Some(i), &sub)
    })
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        (Value::Float(x), Value::Float(y)) => x.value().to_bits() == y.value().to_bits(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        (Value::Datetime(x), Value::Datetime(y)) => x.value() == y.value(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(x, y)| same_value(x, y))
        }
        (Value::InlineTable(x), Value::InlineTable(y)) => same_table(x, y, &[]),
        _ => false,
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
    fn chains_say_which_file_wins_and_warn_about_traps() {
        let main = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"main.io/p:2\"\n";
        let drop = "version = 3\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = \"drop.io/p:3\"\n";
        let files = [("config.toml", main), ("conf.d/10.toml", drop)];
        let r = inspect_chain(&files, &[], rel("2.1.9")).unwrap();
        assert_eq!(r.image.as_deref(), Some("drop.io/p:3"));
        assert_eq!(r.source.as_ref().map(|p| p.file), Some(1));
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("`conf.d/10.toml` has version 3")),
            "{:?}",
            r.warnings
        );
        // 1.7 refuses the merged version 3; with the release unknown the answer is withheld.
        assert!(
            inspect_chain(&files, &[], rel("1.7.24"))
                .unwrap()
                .refusal
                .is_some()
        );
        let unknown = inspect_chain(&files, &[], None).unwrap();
        assert_eq!(unknown.image, None);
        assert!(
            unknown
                .warnings
                .iter()
                .any(|w| w.contains("1.x and 2.x read these files differently"))
        );
        // Errors name the file they are in.
        assert_eq!(
            inspect_chain(&[("a", ""), ("b", "x =")], &[], None)
                .unwrap_err()
                .0,
            1
        );
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
    /// Every fixture grown past FAST_MIN with tables of another plugin: read through
    /// `sections::reduce`, it gives the same report and the same result as the whole parse.
    #[test]
    fn large_configs_read_by_sections_agree_with_the_whole_parse() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cases");
        let (mut same_text, mut checked, mut put_back_whole) = (0, 0, 0);
        for case in std::fs::read_dir(root).unwrap() {
            let Ok(text) = std::fs::read_to_string(case.unwrap().path().join("in.toml")) else {
                continue;
            };
            let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
            let mut big = text.clone();
            if !big.is_empty() && !big.ends_with('\n') {
                big.push_str(nl);
            }
            for n in 0..20 {
                big.push_str(&format!("[pausectl_padding.t{n}]{nl}  k = 'v' # [x]{nl}"));
            }
            let Some(reduced) = fast(&[("", &big)], 0) else {
                continue; // a byte-order mark, or bare CRs: the whole parse handles those
            };
            let files = [("", big.as_str())];
            for r in [None, rel("1.7.24"), rel("2.1.9"), rel("2.3")] {
                assert_eq!(
                    inspect_chain(&files, &[], r),
                    inspect_chain(&[("", &reduced.text)], &[], r),
                    "{text}"
                );
                let whole = set_files(&files, &[], IMG, r, 0);
                let sections = set_reduced(&reduced, &files, &[], IMG, r).map(|c| {
                    c.unwrap_or_else(|| {
                        put_back_whole += 1;
                        set_files(&files, &[], IMG, r, 0).unwrap()
                    })
                });
                match (whole, sections) {
                    (Ok(w), Ok(s)) => {
                        assert_eq!(w.before, s.before, "{text}");
                        assert_eq!(w.warnings, s.warnings, "{text}");
                        if w.texts == s.texts {
                            same_text += 1;
                        } else {
                            // A new table may go elsewhere; the content must be the same.
                            let doc = |t: &str| ImDocument::parse(t.to_string()).unwrap();
                            let (a, b) = (doc(&w.texts[0]), doc(&s.texts[0]));
                            assert!(same_but_pins(a.as_item(), b.as_item()), "{text}");
                            let again = set_files(&[("", &s.texts[0])], &[], IMG, r, 0).unwrap();
                            assert_eq!(again.texts, s.texts, "{text}");
                        }
                    }
                    (Err((_, a)), Err((_, b))) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("{text}: whole {:?}, sections {:?}", a.err(), b.err()),
                }
                checked += 1;
            }
            assert!(reduced.text.len() < big.len());
        }
        let counts =
            format!("{checked} checked, {same_text} same text, {put_back_whole} redone whole");
        assert!(
            // Short configs (`version = 2` and imports) get their new table after the padding
            // on one path and before it on the other, so not every text is the same.
            checked > 300 && same_text > checked * 2 / 5 && put_back_whole < checked / 10,
            "{counts}"
        );
    }

    #[test]
    fn comparison_leaves_out_pins_and_nothing_else() {
        let same = |a: &str, b: &str| {
            let doc = |s: &str| ImDocument::parse(s.to_string()).unwrap();
            same_but_pins(doc(a).as_item(), doc(b).as_item())
        };
        let pinned = "[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = 'x.io/p:1'\n";
        for (a, b) in [
            ("a = 1\nb = 'x'\n", "b = \"x\" # moved\na = 1\n"),
            ("[t]\nx = 1\n", "t = { x = 1 }\n"),
            ("", pinned),
            ("[plugins]\n", "[plugins.cri]\nsandbox_image = 'y'\n"),
            ("f = nan\n", "f = nan\n"),
            ("[[r]]\nx = 1\n", "[[r]]\n  x = 1\n"),
            ("a = [1, {b = 2}]\n", "a = [ 1, { b = 2 } ]\n"),
        ] {
            assert!(same(a, b) && same(b, a), "{a:?} vs {b:?}");
        }
        for (a, b) in [
            ("a = 1\n", "a = 1.0\n"),
            ("a = 1\n", "a = '1'\n"),
            ("a = 1\n", "a = 1\nb = 2\n"),
            ("f = 0.0\n", "f = -0.0\n"),
            ("[[r]]\n", "[[r]]\n[[r]]\n"),
            ("a = [1, 2]\n", "a = [2, 1]\n"),
            (
                "",
                "[plugins.\"io.containerd.grpc.v1.cri\"]\nsandbox_image = 'x'\nother = 1\n",
            ),
            ("[plugins.cri.x]\n", "[plugins.cri]\nsandbox_image = 'y'\n"),
        ] {
            assert!(!same(a, b) && !same(b, a), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn verification_catches_collateral_changes() {
        let verify = |old: &str, new: &str, keys: &[Key]| {
            let doc = |s: &str| ImDocument::parse(s.to_string()).unwrap();
            verify(&doc(old), &doc(new), IMG, keys)
        };
        assert!(verify("a = 1\n", "a = 2\n", &[]).is_err());
        assert!(verify("a = 1\n", "a = 1 # now\n", &[]).is_ok());
        let pinned = "[plugins.cri]\nsandbox_image = 'x.io/y:1'\n";
        assert!(verify("", pinned, &[KEY_V1]).is_err());
    }
}
