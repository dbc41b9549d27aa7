//! Asks real containerd builds what they make of our fixtures, before and after `pausectl set`.
//!
//! Builds come from `scripts/fetch-containerd.sh` (Debian's 1.6, 1.7 and 2.x, unpacked into
//! `target/containerd`, or `$PAUSECTL_CONTAINERD_CACHE`). Without them the test says it skips;
//! with `PAUSECTL_REQUIRE_CONTAINERD=1` (set by `.ci/run`) it fails instead.
//!
//! For every case in `testdata/cases` whose config is valid, every default config in
//! `testdata/defaults`, and every `.toml` in `../shared/real-configs` when that folder exists:
//! - `pausectl show --json --containerd-version V` reports the image that
//!   `containerd --config FILE config dump` of release V reports (or that V refuses the file);
//! - after `pausectl set --image REF`, every release that reads the file's schema reports REF.

mod common;

use common::{Build, builds, copy_tree};
use pausectl::{ImageRef, Registry, Release, Schema};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use toml_edit::ImDocument;

const REF: &str = "registry.local:5000/pause:3.10";
const REGISTRY: &str = "mirror.local:5000/k8s";

/// Prints past libtest's output capture, so that `cargo test` shows it (skips and counts).
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "tests/containerd.rs: {line}");
}

/// What containerd makes of a config: `Ok(image)`, or `Err(message)` when it refuses the file
/// (or, with the CRI plugin disabled, has no CRI configuration to show).
fn dump(build: &Build, config: &Path) -> Result<String, String> {
    let out = Command::new(&build.bin)
        .arg("--config")
        .arg(config)
        .args(["config", "dump"])
        .current_dir(config.parent().unwrap())
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    // 2.x's `config dump` goes on past a missing import, which stops the daemon. Start the
    // daemon with root and state the same: it checks them right after loading the config and
    // exits, having created nothing. (Only a config that imports can miss an import.)
    let imports = fs::read(config).is_ok_and(|t| {
        t.windows(7).any(|w| w.eq_ignore_ascii_case(b"imports"))
            || t.windows(2).any(|w| w == b"\\u" || w == b"\\U")
    });
    if build.release.is_2x() && imports {
        let same = config.with_file_name("same-root-and-state");
        let daemon = Command::new(&build.bin)
            .arg("--config")
            .arg(config)
            .arg("--root")
            .arg(&same)
            .arg("--state")
            .arg(&same)
            .current_dir(config.parent().unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&daemon.stderr);
        if !stderr.contains("root and state must be different paths") {
            return Err(stderr.trim().to_string());
        }
        assert!(!same.exists(), "the probe created {}", same.display());
    }
    let text = String::from_utf8(out.stdout).unwrap();
    let doc = ImDocument::parse(text.as_str()).expect("containerd prints TOML");
    let path: &[&str] = if build.release.is_2x() {
        &[
            "plugins",
            "io.containerd.cri.v1.images",
            "pinned_images",
            "sandbox",
        ]
    } else {
        &["plugins", "io.containerd.grpc.v1.cri", "sandbox_image"]
    };
    let mut item = doc.as_item();
    for key in path {
        item = item.get(key).unwrap_or(&toml_edit::Item::None);
    }
    item.as_str()
        .map(str::to_string)
        .ok_or_else(|| "no CRI plugin in the dump (disabled_plugins)".to_string())
}

fn pausectl(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = common::pausectl(dir, args);
    let s = |b: Vec<u8>| String::from_utf8_lossy(&b).to_string();
    (
        out.status.code().unwrap_or(-1),
        s(out.stdout),
        s(out.stderr),
    )
}

/// Checks `show` against containerd for one config; returns a problem, if any.
fn agree(build: &Build, config: &Path) -> Option<String> {
    let version = build.release.to_string();
    let (code, stdout, stderr) = pausectl(
        &[
            "show",
            "--json",
            "--containerd-version",
            &version,
            "--config",
            "config.toml",
        ],
        config.parent().unwrap(),
    );
    let truth = dump(build, config);
    if code != 0 {
        return truth
            .is_ok()
            .then(|| format!("pausectl show failed but containerd {version} reads it: {stderr}"));
    }
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let ours = json["image"].as_str();
    let cannot_tell = warns_cannot_tell(&json);
    let warns_disabled = warns(&json, "cri-disabled");
    match (&truth, ours) {
        (Ok(theirs), Some(ours)) if theirs == ours => None,
        (Err(_), None) => None,
        // 2.x's dump shows a disabled plugin's settings all the same (its server builds the
        // plugin graph without them: `V2DisabledFilter`).
        (Ok(_), None) if build.release.is_2x() && warns_disabled => None,
        // pausectl may say that it cannot tell (never guess), as long as it says so.
        (_, None) if cannot_tell => None,
        _ => Some(format!(
            "containerd {version}: {truth:?}, pausectl show: {ours:?}"
        )),
    }
}

