//! What a `set` will do, decided from plain data: the chain's texts as read, the image or
//! registry asked for, and the release. [`in_place`] and [`drop_in`] return a [`Plan`]: every
//! file's text before and after, the image, the report before, and the warnings.
//!
//! The rules a command must not decide on its own live here: which image a registry means
//! (the one in effect, under that registry), the version an empty or new file starts with,
//! where a drop-in's `imports` entry goes, and when containerd 1.x's replacement of a plugin's
//! whole table rules a drop-in out. Reading the files is the caller's: [`drop_in`] takes a
//! function that loads the chain for a main config's text.

use crate::Report;
use crate::config::{ChainError, Error};
use crate::imports::{self, Chain};
use crate::inspect::{cri_settings, inspect, inspect_chain, kubeadm_warning};
use crate::managed::Managed;
use crate::merge::Refusal;
use crate::reference::{ImageRef, Registry};
use crate::release::Release;
use crate::rewrite::{ChainChange, fresh, set_chain, set_chain_at};
use crate::schema::Schema;
use crate::warning::{Kind, Warning};
use std::path::Path;

/// What to pin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// This image.
    Image(ImageRef),
    /// The repository and tag of the image in effect now, from this registry instead.
    Registry(Registry),
}

/// One file of the chain: what it holds now and after the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePlan {
    /// Its name: the main config as the caller named it, an import as containerd reaches it.
    pub path: String,
    /// Its text now (empty when it does not exist).
    pub old: String,
    /// Its text after the change.
    pub new: String,
    /// It does not exist yet: the change creates it.
    pub created: bool,
}

impl FilePlan {
    /// Whether the change writes this file.
    pub fn changed(&self) -> bool {
        self.created || self.old != self.new
    }
}

/// Everything a `set` writes and says.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every file of the chain, the main config first, in containerd's load order.
    pub files: Vec<FilePlan>,
    /// The image pinned, as written in the files.
    pub image: String,
    /// What containerd used before.
    pub before: Report,
    /// What the user should know, in the order found.
    pub warnings: Vec<Warning>,
}

/// Why a plan cannot be made; nothing should be written.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A file of the chain is not one pausectl can pin in (see [`Error`]).
    #[error(transparent)]
    Config(#[from] ChainError),
    /// The request cannot be carried out on this chain.
    #[error("{}\nhelp: {}", .0.why, .0.help)]
    Refused(Refusal),
    /// The caller's loader failed to read the chain.
    #[error(transparent)]
    Load(Box<dyn std::error::Error + Send + Sync>),
}

fn refused(why: String, help: impl Into<String>) -> PlanError {
    PlanError::Refused(Refusal {
        why,
        help: help.into(),
    })
}

/// `--drop-in`: where the pin's own file goes, named as containerd will reach it.
#[derive(Debug, Clone)]
pub struct DropIn {
    /// The main config, absolute and cleaned (Go's `filepath.Clean`).
    pub main: String,
    /// The drop-in, absolute and cleaned.
    pub path: String,
    /// Its text, when it exists.
    pub text: Option<String>,
}

/// Pins the image in the chain's files themselves: the main config (`chain.files[0]`, its text
/// as read, `exists` false when there is no such file) gets the pin where its version keeps
/// it, and imported files whenever a release's merge would otherwise not end on the image.
pub fn in_place(
    mut chain: Chain,
    exists: bool,
    target: &Target,
    release: Option<Release>,
) -> Result<Plan, PlanError> {
    let mut before = start(&mut chain, exists, release);
    let (image, mut warnings) = image(&chain, target, release)?;
    let change = set_chain(&borrowed(&chain.files), &chain.missing, &image, release)?;
    let created = |i: usize| i == 0 && !exists;
    let mut olds: Vec<String> = chain.files.iter_mut().map(|(_, t)| take(t)).collect();
    if let Some(old) = before.take() {
        olds[0] = old;
    }
    warnings.extend(chain.notes);
    Ok(finish(chain.files, olds, change, image, warnings, created))
}

