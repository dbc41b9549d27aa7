//! The report: which sandbox image a release (or, unknown, both release lines) uses for a
//! config and its imports, from which key of which file, and the warnings that say what
//! containerd will do and what to do about it.

use crate::config::{ChainError, Error, Parsed, bare_cr, parse, parse_all, position, who};
use crate::facts::{Facts, Pin, all_facts, plugin};
use crate::merge::{self, Outcome, Refusal};
use crate::reference::ImageRef;
use crate::release::Release;
use crate::schema::Schema;
use crate::sections;
use crate::warning::{Kind, Warning};
use toml_edit::Item;

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
    /// What containerd will do and what to do about it.
    pub warnings: Vec<Warning>,
    /// Why the release refuses to load the file at all, and what to do; `None` when it loads it.
    pub refusal: Option<Refusal>,
    /// The file starts with a UTF-8 byte-order mark.
    pub bom: bool,
    /// Why pausectl cannot tell which image the release uses (the file it is in, and the
    /// error `set` gives for it); `image` is then `None`.
    pub unsure: Option<ChainError>,
    /// With the release unknown, what 1.x and 2.x do when they differ (an image, "its built-in
    /// default" or "refuses to start"); `image` is then `None`.
    pub lines_differ: Option<(String, String)>,
    /// The `disabled_plugins` entry that turns the CRI plugin off; `image` is then `None`.
    pub cri_disabled: Option<String>,
}

/// Tells which image `release` (or, when `None`, the release that the schema is meant for)
/// will use for the config `text`, read on its own.
pub fn inspect(text: &str, release: Option<Release>) -> Result<Report, Error> {
    inspect_chain(&[("", text)], &[], release).map_err(|e| e.error)
}

/// Tells which image `release` will use for a config and the files it imports: `files` are
/// `(label, text)` in containerd's load order, the main config first; `missing` names literal
/// imports that do not exist. An error names the file it is in.
pub fn inspect_chain(
    files: &[(&str, &str)],
    missing: &[String],
    release: Option<Release>,
) -> Result<Report, ChainError> {
    match fast(files) {
        Some(r) => inspect_files(&[(files[0].0, r.text.as_str())], missing, release),
        None => inspect_files(files, missing, release),
    }
}

/// [`inspect_chain`] on the files as given, each parsed whole.
pub(crate) fn inspect_files(
    files: &[(&str, &str)],
    missing: &[String],
    release: Option<Release>,
) -> Result<Report, ChainError> {
    let labels: Vec<&str> = files.iter().map(|(l, _)| *l).collect();
    let in_file = |(i, error): (usize, Error)| ChainError {
        file: labels[i].to_string(),
        error,
    };
    let parsed = parse_all(files).map_err(in_file)?;
    let parsed: Vec<&Parsed> = parsed.iter().collect();
    let facts = all_facts(&parsed).map_err(in_file)?;
    Ok(report(&labels, &parsed, &facts, missing, release))
}

impl Report {
    /// What containerd used, in a few words, for `set`'s summary line.
    pub fn was(&self) -> String {
        match (&self.image, &self.lines_differ) {
            _ if self.cri_disabled.is_some() => "none (the CRI plugin is disabled)".into(),
            (Some(image), _) => image.clone(),
            (None, Some((a, b))) => format!("(1.x: {a}; 2.x: {b})"),
            (None, None) => "containerd's built-in default".into(),
        }
    }

    /// The image `release` uses, or why there is none or pausectl cannot tell, for `show`.
    pub fn in_effect(&self, release: Option<Release>) -> String {
        match (&self.image, release) {
            (Some(i), _) => i.clone(),
            (None, _) if self.cri_disabled.is_some() => {
                "none: the CRI plugin is disabled (`disabled_plugins`), so containerd runs no pods"
                    .into()
            }
            (None, None) if self.lines_differ.is_some() => {
                "unknown: containerd 1.x and 2.x read this config differently (see the warning)"
                    .into()
            }
            (None, _) if self.unsure.is_some() && self.refusal.is_none() => {
                "unknown: containerd releases read this config differently (see the warning)".into()
            }
            (None, Some(r)) if self.refusal.is_some() => {
                format!("none: containerd {r} refuses this config and does not start")
            }
            (None, None) if self.refusal.is_some() => {
                "none: containerd refuses this config and does not start (see the warning)".into()
            }
            (None, _) => {
                "unknown: nothing sets it, and the built-in default depends on the containerd release"
                    .into()
            }
        }
    }
}

