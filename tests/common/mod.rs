//! Helpers the integration tests share: case folders hold extra files in `files/`.
// Each test crate compiles this module and uses only some of it.
#![allow(dead_code)]

pub mod registry;

use std::fs;
use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Copies `from` (if it exists) into `to`, keeping relative paths.
pub fn copy_tree(from: &Path, to: &Path) {
    for rel in list_tree(from) {
        let dest = to.join(&rel);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(from.join(&rel), dest).unwrap();
    }
}

/// The files below `root`, as sorted relative paths.
pub fn list_tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

/// Every directory under `root` (not `root` itself), relative to it, sorted.
pub fn list_dirs(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Waits for `child` to end, or kills it once `limit` has passed: no run may hang a test. Its
/// output must fit the pipes (64 KiB), which are read only after it ends.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Result<Output, String> {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            return Err(format!("still running after {} s", limit.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(child.wait_with_output().unwrap())
}

/// Whether the shell finds `tool` on `PATH`.
pub fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The variable that turns off asking the registry before a write (`--no-verify`).
pub const NO_VERIFY: &str = "PAUSECTL_NO_VERIFY";

/// Every case folder in `testdata/cases`, sorted (see `tests/cases.rs` for what one holds).
pub fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cases");
    let mut v: Vec<PathBuf> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// The binary as a test runs it: in `dir`, with no `containerd` on `PATH` (so that the release
/// is the one the arguments give), no standard input, and killed after 60 s (no run may hang).
pub fn pausectl_command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pausectl"));
    // Tests name registries that do not exist; tests/registry.rs and the cases (which say
    // --no-verify where they write) remove this.
    cmd.env(NO_VERIFY, "1");
    cmd.args(args)
        .current_dir(dir)
        .env("PATH", "/nonexistent")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `pausectl ARGS` in `dir` (see [`pausectl_command`]) to its end.
pub fn pausectl(dir: &Path, args: &[&str]) -> Output {
    run_bounded(&mut pausectl_command(dir, args))
}

/// Runs `cmd` to its end, or kills it and fails the test after 60 s: no run may hang.
pub fn run_bounded(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_bounded(child, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// `pausectl set` pinning registry.local:5000/pause:3.10 in `config.toml` for containerd 2.1.
pub const SET: &[&str] = &[
    "set",
    "--image",
    "registry.local:5000/pause:3.10",
    "--config",
    "config.toml",
    "--containerd-version",
    "2.1",
];

/// containerd 2.1's default config, as `containerd config default` printed it.
pub fn default_config() -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/defaults/containerd-2.1-default.toml"),
    )
    .unwrap()
}

/// A run's standard error, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A containerd build that `scripts/fetch-containerd.sh` unpacked.
pub struct Build {
    pub release: pausectl::Release,
    /// Its `usr/bin/containerd`.
    pub bin: PathBuf,
}

/// The builds in `target/containerd` (or `$PAUSECTL_CONTAINERD_CACHE`), oldest first.
pub fn builds() -> Vec<Build> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = std::env::var_os("PAUSECTL_CONTAINERD_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/containerd"));
    let mut found: Vec<Build> = fs::read_dir(&cache)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let dir = e.ok()?.path();
            // An unpacking that did not finish (scripts/fetch-containerd.sh).
            if dir.extension().is_some_and(|x| x == "partial") {
                return None;
            }
            let bin = dir.join("usr/bin/containerd");
            let out = Command::new(&bin).arg("--version").output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let release = pausectl::Release::parse(text.split_whitespace().nth(2)?)?;
            Some(Build { release, bin })
        })
        .collect();
    found.sort_by_key(|b| b.release);
    found
}
