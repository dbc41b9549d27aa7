//! A pod really starts offline. For each containerd build (`scripts/fetch-containerd.sh`:
//! Debian's 1.6, 1.7 and 2.x), a daemon running that release's own `containerd config default`
//! is asked over CRI, as kubelet asks, to start a pod sandbox:
//! - before pausectl, the start fails naming `registry.k8s.io` (there is no internet here);
//! - after `pausectl set --registry 127.0.0.1:PORT` (the release found on PATH, the image
//!   checked with the registry) and a restart, the sandbox is SANDBOX_READY, containerd holds
//!   the pinned image, and the registry's log shows containerd's own requests for it;
//! - `set --registry` to a repository that lacks the tag exits 2, leaves the file as it was,
//!   and after a restart the sandbox still starts from the pin before it.
//!
//! The registry is Debian's `docker-registry` on 127.0.0.1 with an image built here (a static
//! binary that blocks on `pause()`, `tests/registry`). Each daemon runs in mount and PID
//! namespaces of its own (`unshare`) with a tmpfs on `/run`: when it stops, the kernel ends the
//! shims and containers it started and drops their mounts. Its root, state, socket, runc root,
//! CNI, CDI and opt directories are in a temporary directory, and the test checks that the
//! host's containerd paths and cgroups are as they were.
//!
//! Needs root, Debian's `runc`, `docker-registry`, `skopeo` and `gcc`, and the builds; says
//! SKIPPED with what is missing otherwise, or fails under PAUSECTL_REQUIRE_POD=1 (`.ci/run`).

mod common;
#[path = "pod/cri.rs"]
mod cri;

use common::registry::{Registry, checked_command, image, push};
use common::{Build, builds};
use cri::{Cri, SANDBOX_READY};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Host paths a containerd daemon or its CRI plugin creates with the default config.
const HOST_PATHS: &[&str] = &[
    "/run/containerd",
    "/var/lib/containerd",
    "/opt/containerd",
    "/etc/cni",
    "/etc/cdi",
    "/var/run/cdi",
    "/var/run/nri",
    "/etc/nri",
    "/opt/nri",
];

/// The cgroup parent of the test's pods (cgroupfs: a directory in each hierarchy).
const CGROUP_PARENT: &str = "pausectl-pod-test";

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "tests/pod.rs: {line}");
}

/// Why this machine cannot run the test, if it cannot.
fn missing(builds: &[Build]) -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root (a containerd daemon needs root); run as root".into());
    }
    let tools = ["runc", "unshare", "docker-registry", "skopeo", "gcc"];
    let absent: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| !common::on_path(t))
        .collect();
    if !absent.is_empty() {
        return Some(format!(
            "{} missing; run apt-get install runc docker-registry skopeo gcc libc6-dev",
            absent.join(", ")
        ));
    }
    if builds.is_empty() {
        return Some("no containerd builds; run bash scripts/fetch-containerd.sh".into());
    }
    None
}

/// What exists now of the host paths the daemons could create.
fn host_state() -> Vec<String> {
    let mut found: Vec<String> = HOST_PATHS
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| p.to_string())
        .collect();
    for dir in cgroup_roots() {
        for name in ["k8s.io", CGROUP_PARENT] {
            if dir.join(name).exists() {
                found.push(dir.join(name).display().to_string());
            }
        }
    }
    found
}

/// Where a cgroup parent goes: each v1 hierarchy, and the unified (v2) root.
fn cgroup_roots() -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut roots = vec![root.to_path_buf()];
    for entry in fs::read_dir(root).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            roots.push(path);
        }
    }
    roots
}

/// Removes an empty cgroup and the empty cgroups below it, deepest first (a cgroup's files
/// cannot be unlinked; rmdir of a cgroup without processes takes them).
fn remove_cgroup(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            remove_cgroup(&path);
        }
    }
    let _ = fs::remove_dir(dir);
}