/// Pins the image in a file of its own (`drop_in`), which the main config then imports, for a
/// main config that belongs to a package or another tool. `load` reads the chain that starts
/// at the main config (`drop_in.main`) with the given text, as if the files given with it
/// (`(path, text)`) existed; `keep_main` is the tool that owns the main config, when it may not
/// be edited (a new `imports` entry is then refused).
pub fn drop_in<E>(
    mut chain: Chain,
    exists: bool,
    drop_in: &DropIn,
    target: &Target,
    release: Option<Release>,
    keep_main: Option<&Managed>,
    mut load: impl FnMut(&str, &[(String, String)]) -> Result<Chain, E>,
) -> Result<Plan, PlanError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let before = start(&mut chain, exists, release);
    let (image, mut warnings) = image(&chain, target, release)?;
    let (label, text) = &chain.files[0];
    if !exists {
        return Err(refused(
            format!(
                "--drop-in needs the main config `{label}` to exist: it must import the drop-in"
            ),
            "create it first, or run without --drop-in",
        ));
    }
    let in_main = |error| ChainError {
        file: label.clone(),
        error,
    };
    // A new drop-in has the main config's version: a higher one is the 2.0–2.2 trap.
    let schema = inspect(text, None).map_err(in_main)?.schema;
    let new_text = drop_in.text.clone().unwrap_or_else(|| match schema {
        Schema::V1 => String::new(),
        s => format!("version = {s}\n"),
    });
    let overlay = [(drop_in.path.clone(), new_text)];
    let mut read = |t: &str| load(t, &overlay).map_err(|e| PlanError::Load(Box::new(e)));
    let mut main_text = text.clone();
    let mut loaded = read(&main_text)?;
    if !loaded.files.iter().any(|(p, _)| *p == drop_in.path) {
        main_text = imports::add_import(&main_text, &import_entry(drop_in)).map_err(in_main)?;
        loaded = read(&main_text)?;
    }
    let primary = loaded_at(&loaded, drop_in, label)?;
    if main_text != *text
        && let Some(m) = keep_main
    {
        return Err(refused(
            format!(
                "`{label}` must import `{}`, but it is managed by {}, which regenerates it",
                drop_in.path, m.tool
            ),
            format!("{}; or pass --force", m.lever),
        ));
    }
    if release.map_or(schema <= Schema::V2, |r| !r.is_2x()) {
        no_cri_table_before(&loaded.files[..primary])?;
    }
    loaded.files[0] = (label.clone(), main_text);
    let files = borrowed(&loaded.files);
    let change = set_chain_at(&files, &loaded.missing, &image, release, primary)?;
    let mut olds: Vec<String> = loaded.files.iter().map(|(_, t)| t.clone()).collect();
    olds[0] = before.unwrap_or_else(|| text.clone());
    olds[primary] = drop_in.text.clone().unwrap_or_default();
    warnings.extend(loaded.notes);
    let created = |i: usize| i == primary && drop_in.text.is_none();
    Ok(finish(loaded.files, olds, change, image, warnings, created))
}

/// The `imports` entry for the drop-in: relative to the main config's directory when inside
/// it (every release joins a relative literal import to the importing file's directory),
/// absolute otherwise.
fn import_entry(drop_in: &DropIn) -> String {
    let dir = Path::new(&drop_in.main)
        .parent()
        .map_or(String::new(), |d| d.to_string_lossy().into_owned());
    let dir = format!("{dir}/");
    let entry = drop_in.path.strip_prefix(&dir).unwrap_or(&drop_in.path);
    entry.to_string()
}

/// Where the drop-in is in the chain, or why containerd would not load it.
fn loaded_at(chain: &Chain, drop_in: &DropIn, label: &str) -> Result<usize, PlanError> {
    if let Some(i) = chain.files.iter().position(|(p, _)| *p == drop_in.path) {
        return Ok(i);
    }
    let path = &drop_in.path;
    Err(match chain.missing.first() {
        Some(m) => refused(
            format!(
                "containerd would not load `{path}`: it stops loading imports at `{m}`, which does not exist"
            ),
            format!("create `{m}` or remove it from `imports`"),
        ),
        None => refused(
            format!("`{path}` is not loaded even after adding it to `imports` in `{label}`"),
            "pausectl's reading of `imports` disagrees with itself here; please report this",
        ),
    })
}

