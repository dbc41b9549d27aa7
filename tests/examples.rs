//! The examples work, each run the way a node runs it:
//! - the Rust example builds and runs;
//! - the Ansible playbook runs against localhost on a scratch config (the second run changes
//!   and restarts nothing), and fails with pausectl's own message when pausectl fails;
//! - the cloud-init file passes cloud-init's schema check, and its script and the Packer
//!   template's shell provisioner run as root on a scratch node (a mount namespace whose /etc,
//!   /usr/local and /var are overlays: see [`Node`]): each downloads pausectl, refuses a binary
//!   whose SHA-256 differs, pins the image and restarts containerd once, and nothing on a rerun;
//! - the DaemonSet passes the Kubernetes API schema (`kubernetes-validate --strict`), and its
//!   script, run against a scratch host root, pins, restarts containerd through `nsenter` only
//!   after a write, and stays running until it is sent SIGTERM.
//!
//! A tool that is missing makes its test say SKIPPED, or fail under
//! PAUSECTL_REQUIRE_EXAMPLES=1 (as `.ci/run` sets it, after installing them).

mod common;

use serde_json::Value;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

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

/// An executable file `dir/name` holding `body`.
fn executable(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    fs::write(&path, body).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// A fake `name` in `dir` that appends `name ARGS` to `log` (and exits 0).
fn logger(dir: &Path, name: &str, log: &Path) {
    let body = format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n", log.display());
    executable(dir, name, &body);
}

fn read_or_empty(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn python(script: &str, arg: &Path) -> Output {
    Command::new("python3")
        .args(["-c", script])
        .arg(arg)
        .output()
        .unwrap()
}

/// The documents of a YAML file as JSON (python3's yaml module, as cloud-init and kubectl
/// read them).
fn yaml(file: &Path) -> Value {
    let out = python(
        "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))",
        file,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// SHA-256 of `file` in hex, as `sha256sum` prints it.
fn sha256(file: &Path) -> String {
    let out = Command::new("sha256sum").arg(file).output().unwrap();
    assert!(out.status.success());
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// The image containerd will use, as `pausectl show --json` says (null when none).
fn image_in_effect(config: &Path) -> Value {
    let out = common::pausectl(
        config.parent().unwrap(),
        &["show", "--json", "--config", config.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", both(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    report["image"].clone()
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

/// A scratch node for the first-boot examples. Their script runs as root in a mount namespace
/// of its own (`unshare --mount`) where /etc, /usr/local and /var are overlays whose writes
/// land under `upper/`: it installs to /usr/local/bin, edits /etc/containerd and keeps backups
/// in /var/backups as on a node, and the host is left as it was. `bin` comes first on PATH
/// (fakes of what a test must not run for real, such as `systemctl`), `log` records the fakes,
/// and TMPDIR is `tmp/`.
struct Node {
    dir: tempfile::TempDir,
}

/// The directories of a [`Node`] that are scratch overlays.
const OVERLAID: [&str; 3] = ["etc", "usr/local", "var"];

impl Node {
    /// A fresh node, or None (after [`skip`]) where mount namespaces are not allowed.
    fn new(test: &str) -> Option<Node> {
        // In /tmp, which is not overlaid: an overlay's upper dir cannot be inside its lower one.
        let node = Node {
            dir: tempfile::tempdir_in("/tmp").unwrap(),
        };
        for d in OVERLAID {
            fs::create_dir_all(node.path("upper").join(d)).unwrap();
            fs::create_dir_all(node.path("work").join(d)).unwrap();
        }
        fs::create_dir(node.path("bin")).unwrap();
        fs::create_dir(node.path("tmp")).unwrap();
        let probe = node.run(&[], "true", &[]);
        if !probe.status.success() {
            let why = format!(
                "a scratch node needs root and overlay mounts: {}",
                both(&probe)
            );
            skip(test, why.trim());
            return None;
        }
        Some(node)
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Where the node's `/a/b` is on the host after a run (when the run wrote it).
    fn upper(&self, path: &str) -> PathBuf {
        self.path("upper").join(path.trim_start_matches('/'))
    }

    fn bin(&self) -> PathBuf {
        self.path("bin")
    }

    fn log(&self) -> PathBuf {
        self.path("fakes.log")
    }

    /// Runs `sh SH_ARGS SCRIPT` on the node with only PATH, TMPDIR and `env` set.
    fn run(&self, sh_args: &[&str], script: &str, env: &[(&str, &str)]) -> Output {
        let file = self.path("script.sh");
        fs::write(&file, script).unwrap();
        let dirs = OVERLAID.map(|d| format!("/{d}")).join(" ");
        let mounts = format!(
            r#"set -e
for d in {dirs}; do
  mount -t overlay overlay -o "lowerdir=$d,upperdir=$0/upper$d,workdir=$0/work$d" "$d"
done
exec "$@""#
        );
        let path = format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            self.bin().display()
        );
        common::run_bounded(
            Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-c", &mounts])
                .arg(self.dir.path())
                .arg("sh")
                .args(sh_args)
                .arg(&file)
                .env_clear()
                .env("PATH", path)
                .env("TMPDIR", self.path("tmp"))
                .envs(env.iter().copied()),
        )
    }
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
    common::run_bounded(&mut playbook_command(dir, config, registry, marker, verify))
}

fn playbook_command(
    dir: &Path,
    config: &Path,
    registry: &str,
    marker: &str,
    verify: bool,
) -> Command {
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
    cmd
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
    // `ansible-playbook --check`: reported as a change, nothing written, no restart.
    let before = fs::read(&drop_in).unwrap();
    let checked = common::run_bounded(
        playbook_command(dir.path(), &config, "registry.local:5000", "checked", false)
            .arg("--check"),
    );
    assert!(checked.status.success(), "{}", both(&checked));
    assert!(
        text(&checked.stdout).contains("changed=1"),
        "{}",
        both(&checked)
    );
    assert_eq!(fs::read(&drop_in).unwrap(), before);
    assert!(!dir.path().join("checked").exists());
    assert!(!backups.exists());

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
fn cloud_init_passes_its_schema_and_pins_before_the_join() {
    let file = root().join("examples/cloud-init.yaml");
    if have("cloud-init", &["--version"], "cloud-init") {
        let out = Command::new("cloud-init")
            .args(["schema", "--config-file"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", both(&out));
        // The check is live: a broken copy fails it.
        let dir = tempfile::tempdir().unwrap();
        let broken = dir.path().join("broken.yaml");
        let original = fs::read_to_string(&file).unwrap();
        fs::write(&broken, original.replace("runcmd:", "runcmd: 5\nx_runcmd:")).unwrap();
        let out = Command::new("cloud-init")
            .args(["schema", "--config-file"])
            .arg(&broken)
            .output()
            .unwrap();
        assert!(!out.status.success());
    }
    if !have("python3", &["-c", "import yaml"], "cloud-init order") {
        return;
    }
    // bootcmd would run before write_files and maybe before containerd has a config; runcmd
    // runs the script, and the join only when the script succeeded.
    let doc = &yaml(&file)[0];
    assert!(doc.get("bootcmd").is_none(), "{doc:#}");
    let script = doc["write_files"][0]["path"].as_str().unwrap();
    let runcmd: Vec<&str> = doc["runcmd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let join = runcmd.iter().position(|c| c.contains("kubeadm join"));
    let join = runcmd[join.expect("a `kubeadm join` in runcmd")];
    assert!(
        join.starts_with(&format!("{script} && ")),
        "the join must run after {script} and only when it succeeded: {runcmd:?}"
    );
}

/// The cloud-init script on a scratch node: it installs the binary at PAUSECTL_URL once its
/// SHA-256 matches, pins the image and restarts containerd; a rerun restarts nothing; a binary
/// with another checksum is neither installed nor run.
#[test]
fn cloud_init_script_checks_the_binary_and_pins_once() {
    let test = "cloud-init script";
    if !have("python3", &["-c", "import yaml"], test)
        || !have("curl", &["--version"], test)
        || !have("sha256sum", &["--version"], test)
    {
        return;
    }
    let Some(node) = Node::new(test) else {
        return;
    };
    let file = root().join("examples/cloud-init.yaml");
    let script = yaml(&file)[0]["write_files"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    logger(&node.bin(), "systemctl", &node.log());
    // The image's containerd config, and a pausectl to download.
    let config = node.upper("/etc/containerd/config.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    let default = root().join("testdata/defaults/containerd-1.7-default.toml");
    fs::copy(&default, &config).unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_pausectl"));
    let url = format!("file://{}", binary.display());
    let sha = sha256(binary);
    let image = "mirror.test:5000/pause:3.8";
    let env = [
        ("PAUSE_IMAGE", image),
        ("PAUSECTL_URL", url.as_str()),
        ("PAUSECTL_SHA256", sha.as_str()),
        (common::NO_VERIFY, "1"),
    ];

    let out = node.run(&[], &script, &env);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(read_or_empty(&node.log()), "systemctl restart containerd\n");
    assert_eq!(image_in_effect(&config), image);
    let installed = node.upper("/usr/local/bin/pausectl");
    assert!(fs::read(&installed).unwrap() == fs::read(binary).unwrap());
    assert_eq!(fs::metadata(&installed).unwrap().mode() & 0o777, 0o755);
    let backups = node.upper("/var/backups/pausectl");
    assert_eq!(common::list_tree(&backups), ["config.toml.bak"]);
    assert_eq!(
        fs::read(backups.join("config.toml.bak")).unwrap(),
        fs::read(&default).unwrap()
    );
    assert_eq!(common::list_tree(&node.path("tmp")), Vec::<String>::new());

    let pinned = fs::read(&config).unwrap();
    let out = node.run(&[], &script, &env);
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stdout).contains("already pinned"),
        "{}",
        both(&out)
    );
    assert_eq!(read_or_empty(&node.log()), "systemctl restart containerd\n");
    assert_eq!(fs::read(&config).unwrap(), pinned);

    // Another binary's checksum: nothing is installed, run, written or restarted.
    let Some(node) = Node::new(test) else {
        return;
    };
    logger(&node.bin(), "systemctl", &node.log());
    let config = node.upper("/etc/containerd/config.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::copy(&default, &config).unwrap();
    let other = sha256(&default);
    let env = [
        ("PAUSE_IMAGE", image),
        ("PAUSECTL_URL", url.as_str()),
        ("PAUSECTL_SHA256", other.as_str()),
        (common::NO_VERIFY, "1"),
    ];
    let out = node.run(&[], &script, &env);
    assert!(!out.status.success(), "{}", both(&out));
    assert!(both(&out).contains("FAILED"), "{}", both(&out));
    assert!(!node.upper("/usr/local/bin/pausectl").exists());
    assert_eq!(fs::read(&config).unwrap(), fs::read(&default).unwrap());
    assert_eq!(read_or_empty(&node.log()), "");
}

/// The Packer template's shell provisioner: `environment_vars` and the inline script, as
/// python-hcl2 parses them.
/// The shell provisioner's `environment_vars`, inline script and `execute_command`.
fn packer_provisioner() -> (Vec<String>, String, String) {
    let out = python(
        r#"
import hcl2, json, sys
doc = hcl2.load(open(sys.argv[1]))
for build in doc["build"]:
    for p in build["provisioner"]:
        for kind, body in p.items():
            if kind.strip('"') == "shell":
                print(json.dumps({
                    "env": [json.loads(v) for v in body["environment_vars"]],
                    "script": "\n".join(json.loads(line) for line in body["inline"]),
                    "execute": json.loads(body["execute_command"]),
                }))
"#,
        &root().join("examples/packer.pkr.hcl"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let env = v["env"].as_array().unwrap();
    let env = env.iter().map(|e| e.as_str().unwrap().to_string());
    (
        env.collect(),
        v["script"].as_str().unwrap().to_string(),
        v["execute"].as_str().unwrap().to_string(),
    )
}

/// Runs the provisioner on `node` as Packer does: the inline lines in a file, `execute_command`
/// with `{{ .Path }}` that file and `{{ .Vars }}` the variables as Packer renders them
/// (`NAME='value' `), through a `sudo` that runs its arguments.
fn packer_run(node: &Node, env: &[(&str, &str)]) -> Output {
    let (_, script, execute) = packer_provisioner();
    let file = node.path("provision.sh");
    fs::write(&file, script).unwrap();
    executable(&node.bin(), "sudo", "#!/bin/sh\nexec \"$@\"\n");
    let vars: String = env.iter().map(|(k, v)| format!("{k}='{v}' ")).collect();
    let command = execute
        .replace("{{ .Path }}", file.to_str().unwrap())
        .replace("{{ .Vars }}", &vars);
    node.run(&["-c", &command], "", &[])
}

#[test]
fn packer_template_parses_and_takes_its_settings_from_variables() {
    if !have(
        "python3",
        &["-c", "import hcl2"],
        "packer (pip install python-hcl2)",
    ) {
        return;
    }
    let (env, script, _) = packer_provisioner();
    // The settings are variables, declared before anything else in the file.
    let template = fs::read_to_string(root().join("examples/packer.pkr.hcl")).unwrap();
    let first_block = ["packer {", "source ", "build {"]
        .iter()
        .filter_map(|b| template.find(b))
        .min()
        .unwrap();
    for (name, variable) in [
        ("PAUSE_IMAGE", "pause_image"),
        ("PAUSECTL_URL", "pausectl_url"),
        ("PAUSECTL_SHA256", "pausectl_sha256"),
    ] {
        assert!(
            env.contains(&format!("{name}=${{var.{variable}}}")),
            "{env:?}"
        );
        let at = template.find(&format!("variable \"{variable}\""));
        assert!(at.is_some_and(|at| at < first_block), "{variable}");
    }
    let syntax = Command::new("sh")
        .args(["-n", "-c", &script])
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", text(&syntax.stderr));
}

/// Debian 12's containerd package's /etc/containerd/config.toml.
const DEBIAN_CONFIG: &str = r#"version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "/etc/cni/net.d"
  [plugins."io.containerd.internal.v1.opt"]
    path = "/var/lib/containerd/opt"
"#;

/// A scratch node for the Packer provisioner: a fake `apt-get` whose `install` writes
/// `package_config` as /etc/containerd/config.toml (as containerd's package does), and a fake
/// `systemctl`.
fn packer_node(test: &str, package_config: &str) -> Option<Node> {
    let node = Node::new(test)?;
    let package = node.path("package-config.toml");
    fs::write(&package, package_config).unwrap();
    let apt = format!(
        r#"#!/bin/sh
echo "apt-get $*" >> '{log}'
case " $* " in
  *" install "*) [ -e /etc/containerd/config.toml ] || {{ mkdir -p /etc/containerd; cp '{package}' /etc/containerd/config.toml; }} ;;
esac
"#,
        log = node.log().display(),
        package = package.display()
    );
    executable(&node.bin(), "apt-get", &apt);
    logger(&node.bin(), "systemctl", &node.log());
    Some(node)
}

/// The provisioner on a scratch node, run as Packer's `execute_command` runs it (`sh -eu`):
/// it installs containerd and the checked binary, pins, restarts containerd once, and passes
/// its own check of the image in effect; a rerun restarts nothing; a containerd whose CRI
/// plugin is disabled (Docker's containerd.io config) fails the build, and so does a binary with
/// another checksum.
#[test]
fn packer_provisioner_pins_and_fails_the_build_when_the_pin_is_not_in_effect() {
    let test = "packer provisioner";
    if !have("python3", &["-c", "import hcl2"], test)
        || !have("curl", &["--version"], test)
        || !have("jq", &["--version"], test)
    {
        return;
    }
    let Some(node) = packer_node(test, DEBIAN_CONFIG) else {
        return;
    };
    let binary = Path::new(env!("CARGO_BIN_EXE_pausectl"));
    let url = format!("file://{}", binary.display());
    let sha = sha256(binary);
    let image = "mirror.test:5000/pause:3.8";
    let env = [
        ("PAUSE_IMAGE", image),
        ("PAUSECTL_URL", url.as_str()),
        ("PAUSECTL_SHA256", sha.as_str()),
        (common::NO_VERIFY, "1"),
    ];
    let restarts = |node: &Node| {
        read_or_empty(&node.log())
            .lines()
            .filter(|l| *l == "systemctl restart containerd")
            .count()
    };

    let out = packer_run(&node, &env);
    assert!(out.status.success(), "{}", both(&out));
    let log = read_or_empty(&node.log());
    assert!(
        log.lines()
            .any(|l| l.starts_with("apt-get install") && l.contains(" containerd")),
        "{log}"
    );
    assert_eq!(restarts(&node), 1, "{log}");
    let config = node.upper("/etc/containerd/config.toml");
    assert_eq!(image_in_effect(&config), image);
    assert!(node.upper("/usr/local/bin/pausectl").exists());
    assert_eq!(
        common::list_tree(&node.upper("/var/backups/pausectl")),
        ["config.toml.bak"]
    );
    assert_eq!(common::list_tree(&node.path("tmp")), Vec::<String>::new());

    let pinned = fs::read(&config).unwrap();
    let out = packer_run(&node, &env);
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(restarts(&node), 1);
    assert_eq!(fs::read(&config).unwrap(), pinned);

    // containerd.io's config turns CRI off: `--check` is content once the keys are set, but
    // `show` says containerd uses no sandbox image, and the build fails.
    let Some(node) = packer_node(test, "disabled_plugins = [\"cri\"]\n") else {
        return;
    };
    let out = packer_run(&node, &env);
    assert!(!out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stderr).contains(&format!("containerd will not use {image}")),
        "{}",
        both(&out)
    );
    assert_eq!(
        image_in_effect(&node.upper("/etc/containerd/config.toml")),
        Value::Null
    );

    let Some(node) = packer_node(test, DEBIAN_CONFIG) else {
        return;
    };
    let other = sha256(&root().join("README.md"));
    let env = [
        ("PAUSE_IMAGE", image),
        ("PAUSECTL_URL", url.as_str()),
        ("PAUSECTL_SHA256", other.as_str()),
        (common::NO_VERIFY, "1"),
    ];
    let out = packer_run(&node, &env);
    assert!(!out.status.success(), "{}", both(&out));
    assert!(both(&out).contains("FAILED"), "{}", both(&out));
    assert!(!node.upper("/usr/local/bin/pausectl").exists());
    assert_eq!(restarts(&node), 0);
    assert_eq!(
        fs::read_to_string(node.upper("/etc/containerd/config.toml")).unwrap(),
        DEBIAN_CONFIG
    );
}

#[test]
fn daemonset_passes_the_kubernetes_api_schema() {
    let test = "daemonset schema (pip install kubernetes-validate)";
    if !have("kubernetes-validate", &["--version"], test) {
        return;
    }
    let file = root().join("examples/daemonset.yaml");
    let validate = |file: &Path, version: Option<&str>| {
        let mut cmd = Command::new("kubernetes-validate");
        if let Some(v) = version {
            cmd.args(["-k", v]);
        }
        common::run_bounded(cmd.arg("--strict").arg(file))
    };
    // The oldest release the example claims, and the newest the tool knows.
    for version in [Some("1.30.0"), None] {
        let out = validate(&file, version);
        let said = both(&out);
        assert!(out.status.success(), "{said}");
        for resource in ["configmap/pin-sandbox-image", "daemonset/pin-sandbox-image"] {
            assert!(
                said.contains(&format!("passed for resource {resource}")),
                "{said}"
            );
        }
    }
    // The check is live: a misspelt field fails it.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    let original = fs::read_to_string(&file).unwrap();
    assert!(original.contains("hostPID: true"));
    fs::write(&broken, original.replace("hostPID:", "hostPid:")).unwrap();
    let out = validate(&broken, Some("1.30.0"));
    assert!(!out.status.success(), "{}", both(&out));
    assert!(
        both(&out).contains("'hostPid' was unexpected"),
        "{}",
        both(&out)
    );
}

/// The DaemonSet example: its pod spec's one container, and the script it runs (from the
/// ConfigMap mounted where its command reads it).
fn daemonset() -> (Value, Value, String) {
    let docs = yaml(&root().join("examples/daemonset.yaml"));
    let of_kind = |kind: &str| {
        let docs = docs.as_array().unwrap();
        docs.iter().find(|d| d["kind"] == kind).unwrap().clone()
    };
    let (config_map, daemonset) = (of_kind("ConfigMap"), of_kind("DaemonSet"));
    let spec = daemonset["spec"]["template"]["spec"].clone();
    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = containers[0].clone();
    let command: Vec<&str> = container["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let script_path = Path::new(command[command.len() - 1]);
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| Path::new(m["mountPath"].as_str().unwrap()) == script_path.parent().unwrap())
        .expect("the script's directory is mounted");
    let volume = spec["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["configMap"]["name"], config_map["metadata"]["name"]);
    let key = script_path.file_name().unwrap().to_str().unwrap();
    let script = config_map["data"][key].as_str().unwrap().to_string();
    (spec, container, script)
}

/// `containerd --version` of the node in [`host_root`]: Debian's 1.7.24.
const HOST_CONTAINERD: &str =
    "containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1";

/// A host root for the DaemonSet's script: `etc/containerd/config.toml` holding `config`, and a
/// `bin` with pausectl and an `nsenter` that answers `containerd --version` as the node's
/// containerd (logging the call to `version.log`) and logs any other call to `nsenter.log`.
fn host_root(config: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("host/etc/containerd");
    fs::create_dir_all(&etc).unwrap();
    fs::write(etc.join("config.toml"), config).unwrap();
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    symlink(env!("CARGO_BIN_EXE_pausectl"), bin.join("pausectl")).unwrap();
    let nsenter = format!(
        "#!/bin/sh\ncase \"$*\" in\n  *' -- containerd --version') echo \"$*\" >> '{}'; echo '{HOST_CONTAINERD}' ;;\n  *) echo \"nsenter $*\" >> '{}' ;;\nesac\n",
        dir.path().join("version.log").display(),
        dir.path().join("nsenter.log").display()
    );
    executable(&bin, "nsenter", &nsenter);
    // The running containerd, as `pidof` finds it: the PID in `containerd.pid`, else none.
    let pidof = format!(
        "#!/bin/sh\ncat '{}' 2>/dev/null\n",
        dir.path().join("containerd.pid").display()
    );
    executable(&bin, "pidof", &pidof);
    fs::create_dir(dir.path().join("tmp")).unwrap();
    dir
}

/// The script as the pod runs it: the container's env from the manifest, HOST_ROOT at `dir`'s
/// host root, and no registry to ask (PAUSECTL_NO_VERIFY=1).
fn pod_command(dir: &Path, container: &Value, script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script).env_clear();
    for var in container["env"].as_array().unwrap() {
        let (name, value) = (var["name"].as_str().unwrap(), var["value"].as_str());
        cmd.env(name, value.unwrap());
    }
    cmd.env(
        "PATH",
        format!("{}:/usr/bin:/bin", dir.join("bin").display()),
    )
    .env("HOST_ROOT", dir.join("host"))
    .env("TMPDIR", dir.join("tmp"))
    .env(common::NO_VERIFY, "1");
    cmd
}

#[test]
fn daemonset_script_pins_and_restarts_containerd_only_after_a_write() {
    if !have("python3", &["-c", "import yaml"], "daemonset script") {
        return;
    }
    let (spec, container, script) = daemonset();
    // What the script relies on: the host's PID 1, privilege, and the node's files at their
    // own paths (HOST_ROOT is empty in the pod).
    assert_eq!(spec["hostPID"], true);
    assert_eq!(container["securityContext"]["privileged"], true);
    let mut host_paths = Vec::new();
    for mount in container["volumeMounts"].as_array().unwrap() {
        let volumes = spec["volumes"].as_array().unwrap();
        let volume = volumes.iter().find(|v| v["name"] == mount["name"]).unwrap();
        if let Some(path) = volume["hostPath"]["path"].as_str() {
            assert_eq!(mount["mountPath"], path, "{mount}");
            host_paths.push(path);
        }
    }
    assert!(host_paths.contains(&"/etc/containerd"), "{host_paths:?}");
    // What the registry check must see as containerd does: the node's CAs and its unit's
    // proxy settings, read-only.
    for path in ["/etc/ssl/certs", "/etc/systemd/system"] {
        let mounts = container["volumeMounts"].as_array().unwrap();
        let mount = mounts.iter().find(|m| m["mountPath"] == path);
        assert_eq!(
            mount.map(|m| &m["readOnly"]),
            Some(&Value::Bool(true)),
            "{path}"
        );
    }
    let env = container["env"].as_array().unwrap();
    let image = env.iter().find(|v| v["name"] == "PAUSE_IMAGE").unwrap()["value"].clone();

    let default = fs::read(root().join("testdata/defaults/containerd-1.7-default.toml")).unwrap();
    let dir = host_root(&default);
    let config = dir.path().join("host/etc/containerd/config.toml");
    let log = dir.path().join("nsenter.log");
    let run =
        || common::run_bounded(pod_command(dir.path(), &container, &script).env("PIN_ONLY", "1"));
    let restart = "nsenter -t 1 -m -u -i -n -p -- systemctl restart containerd\n";

    let out = run();
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(read_or_empty(&log), restart);
    assert_eq!(image_in_effect(&config), image);
    // The release came from the node's containerd, asked through nsenter.
    let asked = read_or_empty(&dir.path().join("version.log"));
    assert_eq!(asked, "-t 1 -m -- containerd --version\n");
    assert!(
        text(&out.stdout).contains("\"containerd_version\": \"1.7.24\""),
        "{}",
        both(&out)
    );
    let backups = dir.path().join("host/var/backups/pausectl");
    assert_eq!(common::list_tree(&backups), ["config.toml.bak"]);

    let pinned = fs::metadata(&config).unwrap();
    let out = run();
    assert!(out.status.success(), "{}", both(&out));
    assert!(
        text(&out.stdout).contains("\"written\": false"),
        "{}",
        both(&out)
    );
    assert_eq!(read_or_empty(&log), restart);
    let after = fs::metadata(&config).unwrap();
    assert_eq!(
        (after.ino(), after.mtime_nsec()),
        (pinned.ino(), pinned.mtime_nsec())
    );
    assert_eq!(
        common::list_tree(&dir.path().join("tmp")),
        Vec::<String>::new()
    );

    // The restart after the write failed (or the pod was stopped before it): the running
    // containerd started before the config changed, so the next pod restarts it, though it
    // writes nothing; one started after the change is left alone.
    let mut older = Command::new("sleep").arg("60").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let config_text = fs::read(&config).unwrap();
    fs::write(&config, &config_text).unwrap();
    let pid_file = dir.path().join("containerd.pid");
    fs::write(&pid_file, older.id().to_string()).unwrap();
    let out = run();
    assert!(out.status.success(), "{}", both(&out));
    assert!(text(&out.stdout).contains("\"written\": false"));
    assert_eq!(read_or_empty(&log), format!("{restart}{restart}"));
    // The script's arithmetic takes whole seconds of boot time and ticks, and so may put a
    // start up to 2 s early (toward a restart, never away from one).
    std::thread::sleep(Duration::from_millis(2500));
    let mut newer = Command::new("sleep").arg("60").spawn().unwrap();
    fs::write(&pid_file, newer.id().to_string()).unwrap();
    let out = run();
    assert!(out.status.success(), "{}", both(&out));
    assert_eq!(read_or_empty(&log), format!("{restart}{restart}"));
    for child in [&mut older, &mut newer] {
        let _ = child.kill();
        let _ = child.wait();
    }

    // A config pausectl cannot read: its message in the log, a failed pod, no restart.
    let broken = b"version = 2\n[plugins\n";
    let dir = host_root(broken);
    let config = dir.path().join("host/etc/containerd/config.toml");
    let message = first_error_line(&[
        "set",
        "--image",
        image.as_str().unwrap(),
        "--no-verify",
        "--config",
        config.to_str().unwrap(),
    ]);
    let out =
        common::run_bounded(pod_command(dir.path(), &container, &script).env("PIN_ONLY", "1"));
    assert!(!out.status.success(), "{}", both(&out));
    assert!(text(&out.stderr).contains(&message), "{}", both(&out));
    assert_eq!(read_or_empty(&dir.path().join("nsenter.log")), "");
    assert_eq!(fs::read(&config).unwrap(), broken);
}

/// Whether process `pid` still runs (exists and is not a zombie).
fn alive(pid: &str) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|r| !r.starts_with(" Z"))
    })
}

/// Waits for the script's restart of containerd, checks that it is still running, sends it
/// SIGTERM and returns how it ended.
fn run_until_sigterm(child: &mut Child, log: &Path) -> Result<ExitStatus, String> {
    let start = Instant::now();
    while read_or_empty(log).is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("it ended before restarting containerd: {status}"));
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err("no restart in 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    if let Some(status) = child.try_wait().unwrap() {
        return Err(format!("it ended after the pin: {status}"));
    }
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Ok(status);
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err("still running 10 s after SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Without PIN_ONLY the script stays running after the pin (the DaemonSet's pod stays Running)
/// and ends at once, successfully, on SIGTERM (when the pod is deleted or rolled), leaving no
/// `sleep` behind.
#[test]
fn daemonset_script_stays_running_until_sigterm() {
    if !have("python3", &["-c", "import yaml"], "daemonset script") {
        return;
    }
    let (_, container, script) = daemonset();
    // The node of host_root runs containerd 1.7 (HOST_CONTAINERD).
    let default = fs::read(root().join("testdata/defaults/containerd-1.7-default.toml")).unwrap();
    let dir = host_root(&default);
    // A `sleep` that records its PID before it becomes the real one.
    let pids = dir.path().join("sleep.pids");
    let sleep = format!(
        "#!/bin/sh\necho $$ >> '{}'\nexec /bin/sleep \"$@\"\n",
        pids.display()
    );
    executable(&dir.path().join("bin"), "sleep", &sleep);
    let mut child = pod_command(dir.path(), &container, &script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ended = run_until_sigterm(&mut child, &dir.path().join("nsenter.log"));
    let _ = child.kill();
    let _ = child.wait();
    let start = Instant::now();
    let sleeps: Vec<String> = read_or_empty(&pids).lines().map(String::from).collect();
    while sleeps.iter().any(|p| alive(p)) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<&String> = sleeps.iter().filter(|p| alive(p)).collect();
    for pid in &left {
        let _ = Command::new("kill").arg(pid.as_str()).status();
    }
    let status = ended.unwrap_or_else(|e| panic!("the script: {e}"));
    assert!(status.success(), "{status}");
    assert!(!sleeps.is_empty());
    assert!(left.is_empty(), "the script left `sleep` running: {left:?}");
}