/// Whether `pausectl show` says it cannot tell which image release `build` uses for `config`.
fn cannot_tell(build: &Build, config: &Path) -> bool {
    says_cannot_tell(Some(build.release), config.parent().unwrap())
}

/// Whether `pausectl show` (given release `r`, or none) says it cannot tell which image
/// containerd uses for the config in `dir`.
fn says_cannot_tell(r: Option<Release>, dir: &Path) -> bool {
    let version = r.map(|r| r.to_string());
    let mut args = vec!["show", "--json", "--config", "config.toml"];
    if let Some(v) = &version {
        args.extend(["--containerd-version", v]);
    }
    let (_, stdout, _) = pausectl(&args, dir);
    serde_json::from_str::<serde_json::Value>(&stdout)
        .is_ok_and(|j| j["image"].is_null() && warns_cannot_tell(&j))
}

/// Whether `show --json` output has the warning that pausectl cannot tell the image.
fn warns_cannot_tell(json: &serde_json::Value) -> bool {
    warns(json, "cannot-tell")
}

/// Whether `--json` output has a warning of this kind.
fn warns(json: &serde_json::Value, kind: &str) -> bool {
    json["warning_details"]
        .as_array()
        .is_some_and(|w| w.iter().any(|w| w["kind"] == kind))
}

/// Whether pausectl says release `r` refuses the config in `dir` (with its imports); `agree`
/// checks that claim against containerd.
fn refuses(r: Release, dir: &Path) -> bool {
    let v = r.to_string();
    let (code, stdout, _) = pausectl(
        &[
            "show",
            "--json",
            "--containerd-version",
            &v,
            "--config",
            "config.toml",
        ][..],
        dir,
    );
    code == 0
        && serde_json::from_str::<serde_json::Value>(&stdout).is_ok_and(|j| j["image"].is_null())
}

/// Releases that read a schema (and so must honour our pin).
fn reads(schema: Schema, r: Release) -> bool {
    match schema {
        Schema::V1 | Schema::V2 => true,
        // 1.6 before 1.6.32 reads either as version 2.
        Schema::V3 => r.is_2x() || r.reads_v3_as_v2(),
        Schema::V4 => r.at_least(2, 3) || r.reads_v3_as_v2(),
    }
}

struct Input {
    name: String,
    text: Vec<u8>,
    /// A case's `files/` (drop-ins), copied beside config.toml.
    files: Option<PathBuf>,
    /// The `--containerd-version` the case was run with, if any.
    release: Option<Release>,
    /// The `--drop-in` the case was run with, if any.
    drop_in: Option<String>,
    /// The case expects `set` to fail (exit 2).
    fails: bool,
}

fn inputs() -> Vec<Input> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut all = Vec::new();
    for case in common::cases() {
        let args = fs::read_to_string(case.join("args")).unwrap_or_default();
        let args: Vec<&str> = args.lines().collect();
        let Ok(text) = fs::read(case.join("in.toml")) else {
            continue;
        };
        let release = args
            .iter()
            .position(|a| *a == "--containerd-version")
            .and_then(|i| Release::parse(args.get(i + 1)?));
        let files = Some(case.join("files")).filter(|f| f.is_dir());
        let drop_in = args
            .iter()
            .position(|a| *a == "--drop-in")
            .and_then(|i| args.get(i + 1))
            .map(|s| s.to_string());
        all.push(Input {
            name: format!("cases/{}", case.file_name().unwrap().to_string_lossy()),
            text,
            files,
            release,
            drop_in,
            fails: fs::read_to_string(case.join("exit")).is_ok_and(|e| e.trim() == "2"),
        });
    }
    let mut dirs = vec![root.join("testdata/defaults")];
    dirs.push(root.join("../shared/real-configs"));
    for dir in dirs {
        for entry in fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let name = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                all.push(Input {
                    name,
                    text: fs::read(&path).unwrap(),
                    files: None,
                    release: None,
                    drop_in: None,
                    fails: false,
                });
            }
        }
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}

/// The real builds; `None` (the test says SKIPPED) when there are none, which fails instead
/// under `PAUSECTL_REQUIRE_CONTAINERD=1` (CI).
fn builds_or_skip(test: &str) -> Option<Vec<Build>> {
    let builds = builds();
    if builds.is_empty() {
        let required = std::env::var("PAUSECTL_REQUIRE_CONTAINERD").as_deref() == Ok("1");
        assert!(
            !required,
            "PAUSECTL_REQUIRE_CONTAINERD=1 but no containerd builds were found"
        );
        say(&format!(
            "SKIPPED {test}: no containerd builds in target/containerd; run scripts/fetch-containerd.sh"
        ));
        return None;
    }
    Some(builds)
}

