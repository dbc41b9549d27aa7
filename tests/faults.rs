//! Faults caused for real: a full disk and a read-only file system (tmpfs, so root only), system
//! calls failed or cut short by strace, 16 runs at once; and what a write keeps or refuses: mode,
//! owner, group, extended attributes, hard and symbolic links. A test that needs root or strace
//! prints `SKIPPED` where they are missing, and fails instead under PAUSECTL_REQUIRE_FAULTS=1
//! (as `.ci/run` sets it).

mod common;

use common::{SET, default_config, pausectl, run_bounded, stderr};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The image `SET` pins.
const REF: &str = SET[2];

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

/// A line on standard error that cargo's capture lets through, for CI's log.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "tests/faults.rs: {line}");
}

/// Says why a test cannot run here; under PAUSECTL_REQUIRE_FAULTS=1 that is a failure.
fn skip(test: &str, why: &str) {
    if std::env::var("PAUSECTL_REQUIRE_FAULTS").is_ok_and(|v| v == "1") {
        panic!("{test}: {why}, and PAUSECTL_REQUIRE_FAULTS=1");
    }
    say(&format!("SKIPPED {test}: {why}"));
}

fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount a tmpfs (root only): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir))
    }

    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.0.path()).status();
    }
}

#[test]
fn full_disk_leaves_the_config_and_no_temp_file() {
    let tmpfs = match Tmpfs::mount("64k") {
        Ok(t) => t,
        Err(why) => return skip("full_disk", &why),
    };
    let dir = tmpfs.path();
    let original = default_config();
    fs::write(dir.join("config.toml"), &original).unwrap();
    // Fill the file system to the last byte.
    let mut filler = fs::File::create(dir.join("filler")).unwrap();
    while std::io::Write::write(&mut filler, &[b'#'; 512]).is_ok_and(|n| n > 0) {}
    drop(filler);

    for extra in [&[][..], &["--backup"][..]] {
        let out = pausectl(dir, &[SET, extra].concat());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("No space left on device"), "{err}");
        assert!(err.contains("config.toml"), "{err}");
        assert_eq!(fs::read(dir.join("config.toml")).unwrap(), original);
        assert_eq!(names(dir), ["config.toml", "filler"]);
    }
    // Reading still works: the diff of what would change.
    let out = pausectl(dir, &[SET, &["--dry-run"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn read_only_file_system_is_reported_and_left_alone() {
    let tmpfs = match Tmpfs::mount("1m") {
        Ok(t) => t,
        Err(why) => return skip("read_only_file_system", &why),
    };
    let dir = tmpfs.path();
    let original = default_config();
    fs::write(dir.join("config.toml"), &original).unwrap();
    let status = Command::new("mount")
        .args(["-o", "remount,ro"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());

    let out = pausectl(dir, SET);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("Read-only file system") && err.contains("the file is left as it was"),
        "{err}"
    );
    assert_eq!(fs::read(dir.join("config.toml")).unwrap(), original);
    assert_eq!(names(dir), ["config.toml"]);
    // Everything that only reads goes on working.
    for (args, code) in [
        (&["show", "--config", "config.toml"][..], 0),
        (&[SET, &["--dry-run"]].concat()[..], 0),
        (&[SET, &["--check"]].concat()[..], 1),
    ] {
        assert_eq!(pausectl(dir, args).status.code(), Some(code), "{args:?}");
    }
}

#[test]
fn read_only_file_is_refused_even_for_root() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    fs::write(&config, default_config()).unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o444)).unwrap();
    let out = pausectl(dir.path(), SET);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`config.toml`: it is read-only (mode 0444)") && err.contains("chmod u+w"),
        "{err}"
    );
    assert_eq!(fs::read(&config).unwrap(), default_config());
    assert_eq!(fs::metadata(&config).unwrap().mode() & 0o7777, 0o444);
}

/// A bad `--image` is refused before the config is read or locked: no lock file appears.
#[test]
fn bad_image_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("config.toml"), default_config()).unwrap();
    let mut args = SET.to_vec();
    args[2] = "pause:3.10";
    let out = pausectl(dir.path(), &args);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("error: invalid --image:"),
        "{}",
        stderr(&out)
    );
    assert_eq!(names(dir.path()), ["config.toml"]);
}

