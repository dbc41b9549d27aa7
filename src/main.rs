//! The `pausectl` command: argument parsing, file I/O and printing around the pure core.

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use pausectl::imports::{self, Chain};
use pausectl::managed::{self, Managed};
use pausectl::{ImageRef, Pin, Registry, Release, Report, Schema, atomic, diff};
use serde_json::json;
use std::io::{self, IsTerminal, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The config containerd reads when started without `--config`; the only one `set` creates
/// without `--create`.
const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";

const EXIT_CODES: &str = "Exit codes: 0 done or nothing to do; 1 `set --check` found a change is needed; 2 error (the file is left untouched).";

/// Pin containerd's pod sandbox ("pause") image to a registry you control.
#[derive(Parser)]
#[command(name = "pausectl", version, after_help = EXIT_CODES)]
struct Cli {
    /// Trace on standard error what pausectl reads and decides: files, versions, release, keys
    #[arg(long, short, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Pin the sandbox image in the config, showing a unified diff.
    #[command(
        after_help = "Examples:\n  pausectl set --registry registry.local:5000 --dry-run\n  pausectl set --image registry.local:5000/pause:3.10 --backup\n  pausectl set --image registry.local:5000/pause:3.10 --check   # exit 1 if a change is needed"
    )]
    Set(SetArgs),
    /// Show the sandbox image containerd will use, and where it is set.
    #[command(after_help = "Example:\n  pausectl show --containerd-version 2.1 --json")]
    Show(Common),
    /// Print a shell completion script on standard output.
    #[command(
        after_help = "Examples:\n  pausectl completions bash > /usr/share/bash-completion/completions/pausectl\n  pausectl completions zsh > /usr/share/zsh/vendor-completions/_pausectl\n  pausectl completions fish > /usr/share/fish/vendor_completions.d/pausectl.fish"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on standard output.
    #[command(after_help = "Example:\n  pausectl man > /usr/share/man/man1/pausectl.1")]
    Man,
}

#[derive(Args, Clone)]
#[group(id = "target", required = true, multiple = false, args = ["image", "registry"])]
struct SetArgs {
    /// The image to pin, with registry and tag or digest: registry.local:5000/pause:3.10
    #[arg(long, value_name = "REF")]
    image: Option<String>,
    /// Keep the repository and tag of the image in effect now, pulled from this registry instead
    #[arg(long, value_name = "HOST[:PORT][/PATH]")]
    registry: Option<String>,
    /// Print the diff, write nothing
    #[arg(long)]
    dry_run: bool,
    /// Write nothing; exit 0 when the image is already pinned, 1 when a change is needed
    #[arg(long, conflicts_with = "dry_run")]
    check: bool,
    /// Keep the original as CONFIG.bak (or CONFIG.bak.N) before writing: beside it, or where
    /// an `imports` glob would load it there, in the nearest directory above that none loads
    #[arg(long)]
    backup: bool,
    /// Keep the backups in DIR instead (created if missing); implies --backup
    #[arg(long, value_name = "DIR")]
    backup_dir: Option<PathBuf>,
    /// Create the config if it does not exist (without this, only the default
    /// /etc/containerd/config.toml is created: a mistyped path is an error)
    #[arg(long)]
    create: bool,
    /// Print no diff and no summary (warnings and errors still go to standard error)
    #[arg(long, short)]
    quiet: bool,
    /// Edit a config that another tool (k3s, rke2, k0s, microk8s) regenerates
    #[arg(long)]
    force: bool,
    /// Put the pin in a file of its own at PATH (created with the config's version) and make
    /// sure the config imports it, for a main config that belongs to a package or another tool
    #[arg(long, value_name = "PATH")]
    drop_in: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone)]
struct Common {
    /// The containerd config; `-` reads standard input and writes the result to standard output
    #[arg(
        long,
        value_name = "PATH",
        default_value = DEFAULT_CONFIG
    )]
    config: PathBuf,
    /// The containerd release that reads the file: auto (runs `containerd --version`), or X.Y[.Z]
    #[arg(long, value_name = "auto|X.Y[.Z]", default_value = "auto")]
    containerd_version: String,
    /// Print one JSON object on standard output instead of text
    #[arg(long)]
    json: bool,
}

/// Set by `--verbose`: [`trace`] prints.
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One line of the `--verbose` trace, on standard error.
fn trace(line: impl std::fmt::Display) {
    if VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
        print_stderr(&format!("pausectl: {line}\n"));
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    VERBOSE.store(cli.verbose, std::sync::atomic::Ordering::Relaxed);
    let result = match cli.command {
        Command::Set(args) => {
            // Another run changed a file of the chain between this one's read and its lock
            // of that file's directory: read it all again (nothing was printed or written yet).
            let mut tries = 1;
            loop {
                match set(args.clone()) {
                    Err(e) if e.is::<ChangedMeanwhile>() && tries < 10 => tries += 1,
                    other => break other,
                }
            }
        }
        Command::Show(args) => show(args),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pausectl", &mut out);
            print_stdout(&String::from_utf8_lossy(&out)).map(|()| ExitCode::SUCCESS)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .expect("writing to memory");
            print_stdout(&String::from_utf8_lossy(&out)).map(|()| ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            print_stderr(&format!("error: {err:#}\n"));
            ExitCode::from(2)
        }
    }
}

