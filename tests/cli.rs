//! Whole-command behaviour that the one-folder-per-case harness cannot express: running twice,
//! mtimes, symlinks, backups, failed writes.

mod common;

use common::{cases, copy_tree, pausectl};
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::PathBuf;
use std::process::{Command, Output};

const REF: &str = "registry.local:5000/pause:3.10";

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// For every case that writes a config: a second identical `set` reports `changed: false`,
/// leaves bytes and mtime alone, and `--check` then exits 0.
#[test]
fn second_set_changes_nothing() {
    let mut checked = 0;
    for case in cases() {
        let args = fs::read_to_string(case.join("args")).unwrap();
        let args: Vec<&str> = args.lines().collect();
        let writes = args[0] == "set"
            && !args
                .iter()
                .any(|a| ["--dry-run", "--check", "-"].contains(a));
        let exit = fs::read_to_string(case.join("exit")).unwrap_or_default();
        if !writes || exit.trim() != "0" {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        // Extra files first (`files/`), then `in.toml` as config.toml; --config names the file.
        copy_tree(&case.join("files"), dir.path());
        let name = args
            .iter()
            .position(|a| *a == "--config")
            .map_or("config.toml", |i| args[i + 1]);
        let config = dir.path().join(name);
        if let Ok(input) = fs::read(case.join("in.toml")) {
            fs::write(dir.path().join("config.toml"), input).unwrap();
        }
        let mut first: Vec<&str> = args.clone();
        if !first.contains(&"--json") {
            first.push("--json");
        }
        assert_eq!(
            pausectl(dir.path(), &first).status.code(),
            Some(0),
            "{}",
            case.display()
        );
        let bytes = fs::read(&config).unwrap();
        let mtime = fs::metadata(&config).unwrap().modified().unwrap();
        let files = common::list_tree(dir.path());
        std::thread::sleep(std::time::Duration::from_millis(10));

        let again = pausectl(dir.path(), &first);
        let j = json(&again);
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(j["changed"], false, "{name}");
        assert_eq!(j["written"], false, "{name}");
        assert_eq!(fs::read(&config).unwrap(), bytes, "{name}");
        assert_eq!(
            fs::metadata(&config).unwrap().modified().unwrap(),
            mtime,
            "{name}"
        );
        let mut check = args.clone();
        check.push("--check");
        assert_eq!(
            pausectl(dir.path(), &check).status.code(),
            Some(0),
            "{name}"
        );
        // Nothing new either: a run that changes nothing makes no backup.
        assert_eq!(common::list_tree(dir.path()), files, "{name}");
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} cases checked");
}

#[test]
fn symlinked_config_keeps_its_link_and_backup_keeps_the_original() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("real")).unwrap();
    let original = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.8\"\n";
    fs::write(dir.path().join("real/config.toml"), original).unwrap();
    fs::set_permissions(
        dir.path().join("real/config.toml"),
        fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    symlink("real/config.toml", dir.path().join("link.toml")).unwrap();
    symlink("link.toml", dir.path().join("chain.toml")).unwrap();

    let out = pausectl(
        dir.path(),
        &[
            "set",
            "--image",
            REF,
            "--config",
            "chain.toml",
            "--backup",
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        fs::symlink_metadata(dir.path().join("chain.toml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        fs::symlink_metadata(dir.path().join("link.toml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let after = fs::read_to_string(dir.path().join("real/config.toml")).unwrap();
    assert_eq!(after, original.replace("registry.k8s.io/pause:3.8", REF));
    let meta = fs::metadata(dir.path().join("real/config.toml")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // The backup sits beside the file that was edited, with the original bytes.
    assert_eq!(
        fs::read_to_string(dir.path().join("real/config.toml.bak")).unwrap(),
        original
    );
    assert!(
        json(&out)["backup"]
            .as_str()
            .unwrap()
            .ends_with("real/config.toml.bak")
    );
    // No temp file and no lock file: only the config and its backup.
    let mut names: Vec<_> = fs::read_dir(dir.path().join("real"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["config.toml", "config.toml.bak"]);
}

#[test]
fn dangling_symlink_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    symlink("missing.toml", dir.path().join("config.toml")).unwrap();
    let out = pausectl(
        dir.path(),
        &["set", "--image", REF, "--config", "config.toml"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!dir.path().join("missing.toml").exists());
}

/// A directory we may not write to: exit 2, the error names the path, the file is untouched and
/// no temp file is left. (Root ignores permissions, so this runs the check as far as it can.)
#[test]
fn failed_write_leaves_the_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("etc");
    fs::create_dir(&sub).unwrap();
    let original = "version = 2\n";
    fs::write(sub.join("config.toml"), original).unwrap();
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o555)).unwrap();
    let writable = fs::File::create(sub.join("probe")).is_ok();
    let out = pausectl(
        dir.path(),
        &["set", "--image", REF, "--config", "etc/config.toml"],
    );
    fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
    if writable {
        println!("SKIPPED: running as root, a read-only directory is still writable");
        return;
    }
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("etc/config.toml") && stderr.contains("left as it was"),
        "{stderr}"
    );
    assert_eq!(
        fs::read_to_string(sub.join("config.toml")).unwrap(),
        original
    );
    assert_eq!(fs::read_dir(&sub).unwrap().count(), 1);
}

#[test]
fn stdin_check_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = pausectl(dir.path(), &["set", "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("pausectl set --registry registry.local:5000 --dry-run"),
        "{help}"
    );
    let out = pausectl(dir.path(), &["--version"]);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("pausectl "));
    let out = pausectl(dir.path(), &["show", "--containerd-version", "1.x"]);
    assert_eq!(out.status.code(), Some(2));
}

/// `--containerd-version auto` (the default) reads `containerd --version` from PATH, in
/// upstream's and Debian's formats; without one the release is unknown.
#[test]
fn auto_detects_the_release_from_path() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("config.toml"), "version = 2\n").unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    for (line, want) in [
        (
            "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376",
            "2.1.4",
        ),
        (
            "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3",
            "1.6.20",
        ),
    ] {
        let script = bin.join("containerd");
        fs::write(&script, format!("#!/bin/sh\necho '{line}'\n")).unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_pausectl"))
            .env(common::NO_VERIFY, "1")
            .args(["show", "--json", "--config", "config.toml"])
            .current_dir(dir.path())
            .env("PATH", &bin)
            .output()
            .unwrap();
        let j = json(&out);
        assert_eq!(j["containerd_version"], want);
        assert!(
            j["image"]
                .as_str()
                .unwrap()
                .starts_with("registry.k8s.io/pause:3.")
        );
    }
    let out = pausectl(dir.path(), &["show", "--json", "--config", "config.toml"]);
    assert_eq!(json(&out)["containerd_version"], serde_json::Value::Null);
    assert_eq!(json(&out)["image"], serde_json::Value::Null);
}