#[test]
fn directory_instead_of_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("config.toml")).unwrap();
    for args in [SET, &["show", "--config", "config.toml"]] {
        let out = pausectl(dir.path(), args);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("it is a directory, not a file"));
    }
    assert_eq!(names(&dir.path().join("config.toml")), Vec::<String>::new());
}

/// A missing config is created only with --create (or at the default path), and only by a
/// `set` that writes: `show`, `--dry-run`, `--check`, a run without --create and a run that
/// fails create nothing, not even the directory.
#[test]
fn missing_parent_directory_is_created_by_set_only() {
    let dir = tempfile::tempdir().unwrap();
    let args = |extra: &[&'static str]| {
        let mut a = SET.to_vec();
        a[4] = "etc/containerd/config.toml";
        a.extend(extra);
        a
    };
    let show = [
        "show",
        "--config",
        "etc/containerd/config.toml",
        "--containerd-version",
        "2.1",
    ];
    assert_eq!(pausectl(dir.path(), &show).status.code(), Some(0));
    assert_eq!(
        pausectl(dir.path(), &args(&["--dry-run", "--create"]))
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        pausectl(dir.path(), &args(&["--check", "--create"]))
            .status
            .code(),
        Some(1)
    );
    let out = pausectl(dir.path(), &args(&[]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --create"), "{}", stderr(&out));
    // Refused after reading (a release that refuses the seed's version): nothing either.
    let mut refused = args(&["--create"]);
    refused[6] = "1.7.24";
    refused.extend(["--drop-in", "etc/containerd/conf.d/x.toml"]);
    assert_eq!(pausectl(dir.path(), &refused).status.code(), Some(2));
    assert_eq!(names(dir.path()), Vec::<String>::new());

    let out = pausectl(dir.path(), &args(&["--create"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let config = dir.path().join("etc/containerd/config.toml");
    assert_eq!(fs::metadata(&config).unwrap().mode() & 0o7777, 0o644);
    assert!(fs::read_to_string(&config).unwrap().contains(REF));
    assert_eq!(names(&dir.path().join("etc/containerd")), ["config.toml"]);
}

#[test]
fn mode_owner_group_xattrs_and_hard_links() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    fs::write(&config, default_config()).unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o640)).unwrap();
    if is_root() {
        std::os::unix::fs::chown(&config, Some(1234), Some(5678)).unwrap();
    } else {
        skip("owner and group", "changing them needs root");
    }
    let xattrs = xattr::set(&config, "user.pausectl", b"kept").is_ok();
    if !xattrs {
        skip(
            "extended attributes",
            "this file system has no user.* xattrs",
        );
    }
    fs::hard_link(&config, dir.path().join("other-name.toml")).unwrap();

    let out = pausectl(dir.path(), SET);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let meta = fs::metadata(&config).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    if is_root() {
        assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    }
    if xattrs {
        assert_eq!(
            xattr::get(&config, "user.pausectl").unwrap().as_deref(),
            Some(&b"kept"[..])
        );
    }
    assert!(fs::read_to_string(&config).unwrap().contains(REF));
    // The other name of the file keeps the old text, as the warning says.
    assert!(err.contains("`config.toml` has 2 hard links"), "{err}");
    assert_eq!(
        fs::read(dir.path().join("other-name.toml")).unwrap(),
        default_config()
    );
}

/// A chain of links (relative, then absolute) is followed to the file, which is edited in
/// place of its links; a loop and a dangling link are refused.
#[test]
fn symlink_chains_are_followed_and_loops_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real");
    fs::create_dir(&real).unwrap();
    fs::write(real.join("config.toml"), default_config()).unwrap();
    symlink(real.join("config.toml"), dir.path().join("b.toml")).unwrap();
    symlink("b.toml", dir.path().join("config.toml")).unwrap();

    let out = pausectl(dir.path(), SET);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for link in ["config.toml", "b.toml"] {
        let meta = fs::symlink_metadata(dir.path().join(link)).unwrap();
        assert!(meta.file_type().is_symlink(), "{link}");
    }
    assert!(
        fs::read_to_string(real.join("config.toml"))
            .unwrap()
            .contains(REF)
    );
    assert_eq!(names(&real), ["config.toml"]);

    for (a, b, why) in [
        ("loop-a.toml", "loop-b.toml", "symbolic links"),
        ("dangling.toml", "nowhere.toml", "does not exist"),
    ] {
        symlink(b, dir.path().join(a)).unwrap();
        if a == "loop-a.toml" {
            symlink(a, dir.path().join(b)).unwrap();
        }
        let mut args = SET.to_vec();
        args[4] = a;
        let out = pausectl(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{a}");
        assert!(stderr(&out).contains(why), "{a}: {}", stderr(&out));
        assert!(names(dir.path()).iter().all(|n| !n.ends_with(".lock")));
    }
}

/// 16 runs with 16 images at once: all succeed, one after another (each reports as `before`
/// the image of the run ahead of it, so no run's write is lost), and the file ends valid,
/// holding the last run's image, with no temp file beside it.
#[test]
fn sixteen_concurrent_runs_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    fs::write(&config, default_config()).unwrap();
    let images: Vec<String> = (0..16)
        .map(|i| format!("registry.local:5000/pause:3.{i}"))
        .collect();
    let children: Vec<_> = images
        .iter()
        .map(|image| {
            let mut args = SET.to_vec();
            args[2] = image;
            args.push("--json");
            Command::new(env!("CARGO_BIN_EXE_pausectl"))
                .env(common::NO_VERIFY, "1")
                .args(args)
                .current_dir(dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut next = BTreeMap::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let before = j["before"].as_str().unwrap().to_string();
        let after = j["after"].as_str().unwrap().to_string();
        assert!(
            next.insert(before.clone(), after).is_none(),
            "two runs both replaced {before}"
        );
    }
    // Follow the runs from the original image: every image is visited once.
    let mut image = "registry.k8s.io/pause:3.10".to_string();
    for _ in 0..16 {
        image = next.remove(&image).expect("the runs form one chain");
    }
    let text = fs::read_to_string(&config).unwrap();
    text.parse::<toml_edit::DocumentMut>().unwrap();
    let release = pausectl::Release::parse("2.1");
    let report = pausectl::inspect(&text, release).unwrap();
    assert_eq!(report.image.as_deref(), Some(image.as_str()));
    assert_eq!(names(dir.path()), ["config.toml"]);
}

/// While another process holds the lock (`flock` on the config's directory, as
/// `flock /etc/containerd CMD` takes it), `set` waits without touching the file, then goes on.
#[test]
fn set_waits_for_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    fs::write(&config, default_config()).unwrap();
    let holder = fs::File::open(dir.path()).unwrap();
    holder.lock().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pausectl"))
        .env(common::NO_VERIFY, "1")
        .args(SET)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "set did not wait");
    assert_eq!(fs::read(&config).unwrap(), default_config());
    drop(holder);
    assert_eq!(child.wait().unwrap().code(), Some(0));
    assert!(fs::read_to_string(&config).unwrap().contains(REF));
    assert_eq!(names(dir.path()), ["config.toml"]);
}

/// Calls that touch files, whose failure `set` must report (exit 2) or survive (exit 0).
const FILE_CALLS: &[&str] = &[
    "openat",
    "read",
    "pread64",
    "write",
    "close",
    "fsync",
    "fdatasync",
    "fchmod",
    "fchown",
    "rename",
    "renameat",
    "renameat2",
    "unlink",
    "unlinkat",
    "mkdir",
    "statx",
    "newfstatat",
    "readlink",
    "getcwd",
    "flock",
    "fcntl",
    "ioctl",
    "getdents64",
    "llistxattr",
    "lgetxattr",
    "fsetxattr",
    "linkat",
];

/// Every system call `set` makes after the program starts (the first `poll`, std's check of the
/// standard streams), as (name, the how-manieth call of that name it is).
fn calls_after_start(log: &str) -> Vec<(String, usize)> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut started = false;
    let mut out = Vec::new();
    for line in log.lines() {
        let Some((name, _)) = line.split_once('(') else {
            continue;
        };
        let n = seen.entry(name.to_string()).or_default();
        *n += 1;
        started |= name == "poll";
        if started && name != "exit_group" {
            out.push((name.to_string(), *n));
        }
    }
    out
}