#[test]
fn pausectl_agrees_with_real_containerd() {
    let Some(builds) = builds_or_skip("pausectl_agrees_with_real_containerd") else {
        return;
    };
    let names: Vec<String> = builds.iter().map(|b| b.release.to_string()).collect();
    say(&format!("containerd releases: {}", names.join(", ")));

    let expected = ImageRef::parse(REF).unwrap().pinned();
    let (mut shows, mut pins, mut registries) = (0, 0, 0);
    let mut problems = Vec::new();
    for input in inputs() {
        // Error cases: pausectl refuses them (and the cases test checks that it says why).
        let Ok(text) = String::from_utf8(input.text.clone()) else {
            continue;
        };
        let Ok(report) = pausectl::inspect(&text, None) else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        fs::write(&config, &input.text).unwrap();
        if let Some(files) = &input.files {
            copy_tree(files, dir.path());
        }
        for build in &builds {
            shows += 1;
            if let Some(p) = agree(build, &config) {
                problems.push(format!("{} (before set): {p}", input.name));
            }
            // `set --registry R --containerd-version V`: V then uses R + what it used before.
            let Ok(before) = dump(build, &config) else {
                continue;
            };
            let copy = tempfile::tempdir().unwrap();
            fs::write(copy.path().join("config.toml"), &input.text).unwrap();
            if let Some(files) = &input.files {
                copy_tree(files, copy.path());
            }
            let version = build.release.to_string();
            let args = [
                "set",
                "--registry",
                REGISTRY,
                "--containerd-version",
                &version,
                "--quiet",
                "--force",
                "--config",
                "config.toml",
            ];
            let (code, _, stderr) = pausectl(&args, copy.path());
            let registry = Registry::parse(REGISTRY).unwrap();
            registries += 1;
            let after = dump(build, &copy.path().join("config.toml"));
            match ImageRef::parse_lenient(&before) {
                // A placeholder (`SANDBOX_IMAGE`) has no repository to keep: exit 2, untouched.
                Err(_) if code == 2 && fs::read(copy.path().join("config.toml")).unwrap() == input.text => {}
                // What pausectl cannot tell it refuses to edit: exit 2, untouched, saying why.
                _ if code == 2
                    && fs::read(copy.path().join("config.toml")).unwrap() == input.text
                    && cannot_tell(build, &config) => {}
                Ok(r) if code == 0 && after == Ok(r.with_registry(&registry).pinned()) => {}
                want => problems.push(format!(
                    "{}: set --registry on {version}: exit {code} ({stderr}), containerd then reports {after:?}; before it used {before:?} ({want:?})",
                    input.name
                )),
            }
        }
        // `set` as the case ran it (with its release, if it gave one), then ask each release.
        let mut args = vec![
            "set",
            "--image",
            REF,
            "--quiet",
            "--force",
            "--config",
            "config.toml",
        ];
        let version = input.release.map(|r| r.to_string());
        if let Some(v) = &version {
            args.extend(["--containerd-version", v]);
        }
        if let Some(d) = &input.drop_in {
            args.extend(["--drop-in", d]);
        }
        // Every build refusing the config as it is (checked before `set` runs).
        let none_loads =
            input.release.is_none() && builds.iter().all(|b| dump(b, &config).is_err());
        let (code, _, stderr) = pausectl(&args, dir.path());
        if code != 0 {
            // Right only when the case's release refuses the file (exit 2, file untouched);
            // the checks above confirmed that claim against containerd.
            // Or when pausectl says it cannot tell what containerd would use.
            let refused = input.release.is_some_and(|r| refuses(r, dir.path()))
                || says_cannot_tell(input.release, dir.path())
                || none_loads;
            if !(refused || input.fails) || code != 2 || fs::read(&config).unwrap() != input.text {
                problems.push(format!("{}: set failed: {stderr}", input.name));
            }
            continue;
        }
        for build in &builds {
            shows += 1;
            if let Some(p) = agree(build, &config) {
                problems.push(format!("{} (after set): {p}", input.name));
            }
            // A release refuses some files whatever the pin (a byte-order mark on 2.x,
            // `[plugins.cri]` in a version-2 file on 1.x); `agree` checked that show says so.
            let refused = refuses(build.release, dir.path());
            let same_line = input
                .release
                .is_none_or(|r| r.is_2x() == build.release.is_2x());
            if refused || !same_line || !reads(report.schema, build.release) {
                continue;
            }
            let truth = dump(build, &config);
            if truth
                .as_ref()
                .is_err_and(|e| e.starts_with("no CRI plugin"))
            {
                continue; // CRI disabled: no pin to see; `agree` checked that show warns
            }
            pins += 1;
            match truth {
                Ok(image) if image == expected => {}
                other => problems.push(format!(
                    "{}: after set, containerd {} reports {other:?}, expected {expected}",
                    input.name, build.release
                )),
            }
        }
    }
    say(&format!(
        "{shows} show checks, {pins} pin checks, {registries} --registry checks, {} problems",
        problems.len()
    ));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `set --backup` on a config whose pin is in a drop-in under a `conf.d/*` glob: every release
/// then reports the new image, `conf.d/` holds only the drop-in (a backup there would be loaded
/// after it: the control below shows that containerd does load one), and a second run changes
/// nothing and makes no backup.
#[test]
fn backup_under_a_conf_d_glob_is_never_loaded() {
    let Some(builds) = builds_or_skip("backup_under_a_conf_d_glob_is_never_loaded") else {
        return;
    };
    for build in &builds {
        let (version, key, old) = if build.release.is_2x() {
            (
                3,
                "[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox",
                "registry.k8s.io/pause:3.10",
            )
        } else {
            (
                2,
                "[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image",
                "registry.k8s.io/pause:3.8",
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.toml");
        fs::write(
            &config,
            format!("version = {version}\nimports = [\"conf.d/*\"]\n"),
        )
        .unwrap();
        fs::create_dir(dir.path().join("conf.d")).unwrap();
        let drop_in = format!("version = {version}\n{key} = \"{old}\"\n");
        fs::write(dir.path().join("conf.d/20-cri.toml"), &drop_in).unwrap();
        let r = build.release.to_string();

        // The control: a copy of the old drop-in under the glob wins over the drop-in.
        fs::write(
            dir.path().join("conf.d/20-cri.toml.bak"),
            drop_in.replace(old, "old.local/pause:1"),
        )
        .unwrap();
        assert_eq!(
            dump(build, &config).as_deref(),
            Ok("old.local/pause:1"),
            "containerd {r}"
        );
        fs::remove_file(dir.path().join("conf.d/20-cri.toml.bak")).unwrap();

        let args = [
            "set",
            "--registry",
            "registry.local:5000",
            "--backup",
            "--containerd-version",
            &r,
            "--config",
            "config.toml",
        ];
        let (code, _, err) = pausectl(&args, dir.path());
        assert_eq!(code, 0, "containerd {r}: {err}");
        let new = format!("registry.local:5000/{}", &old["registry.k8s.io/".len()..]);
        assert_eq!(
            dump(build, &config).as_deref(),
            Ok(new.as_str()),
            "containerd {r}: {err}"
        );
        assert_eq!(
            common::list_tree(&dir.path().join("conf.d")),
            ["20-cri.toml"],
            "containerd {r}"
        );
        let files = common::list_tree(dir.path());
        assert!(
            files.contains(&"20-cri.toml.bak".to_string()),
            "containerd {r}: {files:?}"
        );

        let (code, _, err) = pausectl(&args, dir.path());
        assert_eq!(code, 0, "containerd {r}: {err}");
        assert!(err.contains("nothing to change"), "containerd {r}: {err}");
        assert_eq!(common::list_tree(dir.path()), files, "containerd {r}");
        assert_eq!(
            dump(build, &config).as_deref(),
            Ok(new.as_str()),
            "containerd {r}"
        );
        say(&format!(
            "containerd {r} reports {new} after set --backup under conf.d/*; no file of pausectl's is loaded"
        ));
    }
}

/// The release read from each real build's file, without starting it, is the one its
/// `--version` prints; with a copy of the build on PATH, `show` reports that release, says it
/// read it from the file, and caches nothing (there is nothing to save).
#[test]
fn release_read_from_the_binary_is_what_version_prints() {
    let Some(builds) = builds_or_skip("release_read_from_the_binary_is_what_version_prints") else {
        return;
    };
    for build in &builds {
        assert_eq!(
            pausectl::disk::containerd_release_from_binary(&build.bin),
            Some(build.release),
            "{}",
            build.bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("bin")).unwrap();
        let copy = dir.path().join("bin/containerd");
        fs::copy(&build.bin, &copy).unwrap();
        fs::write(dir.path().join("config.toml"), "version = 2\n").unwrap();
        let args = ["-v", "show", "--json", "--config", "config.toml"];
        let out = common::run_bounded(
            common::pausectl_command(dir.path(), &args)
                .env("PATH", dir.path().join("bin"))
                .env("PAUSECTL_CACHE_DIR", dir.path().join("cache"))
                .env("DPKG_ADMINDIR", dir.path().join("no-dpkg")),
        );
        let trace = String::from_utf8_lossy(&out.stderr);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            json["containerd_version"],
            build.release.to_string(),
            "{trace}"
        );
        assert!(trace.contains("read from its file"), "{trace}");
        // Nothing was cached: the binary is read again on every run.
        assert!(!dir.path().join("cache").exists(), "{trace}");
    }
}
