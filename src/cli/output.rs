//! Printing: the `--verbose` trace, `set`'s warnings, diff and summary, and `show`'s report,
//! as text or as one JSON object.

use anyhow::{Context, Result};
use pausectl::pull::Problem;
use pausectl::pull::client::{Failure, Found};
use pausectl::{FilePlan, Pin, Plan, Release, Report, Warning};
use serde_json::json;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// Set by `--verbose`: [`trace`] prints.
static VERBOSE: AtomicBool = AtomicBool::new(false);

pub(super) fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// One line of the `--verbose` trace, on standard error.
pub(super) fn trace(line: impl std::fmt::Display) {
    if VERBOSE.load(Ordering::Relaxed) {
        print_stderr(&format!("pausectl: {line}\n"));
    }
}

/// Writes to standard error. When that fails there is nowhere left to say so, and it must not
/// turn into a panic.
pub(super) fn print_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
pub(super) fn print_stdout(text: &str) -> Result<()> {
    match io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

/// Set by `--color`: 0 auto, 1 always, 2 never.
static COLOR: AtomicU8 = AtomicU8::new(0);

pub(super) fn set_color(choice: clap::ColorChoice) {
    let n = match choice {
        clap::ColorChoice::Auto => 0,
        clap::ColorChoice::Always => 1,
        clap::ColorChoice::Never => 2,
    };
    COLOR.store(n, Ordering::Relaxed);
}

/// Whether to colour what goes to a stream: as `--color` says; `auto` (the default) colours
/// a terminal unless `NO_COLOR` is set and not empty. An explicit `--color always` wins over
/// `NO_COLOR`, as a flag wins over the environment.
pub(super) fn color(stream_is_tty: bool) -> bool {
    match COLOR.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => stream_is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// The `--verbose` lines for what a chain says about the sandbox image.
pub(super) fn trace_report(files: &[&str], report: &Report) {
    trace(format_args!(
        "`{}`: config version {}",
        files[0], report.schema
    ));
    for p in &report.pins {
        trace(format_args!(
            "{}:{}: {} = {}",
            files[p.file], p.line, p.key, p.image
        ));
    }
    match (&report.image, &report.source) {
        (Some(i), Some(p)) => trace(format_args!(
            "in effect: {i}, from {}:{}",
            files[p.file], p.line
        )),
        (Some(i), None) => trace(format_args!(
            "in effect: {i}, the release's built-in default"
        )),
        (None, _) => trace("in effect: unknown"),
    }
}

/// A failed registry check as `--json` gives it: what failed (`kind`), where, the sentence
/// and the help, and what the registry has (tags, or an index's platforms).
pub(super) fn verify_error(problem: &Problem, why: &str, help: &str) -> serde_json::Value {
    let (kind, host, extra) = match problem {
        Problem::Settings(_) => ("settings", None, json!(null)),
        Problem::Reference(_) => ("reference", None, json!(null)),
        Problem::Pull(f) => match f {
            Failure::NotFound { hosts, tags } => {
                ("not-found", hosts.first(), json!({"tags": tags}))
            }
            Failure::Tls { host, .. } => ("tls", Some(host), json!(null)),
            Failure::Denied {
                host,
                status,
                with_credentials,
                ..
            } => (
                "denied",
                Some(host),
                json!({"status": status, "with_credentials": with_credentials}),
            ),
            Failure::Platform {
                host,
                wanted,
                available,
            } => (
                "platform",
                Some(host),
                json!({"wanted": wanted, "platforms": available}),
            ),
            Failure::Unreachable { host, .. } => ("unreachable", Some(host), json!(null)),
            Failure::Status { host, .. } => ("status", Some(host), json!(null)),
        },
    };
    let mut out = json!({"kind": kind, "host": host, "message": why, "help": help});
    if let serde_json::Value::Object(more) = extra {
        out.as_object_mut().expect("an object").extend(more);
    }
    out
}

/// The warnings' sentences, as `--json` lists them under `warnings`.
fn texts(warnings: &[Warning]) -> Vec<&str> {
    warnings.iter().map(|w| w.text.as_str()).collect()
}

/// What a `set` did, for its summary.
pub(super) struct Done<'a> {
    pub label: &'a str,
    pub plan: &'a Plan,
    pub release: Option<Release>,
    /// The files that change (their indices in the plan).
    pub changes: &'a [usize],
    pub diff: &'a str,
    pub warnings: &'a [Warning],
    pub written: bool,
    /// The backups kept, the main config's first.
    pub backups: &'a [PathBuf],
    /// `--check` or `--dry-run`, when given.
    pub flag: Option<&'static str>,
    /// What the registry answered, when it was asked.
    pub verified: Option<&'a Found>,
    /// A write that did not ask the registry (`--no-verify`).
    pub unchecked: bool,
}

impl Done<'_> {
    fn created(&self) -> bool {
        self.plan.files[0].created
    }

    /// The one JSON object `set --json` prints.
    pub(super) fn json(&self) -> String {
        let files = &self.plan.files;
        let out = json!({
            "config": self.label,
            "config_version": self.plan.before.schema.number(),
            "containerd_version": self.release.map(|r| r.to_string()),
            "before": self.plan.before.image,
            "after": self.plan.image,
            "changed": !self.changes.is_empty(),
            "written": self.written,
            "backup": self.backups.first().map(|p| p.display().to_string()),
            "backups": self.backups.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "restart_needed": self.written,
            "files": self.changes.iter().map(|&i| &files[i].path).collect::<Vec<_>>(),
            "created": self.created() && self.written,
            "diff": self.diff,
            "warnings": texts(self.warnings),
            "warning_details": self.warnings,
            "verified": self.verified,
        });
        format!("{out:#}\n")
    }

    /// The lines `set` prints on standard error after the diff.
    pub(super) fn text(&self) -> String {
        let dropins: Vec<String> = self
            .changes
            .iter()
            .filter(|&&i| i > 0)
            .map(|&i| format!("`{}`", self.plan.files[i].path))
            .collect();
        let also = match dropins.len() {
            0 => String::new(),
            _ => format!("; imported files changed too: {}", dropins.join(", ")),
        };
        let saved: Vec<String> = self
            .backups
            .iter()
            .map(|b| format!("`{}`", b.display()))
            .collect();
        let saved = match saved.len() {
            0 => String::new(),
            1 => format!("; backup: {}", saved[0]),
            _ => format!("; backups: {}", saved.join(", ")),
        };
        let restart = if self.written {
            "\npausectl: containerd reads the new config only when it restarts: systemctl restart containerd"
        } else {
            ""
        };
        let checked = match (self.verified, self.unchecked) {
            (Some(f), _) => format!("; {} has it ({})", f.host, f.digest),
            (None, true) => "; the image was not checked with the registry (--no-verify)".into(),
            (None, false) => String::new(),
        };
        format!("{}{checked}{also}{saved}{restart}\n", self.summary())
    }

    /// The one line that says what changed.
    fn summary(&self) -> String {
        let (label, after) = (self.label, &self.plan.image);
        let version = format!("config version {}", self.plan.before.schema);
        let was = self.plan.before.was();
        if self.changes.is_empty() {
            format!("pausectl: {label} already pins {after} ({version}); nothing to change")
        } else if let Some(flag) = self.flag {
            let now = if self.created() {
                "does not exist".to_string()
            } else {
                format!("uses {was}")
            };
            format!(
                "pausectl: {label} {now}; {flag} would pin {after} ({version}); nothing written"
            )
        } else if self.created() {
            format!("pausectl: created {label}, pinning {after} ({version})")
        } else {
            format!("pausectl: {label}: sandbox image {was} -> {after} ({version})")
        }
    }
}