/// Each system call of a `set` run, in turn, fails with EIO or is met by SIGKILL (strace's
/// fault injection): for a lone config, and for a config whose pin is in a drop-in under a
/// `conf.d/*` glob (with `--backup`), where any file pausectl left in `conf.d` would be loaded
/// by containerd. After every run each file holds exactly its old bytes or its new ones, and no
/// file is left that the glob loads; a run that was not killed exits 0 (new bytes) or 2 (old
/// bytes, unless the message says the file was written) and leaves no temp file; a killed run
/// leaves at most a temp file outside the glob, which the next run removes.
#[test]
fn every_failed_or_killed_system_call_leaves_old_or_new_bytes() {
    if Command::new("strace").arg("-V").output().is_err() {
        return skip(
            "fault injection",
            "strace is not installed (apt-get install strace)",
        );
    }
    let lone = [("config.toml", default_config())];
    if !inject_everywhere("a lone config", &lone, SET, None) {
        return;
    }
    let chain = [
        (
            "config.toml",
            b"version = 3\nimports = [\"conf.d/*\"]\n".to_vec(),
        ),
        (
            "conf.d/20-cri.toml",
            b"version = 3\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = \"registry.k8s.io/pause:3.10\"\n".to_vec(),
        ),
    ];
    let args = [SET, &["--backup"]].concat();
    inject_everywhere("a drop-in under conf.d/*", &chain, &args, Some("conf.d"));
}

