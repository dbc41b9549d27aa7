//! The examples work: the Rust example builds and runs; the Ansible playbook runs against
//! localhost on a scratch config (twice: the second run changes nothing and restarts nothing),
//! and fails with pausectl's own message when pausectl fails;
//! the cloud-init file passes cloud-init's own schema check and its script pins a scratch
//! config; the Packer template parses as HCL and its shell provisioner is valid `sh` that gates
//! on `--check`. A tool that is missing makes its test say SKIPPED, or fail under
//! PAUSECTL_REQUIRE_EXAMPLES=1 (as `.ci/run` sets it, after installing them).

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Both streams of a run, for assertion messages.
fn both(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// Says SKIPPED with `why`; under PAUSECTL_REQUIRE_EXAMPLES=1 fails the test instead.
fn skip(test: &str, why: &str) -> bool {
    if std::env::var("PAUSECTL_REQUIRE_EXAMPLES").is_ok_and(|v| v == "1") {
        panic!("{test}: {why}, and PAUSECTL_REQUIRE_EXAMPLES=1");
    }
    let _ = writeln!(
        std::io::stderr(),
        "tests/examples.rs: SKIPPED {test}: {why}"
    );
    false
}

/// Whether `program ARGS` runs and succeeds; if not, [`skip`].
fn have(program: &str, args: &[&str], test: &str) -> bool {
    let ok = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok || skip(
        test,
        &format!("`{program} {}` does not run", args.join(" ")),
    )
}

/// A directory for PATH with pausectl and a `systemctl` that logs its arguments to `log`.
fn fake_path(dir: &Path, log: &Path) -> String {
    let bin = dir.join("bin");
    fs::create_dir_all(&bin).unwrap();
    symlink(env!("CARGO_BIN_EXE_pausectl"), bin.join("pausectl")).unwrap();
    let systemctl = bin.join("systemctl");
    fs::write(
        &systemctl,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    fs::set_permissions(&systemctl, fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:/usr/bin:/bin", bin.display())
}

fn python(script: &str, arg: &Path) -> Output {
    Command::new("python3")
        .args(["-c", script])
        .arg(arg)
        .output()
        .unwrap()
}

/// The first line pausectl prints on standard error for `args` (its error message); it asks
/// the registry unless `args` say `--no-verify`.
fn first_error_line(args: &[&str]) -> String {
    let out = common::run_bounded(
        common::pausectl_command(Path::new("/"), args).env_remove(common::NO_VERIFY),
    );
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    common::stderr(&out).lines().next().unwrap().to_string()
}

/// `cargo run --example pin` against the 2.1 default config.
#[test]
fn rust_example_builds_and_runs() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["run", "-q", "--example", "pin", "--"])
        .arg(root().join("testdata/defaults/containerd-2.1-default.toml"))
        .args(["2.1", "registry.local:5000"])
        .current_dir(root())
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("containerd 2.1 uses registry.k8s.io/pause:3.10 (config version 3)")
            && stderr.contains("after the edit it uses registry.local:5000/pause:3.10"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("sandbox = 'registry.local:5000/pause:3.10'"));
}

/// `ansible-playbook` on the example against localhost: `config` for containerd 2.1, backups in
/// `dir/backups`, the handler touching `dir/MARKER`; the registry check only when `verify`.
fn playbook(dir: &Path, config: &Path, registry: &str, marker: &str, verify: bool) -> Output {
    let interpreter = python("import sys; print(sys.executable)", Path::new(""));
    let interpreter = text(&interpreter.stdout).trim().to_string();
    let mut cmd = Command::new("ansible-playbook");
    cmd.env_remove(common::NO_VERIFY);
    if !verify {
        cmd.env(common::NO_VERIFY, "1");
    }
    cmd.args(["-i", "localhost,", "-c", "local"])
        .arg(root().join("examples/ansible/pin-sandbox-image.yml"))
        .arg("-e")
        .arg(format!("pausectl={}", env!("CARGO_BIN_EXE_pausectl")))
        .arg("-e")
        .arg(format!("pausectl_registry={registry}"))
        .arg("-e")
        .arg(format!("containerd_config={}", config.display()))
        .args(["-e", "containerd_version=2.1"])
        .arg("-e")
        .arg(format!(
            "pausectl_backup_dir={}",
            dir.join("backups").display()
        ))
        .arg("-e")
        .arg(format!(
            "containerd_restart='touch {}'",
            dir.join(marker).display()
        ))
        .args(["-e", "ansible_become=false", "-e"])
        .arg(format!("ansible_python_interpreter={interpreter}"))
        .env("ANSIBLE_LOCAL_TEMP", dir.join(".ansible"))
        .env("ANSIBLE_NOCOLOR", "1");
    common::run_bounded(&mut cmd)
}

#[test]
fn ansible_playbook_pins_and_restarts_once() {
    if !have("ansible-playbook", &["--version"], "ansible") {
        return;
    }
    // A config whose pin is in a drop-in under `conf.d/*`, where a backup beside the drop-in
    // would be loaded after it and bring the old image back (so every run changed it again).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    fs::write(&config, "version = 3\nimports = [\"conf.d/*\"]\n").unwrap();
    fs::create_dir(dir.path().join("conf.d")).unwrap();
    let drop_in = dir.path().join("conf.d/20-cri.toml");
    fs::write(
        &drop_in,
        "version = 3\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = \"registry.k8s.io/pause:3.10\"\n",
    )
    .unwrap();
    let backups = dir.path().join("backups");
    let run = |marker: &str| {
        let out = playbook(dir.path(), &config, "registry.local:5000", marker, false);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{}", both(&out));
        stdout
    };
    let first = run("restarted-1");
    assert!(first.contains("ok=3    changed=2"), "{first}");
    for file in [&config, &drop_in] {
        let text = fs::read_to_string(file).unwrap();
        assert!(
            text.contains("\"registry.local:5000/pause:3.10\""),
            "{text}"
        );
    }
    assert!(dir.path().join("restarted-1").exists());
    assert_eq!(
        common::list_tree(&backups),
        ["20-cri.toml.bak", "config.toml.bak"]
    );
    assert_eq!(
        common::list_tree(&dir.path().join("conf.d")),
        ["20-cri.toml"]
    );

    let second = run("restarted-2");
    assert!(second.contains("changed=0"), "{second}");
    assert!(!dir.path().join("restarted-2").exists());
    assert_eq!(common::list_tree(&backups).len(), 2);
}

/// When pausectl exits 2 the task fails with pausectl's message, whether it printed no JSON
/// (a config it cannot read) or JSON with an `error` (a registry that does not answer); the
/// config is untouched and containerd is not restarted.
#[test]
fn ansible_playbook_fails_with_pausectls_message() {
    if !have("ansible-playbook", &["--version"], "ansible") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    fs::write(&broken, "version = 2\n[plugins\n").unwrap();
    let unreachable = dir.path().join("config.toml");
    fs::write(&unreachable, common::default_config()).unwrap();
    let cases = [
        (&broken, "registry.local:5000", false),
        // Port 1 on loopback: refused at once, and pausectl prints `{written: false, error}`.
        (&unreachable, "127.0.0.1:1", true),
    ];
    for (config, registry, verify) in cases {
        let before = fs::read(config).unwrap();
        let mut args = vec!["set", "--registry", registry, "--containerd-version", "2.1"];
        args.extend(["--json", "--config", config.to_str().unwrap()]);
        if !verify {
            args.push("--no-verify");
        }
        let message = first_error_line(&args);
        let out = playbook(dir.path(), config, registry, "restarted", verify);
        let stdout = text(&out.stdout);
        assert!(!out.status.success(), "{stdout}");
        assert!(stdout.contains("failed=1"), "{stdout}");
        assert!(
            stdout.contains(&format!("\"msg\": \"{message}\\nhelp: ")),
            "expected pausectl's `{message}` as the task's message:\n{stdout}"
        );
        assert!(!stdout.contains("JSON"), "{stdout}");
        assert_eq!(fs::read(config).unwrap(), before);
        assert!(!dir.path().join("restarted").exists());
        assert!(!dir.path().join("backups").exists());
    }
}

#[test]
fn cloud_init_passes_its_schema_and_its_script_pins_once() {
    let file = root().join("examples/cloud-init.yaml");
    if have("cloud-init", &["--version"], "cloud-init") {
        let out = Command::new("cloud-init")
            .env("PAUSECTL_NO_VERIFY", "1")
            .args(["schema", "--config-file"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        // The check is live: a broken copy fails it.
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken.yaml");
        let original = fs::read_to_string(&file).unwrap();
        fs::write(&broken, original.replace("runcmd:", "runcmd: 5\nx_runcmd:")).unwrap();
        let out = Command::new("cloud-init")
            .env("PAUSECTL_NO_VERIFY", "1")
            .args(["schema", "--config-file"])
            .arg(&broken)
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
    if !have("python3", &["-c", "import yaml"], "cloud-init script") {
        return;
    }
    // Its script, run against a scratch config: pins and restarts, then does nothing.
    let script = python(
        "import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))['write_files'][0]['content'])",
        &file,
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    fs::copy(
        root().join("testdata/defaults/containerd-2.1-default.toml"),
        &config,
    )
    .unwrap();
    let log = dir.path().join("systemctl.log");
    let path = fake_path(dir.path(), &log);
    let run = || {
        Command::new("sh")
            .env("PAUSECTL_NO_VERIFY", "1")
            .arg("-c")
            .arg(text(&script.stdout))
            .env("PATH", &path)
            .env("CONTAINERD_CONFIG", &config)
            .env("PAUSECTL_BACKUP_DIR", dir.path().join("backups"))
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(fs::read_to_string(&log).unwrap(), "restart containerd\n");
    assert!(
        fs::read_to_string(&config)
            .unwrap()
            .contains("'registry.local:5000/pause:3.10'")
    );
    assert_eq!(
        common::list_tree(&dir.path().join("backups")),
        ["config.toml.bak"]
    );
    let out = run();
    assert!(
        text(&out.stdout).contains("already pinned"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(fs::read_to_string(&log).unwrap(), "restart containerd\n");
}

#[test]
fn packer_template_parses_and_gates_on_check() {
    if !have(
        "python3",
        &["-c", "import hcl2"],
        "packer (pip install python-hcl2)",
    ) {
        return;
    }
    // The shell provisioner's inline commands, as parsed by python-hcl2.
    let out = python(
        r#"
import hcl2, json, sys
doc = hcl2.load(open(sys.argv[1]))
for build in doc["build"]:
    for p in build["provisioner"]:
        for kind, body in p.items():
            if kind.strip('"') == "shell":
                print("\n".join(json.loads(line) for line in body["inline"]))
"#,
        &root().join("examples/packer.pkr.hcl"),
    );
    let script = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        script.contains("pausectl set --image \"$PAUSE_IMAGE\" --check"),
        "{script}"
    );
    let syntax = Command::new("sh")
        .env("PAUSECTL_NO_VERIFY", "1")
        .args(["-n", "-c", &script])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
}
