//! How containerd combines a config and the files it imports into the sandbox image it uses.
//!
//! Measured with 1.6.20, 1.7.24 and 2.1.9 (`config dump`), read in the source for the rest:
//! - Files load breadth-first from the main one; the merged `version` is the last non-zero one.
//! - 1.x replaces each `plugins."<name>"` table wholesale with the last file's, so a drop-in that
//!   touches the CRI plugin at all erases an earlier pin; a merged version 2+ with a
//!   `[plugins.cri]` table anywhere is refused.
//! - 2.x (`LoadConfig` in cmd/containerd/server/config) starts from a default config of the
//!   newest version it reads and merges each file into it key by key, keeping the last non-zero
//!   `version`, which can go down. 2.0–2.2 migrate only a version-0 or 1 file as it loads (to
//!   the version merged so far: `cri` becomes `io.containerd.grpc.v1.cri`); when the merged
//!   version ends below 3, the CRI plugin's migration moves `sandbox_image` over
//!   `pinned_images.sandbox`. So a version-1 main file alone, or a version-3 drop-in beside a
//!   version-2 main file, leaves `sandbox_image` unread. 2.3 (source) migrates every older file
//!   with the plugins' migrations and refuses a drop-in newer than the main file.
//! - A missing literal import stops the loading, and every release refuses to start (2.x's
//!   `config dump` alone goes on with what it loaded; measured with 2.1.9's daemon).

use crate::facts::{Facts, Pin};
use crate::release::Release;

/// Why a release refuses to start with a config, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What containerd refuses, in its terms.
    pub why: String,
    /// How to write it instead.
    pub help: String,
}

/// What a release makes of the merged files.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Why it refuses to start, and what to do; `None` when it loads the files.
    pub refusal: Option<Refusal>,
    /// The pin it uses; `None` for its built-in default.
    pub source: Option<Pin>,
    /// The `disabled_plugins` entry that turns the CRI plugin off, the file (its index) and the
    /// line: containerd then runs no pods and uses no sandbox image (`source` is what it would
    /// use with the plugin on).
    pub cri_disabled: Option<(String, usize, usize)>,
}

fn refused(why: impl Into<String>, help: impl Into<String>) -> Outcome {
    let (why, help) = (why.into(), help.into());
    Outcome {
        refusal: Some(Refusal { why, help }),
        ..Outcome::default()
    }
}

/// The first `disabled_plugins` entry of `files` that `off` says turns the CRI plugin off.
fn disabling(
    files: &[Facts],
    off: impl Fn(&Facts, &str) -> bool,
) -> Option<(String, usize, usize)> {
    files.iter().enumerate().find_map(|(i, f)| {
        f.plugin_names
            .iter()
            .find(|n| n.kind == "disabled plugin" && off(f, &n.name))
            .map(|n| (n.name.clone(), i, n.line))
    })
}

/// The outcome of loading `files` (main first, in load order) with release `r`; `missing`
/// names literal imports that do not exist.
pub fn merge(files: &[Facts], missing: &[String], r: Release) -> Outcome {
    if r.is_2x() {
        merge_2x(files, missing, r)
    } else {
        merge_1x(files, missing, r)
    }
}

fn merge_1x(files: &[Facts], missing: &[String], r: Release) -> Outcome {
    if let Some((why, (line, _))) = files.iter().find_map(|f| f.refused_1x.as_ref()) {
        return refused(
            format!("{why} (line {line})"),
            "change that line so that 1.x reads it too (2.x reads it as it is)",
        );
    }
    if let Some(o) = missing_import(missing) {
        return o;
    }
    let mut version = 0;
    // The CRI plugin's table under each name, as the last file that has one wrote it.
    let (mut short, mut full): (Option<Option<Pin>>, Option<Option<Pin>>) = (None, None);
    for f in files {
        if f.version != 0 {
            version = f.version;
        }
        if f.cri_short {
            short = Some(f.k1.clone());
        }
        if f.cri_full {
            full = Some(f.k2.clone());
        }
    }
    if version >= 3 && !r.reads_v3_as_v2() {
        return refused(
            format!("it does not read config version {version}"),
            "use `version = 2` for containerd 1.x",
        );
    }
    if version >= 2
        && let Some(o) = bad_plugin_name(files, r)
    {
        return o;
    }
    // `GetVersion() == 1` (0 counts as 1): plugin ids (`cri`) in `disabled_plugins` and
    // `plugins`; any other version, a negative one too, full names (measured with 1.6.20 and
    // 1.7.24, imports included).
    let v1 = version == 0 || version == 1;
    let cri = if v1 {
        "cri"
    } else {
        "io.containerd.grpc.v1.cri"
    };
    // A version-1 merge reads the CRI plugin's settings from `cri` only (measured: a table under
    // the full name is ignored there).
    let table = if v1 { short } else { full };
    Outcome {
        source: table.flatten(),
        cri_disabled: disabling(files, |_, name| name == cri),
        ..Outcome::default()
    }
}