/// [`every_failed_or_killed_system_call_leaves_old_or_new_bytes`] for one set of `files`;
/// false when strace cannot trace here (said as a skip).
fn inject_everywhere(
    what: &str,
    files: &[(&str, Vec<u8>)],
    args: &[&str],
    glob_dir: Option<&str>,
) -> bool {
    let bin = env!("CARGO_BIN_EXE_pausectl");
    let dir = tempfile::tempdir().unwrap();
    let reset = || {
        for entry in fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                fs::remove_dir_all(&path).unwrap();
            } else if !path.ends_with("trace.log") {
                fs::remove_file(&path).unwrap();
            }
        }
        for (name, bytes) in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
        }
    };
    let strace = |inject: &[String]| {
        reset();
        let mut cmd = Command::new("strace");
        cmd.env(common::NO_VERIFY, "1");
        cmd.args(["-qq", "-o", "trace.log"])
            .args(inject)
            .arg("--")
            .arg(bin)
            .args(args)
            .current_dir(dir.path());
        run_bounded(&mut cmd)
    };
    let read_all = || -> Vec<Vec<u8>> {
        files
            .iter()
            .map(|(name, _)| fs::read(dir.path().join(name)).unwrap())
            .collect()
    };
    let out = strace(&[]);
    if !out.status.success() {
        skip(
            "fault injection",
            &format!("strace cannot trace here: {}", stderr(&out)),
        );
        return false;
    }
    let new = read_all();
    let old: Vec<Vec<u8>> = files.iter().map(|(_, b)| b.clone()).collect();
    assert!(new.iter().zip(&old).any(|(n, o)| n != o));
    let calls = calls_after_start(&fs::read_to_string(dir.path().join("trace.log")).unwrap());
    assert!(calls.iter().any(|(n, _)| n == "renameat" || n == "rename"));
    let given: Vec<String> = files.iter().map(|(n, _)| n.to_string()).collect();
    // The files besides those given: backups are asked for; anything else is not.
    let others = || -> Vec<String> {
        common::list_tree(dir.path())
            .into_iter()
            .filter(|n| !given.contains(n) && n != "trace.log" && !n.contains(".bak"))
            .collect()
    };

    let (mut runs, mut killed, mut failed, mut leftovers) = (0, 0, 0, 0);
    for (name, nth) in &calls {
        let mut faults = vec!["signal=KILL"];
        if FILE_CALLS.contains(&name.as_str()) {
            faults.push("error=EIO");
        }
        for fault in faults {
            let what = format!("{what}: {name}:{fault}:when={nth}");
            let out = strace(&[
                "-e".into(),
                format!(
                    "inject={what_}",
                    what_ = &what[what.find(": ").unwrap() + 2..]
                ),
            ]);
            runs += 1;
            let now = read_all();
            for (i, (file, _)) in files.iter().enumerate() {
                assert!(
                    now[i] == old[i] || now[i] == new[i],
                    "{what}: {file} is neither old nor new"
                );
            }
            if let Some(g) = glob_dir {
                let want: Vec<&String> = given
                    .iter()
                    .filter(|n| n.starts_with(&format!("{g}/")))
                    .collect();
                let have = common::list_tree(&dir.path().join(g));
                assert_eq!(
                    have.len(),
                    want.len(),
                    "{what}: files in {g}/ that containerd loads: {have:?}"
                );
            }
            let err = stderr(&out);
            assert!(!err.contains("panicked"), "{what}: {err}");
            let left = others();
            if out.status.signal() == Some(9) {
                // A run killed between the link and the rename of its temp file cannot remove
                // it; it is outside every glob, and the next run removes it.
                killed += 1;
                assert!(
                    left.iter()
                        .all(|n| n.rsplit('/').next().unwrap().ends_with(".pausectl")),
                    "{what}: left {left:?}"
                );
                leftovers += left.len();
                if !left.is_empty() {
                    let again = pausectl(dir.path(), args);
                    assert_eq!(again.status.code(), Some(0), "{what}: {}", stderr(&again));
                    assert_eq!(others(), Vec::<String>::new(), "{what}");
                }
                continue;
            }
            failed += 1;
            assert!(left.is_empty(), "{what}: files left: {left:?}");
            let all_new = now == new;
            match out.status.code() {
                Some(0) => assert!(all_new, "{what}: exit 0 without the new config"),
                Some(2) if now != old => assert!(
                    err.contains("was written") || err.contains("now holds the new config"),
                    "{what}: exit 2 after writing, and the message does not say so: {err}"
                ),
                Some(2) => assert!(
                    err.lines().any(|l| l.starts_with("error: ")),
                    "{what}: {err}"
                ),
                other => panic!("{what}: exit {other:?}: {err}"),
            }
        }
    }
    say(&format!(
        "{what}: {} system calls, {runs} injected runs: {killed} killed ({leftovers} left a temp file outside every import glob, which the next run removed), {failed} failed calls",
        calls.len()
    ));
    assert!(runs > 50 && killed > 30 && failed > 20);
    true
}