/// containerd 1.x replaces a plugin's whole table with the last file's: a drop-in with a CRI
/// table would drop every other CRI setting of the files before it.
fn no_cri_table_before(files: &[(String, String)]) -> Result<(), PlanError> {
    for (file, text) in files {
        if !cri_settings(text).is_empty() {
            return Err(refused(
                format!(
                    "containerd 1.x replaces the whole CRI plugin table of `{file}` with the drop-in's, which would drop its other CRI settings"
                ),
                format!(
                    "run without --drop-in to pin the image in `{file}` itself, or pass --containerd-version with the 2.x release that reads this config (e.g. 2.1)"
                ),
            ));
        }
    }
    Ok(())
}

/// An empty, comment-only or missing main config is read with the version a new config has
/// ([`fresh`]): its text becomes that, and what it held is returned.
fn start(chain: &mut Chain, exists: bool, release: Option<Release>) -> Option<String> {
    let main = &mut chain.files[0].1;
    if !exists {
        main.clear();
    }
    let fresh = fresh(main, release)?;
    Some(std::mem::replace(main, fresh))
}

/// The image to pin, and what to say about it: the one given, or the one in effect now (the
/// release's built-in default when nothing sets it) under the registry given.
pub fn image(
    chain: &Chain,
    target: &Target,
    release: Option<Release>,
) -> Result<(String, Vec<Warning>), PlanError> {
    let mut warnings = Vec::new();
    let image = match target {
        Target::Image(r) => {
            if r.tag.is_some() && r.digest.is_some() {
                warnings.push(Warning::new(Kind::TagAndDigest, format!(
                    "`{r}` has both a tag and a digest; containerd pins the image by its normalized name, which is digest-only, so pausectl writes `{}`",
                    r.pinned()
                )));
            }
            r.pinned()
        }
        Target::Registry(registry) => in_effect(chain, registry, release)?
            .with_registry(registry)
            .pinned(),
    };
    warnings.extend(kubeadm_warning(&image));
    Ok((image, warnings))
}

/// The image the chain makes `release` use now (with the CRI plugin disabled, the one it would
/// use when enabled), for `--registry` to move.
fn in_effect(
    chain: &Chain,
    registry: &Registry,
    release: Option<Release>,
) -> Result<ImageRef, PlanError> {
    let label = &chain.files[0].0;
    let report = inspect_chain(&borrowed(&chain.files), &chain.missing, release)?;
    if let Some(e) = report.unsure {
        return Err(e.into());
    }
    if let Some(Refusal { why, help }) = report.refusal {
        // The same reason `--image` gives.
        let error = Error::Refused { release, why, help };
        return Err(ChainError {
            file: label.clone(),
            error,
        }
        .into());
    }
    let off = report.cri_disabled.is_some();
    let would = report
        .source
        .map(|p| p.image)
        .or_else(|| release.and_then(|r| r.default_image()).map(str::to_string));
    let Some(current) = report.image.or(would.filter(|_| off)) else {
        return Err(refused(
            format!(
                "cannot tell which image to move to `{registry}`: nothing in `{label}` sets the sandbox image and {}",
                match release {
                    Some(r) =>
                        format!("containerd {r} refuses or has no known default for this config"),
                    None => "the containerd release is unknown (no `containerd` on PATH), so its built-in default is unknown".into(),
                }
            ),
            "pass --containerd-version (e.g. 2.1) or use --image",
        ));
    };
    ImageRef::parse_lenient(&current).map_err(|e| {
        refused(
            format!("the image in effect, `{current}`, is not a valid reference ({e})"),
            "use --image",
        )
    })
}

fn borrowed(files: &[(String, String)]) -> Vec<(&str, &str)> {
    files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect()
}

fn take(s: &mut String) -> String {
    std::mem::take(s)
}

