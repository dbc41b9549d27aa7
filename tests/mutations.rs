//! Seeded mutations of the fixtures (byte flips, deletions, insertions of TOML punctuation):
//! - through the pure core: no input may panic, and whatever `set` accepts must come out as
//!   TOML that pins the image (set checks that itself; a failed check is an `Error::Verify`,
//!   which this test treats as a bug), and setting it again changes nothing;
//! - through the binary, drop-ins and all: every run ends within its time limit, exits 0 or 2
//!   (1 for `--check`), never panics, and leaves every file byte-identical when it exits 2.
//!
//! `PAUSECTL_SEED=<n>` explores other inputs; the default keeps CI reproducible.

mod common;

use common::{copy_tree, list_tree, wait_bounded};
use pausectl::{Error, Release};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PUNCT: &[&str] = &[
    "[", "]", "{", "}", "=", ".", "\"", "'", ",", "#", "\n", "\r\n", " ", "[[", "]]", "\"\"\"",
    "\\", "\u{feff}", "é",
];

/// A line on standard error that cargo's capture lets through, for CI's log.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "tests/mutations.rs: {line}");
}

fn seed() -> u64 {
    std::env::var("PAUSECTL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_0001u64)
        | 1
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(b.len() + 1);
        match rng.below(4) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if at < b.len() => {
                let end = (at + 1 + rng.below(8)).min(b.len());
                b.drain(at..end);
            }
            _ => {
                let p = PUNCT[rng.below(PUNCT.len())].as_bytes();
                b.splice(at..at, p.iter().copied());
            }
        }
    }
    b
}

/// `input` with a comment or blank line put at the start of one of its lines: still TOML when
/// the line does not continue a multi-line string or array.
fn gentle(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            input
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    let at = starts[rng.below(starts.len())];
    let line: &[u8] = [
        &b"# [plugins.x] sandbox_image = \"y\"\n"[..],
        b"\n",
        b"  \t\n",
    ][rng.below(3)];
    let mut b = input.to_vec();
    b.splice(at..at, line.iter().copied());
    b
}

#[test]
fn mutated_fixtures_never_panic_or_fail_verification() {
    let mut seeds: Vec<Vec<u8>> = common::cases()
        .iter()
        .filter_map(|case| fs::read(case.join("in.toml")).ok())
        .collect();
    seeds.sort();
    let releases = [
        None,
        Release::parse("1.7.24"),
        Release::parse("2.1.9"),
        Release::parse("2.3"),
    ];
    let mut rng = Rng(seed());
    let (mut tried, mut accepted) = (0, 0);
    for _ in 0..10_000 {
        let seed = &seeds[rng.below(seeds.len())];
        let bytes = mutate(&mut rng, seed);
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        tried += 1;
        let release = releases[rng.below(releases.len())];
        let _ = pausectl::inspect(&text, release);
        match pausectl::set(&text, "registry.local:5000/pause:3.10", release) {
            Ok(change) => {
                accepted += 1;
                let again = pausectl::set(&change.text, "registry.local:5000/pause:3.10", release)
                    .unwrap_or_else(|e| panic!("{e:?} on the second run, for {text:?}"));
                assert_eq!(again.text, change.text, "not idempotent for {text:?}");
            }
            Err(Error::Verify(why)) => panic!("verification failed ({why}) for {text:?}"),
            Err(_) => {}
        }
    }
    say(&format!(
        "{tried} mutated configs through the core, {accepted} accepted and pinned"
    ));
    assert!(
        tried > 5_000 && accepted > 500,
        "{tried} tried, {accepted} accepted"
    );
}

/// One input for the binary: a case folder with one of its files mutated, and a command line.
struct Input {
    case: PathBuf,
    /// The file replaced (relative to the working directory) and its mutated bytes.
    file: String,
    bytes: Vec<u8>,
    args: Vec<String>,
}