/// A user who may not write the config (or lock its directory) is told to run as root, and
/// nothing is written or left behind.
#[test]
fn permission_denied_says_run_as_root() {
    if !is_root() {
        return skip("permission denied", "switching to another user needs root");
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("config.toml");
    fs::write(&config, default_config()).unwrap();
    let as_nobody = |dir: &Path| {
        run_bounded(
            Command::new("setpriv")
                .env(common::NO_VERIFY, "1")
                .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
                .arg(env!("CARGO_BIN_EXE_pausectl"))
                .args(SET)
                .current_dir(dir),
        )
    };
    let out = as_nobody(dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("Permission denied") && err.contains("run as root"),
        "{err}"
    );
    assert_eq!(fs::read(&config).unwrap(), default_config());
    assert_eq!(names(dir.path()), ["config.toml"]);
    // A directory it cannot even read: the lock says so.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o711)).unwrap();
    let out = as_nobody(dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot lock") && err.contains("run as root"),
        "{err}"
    );
    assert_eq!(fs::read(&config).unwrap(), default_config());
}

/// The chain of a config whose pin is in `conf.d/20-cri.toml`, which `conf.d/*` imports.
fn conf_d_chain(dir: &Path, image: &str) {
    fs::create_dir_all(dir.join("conf.d")).unwrap();
    fs::write(
        dir.join("config.toml"),
        "version = 3\nimports = [\"conf.d/*\"]\n",
    )
    .unwrap();
    fs::write(
        dir.join("conf.d/20-cri.toml"),
        format!("version = 3\n[plugins.\"io.containerd.cri.v1.images\".pinned_images]\n  sandbox = \"{image}\"\n"),
    )
    .unwrap();
}

/// A backup that cannot be written stops the run before any file is written, and the backups
/// made before it go too: nothing is left that the user did not have.
#[test]
fn a_failed_backup_leaves_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    conf_d_chain(dir.path(), "registry.k8s.io/pause:3.10");
    // The drop-in's backup can be made, the main config's cannot (1000 exist).
    let bk = dir.path().join("bk");
    fs::create_dir(&bk).unwrap();
    for n in 0..1000 {
        let name = if n == 0 {
            "config.toml.bak".into()
        } else {
            format!("config.toml.bak.{n}")
        };
        fs::write(bk.join(name), "").unwrap();
    }
    let before = common::list_tree(dir.path());
    let chain_before: Vec<Vec<u8>> = ["config.toml", "conf.d/20-cri.toml"]
        .iter()
        .map(|f| fs::read(dir.path().join(f)).unwrap())
        .collect();
    let out = pausectl(dir.path(), &[SET, &["--backup-dir", "bk"]].concat());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("1000 backups exist") && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(common::list_tree(dir.path()), before);
    for (f, old) in ["config.toml", "conf.d/20-cri.toml"]
        .iter()
        .zip(&chain_before)
    {
        assert_eq!(&fs::read(dir.path().join(f)).unwrap(), old, "{f}");
    }
}