/// `containerd config default` of `build`, with everything it would put on the host moved
/// into `dir`, and `restrict_oom_score_adj = true` (root here lacks CAP_SYS_RESOURCE).
fn isolated_config(build: &Build, dir: &Path) -> String {
    let out = Command::new(&build.bin)
        .args(["config", "default"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: config default failed",
        build.release
    );
    let mut text = String::from_utf8(out.stdout).unwrap();
    let d = dir.display();
    for (host, own) in [
        ("/var/lib/containerd", format!("{d}/root")),
        ("/run/containerd", format!("{d}/state")),
        ("/opt/containerd", format!("{d}/opt")),
        ("/etc/cni/net.d", format!("{d}/cni")),
        ("/etc/cdi", format!("{d}/cdi")),
        ("/var/run/nri", format!("{d}/nri")),
    ] {
        text = text.replace(host, &own);
    }
    text = text.replace(
        "restrict_oom_score_adj = false",
        "restrict_oom_score_adj = true",
    );
    // No drop-ins of the host's (a release whose default imports /etc/containerd/conf.d).
    text = text
        .lines()
        .map(|l| match l.starts_with("imports") {
            true => "imports = []",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    // runc's own state: the runc runtime's options, `Root = ""` (or '' in version 3).
    for empty in ["Root = \"\"", "Root = ''"] {
        text = text.replace(empty, &format!("Root = \"{d}/runc\""));
    }
    text
}

/// A containerd daemon in mount and PID namespaces of its own.
struct Daemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    fn start(build: &Build, dir: &Path) -> Daemon {
        let bin_dir = build.bin.parent().unwrap();
        let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin_dir.display());
        let log = dir.join("containerd.log");
        let child = Command::new("unshare")
            .args(["--mount", "--pid", "--fork", "--kill-child"])
            .args(["--propagation", "private", "--mount-proc", "sh", "-c"])
            .arg("mount -t tmpfs pausectl-pod-test /run && exec \"$0\" --config \"$1\"")
            .arg(&build.bin)
            .arg(dir.join("config.toml"))
            .env_clear()
            .env("PATH", path)
            // No internet, even on a machine that has it: a proxy that refuses every
            // connection (Go never proxies loopback, so the registry on 127.0.0.1 is reached).
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("HTTP_PROXY", "http://127.0.0.1:9")
            .stdin(Stdio::null())
            .stdout(fs::File::create(dir.join("containerd.out")).unwrap())
            .stderr(
                fs::File::options()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        Daemon {
            child,
            socket: dir.join("state/containerd.sock"),
            log,
        }
    }

    /// A CRI client, once the daemon answers `Version` (at most 60 s).
    fn cri(&mut self) -> Cri {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("containerd exited ({status}): {}", self.log_text());
            }
            let client = Cri::connect(&self.socket, Duration::from_secs(120));
            if let Ok(mut cri) = client
                && cri.version().is_ok()
            {
                return cri;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "containerd did not answer CRI in 60 s: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM to containerd (unshare's child), as systemd stops it; SIGKILL after 30 s.
    fn stop(mut self) {
        let me = self.child.id();
        let children = format!("/proc/{me}/task/{me}/children");
        if let Ok(pids) = fs::read_to_string(children) {
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-TERM", pid]).status();
            }
        }
        let start = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(30) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    /// unshare's `--kill-child` takes containerd with it, and the kernel the PID namespace.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `pausectl ARGS` with `bin_dir` (the build's containerd) first on PATH and the registry
/// check on: (exit code, standard output, standard error).
fn pausectl(dir: &Path, bin_dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = common::run_bounded(
        checked_command(dir, args).env("PATH", format!("{}:/usr/bin:/bin", bin_dir.display())),
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts a sandbox, checks it is READY and that containerd holds `image`, then stops and
/// removes it. Returns the sandbox id.
fn sandbox_ready(cri: &mut Cri, dir: &Path, image: &str) -> String {
    let id = cri
        .run_pod_sandbox("pausectl-pod", CGROUP_PARENT, &dir.join("pods"))
        .unwrap_or_else(|e| panic!("RunPodSandbox with {image} pinned: {}", e.message()));
    let status = cri.sandbox_status(&id).unwrap();
    let state = status.status.as_ref().map(|s| s.state);
    assert_eq!(state, Some(SANDBOX_READY), "sandbox {id}: {status:?}");
    let held = cri.image_status(image).unwrap();
    assert!(held.is_some(), "containerd holds no image {image}");
    cri.stop_and_remove(&id).unwrap();
    id
}

/// The registry's access-log lines of requests whose user agent is containerd `release`'s.
fn containerd_requests(registry: &Registry, release: &str) -> Vec<String> {
    let agent = format!("\"containerd/{release}");
    registry
        .requests()
        .lines()
        .filter(|l| l.starts_with("127.0.0.1 - ") && l.ends_with('"') && l.contains(&agent))
        .map(str::to_string)
        .collect()
}

/// The whole story on one build; `registry` has the pause image under every default tag.
fn pod_starts_offline(build: &Build, registry: &Registry) {
    let release = &build.release;
    let bin_dir = build.bin.parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let config = dir.join("config.toml");
    fs::write(&config, isolated_config(build, dir)).unwrap();

    // Before: the default pin, and no internet.
    let mut daemon = Daemon::start(build, dir);
    let err = daemon
        .cri()
        .run_pod_sandbox("pausectl-pod", CGROUP_PARENT, &dir.join("pods"))
        .expect_err("a sandbox started before the pin, with no internet");
    assert!(
        err.message().contains("registry.k8s.io"),
        "{release}: {}",
        err.message()
    );
    say(&format!(
        "containerd {release}, before pausectl: RunPodSandbox failed: {}",
        err.message()
    ));
    daemon.stop();

    // The pin, with the release found on PATH and the image checked with the registry.
    let host = registry.host();
    let (code, stdout, stderr) = pausectl(
        dir,
        bin_dir,
        &[
            "set",
            "--registry",
            &host,
            "--config",
            "config.toml",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{release}: pausectl set: {stderr}");
    let done: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let image = done["after"].as_str().unwrap().to_string();
    assert!(image.starts_with(&format!("{host}/pause:")), "{done}");
    assert_eq!(done["written"], true, "{done}");
    assert_eq!(done["containerd_version"], release.to_string(), "{done}");
    assert!(done["verified"]["digest"].is_string(), "{done}");
    say(&format!(
        "containerd {release}: pausectl set --registry {host} pinned {image} (release found on PATH; checked with the registry)"
    ));

    // After a restart: READY, and containerd's own requests in the registry's log.
    let mut daemon = Daemon::start(build, dir);
    let mut cri = daemon.cri();
    assert!(cri.image_status(&image).unwrap().is_none());
    let id = sandbox_ready(&mut cri, dir, &image);
    say(&format!(
        "containerd {release}, after pausectl and a restart: sandbox {} SANDBOX_READY with {image}",
        &id[..12]
    ));
    let requests = containerd_requests(registry, &release.to_string());
    let tag = image.rsplit(':').next().unwrap();
    let manifest = format!("HEAD /v2/pause/manifests/{tag} ");
    assert!(
        requests.iter().any(|l| l.contains(&manifest)),
        "{release}: no {manifest} from containerd in the registry's log: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|l| l.contains("\"GET /v2/pause/blobs/"))
    );
    for line in &requests {
        say(&format!("containerd {release}, registry log: {line}"));
    }
    daemon.stop();

    // A mirror that lacks the tag: set refuses, and the pin before it still starts pods.
    let before = fs::read(&config).unwrap();
    let empty = format!("{host}/empty");
    let (code, _, stderr) = pausectl(
        dir,
        bin_dir,
        &["set", "--registry", &empty, "--config", "config.toml"],
    );
    assert_eq!(
        code, 2,
        "{release}: set to a repository without the tag: {stderr}"
    );
    assert_eq!(
        fs::read(&config).unwrap(),
        before,
        "{release}: file changed"
    );
    // Named as it answered: plain HTTP (1.6.20 asks with http; later lines fall back to it).
    assert!(
        stderr.contains(&format!("http://{host}/v2 answered 404")),
        "{stderr}"
    );
    let first = stderr.lines().next().unwrap_or_default();
    let mut daemon = Daemon::start(build, dir);
    let id = sandbox_ready(&mut daemon.cri(), dir, &image);
    say(&format!(
        "containerd {release}: pausectl set --registry {empty} exited 2 ({first}); file untouched; after a restart sandbox {} SANDBOX_READY with {image}",
        &id[..12]
    ));
    daemon.stop();
}

/// runc removes each pod's cgroup; the parent it made in each hierarchy is the test's to remove.
fn remove_cgroup_parent() {
    for root in cgroup_roots() {
        remove_cgroup(&root.join(CGROUP_PARENT));
    }
}

#[test]
fn a_pod_starts_offline_after_pausectl() {
    let builds = builds();
    if let Some(why) = missing(&builds) {
        assert!(
            std::env::var("PAUSECTL_REQUIRE_POD").as_deref() != Ok("1"),
            "PAUSECTL_REQUIRE_POD=1, but {why}"
        );
        say(&format!("SKIPPED: {why}"));
        return;
    }
    // An earlier run that was killed may have left its (empty) cgroup parent.
    remove_cgroup_parent();
    if std::env::var("PAUSECTL_REQUIRE_POD").as_deref() == Ok("1") {
        for line in ["1.6.", "1.7.", "2."] {
            assert!(
                builds
                    .iter()
                    .any(|b| b.release.to_string().starts_with(line)),
                "PAUSECTL_REQUIRE_POD=1, but no containerd {line}x build (scripts/fetch-containerd.sh)"
            );
        }
    }
    let host_before = host_state();
    let tmp = tempfile::tempdir().unwrap();
    let platform = match std::env::consts::ARCH {
        "aarch64" => "linux/arm64/v8",
        "x86_64" => "linux/amd64",
        other => panic!("no test image for {other}"),
    };
    let layout = image(tmp.path(), "image", &[platform]);
    let registry = Registry::start(tmp.path(), "registry", None, None);
    // The defaults' tags: 1.6 pins pause:3.6, 1.7 pause:3.8, 2.x pause:3.10.
    for tag in ["3.6", "3.8", "3.10"] {
        push(
            &layout,
            &format!("{}/pause:{tag}", registry.host()),
            None,
            None,
        );
    }
    for build in &builds {
        pod_starts_offline(build, &registry);
    }
    remove_cgroup_parent();
    assert_eq!(
        host_state(),
        host_before,
        "the daemons left paths on the host"
    );
    say(&format!(
        "{} releases: the pod started offline after pausectl on each",
        builds.len()
    ));
}