/// `bin/containerd`, a script that says it is 2.1.4 and adds a line to `ran` each time it
/// runs: the script and `ran`.
fn fake_containerd(bin: &std::path::Path, ran: &std::path::Path) -> (PathBuf, PathBuf) {
    fs::create_dir_all(bin).unwrap();
    let containerd = bin.join("containerd");
    let script = format!(
        "#!/bin/sh\necho x >> '{}'\necho 'containerd github.com/containerd/containerd/v2 v2.1.4 x'\n",
        ran.display()
    );
    fs::write(&containerd, script).unwrap();
    fs::set_permissions(&containerd, fs::Permissions::from_mode(0o755)).unwrap();
    (containerd, ran.to_path_buf())
}

/// Gives `file` a modification time a minute from now, as a replaced binary would have.
fn modified_later(file: &std::path::Path) {
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
    fs::File::options()
        .write(true)
        .open(file)
        .unwrap()
        .set_modified(later)
        .unwrap();
}

/// A containerd that dpkg installed: its release comes from dpkg's database (DPKG_ADMINDIR),
/// and the binary is not run; once the file is newer than the package's file list (replaced
/// by hand), or not the file the package lists, it is run again.
#[test]
fn release_from_dpkg_without_running_containerd() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("config.toml"), "version = 2\n").unwrap();
    let bin = root.join("usr/bin");
    let (containerd, ran) = fake_containerd(&bin, &root.join("ran"));
    let admin = root.join("dpkg");
    fs::create_dir_all(admin.join("info")).unwrap();
    fs::write(
        admin.join("status"),
        "Package: runc\nStatus: install ok installed\nVersion: 1.1.12\n\n\
         Package: containerd\nStatus: install ok installed\nVersion: 1.7.24~ds1-6+deb13u1\n",
    )
    .unwrap();
    let list = admin.join("info/containerd.list");
    fs::write(&list, format!("/.\n/usr\n{}\n", containerd.display())).unwrap();
    let show = |admin: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_pausectl"))
            .env(common::NO_VERIFY, "1")
            .env("DPKG_ADMINDIR", admin)
            .env("PATH", &bin)
            .args(["-v", "show", "--json", "--config", "config.toml"])
            .current_dir(root)
            .output()
            .unwrap();
        (
            json(&out)["containerd_version"].clone(),
            common::stderr(&out),
        )
    };
    let (version, trace) = show(&admin);
    assert_eq!(version, "1.7.24", "{trace}");
    assert!(trace.contains("from dpkg: package containerd"), "{trace}");
    assert!(!ran.exists(), "containerd was run");

    // Not the file the package installed: run it.
    fs::write(&list, "/usr/sbin/containerd\n").unwrap();
    assert_eq!(show(&admin).0, "2.1.4");
    assert!(ran.exists());
    fs::remove_file(&ran).unwrap();

    // The package's file, replaced after the install: run it.
    fs::write(&list, format!("{}\n", containerd.display())).unwrap();
    modified_later(&containerd);
    assert_eq!(show(&admin).0, "2.1.4");
    assert!(ran.exists());
}