/// 16 runs at once create one config in a directory that does not exist yet: the directory
/// appears only with the config in it, so every run either creates it or edits what another
/// wrote, and all succeed.
#[test]
fn concurrent_creates_of_a_new_directory_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..16)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_pausectl"))
                .env(common::NO_VERIFY, "1")
                .args([
                    "set",
                    "--image",
                    &format!("registry.local:5000/pause:3.{i}"),
                ])
                .args([
                    "--config",
                    "a/b/config.toml",
                    "--create",
                    "--containerd-version",
                    "2.1",
                    "-q",
                ])
                .current_dir(dir.path())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    assert_eq!(common::list_tree(dir.path()), ["a/b/config.toml"]);
    let text = fs::read_to_string(dir.path().join("a/b/config.toml")).unwrap();
    assert!(text.starts_with("version = 3\n"), "{text}");
}

/// Two configs in two directories import one `conf.d`, and 20 runs pin both at once: the
/// drop-in's directory is locked too, so no run overwrites what another wrote without having
/// read it. A run that read the drop-in before another changed it exits 2 and says to run
/// again; the files end valid, pinning one of the images, with nothing left beside them.
#[test]
fn configs_sharing_a_drop_in_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    conf_d_chain(dir.path(), "registry.k8s.io/pause:3.10");
    let shared = dir.path().join("conf.d");
    for m in ["m1", "m2"] {
        fs::create_dir(dir.path().join(m)).unwrap();
        fs::write(
            dir.path().join(m).join("config.toml"),
            format!("version = 3\nimports = [\"{}/*\"]\n", shared.display()),
        )
        .unwrap();
    }
    let children: Vec<_> = (0..20)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_pausectl"))
                .env(common::NO_VERIFY, "1")
                .args([
                    "set",
                    "--image",
                    &format!("registry.local:5000/pause:3.{i}"),
                ])
                .args(["--config", &format!("m{}/config.toml", i % 2 + 1)])
                .args(["--containerd-version", "2.1", "-q"])
                .current_dir(dir.path())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut again = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        match out.status.code() {
            Some(0) => {}
            Some(2) if err.contains("run again") => again += 1,
            other => panic!("exit {other:?}: {err}"),
        }
    }
    let text = fs::read_to_string(shared.join("20-cri.toml")).unwrap();
    let report = pausectl::inspect(&text, pausectl::Release::parse("2.1")).unwrap();
    assert!(
        report
            .image
            .unwrap()
            .starts_with("registry.local:5000/pause:3.")
    );
    assert_eq!(names(&shared), ["20-cri.toml"]);
    for m in ["m1", "m2"] {
        assert_eq!(names(&dir.path().join(m)), ["config.toml"]);
    }
    say(&format!(
        "20 runs on two configs sharing a drop-in: {again} asked to run again"
    ));
}
