//! Helpers the integration tests share: case folders hold extra files in `files/`.
// Each test crate compiles this module and uses only some of it.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::{Child, Output};
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