/// kubeadm (1.27+) warns when the runtime's sandbox image is not
/// `<imageRepository>/pause:<version>`.
pub fn kubeadm_warning(image: &str) -> Option<Warning> {
    let r = ImageRef::parse_lenient(image).ok()?;
    (!r.kubeadm_shape()).then(|| Warning::new(Kind::Kubeadm, format!(
        "kubeadm 1.27+ expects the sandbox image to be `<imageRepository>/pause:<version>` and will warn about `{image}` (informational: containerd uses it all the same)"
    )))
}

/// What to say about the image in effect: kubeadm's expectation, and a public registry (which
/// makes starting a pod depend on the internet).
pub fn advice(image: &str) -> Vec<Warning> {
    let mut out: Vec<Warning> = kubeadm_warning(image).into_iter().collect();
    if ImageRef::parse_lenient(image).map_or(true, |r| r.is_public()) {
        out.push(Warning::new(Kind::PublicRegistry, format!(
            "the sandbox image `{image}` comes from a public registry, so starting a pod depends on the internet; run `pausectl set --registry <your-registry>`"
        )));
    }
    out
}

/// The one place that picks the path: a config alone (no imports) is read through
/// [`sections::reduce`] when its scan passes, whatever its size; only the tables that can hold
/// the pin then get toml_edit's full parse. Anything else is parsed whole.
pub(crate) fn fast(files: &[(&str, &str)]) -> Option<sections::Reduced> {
    match files {
        // Bare CRs (refused, with their own message) are for the full parse to find.
        [(_, text)] if bare_cr(text).is_none() => sections::reduce(text),
        _ => None,
    }
}

/// The report for a parsed chain (`labels` name the files in messages).
pub(crate) fn report(
    labels: &[&str],
    parsed: &[&Parsed],
    facts: &[Facts],
    missing: &[String],
    release: Option<Release>,
) -> Report {
    let main = &facts[0];
    let mut warnings = chain_warnings(labels, parsed, facts, release);
    let (mut outcome, lines_differ) = outcome(labels, facts, missing, release, &mut warnings);
    let mut image = match (&outcome.refusal, &outcome.source) {
        _ if outcome.cri_disabled.is_some() => None,
        (Some(_), _) => None,
        (None, Some(pin)) => Some(pin.image.clone()),
        (None, None) => release.and_then(|r| r.default_image()).map(str::to_string),
    };
    let unsure = unsure(facts, release);
    if let Some((i, message, help, at)) = unsure.as_ref().filter(|_| outcome.refusal.is_none()) {
        let text = format!(
            "pausectl cannot tell which sandbox image containerd uses: {}: {message}; {help}",
            place(labels, *i, at.0)
        );
        warnings.push(
            Warning::new(Kind::CannotTell, text)
                .file(labels[*i])
                .line(at.0),
        );
        image = None;
        outcome.source = None;
    }
    let unsure = unsure.map(|(i, message, help, at)| ChainError {
        file: labels[i].to_string(),
        error: Error::Invalid { message, help, at },
    });
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

/// What `release` (or, unknown, both release lines) makes of the chain, with the warnings
/// for a refusal, a disabled CRI plugin, and release lines that differ.
fn outcome(
    labels: &[&str],
    facts: &[Facts],
    missing: &[String],
    release: Option<Release>,
    warnings: &mut Vec<Warning>,
) -> (Outcome, Option<(String, String)>) {
    let (outcome, differ) = match release {
        Some(r) => (merge::merge(facts, missing, r), None),
        None => unknown_release(facts, missing),
    };
    if let Some((a, b)) = &differ {
        warnings.push(Warning::new(Kind::CannotTell, format!(
            "pausectl cannot tell which sandbox image containerd uses: 1.x and 2.x read {} differently (1.x: {a}; 2.x: {b}); pass --containerd-version to see which applies",
            if labels.len() > 1 { "these files" } else { "this config" },
        )));
    }
    if let Some(Refusal { why, help }) = &outcome.refusal {
        let who = who(&release);
        warnings.push(Warning::new(
            Kind::Refused,
            format!("{who} refuses this config and will not start: {why}; {help}"),
        ));
    }
    if let Some((name, i, line)) = &outcome.cri_disabled {
        let text = format!(
            "`disabled_plugins` turns off the CRI plugin (`{name}`, {}): containerd runs no pods, so it uses no sandbox image until that entry is removed",
            place(labels, *i, *line)
        );
        warnings.push(
            Warning::new(Kind::CriDisabled, text)
                .file(labels[*i])
                .line(*line),
        );
    }
    (outcome, differ)
}

/// `line N` in the main config, `` `file` line N `` in an imported one.
fn place(labels: &[&str], i: usize, line: usize) -> String {
    match i {
        0 => format!("line {line}"),
        _ => format!("`{}` line {line}", labels[i]),
    }
}

/// What each file alone tells (prefixed with its label for an imported one), and a drop-in
/// newer than the main config.
fn chain_warnings(
    labels: &[&str],
    parsed: &[&Parsed],
    facts: &[Facts],
    release: Option<Release>,
) -> Vec<Warning> {
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
                .map(|w| Warning {
                    text: format!("{prefix}{}", w.text),
                    ..w.file(labels[i])
                }),
        );
    }
    let main = &facts[0];
    for (i, f) in facts.iter().enumerate().skip(1) {
        if main.version >= 2 && f.version > main.version {
            let text = format!(
                "`{}` has version {}, higher than the main config's {}: containerd 2.0–2.2 then leave a `sandbox_image` of the main config unread, and newer releases refuse such a drop-in; give it `version = {}`",
                labels[i], f.version, main.version, main.version
            );
            warnings.push(Warning::new(Kind::NewerDropIn, text).file(labels[i]));
        }
    }
    warnings
}