/// The unified diff of the files that change.
pub(super) fn diff(files: &[FilePlan], changes: &[usize], color: bool) -> String {
    changes
        .iter()
        .map(|&i| pausectl::diff::unified(&files[i].old, &files[i].new, &files[i].path, color))
        .collect()
}

/// What `show` found.
pub(super) struct Shown<'a> {
    /// What the registry answered (`--verify`).
    pub verified: Option<&'a Found>,
    /// Why the check failed (`--verify`), as [`verify_error`] gives it.
    pub verify_error: Option<serde_json::Value>,
    pub label: &'a str,
    pub missing: bool,
    pub release: Option<Release>,
    /// How the release was found: `detected`, `given` or `unknown`.
    pub how: &'a str,
    pub files: &'a [&'a str],
    pub report: &'a Report,
    pub managed: Option<&'a pausectl::managed::Managed>,
}

impl Shown<'_> {
    fn file(&self, p: &Pin) -> &str {
        self.files[p.file]
    }

    /// The one JSON object `show --json` prints.
    pub(super) fn json(&self) -> String {
        let report = self.report;
        let source = report
            .source
            .as_ref()
            .map(|p| json!({"file": self.file(p), "line": p.line, "key": p.key}));
        let out = json!({
            "config": self.label,
            "exists": !self.missing,
            "config_version": (!self.missing).then(|| report.schema.number()),
            "containerd_version": self.release.map(|r| r.to_string()),
            "image": report.image,
            "source": source,
            "default": report.image.is_some() && report.source.is_none(),
            "managed": self.managed,
            "files": self.files,
            "pins": report.pins.iter().map(|p| json!({"file": self.file(p), "line": p.line, "key": p.key, "image": p.image})).collect::<Vec<_>>(),
            "warnings": texts(&report.warnings),
            "warning_details": report.warnings,
            "verified": self.verified,
            "verify_error": self.verify_error,
        });
        format!("{out:#}\n")
    }

    /// The lines `show` prints on standard output.
    pub(super) fn text(&self) -> String {
        let (report, label, release) = (self.report, self.label, self.release);
        let containerd = match release {
            Some(r) => format!("{r} ({})", self.how),
            None => "unknown (no `containerd` on PATH; pass --containerd-version)".into(),
        };
        let config = if self.missing {
            format!("{label} (does not exist: containerd uses its built-in settings)")
        } else {
            format!("{label} (version {})", report.schema)
        };
        let set_by = match (&report.source, &report.image) {
            (Some(p), _) => format!("{}:{}: {}", self.file(p), p.line, p.key),
            (None, Some(_)) => format!(
                "nothing; containerd {}'s built-in default",
                release.map_or(String::new(), |r| r.to_string())
            ),
            (None, None) => "nothing".into(),
        };
        let mut out = format!(
            "config:        {config}\ncontainerd:    {containerd}\nsandbox image: {}\nset by:        {set_by}\n",
            report.in_effect(release)
        );
        for f in self.files.iter().skip(1) {
            out.push_str(&format!("imports:       {f}\n"));
        }
        if let Some(f) = self.verified {
            out.push_str(&format!(
                "verified:      {} has it ({})\n",
                f.host, f.digest
            ));
        }
        if let Some(m) = self.managed {
            out.push_str(&format!("managed by:    {} ({})\n", m.tool, m.lever));
        }
        let others = report
            .pins
            .iter()
            .filter(|p| Some(*p) != report.source.as_ref());
        for p in others {
            out.push_str(&format!(
                "also set:      {}:{}: {} = {}\n",
                self.file(p),
                p.line,
                p.key,
                p.image
            ));
        }
        out
    }
}