/// Where the config comes from and what it holds.
struct Input {
    /// What to call it in messages: the path as given, or `<stdin>`.
    label: String,
    /// The file to write (the end of a symlink chain); `None` for standard input.
    target: Option<PathBuf>,
    /// The text; for a missing file, the text it would start with.
    text: String,
    /// The file does not exist yet.
    missing: bool,
    /// The file's text when `text` is not it: an empty or comment-only file, which `text` gives
    /// the version of a new config ([`pausectl::fresh`]).
    before: Option<String>,
    /// The tool that regenerates the file, if one does.
    managed: Option<Managed>,
    /// The lock of a `set` that writes, held as long as the input.
    _lock: Option<atomic::Lock>,
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// A file of the chain changed after it was read (another run wrote it).
#[derive(Debug)]
struct ChangedMeanwhile(String);

impl std::fmt::Display for ChangedMeanwhile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` kept changing while pausectl read it (other runs?); nothing was written\nhelp: run again",
            self.0
        )
    }
}

impl std::error::Error for ChangedMeanwhile {}

/// The lock that `set` holds while it reads and writes the config file `target`.
fn lock(target: &Path) -> Result<atomic::Lock> {
    let lock = atomic::lock(target, &[])
        .map_err(|e| anyhow!("{e}; nothing was written"))?
        .expect("no lock is held yet");
    trace(format_args!(
        "locked the directory `{}`",
        lock.path.display()
    ));
    Ok(lock)
}

/// Reads the config at `path`; with `take_lock`, takes the lock first (a `set` that writes).
fn read_input(path: &Path, release: Option<Release>, take_lock: bool) -> Result<Input> {
    let label = if is_stdin(path) {
        "<stdin>".to_string()
    } else {
        path.display().to_string()
    };
    let mut held = None;
    let (target, bytes) = if is_stdin(path) {
        let buf = imports::read_capped(io::stdin()).context("cannot read standard input")?;
        (None, Some(buf))
    } else {
        let target = atomic::resolve(path).with_context(|| format!("cannot use `{label}`"))?;
        // Held from before the read until after the write, so that concurrent runs take turns
        // instead of each overwriting what the other read.
        if take_lock {
            held = Some(lock(&target)?);
        }
        match imports::read_file(&target) {
            Ok(b) => (Some(target), Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => (Some(target), None),
            Err(e) => return Err(e).with_context(|| format!("cannot read `{label}`")),
        }
    };
    match (&target, &bytes) {
        (_, None) => trace(format_args!("`{label}` does not exist")),
        (Some(t), Some(b)) if t != path => trace(format_args!(
            "read `{label}` (the file `{}`): {} bytes",
            t.display(),
            b.len()
        )),
        (_, Some(b)) => trace(format_args!("read `{label}`: {} bytes", b.len())),
    }
    let Some(bytes) = bytes else {
        let managed = managed::detect(path, "", template_beside(path));
        return Ok(Input {
            label,
            target,
            text: pausectl::fresh("", release).unwrap_or_default(),
            missing: true,
            before: None,
            managed,
            _lock: held,
        });
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() + 1;
        anyhow!(
            "{label}:{line}: the file is not UTF-8 text\nhelp: containerd 2.x refuses it (1.x accepts stray bytes in comments); fix the encoding of that line"
        )
    })?;
    // The path as given and the file it leads to can each tell who owns the config.
    let managed = managed::detect(path, &text, template_beside(path)).or_else(|| {
        let t = target.as_deref()?;
        managed::detect(t, &text, template_beside(t))
    });
    Ok(Input {
        label,
        target,
        text,
        missing: false,
        before: None,
        managed,
        _lock: held,
    })
}

/// The files containerd loads with this config: the config itself, then its imports.
fn load_chain(path: &Path, input: &Input, release: Option<Release>) -> Result<Chain> {
    if input.missing {
        return Ok(Chain {
            files: vec![(input.label.clone(), String::new())],
            ..Chain::default()
        });
    }
    // The main config's text is `input.text` (see `chain_files`): a large file is held once.
    if is_stdin(path) {
        return Ok(Chain {
            files: vec![(input.label.clone(), String::new())],
            notes: imports::declared(&input.text)
                .then(|| "the imports of standard input are not followed: run on the config file to include them".into())
                .into_iter()
                .collect(),
            ..Chain::default()
        });
    }
    let mut chain = imports::load(path, &input.text, release)?;
    chain.files[0] = (input.label.clone(), String::new());
    for (file, text) in &chain.files[1..] {
        trace(format_args!("imports `{file}`: {} bytes", text.len()));
    }
    for file in &chain.missing {
        trace(format_args!(
            "imports `{file}`, which does not exist: containerd stops loading there"
        ));
    }
    Ok(chain)
}

/// `(label, text)` for each file of the chain, as the library takes them, with `main` as the
/// main config's text.
fn chain_files<'a>(main: &'a str, chain: &'a Chain) -> Vec<(&'a str, &'a str)> {
    chain
        .files
        .iter()
        .enumerate()
        .map(|(i, (path, text))| (path.as_str(), if i == 0 { main } else { text.as_str() }))
        .collect()
}

/// Whether microk8s's `containerd-template.toml` sits beside the config at `path`.
fn template_beside(path: &Path) -> bool {
    path.with_file_name("containerd-template.toml").exists()
}

/// Runs `containerd --version` from `PATH`; `None` when there is none or it says nothing usable.
fn detect_release() -> Option<Release> {
    let out = std::process::Command::new("containerd")
        .arg("--version")
        .output()
        .ok()?;
    // "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7..." (Debian: "2.1.9+unknown")
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(2).and_then(Release::parse)
}

fn release(arg: &str) -> Result<(Option<Release>, &'static str)> {
    if arg == "auto" {
        let found = detect_release();
        let how = match found {
            Some(r) => {
                trace(format_args!(
                    "containerd release {r}, from `containerd --version`"
                ));
                "detected"
            }
            None => {
                trace("containerd release unknown: no `containerd` on PATH answered `--version`");
                "unknown"
            }
        };
        return Ok((found, how));
    }
    match Release::parse(arg) {
        Some(r) => {
            trace(format_args!(
                "containerd release {r}, from --containerd-version"
            ));
            Ok((Some(r), "given"))
        }
        None => bail!(
            "`--containerd-version {arg}` is not a containerd release: use `auto`, X.Y or X.Y.Z, e.g. `1.7` or `2.1.4`"
        ),
    }
}

/// The `--verbose` lines for what a chain says about the sandbox image.
fn trace_report(files: &[(&str, &str)], report: &Report) {
    trace(format_args!(
        "`{}`: config version {}",
        files[0].0, report.schema
    ));
    for p in &report.pins {
        trace(format_args!(
            "{}:{}: {} = {}",
            files[p.file].0, p.line, p.key, p.image
        ));
    }
    match (&report.image, &report.source) {
        (Some(i), Some(p)) => trace(format_args!(
            "in effect: {i}, from {}:{}",
            files[p.file].0, p.line
        )),
        (Some(i), None) => trace(format_args!(
            "in effect: {i}, the release's built-in default"
        )),
        (None, _) => trace("in effect: unknown"),
    }
}

fn config_error(label: &str, err: pausectl::Error) -> anyhow::Error {
    let at = err.at().map_or(String::new(), |(l, c)| format!(":{l}:{c}"));
    anyhow!("{label}{at}: {err}\nhelp: {}", err.help())
}

fn color(stream_is_tty: bool) -> bool {
    stream_is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Writes to standard error. When that fails there is nowhere left to say so, and it must not
/// turn into a panic.
fn print_stderr(text: &str) {
    let _ = io::stderr().lock().write_all(text.as_bytes());
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
fn print_stdout(text: &str) -> Result<()> {
    match io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to standard output")
        }
        _ => Ok(()),
    }
}

fn set(args: SetArgs) -> Result<ExitCode> {
    if is_stdin(&args.common.config) {
        if args.backup_dir.is_some() {
            bail!(
                "--backup-dir needs a config file; with --config - the original is your standard input"
            );
        }
        if args.common.json && !args.check && !args.dry_run {
            bail!(
                "--json cannot be used with --config -: standard output carries the config (it can with --check or --dry-run)"
            );
        }
        if args.backup {
            bail!(
                "--backup needs a config file; with --config - the original is your standard input"
            );
        }
    }
    let (release, _) = release(&args.common.containerd_version)?;
    // The image or registry is checked before any file is read or locked.
    let image = args
        .image
        .as_deref()
        .map(ImageRef::parse)
        .transpose()
        .map_err(|e| anyhow!("invalid --image: {e}"))?;
    let registry = args
        .registry
        .as_deref()
        .map(Registry::parse)
        .transpose()
        .map_err(|e| anyhow!("invalid --registry: {e}"))?;
    let writes = !args.check && !args.dry_run && !is_stdin(&args.common.config);
    let mut input = read_input(&args.common.config, release, writes)?;
    if input.missing
        && input.target.is_some()
        && !args.create
        && args.common.config != Path::new(DEFAULT_CONFIG)
    {
        bail!(
            "no such file `{}`; pass --create to create it\nhelp: without --create, pausectl creates a missing config only at {DEFAULT_CONFIG}, so that a mistyped path is not taken for a new config; nothing was written",
            input.label
        );
    }
    // An empty or comment-only config is read like a missing one: it gets a new config's version.
    if !input.missing
        && let Some(text) = pausectl::fresh(&input.text, release)
    {
        trace(format_args!(
            "`{}` holds no settings: it gets the version of a new config",
            input.label
        ));
        input.before = Some(std::mem::replace(&mut input.text, text));
    }
    let label = input.label.as_str();
    let mut warnings = Vec::new();
    if let Some(m) = &input.managed {
        if !args.force {
            bail!(
                "`{label}` is managed by {}, which regenerates it, so an edit would not last\nhelp: {}; or pass --force to edit it anyway",
                m.tool,
                m.lever
            );
        }
        warnings.push(format!(
            "editing `{label}` although {} regenerates it (--force); {}",
            m.tool, m.lever
        ));
    }

    let mut chain = load_chain(&args.common.config, &input, release)?;
    let files = chain_files(&input.text, &chain);
    let image = match (&image, &registry) {
        (Some(r), _) => {
            if r.tag.is_some() && r.digest.is_some() {
                warnings.push(format!(
                    "`{r}` has both a tag and a digest; containerd pins the image by its normalized name, which is digest-only, so pausectl writes `{}`",
                    r.pinned()
                ));
            }
            r.pinned()
        }
        (None, Some(registry)) => {
            let report = pausectl::inspect_chain(&files, &chain.missing, release)
                .map_err(|(i, e)| config_error(files[i].0, e))?;
            if let Some((i, e)) = report.unsure {
                return Err(config_error(files[i].0, e));
            }
            if let Some(pausectl::Refusal { why, help }) = report.refusal {
                // The same reason `--image` gives.
                return Err(config_error(
                    label,
                    pausectl::Error::Refused { release, why, help },
                ));
            }
            // With the CRI plugin disabled, the image it would use when enabled.
            let off = report.cri_disabled.is_some();
            let would = report
                .source
                .as_ref()
                .map(|p| p.image.clone())
                .or_else(|| release.and_then(|r| r.default_image()).map(str::to_string));
            let Some(current) = report.image.or(would.filter(|_| off)) else {
                bail!(
                    "cannot tell which image to move to `{registry}`: nothing in `{label}` sets the sandbox image and {}\nhelp: pass --containerd-version (e.g. 2.1) or use --image",
                    match release {
                        Some(r) => format!("containerd {r} refuses or has no known default for this config"),
                        None => "the containerd release is unknown (no `containerd` on PATH), so its built-in default is unknown".into(),
                    }
                );
            };
            let current = ImageRef::parse_lenient(&current)
                .map_err(|e| anyhow!("the image in effect, `{current}`, is not a valid reference ({e})\nhelp: use --image"))?;
            current.with_registry(registry).pinned()
        }
        (None, None) => unreachable!("clap requires --image or --registry"),
    };

    if let Some(w) = kubeadm_warning(&image) {
        warnings.push(w);
    }
    let plan = match &args.drop_in {
        Some(path) => plan_drop_in(&args, &input, path, &image, release)?,
        None => {
            let change = pausectl::set_chain(&files, &chain.missing, &image, release)
                .map_err(|(i, e)| config_error(files[i].0, e))?;
            let labels: Vec<String> = files.iter().map(|(l, _)| l.to_string()).collect();
            // The texts as they were, moved rather than copied: a large config is held once.
            let mut olds: Vec<String> = std::mem::take(&mut chain.files)
                .into_iter()
                .map(|(_, t)| t)
                .collect();
            olds[0] = input
                .before
                .take()
                .unwrap_or_else(|| std::mem::take(&mut input.text));
            if input.missing {
                olds[0].clear();
            }
            Plan {
                created: (0..labels.len()).map(|i| i == 0 && input.missing).collect(),
                labels,
                olds,
                news: change.texts,
                before: change.before,
                warnings: chain.notes.iter().cloned().chain(change.warnings).collect(),
            }
        }
    };
    warnings.extend(plan.warnings.iter().cloned());
    let plan_files: Vec<(&str, &str)> = plan
        .labels
        .iter()
        .zip(&plan.olds)
        .map(|(l, t)| (l.as_str(), t.as_str()))
        .collect();
    trace_report(&plan_files, &plan.before);
    trace(format_args!("pinning {image}"));
    // Which files change: the main config (or a new one), and imported files.
    let changes: Vec<usize> = (0..plan.labels.len())
        .filter(|&i| plan.news[i] != plan.olds[i] || plan.created[i])
        .collect();
    let changed = !changes.is_empty();
    // The diff goes to standard error when standard output carries the config.
    let diff_to_stderr = input.target.is_none();
    let tty = if diff_to_stderr {
        io::stderr().is_terminal()
    } else {
        io::stdout().is_terminal()
    };
    let diff: String = changes
        .iter()
        .map(|&i| {
            diff::unified(
                &plan.olds[i],
                &plan.news[i],
                &plan.labels[i],
                !args.common.json && color(tty),
            )
        })
        .collect();

    // Every file to write, checked before anything is printed or written.
    let entries = import_entries(&plan);
    let loaded = |p: &Path| imports::loaded_by(&entries, p).is_some();
    let backup = (args.backup || args.backup_dir.is_some()).then_some(args.backup_dir.as_deref());
    let targets = match &input.target {
        Some(main) if writes => {
            write_targets(&plan, &changes, main, backup, &entries, &mut warnings)?
        }
        _ => Vec::new(),
    };
    // A drop-in in another directory may belong to another config's chain too: its directory
    // is locked as well, and every file must still hold what was read (else the run starts
    // over: see `main`).
    let _locks = lock_other_dirs(&targets, input._lock.as_ref())?;
    for t in &targets {
        let now = std::fs::read(&t.path).ok();
        if !plan.created[t.index] && now.as_deref() != Some(plan.olds[t.index].as_bytes()) {
            return Err(ChangedMeanwhile(plan.labels[t.index].clone()).into());
        }
    }
    // In text, warnings and the diff come first, so a failed write is reported after them.
    if !args.common.json {
        for w in &warnings {
            print_stderr(&format!("warning: {w}\n"));
        }
        if !args.quiet {
            if diff_to_stderr {
                print_stderr(&diff);
            } else {
                print_stdout(&diff)?;
            }
        }
    }

    let mut written = false;
    if input.target.is_none() && !args.check && !args.dry_run {
        // Standard output carries the config: failing to write it is an error.
        let mut out = io::stdout().lock();
        out.write_all(plan.news[0].as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write the config to standard output")?;
    }
    // Every backup before any file, so that a failed one leaves nothing written.
    let mut saved: Vec<(usize, atomic::Backup)> = Vec::new();
    for t in &targets {
        let Some(dir) = &t.backup else { continue };
        let label = plan.labels[t.index].as_str();
        match atomic::backup(&t.path, plan.olds[t.index].as_bytes(), dir, &loaded) {
            Ok(b) => {
                trace(format_args!("backup of `{label}`: `{}`", b.path.display()));
                saved.push((t.index, b));
            }
            Err(e) => {
                saved.into_iter().rev().for_each(|(_, b)| b.discard());
                bail!(
                    "cannot write a backup of `{label}` in `{}`: {e}{}; nothing was written",
                    dir.display(),
                    root_hint(&e)
                );
            }
        }
    }
    // Imported files first: the main config, written last, is what a rerun starts from.
    let mut done: Vec<usize> = Vec::new();
    for t in targets.iter().rev() {
        let label = plan.labels[t.index].as_str();
        trace(format_args!("writing `{}`", t.path.display()));
        if let Err(e) = atomic::write(&t.path, plan.news[t.index].as_bytes(), &loaded) {
            if e.replaced {
                done.push(t.index);
            }
            // A backup of a file left as it was is no backup: only those of files written stay.
            let (keep, drop): (Vec<_>, Vec<_>) =
                saved.into_iter().partition(|(i, _)| done.contains(i));
            drop.into_iter().rev().for_each(|(_, b)| b.discard());
            let kept: Vec<&Path> = keep.iter().map(|(_, b)| b.path.as_path()).collect();
            let others: Vec<&str> = done
                .iter()
                .filter(|&&i| i != t.index)
                .map(|&i| plan.labels[i].as_str())
                .collect();
            return Err(write_error(label, &e, &others, &kept));
        }
        done.push(t.index);
        written = true;
    }
    // The main config's backup first.
    saved.sort_by_key(|(i, _)| *i);
    let backups: Vec<PathBuf> = saved.into_iter().map(|(_, b)| b.path).collect();
    let backup = backups.first().cloned();

    if args.common.json {
        let out = json!({
            "config": label,
            "config_version": plan.before.schema.number(),
            "containerd_version": release.map(|r| r.to_string()),
            "before": plan.before.image,
            "after": image,
            "changed": changed,
            "written": written,
            "backup": backup.as_ref().map(|p| p.display().to_string()),
            "backups": backups.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "restart_needed": written,
            "files": changes.iter().map(|&i| &plan.labels[i]).collect::<Vec<_>>(),
            "created": input.missing && written,
            "diff": diff,
            "warnings": warnings,
        });
        print_stdout(&format!("{out:#}\n")).map_err(|e| {
            if written {
                e.context(format!("`{label}` was written, but"))
            } else {
                e
            }
        })?;
    } else if !args.quiet {
        let dropins: Vec<&str> = changes
            .iter()
            .filter(|&&i| i > 0)
            .map(|&i| plan.labels[i].as_str())
            .collect();
        let saved: Vec<String> = backups
            .iter()
            .map(|b| format!("`{}`", b.display()))
            .collect();
        let saved = match saved.len() {
            0 => String::new(),
            1 => format!("; backup: {}", saved[0]),
            _ => format!("; backups: {}", saved.join(", ")),
        };
        let restart = if written {
            "\npausectl: containerd reads the new config only when it restarts: systemctl restart containerd"
        } else {
            ""
        };
        print_stderr(&format!(
            "{}{}{saved}{restart}\n",
            summary(label, &plan.before, &image, changed, &args, input.missing),
            also(&dropins)
        ));
    }
    Ok(if args.check && changed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// kubeadm (1.27+) warns when the runtime's sandbox image is not `<imageRepository>/pause:<version>`.
fn kubeadm_warning(image: &str) -> Option<String> {
    let r = ImageRef::parse_lenient(image).ok()?;
    (!r.kubeadm_shape()).then(|| format!(
        "kubeadm 1.27+ expects the sandbox image to be `<imageRepository>/pause:<version>` and will warn about `{image}` (informational: containerd uses it all the same)"
    ))
}

/// A file `set` writes.
struct Target {
    /// Its index in the plan.
    index: usize,
    /// The file (the end of its symlinks).
    path: PathBuf,
    /// Where its backup goes, with `--backup`.
    backup: Option<PathBuf>,
}

/// Every `imports` entry of the plan's files, before and after the change, with the file that
/// has it: what decides which other files containerd loads, now and after the write.
fn import_entries(plan: &Plan) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (label, (old, new)) in plan.labels.iter().zip(plan.olds.iter().zip(&plan.news)) {
        for entry in imports::entries(old)
            .into_iter()
            .chain(imports::entries(new))
        {
            if !out.iter().any(|(l, e)| l == label && *e == entry) {
                out.push((label.clone(), entry));
            }
        }
    }
    out
}

/// The files each changed entry of `plan` is written to, and where their backups go. One file
/// reached under two spellings must not get two different texts; a read-only file is refused;
/// hard links are warned about; a backup goes nowhere containerd loads it.
fn write_targets(
    plan: &Plan,
    changes: &[usize],
    main: &Path,
    backup: Option<Option<&Path>>,
    entries: &[(String, String)],
    warnings: &mut Vec<String>,
) -> Result<Vec<Target>> {
    let loaded = |p: &Path| imports::loaded_by(entries, p).is_some();
    let mut targets: Vec<Target> = Vec::new();
    // Each target's canonical path, to find one file reached under two spellings.
    let mut keys: Vec<PathBuf> = Vec::new();
    for &i in changes {
        let label = plan.labels[i].as_str();
        let target = if i == 0 {
            main.to_path_buf()
        } else {
            atomic::resolve(Path::new(label)).with_context(|| format!("cannot use `{label}`"))?
        };
        let key = std::fs::canonicalize(&target).unwrap_or_else(|_| target.clone());
        if let Some(k) = keys.iter().position(|k| *k == key) {
            let j = targets[k].index;
            if plan.news[j] != plan.news[i] {
                bail!(
                    "containerd loads `{}` twice, as `{}` and `{label}`, and the two would need different edits; nothing was written\nhelp: spell the imports of that file one way",
                    key.display(),
                    plan.labels[j]
                );
            }
            continue;
        }
        atomic::check_writable(&target)
            .map_err(|e| anyhow!("cannot write `{label}`: {e}; nothing was written"))?;
        if plan.created[i] {
            refuse_loaded_dirs(&target, entries, &format!("creating `{label}`"))?;
        }
        let links = std::fs::metadata(&target).map_or(1, |m| m.nlink());
        if links > 1 {
            warnings.push(format!(
                "`{label}` has {links} hard links; pausectl replaces it by rename, so its other names keep the old text"
            ));
        }
        let backup = match backup.filter(|_| !plan.created[i]) {
            None => None,
            Some(given) => match atomic::backup_dir(&target, given, &loaded) {
                Ok(dir) => {
                    let beside = atomic::sibling(&target, ".bak");
                    if given.is_none() && loaded(&beside) {
                        let (file, entry) = imports::loaded_by(entries, &beside)
                            .cloned()
                            .unwrap_or_default();
                        warnings.push(format!(
                            "the backup of `{label}` goes to `{}`, not beside it, where containerd would load it (`{file}` imports `{entry}`); --backup-dir chooses the place",
                            dir.display()
                        ));
                    }
                    Some(dir)
                }
                Err(at) => {
                    let (file, entry) = imports::loaded_by(entries, &at)
                        .cloned()
                        .unwrap_or_default();
                    let place = match given {
                        Some(d) => format!("in --backup-dir `{}`", d.display()),
                        None => "beside it or in any directory above".into(),
                    };
                    bail!(
                        "a backup of `{label}` {place} would be loaded by containerd: `{file}` imports `{entry}`, which matches `{}`; nothing was written\nhelp: pass a --backup-dir that no `imports` entry covers, e.g. /var/backups/pausectl",
                        at.display()
                    );
                }
            },
        };
        if let Some(dir) = &backup {
            refuse_loaded_dirs(&dir.join("backup"), entries, "--backup-dir")?;
        }
        targets.push(Target {
            index: i,
            path: target,
            backup,
        });
        keys.push(key);
    }
    Ok(targets)
}

/// "; run as root" for an error that says permission was denied.
fn root_hint(e: &io::Error) -> &'static str {
    if e.kind() == io::ErrorKind::PermissionDenied {
        "; run as root (sudo)"
    } else {
        ""
    }
}

/// Refuses (nothing written) when a directory that writing `path` would create is one an
/// `imports` entry loads: containerd fails to read a directory and does not start.
fn refuse_loaded_dirs(path: &Path, entries: &[(String, String)], what: &str) -> Result<()> {
    let missing = atomic::missing_dirs(path);
    // The highest is built under a temporary name beside it first.
    let staging = missing.last().map(|top| {
        let name = top.file_name().unwrap_or_default().to_string_lossy();
        top.with_file_name(format!(".{name}.pausectl"))
    });
    for d in missing.iter().chain(&staging) {
        if let Some((file, entry)) = imports::loaded_by(entries, d) {
            bail!(
                "{what} needs the directory `{}`, which containerd would try to load as a config (`{file}` imports `{entry}`) and then refuse to start; nothing was written\nhelp: choose a path outside every `imports` glob",
                d.display()
            );
        }
    }
    Ok(())
}

/// Locks the directory of each of `targets` besides the one `held` (in path order, so that two
/// runs take them in the same order; a directory already held is not locked again).
fn lock_other_dirs(targets: &[Target], held: Option<&atomic::Lock>) -> Result<Vec<atomic::Lock>> {
    let mut locks: Vec<atomic::Lock> = Vec::new();
    let mut paths: Vec<&Path> = targets.iter().map(|t| t.path.as_path()).collect();
    paths.sort();
    for path in paths {
        let mut all: Vec<&atomic::Lock> = locks.iter().collect();
        all.extend(held);
        if let Some(l) =
            atomic::lock(path, &all).map_err(|e| anyhow!("{e}; nothing was written"))?
        {
            trace(format_args!("locked the directory `{}`", l.path.display()));
            locks.push(l);
        }
    }
    Ok(locks)
}

/// The error of a write that failed; `written` names the files of the chain written before
/// it, `backups` the backups kept of them.
fn write_error(
    label: &str,
    e: &atomic::WriteError,
    written: &[&str],
    backups: &[&Path],
) -> anyhow::Error {
    if e.replaced {
        return anyhow!(
            "`{label}` now holds the new config, but syncing its directory failed ({}); a crash before the next sync could bring back the old file",
            e.error
        );
    }
    let list = |v: Vec<String>| v.join(", ");
    let mut backup = String::new();
    if !written.is_empty() {
        backup = format!(
            "; {} was written already (run again to finish)",
            list(written.iter().map(|w| format!("`{w}`")).collect())
        );
    }
    if !backups.is_empty() {
        backup.push_str(&format!(
            " (its backup: {})",
            list(
                backups
                    .iter()
                    .map(|b| format!("`{}`", b.display()))
                    .collect()
            )
        ));
    }
    let help = match e.error.kind() {
        io::ErrorKind::ResourceBusy => {
            "\nhelp: the config is a mount point (a bind mount?), which cannot be replaced by rename; edit the file it is mounted from"
        }
        io::ErrorKind::PermissionDenied => "\nhelp: run as root (sudo)",
        _ => "",
    };
    anyhow!(
        "cannot write `{label}`: {}; the file is left as it was{backup}{help}",
        e.error
    )
}

/// What `set` will write: every file of the chain, before and after.
struct Plan {
    /// Each file's name, the main config first.
    labels: Vec<String>,
    /// Each file's text now (empty for a file that does not exist yet).
    olds: Vec<String>,
    /// Each file's text after the change.
    news: Vec<String>,
    /// The file does not exist yet.
    created: Vec<bool>,
    /// What containerd used before.
    before: Report,
    /// What the user should know.
    warnings: Vec<String>,
}

/// `set --drop-in PATH`: the pin goes into a file of its own, which the main config must import.
fn plan_drop_in(
    args: &SetArgs,
    input: &Input,
    path: &Path,
    image: &str,
    release: Option<Release>,
) -> Result<Plan> {
    if input.target.is_none() {
        bail!("--drop-in needs a config file, not standard input");
    }
    if input.missing {
        bail!(
            "--drop-in needs the main config `{}` to exist: it must import the drop-in",
            input.label
        );
    }
    // Absolute paths, so that the imports containerd resolves can be compared with the drop-in.
    let absolute = |p: &Path| std::path::absolute(p).map(|a| imports::clean(&a.to_string_lossy()));
    let main = absolute(&args.common.config)?;
    let drop_in = absolute(path)?;
    let existing = match imports::read_file(&drop_in) {
        Ok(b) => Some(String::from_utf8(b).map_err(|_| anyhow!("`{drop_in}` is not UTF-8 text"))?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read `{drop_in}`")),
    };
    // A new drop-in has the main config's version: a higher one is the 2.0–2.2 trap.
    let schema = pausectl::inspect(&input.text, None)
        .map_err(|e| config_error(&input.label, e))?
        .schema;
    let text = existing.clone().unwrap_or_else(|| match schema {
        Schema::V1 => String::new(),
        s => format!("version = {s}\n"),
    });
    let overlay = [(drop_in.clone(), text)];
    let mut main_text = input.text.clone();
    let mut chain = imports::load_with(Path::new(&main), &main_text, release, &overlay)?;
    if !chain.files.iter().any(|(p, _)| *p == drop_in) {
        // Relative to the config's directory when inside it (every release joins a relative
        // literal import to the importing file's directory), absolute otherwise.
        let dir = format!(
            "{}/",
            Path::new(&main)
                .parent()
                .map_or(String::new(), |d| d.to_string_lossy().into_owned())
        );
        let entry = drop_in.strip_prefix(&dir).unwrap_or(&drop_in);
        main_text =
            imports::add_import(&main_text, entry).map_err(|e| anyhow!("{}: {e}", input.label))?;
        chain = imports::load_with(Path::new(&main), &main_text, release, &overlay)?;
    }
    let Some(primary) = chain.files.iter().position(|(p, _)| *p == drop_in) else {
        match chain.missing.first() {
            Some(m) => bail!(
                "containerd would not load `{drop_in}`: it stops loading imports at `{m}`, which does not exist\nhelp: create `{m}` or remove it from `imports`"
            ),
            None => bail!(
                "`{drop_in}` is not loaded even after adding it to `imports` in `{}`",
                input.label
            ),
        }
    };
    if main_text != input.text
        && let Some(m) = input.managed.as_ref().filter(|_| !args.force)
    {
        bail!(
            "`{}` must import `{drop_in}`, but it is managed by {}, which regenerates it\nhelp: {}; or pass --force",
            input.label,
            m.tool,
            m.lever
        );
    }
    // 1.x replaces a plugin's whole table with the last file's: a drop-in with a CRI table
    // would drop every other CRI setting of the files before it.
    if release.map_or(schema <= Schema::V2, |r| !r.is_2x()) {
        for (file, text) in &chain.files[..primary] {
            if !pausectl::cri_settings(text).is_empty() {
                bail!(
                    "containerd 1.x replaces the whole CRI plugin table of `{file}` with the drop-in's, which would drop its other CRI settings\nhelp: run without --drop-in to pin the image in `{file}` itself, or pass --containerd-version with the 2.x release that reads this config (e.g. 2.1)"
                );
            }
        }
    }
    let mut files: Vec<(&str, &str)> = chain
        .files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    files[0] = (input.label.as_str(), main_text.as_str());
    let change = pausectl::set_chain_at(&files, &chain.missing, image, release, primary)
        .map_err(|(i, e)| config_error(files[i].0, e))?;
    let mut olds: Vec<String> = chain.files.iter().map(|(_, t)| t.clone()).collect();
    olds[0] = input.before.clone().unwrap_or_else(|| input.text.clone());
    olds[primary] = existing.clone().unwrap_or_default();
    Ok(Plan {
        labels: files.iter().map(|(l, _)| l.to_string()).collect(),
        olds,
        news: change.texts,
        created: (0..files.len())
            .map(|i| i == primary && existing.is_none())
            .collect(),
        before: change.before,
        warnings: chain.notes.into_iter().chain(change.warnings).collect(),
    })
}

/// The end of the summary line when imported files change too.
fn also(dropins: &[&str]) -> String {
    if dropins.is_empty() {
        return String::new();
    }
    let list: Vec<String> = dropins.iter().map(|d| format!("`{d}`")).collect();
    format!("; imported files changed too: {}", list.join(", "))
}

/// The one line `set` prints on standard error.
fn summary(
    label: &str,
    report: &Report,
    after: &str,
    changed: bool,
    args: &SetArgs,
    missing: bool,
) -> String {
    let version = format!("config version {}", report.schema);
    let was = match (&report.image, &report.lines_differ) {
        _ if report.cri_disabled.is_some() => "none (the CRI plugin is disabled)".into(),
        (Some(image), _) => image.clone(),
        (None, Some((a, b))) => format!("(1.x: {a}; 2.x: {b})"),
        (None, None) => "containerd's built-in default".into(),
    };
    if !changed {
        format!("pausectl: {label} already pins {after} ({version}); nothing to change")
    } else if args.check || args.dry_run {
        let flag = if args.check { "--check" } else { "--dry-run" };
        let now = if missing {
            "does not exist".to_string()
        } else {
            format!("uses {was}")
        };
        format!("pausectl: {label} {now}; {flag} would pin {after} ({version}); nothing written")
    } else if missing {
        format!("pausectl: created {label}, pinning {after} ({version})")
    } else {
        format!("pausectl: {label}: sandbox image {was} -> {after} ({version})")
    }
}

fn show(args: Common) -> Result<ExitCode> {
    let (release, how) = release(&args.containerd_version)?;
    let input = read_input(&args.config, release, false)?;
    let label = input.label.as_str();
    let chain = load_chain(&args.config, &input, release)?;
    let files = chain_files(if input.missing { "" } else { &input.text }, &chain);
    let mut report = pausectl::inspect_chain(&files, &chain.missing, release)
        .map_err(|(i, e)| config_error(files[i].0, e))?;
    report.warnings.extend(chain.notes.iter().cloned());
    trace_report(&files, &report);
    let file = |p: &Pin| files[p.file].0;
    if let Some(w) = report.image.as_deref().and_then(kubeadm_warning) {
        report.warnings.push(w);
    }
    if let Some(image) = &report.image {
        let public = ImageRef::parse_lenient(image).map_or(true, |r| r.is_public());
        if public {
            report.warnings.push(format!(
                "the sandbox image `{image}` comes from a public registry, so starting a pod depends on the internet; run `pausectl set --registry <your-registry>`"
            ));
        }
    }
    let source = report
        .source
        .as_ref()
        .map(|p| json!({"file": file(p), "line": p.line, "key": p.key}));
    if args.json {
        let out = json!({
            "config": label,
            "exists": !input.missing,
            "config_version": (!input.missing).then(|| report.schema.number()),
            "containerd_version": release.map(|r| r.to_string()),
            "image": report.image,
            "source": source,
            "default": report.image.is_some() && report.source.is_none(),
            "managed": input.managed,
            "files": files.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            "pins": report.pins.iter().map(|p| json!({"file": file(p), "line": p.line, "key": p.key, "image": p.image})).collect::<Vec<_>>(),
            "warnings": report.warnings,
        });
        print_stdout(&format!("{out:#}\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let containerd = match release {
        Some(r) => format!("{r} ({how})"),
        None => "unknown (no `containerd` on PATH; pass --containerd-version)".into(),
    };
    let config = if input.missing {
        format!("{label} (does not exist: containerd uses its built-in settings)")
    } else {
        format!("{label} (version {})", report.schema)
    };
    let image = match (&report.image, release) {
        (Some(i), _) => i.clone(),
        (None, _) if report.cri_disabled.is_some() => {
            "none: the CRI plugin is disabled (`disabled_plugins`), so containerd runs no pods"
                .into()
        }
        (None, None) if report.lines_differ.is_some() => {
            "unknown: containerd 1.x and 2.x read this config differently (see the warning)".into()
        }
        (None, _) if report.unsure.is_some() && report.refusal.is_none() => {
            "unknown: containerd releases read this config differently (see the warning)".into()
        }
        (None, Some(r)) if report.refusal.is_some() => {
            format!("none: containerd {r} refuses this config and does not start")
        }
        (None, None) if report.refusal.is_some() => {
            "none: containerd refuses this config and does not start (see the warning)".into()
        }
        (None, _) => {
            "unknown: nothing sets it, and the built-in default depends on the containerd release"
                .into()
        }
    };
    let set_by = match (&report.source, &report.image) {
        (Some(p), _) => format!("{}:{}: {}", file(p), p.line, p.key),
        (None, Some(_)) => format!(
            "nothing; containerd {}'s built-in default",
            release.map_or(String::new(), |r| r.to_string())
        ),
        (None, None) => "nothing".into(),
    };
    let mut out = format!(
        "config:        {config}\ncontainerd:    {containerd}\nsandbox image: {image}\nset by:        {set_by}\n"
    );
    for (f, _) in files.iter().skip(1) {
        out.push_str(&format!("imports:       {f}\n"));
    }
    if let Some(m) = &input.managed {
        out.push_str(&format!("managed by:    {} ({})\n", m.tool, m.lever));
    }
    for p in report
        .pins
        .iter()
        .filter(|p| Some(*p) != report.source.as_ref())
    {
        out.push_str(&format!(
            "also set:      {}:{}: {} = {}\n",
            file(p),
            p.line,
            p.key,
            p.image
        ));
    }
    print_stdout(&out)?;
    for w in &report.warnings {
        print_stderr(&format!("warning: {w}\n"));
    }
    Ok(ExitCode::SUCCESS)
}