/// A containerd that no package installed is run for its `--version` once: later runs take the
/// answer from the cache (`PAUSECTL_CACHE_DIR`, else /run/pausectl, emptied at boot) while the
/// file is unchanged, and run it again once it changes. A refused run leaves no cache, and a
/// cache that others can write is not believed.
#[test]
fn release_from_version_is_kept_until_the_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::write(root.join("config.toml"), "version = 2\n").unwrap();
    fs::write(root.join("bad.toml"), "version = \n").unwrap();
    let (bin, admin, cache) = (root.join("bin"), root.join("dpkg"), root.join("cache"));
    fs::create_dir_all(admin.join("info")).unwrap();
    let (containerd, ran) = fake_containerd(&bin, &root.join("ran"));
    let run = |config: &str, cache: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_pausectl"))
            .env(common::NO_VERIFY, "1")
            .env("DPKG_ADMINDIR", &admin)
            .env("PAUSECTL_CACHE_DIR", cache)
            .env("PATH", &bin)
            .args(["-v", "show", "--json", "--config", config])
            .current_dir(root)
            .output()
            .unwrap();
        let version = match out.status.code() {
            Some(0) => json(&out)["containerd_version"].clone(),
            _ => serde_json::Value::Null,
        };
        (out.status.code(), version, common::stderr(&out))
    };
    let runs = || fs::read_to_string(&ran).map_or(0, |t| t.lines().count());

    // A refused run learns the release but keeps nothing.
    assert_eq!(run("bad.toml", &cache).0, Some(2));
    assert_eq!(runs(), 1);
    assert!(!cache.exists(), "a refused run created {}", cache.display());

    let (code, version, trace) = run("config.toml", &cache);
    assert_eq!(
        (code, version.as_str()),
        (Some(0), Some("2.1.4")),
        "{trace}"
    );
    assert_eq!(runs(), 2);
    let (_, version, trace) = run("config.toml", &cache);
    assert_eq!(version, "2.1.4");
    assert!(trace.contains("earlier since boot"), "{trace}");
    assert_eq!(runs(), 2, "containerd was run again");

    // Replaced (a newer modification time): run again.
    modified_later(&containerd);
    assert_eq!(run("config.toml", &cache).1, "2.1.4");
    assert_eq!(runs(), 3);
    run("config.toml", &cache);
    assert_eq!(runs(), 3);

    // A cache anyone can write is not believed.
    let file = cache.join("containerd-release");
    fs::set_permissions(&file, fs::Permissions::from_mode(0o666)).unwrap();
    run("config.toml", &cache);
    assert_eq!(runs(), 4);

    // A wrapper (a link to a file of another name, as snap's is) keeps its identity across an
    // upgrade of what it starts: it is run every time.
    let wrapper = root.join("snap");
    fs::rename(&containerd, &wrapper).unwrap();
    std::os::unix::fs::symlink(&wrapper, &containerd).unwrap();
    let cache = root.join("cache-wrapper");
    for n in [5, 6] {
        assert_eq!(run("config.toml", &cache).1, "2.1.4");
        assert_eq!(runs(), n);
    }
}