/// Something a release reads its own way, so that pausectl says so rather than guess: the file
/// it is in, what containerd does, the help, and its line and column.
fn unsure(
    facts: &[Facts],
    release: Option<Release>,
) -> Option<(usize, String, String, (usize, usize))> {
    facts
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
            (release.is_none() && facts[0].schema <= Schema::V2).then(|| {
                let help = "write it as every TOML parser reads it, or pass --containerd-version";
                (i, format!("{why}; 2.x reads it"), help.to_string(), *at)
            })
        })
}

/// With the release unknown, the outcome both release lines agree on, or what each does when
/// they differ (then the outcome says nothing). 1.x does not read a version-3 config, so then
/// only 2.x counts; a config both lines refuse is refused only if a 1.6 before 1.6.32 (which
/// reads any version above 2 as 2) refuses it too.
fn unknown_release(facts: &[Facts], missing: &[String]) -> (Outcome, Option<(String, String)>) {
    let schema = facts[0].schema;
    let [old, new] = both_lines(schema);
    let b = merge::merge(facts, missing, new);
    let a = merge::merge(facts, missing, old);
    let said = |o: &Outcome| match (&o.refusal, &o.source, &o.cri_disabled) {
        (Some(_), _, _) => "refuses to start".to_string(),
        (None, _, Some(_)) => "the CRI plugin is disabled".into(),
        (None, Some(p), None) => p.image.clone(),
        (None, None, None) => "its built-in default".into(),
    };
    // 1.6 before 1.6.32 reads any version above 2 as version 2: where 1.7 refuses, it may not.
    let c = merge::merge(facts, missing, old_1_6());
    let a_said = match (&a.refusal, &b.refusal, &c.refusal) {
        (Some(_), _, None) if schema >= Schema::V3 && said(&c) != said(&b) => {
            format!("1.6 before 1.6.32: {} (1.7 refuses it)", said(&c))
        }
        (Some(_), Some(_), None) if schema < Schema::V3 => {
            format!("refuses to start, but 1.6 before 1.6.32: {}", said(&c))
        }
        // 1.7 refusing a version-3 config is expected, not a disagreement.
        (Some(_), _, _) if schema >= Schema::V3 => said(&b),
        _ => said(&a),
    };
    let b_said = said(&b);
    if a_said == b_said {
        (b, None)
    } else {
        (Outcome::default(), Some((a_said, b_said)))
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

/// A 1.6 before 1.6.32, which reads any config version above 2 as version 2 (Debian 12 ships
/// 1.6.20): with the release unknown, it must agree too.
pub(crate) fn old_1_6() -> Release {
    Release::parse("1.6.20").expect("a valid release")
}

/// A 1.x and a 2.x release, for when the release is unknown and both merge rules must agree:
/// for a version-4 config, the first 2.x that reads it.
pub(crate) fn both_lines(schema: Schema) -> [Release; 2] {
    let two = if schema == Schema::V4 { "2.3" } else { "2.1" };
    ["1.7", two].map(|v| Release::parse(v).expect("a valid release"))
}

/// What one file alone tells about the release that reads it.
fn file_warnings(p: &Parsed, f: &Facts, r: Option<Release>, root: bool) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if let Some(r) = r.filter(|r| r.is_2x() && !r.at_least(2, 3))
        && p.schema == Schema::V1
        && root
        && f.k1.is_some()
        && f.k3.is_none()
    {
        let line = f.k1.as_ref().map_or(0, |k| k.line);
        warnings.push(Warning::new(Kind::KeyIgnored, format!(
            "containerd {r} ignores `[plugins.cri] sandbox_image` in a version-1 config and uses its built-in default; run `pausectl set` to add the version-3 key it reads"
        )).line(line));
    }
    // In step with `pinned_images.sandbox`, it is the key a 1.6 before 1.6.32 reads.
    if let (Schema::V3 | Schema::V4, Some(k2)) = (p.schema, &f.k2)
        && f.k3.as_ref().is_none_or(|k3| k3.image != k2.image)
    {
        warnings.push(Warning::new(Kind::KeyIgnored, format!(
            "line {}: `sandbox_image` under `[plugins.\"io.containerd.grpc.v1.cri\"]` is a version-2 key in a version-{} config: containerd 2.0–2.2 ignore it, 2.3+ let it override `pinned_images.sandbox`; pausectl keeps both in step, or remove it",
            k2.line, p.schema
        )).line(k2.line));
    }
    if let Some(r) = r.filter(|r| r.reads_v3_as_v2())
        && p.schema >= Schema::V3
    {
        warnings.push(Warning::new(Kind::KeyIgnored, format!(
            "containerd {r} reads a version-{} config as version 2 and ignores `pinned_images.sandbox`; use `version = 2` for 1.x",
            p.schema
        )));
    }
    if r.is_none() && root && p.schema == Schema::V4 {
        warnings.push(Warning::new(Kind::Version, "a version-4 config is read by containerd 2.3 and later: 1.7 and 2.0–2.2 refuse it, and 1.6 before 1.6.32 reads it as version 2"));
    }
    if let Some(r) = r.filter(|r| r.reads_v3_as_v2())
        && f.version >= 5
    {
        warnings.push(Warning::new(Kind::Version, format!(
            "containerd {r} reads `version = {}` as version 2, and newer releases refuse to start with it; use `version = 2`",
            f.version
        )));
    }
    warnings.extend(name_warnings(p, f, r));
    if p.bom && !r.is_some_and(|r| r.is_2x()) {
        warnings.push(Warning::new(Kind::ByteOrderMark, "the file starts with a UTF-8 byte-order mark, which containerd 2.x refuses; remove the first 3 bytes").line(1));
    }
    warnings
}

/// What a file's plugin names tell: a version-1 name, a CRI name in another case, a name 1.7
/// refuses.
fn name_warnings(p: &Parsed, f: &Facts, r: Option<Release>) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let known_1x = r.is_some_and(|r| !r.is_2x());
    if f.cri_short && p.schema != Schema::V1 && !known_1x {
        let at = plugin(p, "cri").and_then(Item::span);
        let line = position(p.raw(), at.map_or(0, |s| s.start)).0;
        warnings.push(Warning::new(Kind::PluginName, format!(
            "line {line}: `[plugins.cri]` is a version-1 name in a version-{} config: containerd 1.x refuses to start with it and 2.x ignores it; remove that table",
            p.schema
        )).line(line));
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
            warnings.push(Warning::new(Kind::PluginName, format!(
                "line {}: `[plugins.\"{}\"]` is not the plugin `{name}`: plugin names are case-sensitive, so no containerd reads that table as that plugin; spell it `{name}`",
                n.line, n.name
            )).line(n.line));
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
        warnings.push(Warning::new(Kind::PluginName, format!(
            "line {}: the {} `{}` is not a full plugin URI (`io.containerd.<type>.<version>.<name>`): containerd 1.7 refuses to start with it in a version-2 config{also}; name the plugin in full, or remove it",
            n.line, n.kind, n.name
        )).line(n.line));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> Option<Release> {
        Release::parse(s)
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
                .any(|w| w.kind == Kind::NewerDropIn && w.file.as_deref() == Some("conf.d/10.toml")),
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
        assert!(unknown.warnings.iter().any(|w| w.kind == Kind::CannotTell));
        // Errors name the file they are in.
        assert_eq!(
            inspect_chain(&[("a", ""), ("b", "x =")], &[], None)
                .unwrap_err()
                .file,
            "b"
        );
    }
}