/// The plan from each file's name and old text and the change.
fn finish(
    files: Vec<(String, String)>,
    olds: Vec<String>,
    change: ChainChange,
    image: String,
    mut warnings: Vec<Warning>,
    created: impl Fn(usize) -> bool,
) -> Plan {
    warnings.extend(change.warnings);
    let files = files
        .into_iter()
        .zip(olds)
        .zip(change.texts)
        .enumerate()
        .map(|(i, (((path, _), old), new))| FilePlan {
            path,
            old: if created(i) { String::new() } else { old },
            new,
            created: created(i),
        })
        .collect();
    Plan {
        files,
        image,
        before: change.before,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goglob::glob_matches;

    const MAIN: &str = "/etc/containerd/config.toml";
    const DROP: &str = "/etc/containerd/conf.d/99-pause.toml";

    fn rel(s: &str) -> Option<Release> {
        Release::parse(s)
    }

    fn registry() -> Target {
        Target::Registry(Registry::parse("registry.local:5000").unwrap())
    }

    fn image(s: &str) -> Target {
        Target::Image(ImageRef::parse(s).unwrap())
    }

    fn chain(text: &str) -> Chain {
        Chain {
            files: vec![(MAIN.into(), text.into())],
            ..Chain::default()
        }
    }

    /// What containerd loads for a main config (its imports literal paths or globs, a relative
    /// one joined to the config's directory), with only the files in `overlay` on "disk".
    fn load(text: &str, overlay: &[(String, String)]) -> Result<Chain, std::io::Error> {
        let mut out = chain(text);
        for entry in imports::entries(text) {
            let entry = match entry.starts_with('/') {
                true => entry,
                false => format!("/etc/containerd/{entry}"),
            };
            let hits: Vec<&(String, String)> = overlay
                .iter()
                .filter(|(p, _)| glob_matches(&entry, p))
                .collect();
            if hits.is_empty() && !entry.contains('*') {
                out.missing.push(entry);
                break;
            }
            out.files.extend(hits.into_iter().cloned());
        }
        Ok(out)
    }

    fn drop_in_at(text: Option<&str>) -> DropIn {
        DropIn {
            main: MAIN.into(),
            path: DROP.into(),
            text: text.map(String::from),
        }
    }

    #[test]
    fn a_registry_moves_the_image_in_effect_or_the_default() {
        let v2 = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.9\"\n";
        let p = in_place(chain(v2), true, &registry(), rel("1.7.24")).unwrap();
        assert_eq!(p.image, "registry.local:5000/pause:3.9");
        assert_eq!(p.before.image.as_deref(), Some("registry.k8s.io/pause:3.9"));
        assert_eq!(
            p.files[0].new,
            v2.replace("registry.k8s.io", "registry.local:5000")
        );
        assert!(p.files[0].changed() && !p.files[0].created);
        // Nothing set: the release's default, which differs by release.
        let p = in_place(chain("version = 2\n"), true, &registry(), rel("1.6.20")).unwrap();
        assert_eq!(p.image, "registry.local:5000/pause:3.6");
        let p = in_place(chain("version = 2\n"), true, &registry(), rel("2.1.9")).unwrap();
        assert_eq!(p.image, "registry.local:5000/pause:3.10");
        // No release and nothing set: there is no image to move.
        let e = in_place(chain("version = 2\n"), true, &registry(), None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot tell which image to move to `registry.local:5000`"),
            "{e}"
        );
        assert!(
            e.to_string().contains("\nhelp: pass --containerd-version"),
            "{e}"
        );
    }

    #[test]
    fn with_the_cri_plugin_disabled_a_registry_moves_the_image_it_would_use() {
        let off = "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n";
        let p = in_place(chain(off), true, &registry(), rel("1.7.24")).unwrap();
        assert_eq!(p.image, "registry.local:5000/pause:3.8");
        assert!(p.before.cri_disabled.is_some());
    }

    #[test]
    fn a_new_or_empty_config_gets_the_version_of_a_new_one() {
        let p = in_place(chain(""), false, &image("r.io/pause:3.10"), rel("2.1.9")).unwrap();
        let f = &p.files[0];
        assert!(f.created && f.old.is_empty());
        assert!(f.new.starts_with("version = 3\n"), "{}", f.new);
        // A comment-only file keeps its comment; the release unknown gets version 2.
        let p = in_place(chain("# ours\n"), true, &image("r.io/pause:3.10"), None).unwrap();
        let f = &p.files[0];
        assert!(!f.created && f.old == "# ours\n");
        assert!(f.new.starts_with("# ours\nversion = 2\n"), "{}", f.new);
        assert_eq!(p.before.schema, Schema::V2);
    }

    #[test]
    fn warns_about_tag_and_digest_and_kubeadm_shape() {
        let digest = format!("r.io/pause:3.10@sha256:{}", "a".repeat(64));
        let p = in_place(chain("version = 2\n"), true, &image(&digest), rel("1.7.24")).unwrap();
        assert_eq!(p.image, format!("r.io/pause@sha256:{}", "a".repeat(64)));
        assert!(p.warnings[0].kind == Kind::TagAndDigest, "{:?}", p.warnings);
        assert!(p.warnings[1].kind == Kind::Kubeadm, "{:?}", p.warnings);
        let p = in_place(
            chain("version = 2\n"),
            true,
            &image("r.io/pause:3.10"),
            None,
        )
        .unwrap();
        assert!(
            p.warnings.iter().all(|w| w.kind != Kind::Kubeadm),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn a_drop_in_gets_the_main_configs_version_and_is_imported() {
        let main = "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  snapshotter = \"overlayfs\"\n";
        // 2.x merges plugin tables key by key, so the CRI table in the main config stays.
        let p = plan_drop_in(main, None, rel("2.1.9"), None).unwrap();
        assert_eq!(p.files.len(), 2);
        assert_eq!(
            p.files[0].new,
            format!(
                "version = 2\nimports = [\"conf.d/99-pause.toml\"]\n{}",
                &main[12..]
            )
        );
        let d = &p.files[1];
        assert_eq!(d.path, DROP);
        assert!(d.created && d.old.is_empty());
        assert!(d.new.starts_with("version = 2\n"), "{}", d.new);
        assert!(
            d.new.contains("sandbox_image = \"r.io/pause:3.10\""),
            "{}",
            d.new
        );
        // 1.x would drop the main config's other CRI settings.
        let e = plan_drop_in(main, None, rel("1.7.24"), None).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("containerd 1.x replaces the whole CRI plugin table"),
            "{e}"
        );
        // A glob already covers the drop-in: the main config stays as it is.
        let globbed = "version = 2\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n";
        let p = plan_drop_in(globbed, Some("version = 2\n"), rel("1.7.24"), None).unwrap();
        assert!(!p.files[0].changed() && !p.files[1].created);
        assert_eq!(p.image, "r.io/pause:3.10");
    }

    fn plan_drop_in(
        main: &str,
        existing: Option<&str>,
        release: Option<Release>,
        keep: Option<&Managed>,
    ) -> Result<Plan, PlanError> {
        let target = image("r.io/pause:3.10");
        drop_in(
            chain(main),
            true,
            &drop_in_at(existing),
            &target,
            release,
            keep,
            load,
        )
    }

    #[test]
    fn a_drop_in_is_refused_where_it_cannot_work() {
        // A literal import that does not exist stops loading before the drop-in.
        let stops = "version = 2\nimports = [\"/etc/containerd/gone.toml\"]\n";
        let e = plan_drop_in(stops, None, rel("2.1.9"), None).unwrap_err();
        assert!(
            e.to_string()
                .contains("it stops loading imports at `/etc/containerd/gone.toml`"),
            "{e}"
        );
        // A main config another tool regenerates cannot take the import.
        let owner = Managed {
            tool: "k0s",
            lever: "use k0s's own setting".into(),
        };
        let e = plan_drop_in("version = 2\n", None, rel("2.1.9"), Some(&owner)).unwrap_err();
        assert!(e.to_string().contains("but it is managed by k0s"), "{e}");
        assert!(
            e.to_string()
                .ends_with("help: use k0s's own setting; or pass --force"),
            "{e}"
        );
        // No main config to import it.
        let target = image("r.io/pause:3.10");
        let e = drop_in(
            chain(""),
            false,
            &drop_in_at(None),
            &target,
            rel("2.1.9"),
            None,
            load,
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs the main config"), "{e}");
        // Broken TOML names the file and the place.
        let e = plan_drop_in("version = 2\nx =\n", None, rel("2.1.9"), None).unwrap_err();
        assert!(e.to_string().starts_with(&format!("{MAIN}:2:")), "{e}");
    }

    #[test]
    fn errors_name_the_file_line_and_column() {
        let e = in_place(
            chain("version = 2\n[a]\nb = \n"),
            true,
            &registry(),
            rel("1.7.24"),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with(&format!("{MAIN}:3:")), "{text}");
        assert!(text.contains("\nhelp: "), "{text}");
    }
}