fn merge_2x(files: &[Facts], missing: &[String], r: Release) -> Outcome {
    if let Some(o) = refused_2x(files, missing) {
        return o;
    }
    let newest = if r.at_least(2, 3) { 4 } else { 3 };
    let Loaded {
        version,
        k2,
        mut k3,
    } = match load_2x(files, r, newest) {
        Ok(loaded) => loaded,
        Err((why, help)) => return refused(why, help),
    };
    if version > newest {
        return refused(
            format!("it does not read config version {version}"),
            format!("use `version = {newest}`"),
        );
    }
    // An older merged version has the CRI plugin's migration run on it at start, which moves
    // `sandbox_image` over `pinned_images.sandbox`.
    if version < newest {
        k3 = k2.or(k3);
    }
    Outcome {
        source: k3,
        cri_disabled: disabling(files, disables_cri_2x),
        ..Outcome::default()
    }
}

/// 1.x's `ValidateV2` for a merged version of 2 or more: every file's plugin names are checked
/// together, after the merge, disabled ones first.
fn bad_plugin_name(files: &[Facts], r: Release) -> Option<Outcome> {
    let n = ["disabled plugin", "required plugin", "plugin key"]
        .iter()
        .flat_map(|kind| {
            files
                .iter()
                .flat_map(|f| &f.plugin_names)
                .filter(move |n| n.kind == *kind)
        })
        .find(|n| !n.valid_for(r))?;
    if n.kind == "plugin key" && n.name == "cri" {
        return Some(refused(
            "`[plugins.cri]` is not a full plugin name (\"invalid plugin key URI\")",
            "remove the `[plugins.cri]` table: a version-2 config names the plugin `io.containerd.grpc.v1.cri`",
        ));
    }
    let want = if r.minor < 7 {
        "four dot-separated parts"
    } else {
        "the form `io.containerd.<type>.<version>.<name>`"
    };
    Some(refused(
        format!(
            "the {} `{}` (line {}) is not a full plugin URI (\"invalid {} URI\"): a version-2 config needs {want}",
            n.kind, n.name, n.line, n.kind
        ),
        "name the plugin in full, or remove it",
    ))
}

/// What 2.x refuses before it merges: a byte-order mark, what only its decoder refuses, and a
/// missing import (loading stops there and the daemon refuses to start; `config dump` alone
/// goes on with what it loaded: measured with 2.1.9's daemon).
fn refused_2x(files: &[Facts], missing: &[String]) -> Option<Outcome> {
    if let Some(i) = files.iter().position(|f| f.bom) {
        let which = if i == 0 {
            "the config"
        } else {
            "an imported file"
        };
        return Some(refused(
            format!("{which} starts with a UTF-8 byte-order mark"),
            "remove the first 3 bytes of that file",
        ));
    }
    if let Some((why, (line, _))) = files.iter().find_map(|f| f.refused_2x.as_ref()) {
        return Some(refused(
            format!("{why} (line {line})"),
            "change that line so that 2.x reads it too (1.x reads it as it is)",
        ));
    }
    // `ValidateVersion`, after the merge: a plugin name without a dot (a version-0 or 1 file's
    // names were given their prefix as it loaded).
    let short = files
        .iter()
        .filter(|f| f.version != 0 && f.version != 1)
        .flat_map(|f| &f.plugin_names)
        .find(|n| n.kind != "plugin key" && !n.name.contains('.'));
    if let Some(n) = short {
        return Some(refused(
            format!(
                "the {} `{}` (line {}) is not a full plugin URI (\"invalid {} URI\")",
                n.kind, n.name, n.line, n.kind
            ),
            format!(
                "use the plugin's full name (`io.containerd.grpc.v1.{}` for `{}`), or remove it",
                n.name, n.name
            ),
        ));
    }
    missing_import(missing)
}