/// `completions` for each shell, `man`, and an example in every subcommand's help.
#[test]
fn completions_man_and_help() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef pausectl"),
        ("fish", "complete -c pausectl"),
    ] {
        let out = pausectl(dir.path(), &["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(
            text.contains(marker)
                && text.contains("registry")
                && text.contains("containerd-version"),
            "{shell}"
        );
    }
    assert_eq!(
        pausectl(dir.path(), &["completions", "tcsh"]).status.code(),
        Some(2)
    );
    let man = pausectl(dir.path(), &["man"]);
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(
        man.contains(".TH pausectl 1") && man.contains("completions"),
        "{man}"
    );
    for sub in ["set", "show", "completions", "man"] {
        let out = pausectl(dir.path(), &[sub, "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        // An example line of its own, under the heading, that runs this subcommand.
        let example = format!("\n  pausectl {sub}");
        assert!(
            help.contains("\nExample") && help.contains(&example),
            "{sub}: {help}"
        );
    }
}

/// `--verbose` says which release, which files, which version, which keys, and what it writes.
#[test]
fn verbose_traces_what_it_reads_and_decides() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("conf.d")).unwrap();
    fs::write(
        dir.path().join("config.toml"),
        "version = 2\nimports = [\"conf.d/*.toml\"]\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.8\"\n",
    )
    .unwrap();
    fs::write(dir.path().join("conf.d/a.toml"), "version = 2\n").unwrap();
    let out = pausectl(
        dir.path(),
        &[
            "set",
            "-v",
            "--registry",
            "r.local",
            "--config",
            "config.toml",
            "--containerd-version",
            "1.7",
        ],
    );
    assert_eq!(out.status.code(), Some(0));
    let trace: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| {
            l.starts_with("pausectl: ") && !l.contains(" -> ") && !l.contains("systemctl restart")
        })
        .map(String::from)
        .collect();
    assert_eq!(
        trace,
        [
            "pausectl: containerd release 1.7, from --containerd-version",
            "pausectl: locked the directory `.`",
            "pausectl: read `config.toml`: 124 bytes",
            "pausectl: imports `conf.d/a.toml`: 12 bytes",
            "pausectl: `config.toml`: config version 2",
            "pausectl: config.toml:4: plugins.\"io.containerd.grpc.v1.cri\".sandbox_image = registry.k8s.io/pause:3.8",
            "pausectl: in effect: registry.k8s.io/pause:3.8, from config.toml:4",
            "pausectl: pinning r.local/pause:3.8",
            "pausectl: writing `config.toml`",
        ]
    );
    // Without -v, none of it.
    let out = pausectl(dir.path(), &["show", "--config", "config.toml"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("pausectl: "));
}