fn inputs(n: usize) -> Vec<Input> {
    let cases = common::cases();
    // Every other input comes from a case that succeeds as it is, and one in four of those gets
    // a mutation that keeps the TOML whole (a comment or blank line), so that the success path
    // stays as well exercised as refusals however many error cases there are.
    let ok: Vec<PathBuf> = cases
        .iter()
        .filter(|c| fs::read_to_string(c.join("exit")).is_ok_and(|e| e.trim() == "0"))
        .cloned()
        .collect();
    let mut rng = Rng(seed());
    let releases = ["1.6.20", "1.7.24", "2.1.9", "2.3", "auto"];
    (0..n)
        .map(|i| {
            let pool = if i % 2 == 0 { &ok } else { &cases };
            let case = pool[rng.below(pool.len())].clone();
            // The config or one of the case's other files (drop-ins, mostly).
            let mut files: Vec<String> = list_tree(&case.join("files"));
            if case.join("in.toml").exists() {
                files.push("config.toml".into());
            }
            files.sort();
            let file = files
                .get(rng.below(files.len()))
                .cloned()
                .unwrap_or_else(|| "config.toml".into());
            let original = match file.as_str() {
                "config.toml" => fs::read(case.join("in.toml")).unwrap_or_default(),
                f => fs::read(case.join("files").join(f)).unwrap(),
            };
            let bytes = if i % 4 == 0 {
                gentle(&mut rng, &original)
            } else {
                mutate(&mut rng, &original)
            };
            let release = releases[rng.below(releases.len())];
            let mut args: Vec<&str> = match rng.below(8) {
                0 => vec!["show"],
                1 => vec!["set", "--registry", "mirror.local:5000"],
                2 => vec![
                    "set",
                    "--image",
                    "registry.local:5000/pause:3.10",
                    "--check",
                ],
                3 => vec![
                    "set",
                    "--image",
                    "registry.local:5000/pause:3.10",
                    "--backup",
                ],
                _ => vec!["set", "--image", "registry.local:5000/pause:3.10"],
            };
            args.extend(["--config", "config.toml", "--containerd-version", release]);
            // A case without a config runs as a first boot would: the config is created.
            if args[0] == "set" && !case.join("in.toml").exists() {
                args.push("--create");
            }
            if rng.below(4) == 0 {
                args.push("--json");
            }
            Input {
                case,
                file,
                bytes,
                args: args.into_iter().map(String::from).collect(),
            }
        })
        .collect()
}

/// Every file below `dir`, with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    list_tree(dir)
        .into_iter()
        .map(|f| {
            let bytes = fs::read(dir.join(&f)).unwrap();
            (f, bytes)
        })
        .collect()
}

/// Runs one input in `dir`; returns its exit code, or what went wrong.
fn run(input: &Input, dir: &Path) -> Result<i32, String> {
    let _ = fs::remove_dir_all(dir);
    fs::create_dir_all(dir).unwrap();
    copy_tree(&input.case.join("files"), dir);
    // The case's config as it is, when a drop-in is the file mutated.
    if let Ok(config) = fs::read(input.case.join("in.toml")) {
        fs::write(dir.join("config.toml"), config).unwrap();
    }
    fs::write(dir.join(&input.file), &input.bytes).unwrap();
    let before = snapshot(dir);
    let args: Vec<&str> = input.args.iter().map(String::as_str).collect();
    let child = common::pausectl_command(dir, &args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let out = wait_bounded(child, Duration::from_secs(20))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().ok_or("killed by a signal")?;
    let check = input.args.iter().any(|a| a == "--check");
    if stderr.contains("panicked") || !(code == 0 || code == 2 || (code == 1 && check)) {
        return Err(format!("exit {code}: {stderr}"));
    }
    let after = snapshot(dir);
    if code == 2 && after != before {
        return Err(format!("exit 2 but files changed: {stderr}"));
    }
    if code == 2 && !stderr.starts_with("error: ") && !stderr.contains("\nerror: ") {
        return Err(format!("exit 2 without an error message: {stderr}"));
    }
    if after.iter().any(|(f, _)| f.ends_with(".pausectl")) {
        return Err("a temp file was left".into());
    }
    Ok(code)
}

#[test]
fn mutated_fixtures_through_the_binary() {
    let n = 10_000;
    let inputs = inputs(n);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let scratch = tempfile::tempdir().unwrap();
    let results: Vec<(usize, Result<i32, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (inputs, dir) = (&inputs, scratch.path().join(w.to_string()));
                s.spawn(move || {
                    (w..inputs.len())
                        .step_by(workers)
                        .map(|i| (i, run(&inputs[i], &dir)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut counts = [0usize; 3];
    let mut failures = Vec::new();
    for (i, r) in results {
        match r {
            Ok(code) => counts[code as usize] += 1,
            Err(why) => failures.push(format!(
                "input {i} ({}, {} mutated, {:?}): {why}\n{:?}",
                inputs[i].case.file_name().unwrap().to_string_lossy(),
                inputs[i].file,
                inputs[i].args,
                String::from_utf8_lossy(&inputs[i].bytes)
            )),
        }
    }
    say(&format!(
        "{n} mutated inputs through the binary: {} exit 0, {} exit 1 (--check), {} exit 2, {} failures",
        counts[0],
        counts[1],
        counts[2],
        failures.len()
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Both paths well exercised: a fifth of the inputs or more end in each.
    assert!(counts[0] > n / 5 && counts[2] > n / 5, "{counts:?}");
}