/// Both lines stop loading at a missing literal import and refuse to start.
fn missing_import(missing: &[String]) -> Option<Outcome> {
    let m = missing.first()?;
    Some(refused(
        format!("the imported file `{m}` does not exist"),
        "create it, or remove it from `imports`",
    ))
}

/// 2.x's `LoadConfig` (cmd/containerd/server/config): it starts from the default config, whose
/// version is the newest the release reads, and merges each file into it key by key. Returns
/// the merged version and the version-2 and version-3 pins, or why it refuses and the help.
fn load_2x(files: &[Facts], r: Release, newest: i64) -> Result<Loaded, (String, String)> {
    let mut version = newest;
    let mut root = 0;
    let (mut k2, mut k3) = (None, None);
    for f in files {
        let (mut f2, mut f3) = (f.k2.clone(), f.k3.clone());
        let mut v = f.version;
        // Migrating a version-1 file renames `cri` to `io.containerd.grpc.v1.cri`.
        let renamed = if f.cri_short {
            f.k1.clone()
        } else {
            f2.clone()
        };
        if r.at_least(2, 3) {
            // 2.3 (source): a drop-in may not be newer than the main config, and each file is
            // migrated to the merged version with the plugins' own migrations, which move
            // `sandbox_image` to `pinned_images.sandbox`.
            if root == 0 {
                root = v;
            }
            if v > root {
                return Err((
                    format!("a drop-in has version {v}, higher than the main config's {root}"),
                    format!("give the drop-in `version = {root}`"),
                ));
            }
            if v < version {
                if v <= 1 {
                    f2 = renamed;
                }
                f3 = f2.clone().or(f3);
                v = version;
            }
        } else if v == 0 || v == 1 {
            // 2.0–2.2: only a version-0 or 1 file is migrated as it loads, to the version
            // merged so far; a version-2 file is merged as it is. Past the newest version there
            // is no migration to run, and containerd crashes (measured with 2.1.9: "index out
            // of range").
            if version > newest {
                return Err((
                    format!(
                        "it crashes migrating a version-{v} file to the version {version} merged before it"
                    ),
                    format!("use `version = {newest}` or lower throughout"),
                ));
            }
            if version >= 2 {
                f2 = renamed;
            }
            v = v.max(version);
        }
        k2 = f2.or(k2);
        k3 = f3.or(k3);
        // The merge keeps the last non-zero version, which can go down.
        if v != 0 {
            version = v;
        }
    }
    Ok(Loaded { version, k2, k3 })
}

/// What 2.x's loading of a chain ends with: the merged version, and the pins under the
/// version-2 and version-3 keys.
struct Loaded {
    version: i64,
    k2: Option<Pin>,
    k3: Option<Pin>,
}