/// The JSON fields the README promises, and no others, with their types.
#[test]
fn json_fields_are_the_documented_ones() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("config.toml"),
        "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.8\"\n",
    )
    .unwrap();
    let keys =
        |v: &serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let show = json(&pausectl(
        dir.path(),
        &[
            "show",
            "--json",
            "--config",
            "config.toml",
            "--containerd-version",
            "1.7",
        ],
    ));
    assert_eq!(
        keys(&show),
        [
            "config",
            "exists",
            "config_version",
            "containerd_version",
            "image",
            "source",
            "default",
            "managed",
            "files",
            "pins",
            "warnings",
            "warning_details",
            "verified",
            "verify_error"
        ]
    );
    assert_eq!(show["image"], "registry.k8s.io/pause:3.8");
    assert_eq!(show["config_version"], 2);
    assert_eq!(show["source"]["line"], 3);
    assert_eq!(keys(&show["source"]), ["file", "line", "key"]);
    assert_eq!(keys(&show["pins"][0]), ["file", "line", "key", "image"]);
    assert!(
        show["warnings"].as_array().unwrap()[0]
            .as_str()
            .unwrap()
            .contains("public registry")
    );
    // Each warning again, with its kind and place, for scripts that must not match wording.
    let detail = &show["warning_details"][0];
    assert_eq!(keys(detail), ["kind", "file", "line", "text"]);
    assert_eq!(detail["kind"], "public-registry");
    assert_eq!(detail["text"], show["warnings"][0]);

    let set = json(&pausectl(
        dir.path(),
        &[
            "set",
            "--json",
            "--image",
            REF,
            "--config",
            "config.toml",
            "--backup",
        ],
    ));
    assert_eq!(
        keys(&set),
        [
            "config",
            "config_version",
            "containerd_version",
            "before",
            "after",
            "changed",
            "written",
            "backup",
            "backups",
            "restart_needed",
            "files",
            "created",
            "diff",
            "warnings",
            "warning_details",
            "verified"
        ]
    );
    assert_eq!(set["before"], "registry.k8s.io/pause:3.8");
    assert_eq!(set["after"], REF);
    assert_eq!(
        (set["changed"].as_bool(), set["written"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(set["backup"], "config.toml.bak");
    assert_eq!(set["backups"], serde_json::json!(["config.toml.bak"]));
    assert_eq!(set["restart_needed"], true);
    assert_eq!(set["files"], serde_json::json!(["config.toml"]));
    assert_eq!(set["containerd_version"], serde_json::Value::Null);
    // Written with --no-verify (the tests' PAUSECTL_NO_VERIFY): the registry was not asked.
    assert_eq!(set["verified"], serde_json::Value::Null);
    assert!(
        set["diff"]
            .as_str()
            .unwrap()
            .contains(&format!("+  sandbox_image = \"{REF}\""))
    );
}

/// A drop-in that containerd loads twice, through a symlinked directory, is written once, and
/// the link stays a link.
#[test]
fn a_file_imported_under_two_names_is_written_once() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("conf.d")).unwrap();
    symlink("conf.d", dir.path().join("link.d")).unwrap();
    fs::write(
        dir.path().join("config.toml"),
        "version = 3\nimports = [\"conf.d/a.toml\", \"link.d/a.toml\"]\n",
    )
    .unwrap();
    let dropin = "version = 3\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = \"registry.k8s.io/pause:3.10\"\n";
    fs::write(dir.path().join("conf.d/a.toml"), dropin).unwrap();
    let out = pausectl(
        dir.path(),
        &[
            "set",
            "--image",
            REF,
            "--config",
            "config.toml",
            "--containerd-version",
            "2.1",
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    // The main config gets the pin too; both names of the drop-in count as changed.
    assert_eq!(
        j["files"],
        serde_json::json!(["config.toml", "conf.d/a.toml", "link.d/a.toml"])
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("conf.d/a.toml")).unwrap(),
        dropin.replace("registry.k8s.io/pause:3.10", REF)
    );
    assert!(
        fs::symlink_metadata(dir.path().join("link.d"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let mut names: Vec<_> = fs::read_dir(dir.path().join("conf.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a.toml"]);
}

/// The options `pausectl SUB --help` lists, in order (`--config`, `--image`, ...).
fn help_options(sub: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let out = pausectl(dir.path(), &[sub, "--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    // Option lines are `  -q, --quiet` or `      --config <PATH>`; their help is indented more.
    help.lines()
        .filter(|l| l.starts_with("  -") || l.starts_with("      --"))
        .filter_map(|l| l.split([' ', ',']).find(|w| w.starts_with("--")))
        .map(String::from)
        .collect()
}

/// `--config` is each subcommand's first option, in `--help` and so in its man page.
#[test]
fn config_is_listed_first() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["set", "show"] {
        assert_eq!(help_options(sub)[0], "--config", "{sub}");
        let page = man_page(dir.path(), &[sub]);
        let options = page.split("\n.SH OPTIONS\n").nth(1).unwrap();
        assert!(
            options.starts_with(".TP\n\\fB\\-\\-config\\fR \\fI<PATH>\\fR"),
            "{sub}: {options}"
        );
    }
}

/// `show --help` describes what show does with `--config -` and `--verify`: it reads, and
/// writes nothing; `set --help` still says where the result goes.
#[test]
fn show_help_says_what_show_does() {
    let dir = tempfile::tempdir().unwrap();
    let help =
        |sub: &str| String::from_utf8(pausectl(dir.path(), &[sub, "--help"]).stdout).unwrap();
    let (show, set) = (help("show"), help("set"));
    let config = |help: &str| {
        let at = help.find("--config <PATH>").unwrap();
        help[at..].split("\n      --").next().unwrap().to_string()
    };
    assert!(
        config(&show).contains("reads it from standard input"),
        "{show}"
    );
    assert!(!config(&show).contains("standard output"), "{show}");
    assert!(
        !show.contains("before writing") && !show.contains("--no-verify"),
        "{show}"
    );
    assert!(
        config(&set).contains("writes the result to standard output"),
        "{set}"
    );
}

/// `--color` beside `NO_COLOR`: always colours a pipe too, never and the default to a pipe do
/// not; an explicit `--color always` wins over `NO_COLOR`; `--json` is never coloured.
#[test]
fn color_flag_and_no_color() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("config.toml"), common::default_config()).unwrap();
    let run = |extra: &[&str], no_color: Option<&str>| {
        let args = [common::SET, &["--dry-run"], extra].concat();
        let mut cmd = common::pausectl_command(dir.path(), &args);
        cmd.env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = common::run_bounded(&mut cmd);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{extra:?}: {}",
            common::stderr(&out)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            stdout.contains("registry.local:5000/pause:3.10"),
            "{stdout}"
        );
        stdout.contains("\x1b[")
    };
    assert!(run(&["--color", "always"], None));
    assert!(run(&["--color=always"], Some("")));
    assert!(!run(&["--color", "never"], None));
    assert!(!run(&[], None), "a pipe is not coloured by default");
    assert!(!run(&["--color", "auto"], None));
    assert!(
        run(&["--color", "always"], Some("1")),
        "the flag wins over NO_COLOR"
    );
    assert!(!run(&[], Some("1")));
    // Given before the subcommand too.
    let mut cmd = common::pausectl_command(
        dir.path(),
        &[&["--color", "always"], common::SET, &["--dry-run"]].concat(),
    );
    assert!(String::from_utf8_lossy(&common::run_bounded(&mut cmd).stdout).contains("\x1b["));
    assert!(
        !run(&["--color", "always", "--json"], None),
        "JSON is never coloured"
    );
    assert_eq!(
        pausectl(
            dir.path(),
            &[&["--color", "sometimes"], common::SET].concat()
        )
        .status
        .code(),
        Some(2)
    );
}

/// Completion scripts offer `auto` for `--containerd-version`, which still takes a release.
#[test]
fn completions_offer_auto_for_the_containerd_version() {
    let dir = tempfile::tempdir().unwrap();
    let script = |shell: &str| {
        String::from_utf8(pausectl(dir.path(), &["completions", shell]).stdout).unwrap()
    };
    let bash = script("bash");
    let branch = bash.split("--containerd-version)\n").nth(1).unwrap();
    assert!(
        branch
            .trim_start()
            .starts_with("COMPREPLY=($(compgen -W \"auto\""),
        "{branch}"
    );
    assert_eq!(
        bash.matches("--containerd-version)\n").count(),
        2,
        "set and show"
    );
    let zsh = script("zsh");
    assert!(
        zsh.contains("'--containerd-version=[") && zsh.contains(":auto|X.Y[.Z]:((auto\\:"),
        "{zsh}"
    );
    let fish = script("fish");
    let lines: Vec<&str> = fish
        .lines()
        .filter(|l| l.contains("-l containerd-version"))
        .collect();
    assert_eq!(lines.len(), 2, "{fish}");
    assert!(
        lines.iter().all(|l| l.contains(" -a \"auto\\t")),
        "{lines:?}"
    );
    // Still a release: `auto` is offered, not required; --help lists no possible values.
    fs::write(dir.path().join("config.toml"), "version = 2\n").unwrap();
    let out = pausectl(
        dir.path(),
        &[
            "show",
            "--json",
            "--config",
            "config.toml",
            "--containerd-version",
            "2.1.4",
        ],
    );
    assert_eq!(json(&out)["containerd_version"], "2.1.4");
    let help = String::from_utf8(pausectl(dir.path(), &["show", "--help"]).stdout).unwrap();
    assert!(!help.contains("possible values: auto]"), "{help}");
}

/// `pausectl man [SUB]`'s roff, checked to exit 0.
fn man_page(dir: &std::path::Path, sub: &[&str]) -> String {
    let out = pausectl(dir, &[&["man"], sub].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "man {sub:?}: {}",
        common::stderr(&out)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An option as roff writes it in a man page (`--dry-run` is `\-\-dry\-run`).
fn roff(text: &str) -> String {
    text.replace('-', "\\-")
}

/// A page for pausectl and each subcommand: every option of `--help`, and the sections an
/// operator looks up; every page a page names exists; groff reads them without a warning.
#[test]
fn man_pages_for_pausectl_and_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let top = man_page(dir.path(), &[]);
    let mut named = Vec::new();
    for sub in ["set", "show", "completions", "man"] {
        let page = man_page(dir.path(), &[sub]);
        assert!(
            page.contains(&format!(".TH pausectl-{sub} 1 "))
                && page.contains(&format!("\n.SH NAME\npausectl\\-{sub} \\- ")),
            "{sub}: {page}"
        );
        assert!(
            top.contains(&format!("\n.TP\npausectl\\-{sub}(1)\n")),
            "{top}"
        );
        let options = help_options(sub);
        assert!(options.len() >= 3, "{sub}: {options:?}");
        for option in options {
            assert!(
                page.contains(&format!("\\fB{}\\fR", roff(&option))),
                "{sub}: {option}"
            );
        }
        for section in ["EXIT STATUS", "EXAMPLES", "SEE ALSO"] {
            assert!(
                page.contains(&format!("\n.SH \"{section}\"\n"))
                    || page.contains(&format!("\n.SH {section}\n")),
                "{sub}: {section}"
            );
        }
        // One definition of the apostrophe string, before anything uses it.
        assert_eq!(page.matches(".ds Aq").count(), 2, "{sub}");
        assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{sub}");
        named.extend(
            page.split("\\fBpausectl\\-")
                .skip(1)
                .map(|s| s.split("\\fR").next().unwrap().to_string()),
        );
    }
    let set = man_page(dir.path(), &["set"]);
    for want in [
        // Exit codes as README's "Exit codes" has them.
        "\n.TP\n\\fB0\\fR\n",
        "\n.TP\n\\fB1\\fR\n\\-\\-check only",
        "\n.TP\n\\fB2\\fR\nAn error",
        "\npausectl set \\-\\-registry registry.local:5000\n",
        "\\-\\-dry\\-run\n",
        "\\-\\-check \\-\\-quiet || rc=$?\n",
        "\\-\\-json | jq \\-e .written",
        "\\-\\-drop\\-in /etc/containerd/conf.d/50\\-pause.toml\n",
        "\n.SH ENVIRONMENT\n",
        "\\fBNO_COLOR\\fR",
        "\\fBPAUSECTL_NO_VERIFY\\fR",
        "\\fBHTTPS_PROXY, HTTP_PROXY, NO_PROXY\\fR",
        "\n.SH FILES\n.TP\n\\fB/etc/containerd/config.toml\\fR\n",
        "\\fBpausectl\\-show\\fR(1)",
    ] {
        assert!(set.contains(want), "set: {want}\n{set}");
    }
    let show = man_page(dir.path(), &["show"]);
    assert!(show.contains("\npausectl show \\-\\-verify\n"), "{show}");
    // show never writes: the variable that lets a write skip the check is not its business.
    assert!(
        show.contains("\n.SH ENVIRONMENT\n") && !show.contains("PAUSECTL_NO_VERIFY"),
        "{show}"
    );
    // Every pausectl-X(1) a page names is a page.
    for sub in named
        .iter()
        .chain(["set".to_string(), "show".to_string()].iter())
    {
        man_page(dir.path(), &[sub]);
    }
    assert!(top.contains(".TH pausectl 1 ") && top.contains("\n.SH ENVIRONMENT\n"));
    // A page that does not exist is a usage error.
    assert_eq!(
        pausectl(dir.path(), &["man", "help"]).status.code(),
        Some(2)
    );
    // groff reads each without a warning, where it is installed.
    if Command::new("groff").arg("--version").output().is_ok() {
        for sub in [&[][..], &["set"], &["show"], &["completions"], &["man"]] {
            let path = dir.path().join("page.1");
            fs::write(&path, man_page(dir.path(), sub)).unwrap();
            let out = Command::new("groff")
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{sub:?}: {}",
                common::stderr(&out)
            );
        }
    }
}

/// `man --dir DIR` writes every page, byte for byte what `man [SUB]` prints, and lists them.
#[test]
fn man_dir_writes_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = pausectl(dir.path(), &["man", "--dir", "pages/man1"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let names = [
        "pausectl.1",
        "pausectl-set.1",
        "pausectl-show.1",
        "pausectl-completions.1",
        "pausectl-man.1",
    ];
    let listed: Vec<String> = names.iter().map(|n| format!("pages/man1/{n}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout), listed.concat());
    assert_eq!(common::list_tree(&dir.path().join("pages/man1")), {
        let mut v = names.map(String::from).to_vec();
        v.sort();
        v
    });
    for (name, sub) in names.iter().zip([
        None,
        Some("set"),
        Some("show"),
        Some("completions"),
        Some("man"),
    ]) {
        let written = fs::read_to_string(dir.path().join("pages/man1").join(name)).unwrap();
        assert_eq!(written, man_page(dir.path(), sub.as_slice()), "{name}");
    }
    // One page or all of them.
    let out = pausectl(dir.path(), &["man", "set", "--dir", "pages"]);
    assert_eq!(out.status.code(), Some(2));
}
