//! Runs every case in `testdata/cases/`: one folder per case, run with the real binary, each a
//! test of its own (`cargo test --test cases -- <folder name>` runs one).
//!
//! - `args`: the command line after `pausectl`, one argument per line; the config is `config.toml`
//!   in a fresh temp directory (the working directory), so diffs are labelled `config.toml`.
//! - `in.toml`: the config before (absent: the file does not exist). `stdin`: present to feed
//!   `in.toml` on standard input instead (use `--config -` in `args`).
//! - `out.toml`: the config after; absent when the file must not change (or must not exist).
//! - `files/`: more files (drop-ins, templates), copied into the temp directory first; after
//!   the run each must be unchanged unless the case has it under `files.out/`, where any file
//!   the run creates must be too.
//! - `stdout`, `stderr`: the expected output, exactly (`{dir}` stands for the temp directory).
//! - `exit`: the expected exit code (default 0).
//!
//! `SNAPSHOTS=overwrite cargo test --test cases` rewrites `out.toml`, `stdout`, `stderr` and
//! `exit` from what the binary did; review them with `git diff` before committing.

mod common;

use common::{copy_tree, list_dirs, list_tree};
use libtest_mimic::{Arguments, Failed, Trial};
use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

fn read(path: &Path) -> Option<Vec<u8>> {
    fs::read(path).ok()
}

fn run_case(case: &Path) -> Result<(), String> {
    let bless = std::env::var("SNAPSHOTS").as_deref() == Ok("overwrite");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    copy_tree(&case.join("files"), dir.path());
    let input = read(&case.join("in.toml"));
    let stdin = case.join("stdin").exists();
    if let (Some(bytes), false) = (&input, stdin) {
        fs::write(&config, bytes).unwrap();
    }
    let args = fs::read_to_string(case.join("args")).map_err(|e| format!("args: {e}"))?;
    let args: Vec<&str> = args.lines().filter(|l| !l.is_empty()).collect();
    // No `containerd` on PATH to detect: cases say their release.
    let mut child = common::pausectl_command(dir.path(), &args)
        .env_remove("NO_COLOR")
        .env_remove(common::NO_VERIFY)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if stdin {
        // A run that refuses its arguments exits without reading: a closed pipe is no failure.
        match pipe.write_all(input.as_deref().unwrap_or_default()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("stdin: {e}"),
            _ => {}
        }
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().ok_or("killed by a signal")?;
    let dir_str = dir.path().to_str().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).replace(dir_str, "{dir}");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let after = read(&config);
    // Every other file as it is after the run (those given in `files/`, and any new one),
    // against `files.out/` (or `files/` when absent): a file the case does not list there is
    // one the run should not have left (a lock, a temp file, a backup containerd loads).
    let mut names = list_tree(&case.join("files"));
    names.extend(
        list_tree(dir.path())
            .into_iter()
            .filter(|r| r != "config.toml"),
    );
    names.extend(list_tree(&case.join("files.out")));
    names.sort();
    names.dedup();
    let extra: Vec<(String, Option<Vec<u8>>)> = names
        .into_iter()
        .map(|rel| {
            let now = read(&dir.path().join(&rel));
            (rel, now)
        })
        .collect();

    if bless {
        let _ = fs::remove_dir_all(case.join("files.out"));
        for (rel, now) in &extra {
            if now.as_deref() != read(&case.join("files").join(rel)).as_deref() {
                let out = case.join("files.out").join(rel);
                fs::create_dir_all(out.parent().unwrap()).unwrap();
                fs::write(out, now.as_deref().unwrap_or_default()).unwrap();
            }
        }
        fs::write(case.join("exit"), format!("{code}\n")).unwrap();
        fs::write(case.join("stdout"), &stdout).unwrap();
        fs::write(case.join("stderr"), &stderr).unwrap();
        match (&after, &input) {
            (Some(a), Some(i)) if a == i => drop(fs::remove_file(case.join("out.toml"))),
            (Some(a), _) => fs::write(case.join("out.toml"), a).unwrap(),
            (None, _) => drop(fs::remove_file(case.join("out.toml"))),
        }
        return Ok(());
    }

    let want_code: i32 =
        fs::read_to_string(case.join("exit")).map_or(0, |s| s.trim().parse().unwrap());
    let mut problems = Vec::new();
    if code != want_code {
        problems.push(format!("exit code {code}, expected {want_code}"));
    }
    let want_file = read(&case.join("out.toml")).or(if stdin { None } else { input.clone() });
    if after != want_file {
        problems.push(format!(
            "config after the run:\n{}\nexpected:\n{}",
            after
                .as_deref()
                .map_or("<missing>".into(), String::from_utf8_lossy),
            want_file
                .as_deref()
                .map_or("<missing>".into(), String::from_utf8_lossy),
        ));
    }
    if code == 2 && after != input && !stdin {
        problems.push("an error changed the file".into());
    }
    for (rel, now) in &extra {
        let want =
            read(&case.join("files.out").join(rel)).or_else(|| read(&case.join("files").join(rel)));
        if *now != want {
            problems.push(format!(
                "files/{rel} after the run:\n{}\nexpected:\n{}",
                now.as_deref()
                    .map_or("<missing>".into(), String::from_utf8_lossy),
                want.as_deref()
                    .map_or("<missing>".into(), String::from_utf8_lossy),
            ));
        }
        if code == 2 && *now != read(&case.join("files").join(rel)) {
            problems.push(format!("an error changed files/{rel}"));
        }
    }
    // No directory the case does not have either.
    let wanted: Vec<String> = [
        list_dirs(&case.join("files")),
        list_dirs(&case.join("files.out")),
    ]
    .concat();
    for d in list_dirs(dir.path()) {
        if !wanted.contains(&d) {
            problems.push(format!("the run left the directory {d}/"));
        }
    }
    for (name, got) in [("stdout", &stdout), ("stderr", &stderr)] {
        let want = fs::read_to_string(case.join(name)).unwrap_or_default();
        if *got != want {
            problems.push(format!("{name}:\n{got}\nexpected:\n{want}"));
        }
    }
    if stderr.contains("panicked") {
        problems.push("panic".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// One test per case folder, named after it: `cargo test --test cases -- <name>` runs one.
fn main() -> std::process::ExitCode {
    let cases = common::cases();
    let count = cases.len();
    let mut trials = vec![Trial::test("at_least_30_cases", move || {
        if count >= 30 {
            Ok(())
        } else {
            Err(format!("only {count} cases in testdata/cases").into())
        }
    })];
    trials.extend(cases.into_iter().map(|case| {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        Trial::test(name, move || run_case(&case).map_err(Failed::from))
    }));
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}