/// Whether a `disabled_plugins` entry of `f` stops pods on 2.x: they need the CRI service and
/// the image and runtime plugins it is built from; a version-1 file's `cri` is renamed as it
/// loads (source; 2.x's `config dump` shows a disabled plugin's settings all the same).
fn disables_cri_2x(f: &Facts, name: &str) -> bool {
    let name = if (f.version == 0 || f.version == 1) && name == "cri" {
        "io.containerd.grpc.v1.cri"
    } else {
        name
    };
    matches!(
        name,
        "io.containerd.grpc.v1.cri"
            | "io.containerd.cri.v1.images"
            | "io.containerd.cri.v1.runtime"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::PluginName;
    use crate::schema::Schema;

    fn pin(file: usize, image: &str) -> Option<Pin> {
        Some(Pin {
            key: String::new(),
            image: image.into(),
            line: 1,
            file,
        })
    }

    fn facts(
        version: i64,
        k1: Option<Pin>,
        k2: Option<Pin>,
        k3: Option<Pin>,
        cri_full: bool,
    ) -> Facts {
        let schema = match version {
            2 => Schema::V2,
            3 => Schema::V3,
            4 => Schema::V4,
            _ => Schema::V1,
        };
        let names = [
            (k1.is_some(), "cri"),
            (cri_full || k2.is_some(), "io.containerd.grpc.v1.cri"),
        ];
        let plugin_names = names
            .into_iter()
            .filter(|(has, _)| *has)
            .map(|(_, name)| PluginName {
                kind: "plugin key",
                name: name.into(),
                line: 1,
            })
            .collect();
        Facts {
            schema,
            version,
            cri_short: k1.is_some(),
            cri_full: cri_full || k2.is_some(),
            k1,
            k2,
            k3,
            bom: false,
            refused_1x: None,
            refused_2x: None,
            unsure: None,
            plugin_names,
        }
    }

    fn image(files: &[Facts], r: &str) -> Result<Option<String>, String> {
        let o = merge(files, &[], Release::parse(r).unwrap());
        match o.refusal {
            Some(r) => Err(r.why),
            None => Ok(o.source.map(|p| p.image)),
        }
    }

    /// `ValidateV2` of 1.6.20 and 1.7.24 (measured: `plugin-uri-*` cases).
    #[test]
    fn plugin_names_each_1x_accepts() {
        let [v16, v17] = ["1.6.20", "1.7.24"].map(|v| Release::parse(v).unwrap());
        let ok = |name: &str| {
            let n = PluginName {
                kind: "plugin key",
                name: name.into(),
                line: 1,
            };
            (n.valid_for(v16), n.valid_for(v17))
        };
        assert_eq!(ok("io.containerd.grpc.v1.cri"), (true, true));
        assert_eq!(ok("containerd.grpc.v1.cri"), (true, false));
        assert_eq!(ok("IO.CONTAINERD.GRPC.V1.CRI"), (true, false));
        assert_eq!(ok("io.containerd.cri"), (false, false));
        assert_eq!(ok("cri"), (false, false));
        assert_eq!(ok("io.containerd."), (false, false));
        assert_eq!(ok("io.containerd.x."), (true, true));
    }

    /// A version-2 merge checks every file's plugin names; a version-1 merge none.
    #[test]
    fn plugin_names_are_checked_in_version_2_only() {
        let bad = |version| {
            let mut f = facts(version, None, pin(0, "a:1"), None, true);
            f.plugin_names.push(PluginName {
                kind: "disabled plugin",
                name: "foo.bar.baz.qux".into(),
                line: 2,
            });
            f
        };
        assert_eq!(image(&[bad(2)], "1.6.20"), Ok(Some("a:1".into())));
        assert!(
            image(&[bad(2)], "1.7.24")
                .unwrap_err()
                .contains("foo.bar.baz.qux")
        );
        assert_eq!(image(&[bad(2)], "2.1.9"), Ok(Some("a:1".into())));
        let v1 = [facts(0, None, None, None, false), bad(0)];
        assert_eq!(image(&v1, "1.7.24"), Ok(None));
    }

    /// The measurements t1–t13 from the design notes, as containerd reported them.
    #[test]
    fn follows_measured_chains() {
        let main_v2 = facts(2, None, pin(0, "main:2"), None, false);
        // t1: a version-3 drop-in beside a version-2 main file.
        let t1 = [main_v2.clone(), facts(3, None, None, None, false)];
        assert_eq!(image(&t1, "1.6.20"), Ok(Some("main:2".into())));
        assert!(image(&t1, "1.7.24").is_err());
        assert_eq!(image(&t1, "2.1.9"), Ok(None));
        // t2: version-3 main, version-2 drop-in setting sandbox_image: migrated as it loads.
        let t2 = [
            facts(3, None, None, pin(0, "main:3"), false),
            facts(2, None, pin(1, "drop:2"), None, false),
        ];
        for r in ["1.6.20", "1.7.24", "2.1.9"] {
            assert_eq!(image(&t2, r), Ok(Some("drop:2".into())), "{r}");
        }
        // t3: a drop-in that touches the CRI plugin erases the pin on 1.x only.
        let t3 = [main_v2.clone(), facts(2, None, None, None, true)];
        assert_eq!(image(&t3, "1.7.24"), Ok(None));
        assert_eq!(image(&t3, "2.1.9"), Ok(Some("main:2".into())));
        // t9: version-1 main, version-2 drop-in: 1.x refuses, 2.1 honours the main pin.
        let t9 = [
            facts(0, pin(0, "main:1"), None, None, false),
            facts(2, None, None, None, true),
        ];
        assert!(image(&t9, "1.7.24").is_err());
        assert_eq!(image(&t9, "2.1.9"), Ok(Some("main:1".into())));
        // t10: sandbox_image in the main file beats pinned_images.sandbox in a drop-in.
        let t10 = [
            main_v2.clone(),
            facts(2, None, None, pin(1, "drop:3"), false),
        ];
        for r in ["1.6.20", "1.7.24", "2.1.9"] {
            assert_eq!(image(&t10, r), Ok(Some("main:2".into())), "{r}");
        }
        // t12: version-2 main, version-1 drop-in.
        let t12 = [main_v2, facts(0, pin(1, "drop:1"), None, None, false)];
        assert!(image(&t12, "1.6.20").is_err());
        assert_eq!(image(&t12, "2.1.9"), Ok(Some("drop:1".into())));
        // r3: a version-2 drop-in migrated into a version-3 merge keeps the version at 3, so the
        // main file's leftover `sandbox_image` is not migrated over the drop-in's pin.
        let r3 = [
            facts(3, None, pin(0, "main-leftover:2"), pin(0, "main:3"), false),
            facts(2, None, pin(1, "drop:2"), None, false),
        ];
        for r in ["1.6.20", "1.7.24", "2.1.9"] {
            assert_eq!(image(&r3, r), Ok(Some("drop:2".into())), "{r}");
        }
        // t14/t15: in a version-1 file 1.x reads only `[plugins.cri]`; 2.1 reads neither.
        let t14 = [facts(0, None, pin(0, "full:1"), None, false)];
        assert_eq!(image(&t14, "1.6.20"), Ok(None));
        assert_eq!(image(&t14, "1.7.24"), Ok(None));
        assert_eq!(image(&t14, "2.1.9"), Ok(None));
        let t15 = [facts(0, pin(0, "short:1"), pin(0, "full:1"), None, false)];
        assert_eq!(image(&t15, "1.7.24"), Ok(Some("short:1".into())));
        assert_eq!(image(&t15, "2.1.9"), Ok(None));
        // A missing literal import: every daemon refuses to start.
        let one = [facts(2, None, None, None, false)];
        for r in ["1.7", "2.1"] {
            let o = merge(&one, &["x.toml".into()], Release::parse(r).unwrap());
            assert!(o.refusal.is_some(), "{r}");
        }
    }

    /// 2.0–2.2 migrate only version-0/1 files as they load, and the CRI plugin's migration runs
    /// when the merged version ends below 3 (measured with 2.1.9: `v2-*-chain-*` cases).
    #[test]
    fn two_x_migrates_old_files_and_then_the_merge() {
        let v21 = "2.1.9";
        // A version-1 main pin, then a version-2 drop-in's: the drop-in's wins.
        let a = [
            facts(0, pin(0, "main:1"), None, None, false),
            facts(2, None, pin(1, "drop:2"), None, false),
        ];
        assert_eq!(image(&a, v21), Ok(Some("drop:2".into())));
        // A version-3 main pin beats a version-1 drop-in's `[plugins.cri]`, migrated to 3.
        let b = [
            facts(3, None, None, pin(0, "main:3"), false),
            facts(0, pin(1, "drop:1"), None, None, false),
        ];
        assert_eq!(image(&b, v21), Ok(Some("main:3".into())));
        // A version-1 drop-in beside a version-2 main file is migrated to 2 and then read.
        let c = [
            facts(2, None, None, None, false),
            facts(1, pin(1, "drop:1"), None, None, false),
        ];
        assert_eq!(image(&c, v21), Ok(Some("drop:1".into())));
        // ... and beside a version-3 one to 3: unread.
        let d = [
            facts(3, None, None, None, false),
            facts(1, pin(1, "drop:1"), None, None, false),
        ];
        assert_eq!(image(&d, v21), Ok(None));
        // A version-1 drop-in after a version-6 main config crashes 2.1.9.
        let crash = [
            facts(6, None, None, None, false),
            facts(1, pin(1, "drop:1"), None, None, false),
        ];
        assert!(image(&crash, v21).unwrap_err().contains("crashes"));
        // 2.3 (source) refuses a drop-in newer than the main config.
        let e = [
            facts(2, None, pin(0, "main:2"), None, false),
            facts(3, None, None, None, false),
        ];
        assert!(image(&e, "2.3.0").is_err());
    }
}
