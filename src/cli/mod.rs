//! The command line: arguments parsed once into a request ([`SetRequest`]), then `set` and
//! `show` run it. Every containerd rule is the library's; this module reads, writes and prints.

mod input;
mod man;
mod output;
mod set;
mod show;
mod write;

use anyhow::{Result, anyhow, bail};
use clap::builder::{PossibleValue, StringValueParser, TypedValueParser};
use clap::{Args, ColorChoice, CommandFactory, Parser, Subcommand, ValueEnum};
use output::{print_stderr, print_stdout};
use pausectl::{ImageRef, Registry, Release, Target};
use std::path::PathBuf;
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
    // After each subcommand's own options in its help (and man page), before --help.
    #[arg(long, short, global = true, display_order = 900)]
    verbose: bool,
    /// When to colour the diff: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(
        long,
        global = true,
        value_name = "WHEN",
        default_value = "auto",
        hide_possible_values = true,
        display_order = 901
    )]
    color: ColorChoice,
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
    #[command(
        after_help = "Examples:\n  pausectl show\n  pausectl show --verify   # exit 2 if containerd could not pull the image\n  pausectl show --config /etc/containerd/config.toml --json --verbose"
    )]
    Show(ShowArgs),
    /// Print a shell completion script on standard output.
    #[command(
        after_help = "Examples:\n  pausectl completions bash > /usr/share/bash-completion/completions/pausectl\n  pausectl completions zsh > /usr/share/zsh/vendor-completions/_pausectl\n  pausectl completions fish > /usr/share/fish/vendor_completions.d/pausectl.fish"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff) on standard output, or write them all to a directory.
    #[command(
        after_help = "Examples:\n  pausectl man | man -l -\n  pausectl man set > pausectl-set.1\n  pausectl man --dir /usr/local/share/man/man1   # pausectl.1, pausectl-set.1, ..."
    )]
    Man(ManArgs),
}

/// `man`'s arguments.
#[derive(Args, Clone)]
struct ManArgs {
    /// The subcommand whose page to print, pausectl-SUBCOMMAND(1) (without one: pausectl(1))
    #[arg(value_enum, value_name = "SUBCOMMAND")]
    page: Option<Page>,
    /// Write every page into DIR (created if missing) as pausectl.1, pausectl-set.1, ...,
    /// printing each path written, instead of printing one
    #[arg(long, value_name = "DIR", conflicts_with = "page")]
    dir: Option<PathBuf>,
}

/// The subcommands that have a man page of their own.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Page {
    Set,
    Show,
    Completions,
    Man,
}

#[derive(Args, Clone)]
#[group(id = "target", required = true, multiple = false, args = ["image", "registry"])]
struct SetArgs {
    /// The containerd config to edit; `-` reads standard input and writes the result to
    /// standard output (the diff and summary then go to standard error)
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
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
    /// Write the image's digest (REPO@sha256:...) as the registry resolves it, not its tag
    #[arg(long)]
    pin_digest: bool,
    /// Ask the registry, as containerd will, for the image before writing (the default for a
    /// write; --dry-run and --check stay offline without it; it wins over --no-verify)
    #[arg(long)]
    verify: bool,
    /// Write without asking the registry (an image build whose network cannot reach it)
    #[arg(long, env = "PAUSECTL_NO_VERIFY", value_parser = clap::builder::FalseyValueParser::new())]
    no_verify: bool,
    #[command(flatten)]
    registry_check: RegistryArgs,
    #[command(flatten)]
    common: Common,
}

/// How to ask the registry for the image (`set`, and `show --verify`).
#[derive(Args, Clone)]
struct RegistryArgs {
    /// The node's platform an image index must hold (default: this machine's)
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Seconds the registry check may take in all (connecting: 5 s at most)
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    timeout: u64,
}

impl RegistryArgs {
    /// The platform given, checked.
    fn platform(&self) -> Result<Option<pausectl::pull::platform::Platform>> {
        self.platform
            .as_deref()
            .map(pausectl::pull::platform::Platform::parse)
            .transpose()
            .map_err(|e| anyhow!("invalid --platform: {e}"))
    }
}

/// `show`'s arguments.
#[derive(Args, Clone)]
struct ShowArgs {
    /// The containerd config to read; `-` reads it from standard input (show writes nothing)
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Ask the registry, as containerd will, for the image in effect (exit 2 when containerd
    /// could not pull it)
    #[arg(long)]
    verify: bool,
    #[command(flatten)]
    registry_check: RegistryArgs,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Clone)]
struct Common {
    /// The containerd release that reads the file: auto (the containerd on PATH: the version its `--version` prints, read from its file, or dpkg's), or X.Y[.Z]
    #[arg(
        long,
        value_name = "auto|X.Y[.Z]",
        default_value = "auto",
        value_parser = ReleaseArg,
        hide_possible_values = true
    )]
    containerd_version: String,
    /// Print one JSON object on standard output instead of text
    #[arg(long)]
    json: bool,
}

/// `--containerd-version`'s value, taken as given (`input::release` checks it, with the
/// forms it accepts in its message); its one possible value, `auto`, is what shell completion
/// offers (a list of possible values would refuse `2.1`).
#[derive(Clone)]
struct ReleaseArg;

impl TypedValueParser for ReleaseArg {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let auto = PossibleValue::new("auto").help("the release of the containerd on PATH");
        Some(Box::new(std::iter::once(auto)))
    }
}

/// Where the config comes from.
#[derive(Clone)]
enum Source {
    /// Standard input; the result goes to standard output.
    Stdin,
    /// A file, as the user named it.
    File(PathBuf),
}

impl Source {
    fn new(path: &std::path::Path) -> Source {
        if path.as_os_str() == "-" {
            Source::Stdin
        } else {
            Source::File(path.to_path_buf())
        }
    }
}

/// What `set` does with the change.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Write it.
    Write,
    /// Print it.
    DryRun,
    /// Say whether one is needed (exit 1 when it is).
    Check,
}

/// A `set` as asked for, checked before any file is read.
struct SetRequest {
    source: Source,
    target: Target,
    mode: Mode,
    release: Option<Release>,
    /// `--backup` (`None` inside: beside the file) or `--backup-dir`.
    backup: Option<Option<PathBuf>>,
    create: bool,
    quiet: bool,
    force: bool,
    drop_in: Option<PathBuf>,
    json: bool,
    /// Ask the registry before writing.
    verify: bool,
    /// `--verify` given: ask even when nothing would change.
    verify_asked: bool,
    pin_digest: bool,
    platform: Option<pausectl::pull::platform::Platform>,
    timeout: std::time::Duration,
}

impl SetRequest {
    fn new(args: SetArgs) -> Result<SetRequest> {
        let source = Source::new(&args.config);
        let mode = match (args.check, args.dry_run) {
            (true, _) => Mode::Check,
            (_, true) => Mode::DryRun,
            _ => Mode::Write,
        };
        if let Source::Stdin = source {
            if args.backup_dir.is_some() {
                bail!(
                    "--backup-dir needs a config file; with --config - the original is your standard input"
                );
            }
            if args.common.json && mode == Mode::Write {
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
        let (release, _) = input::release(&args.common.containerd_version)?;
        let target = match (&args.image, &args.registry) {
            (Some(image), _) => {
                Target::Image(ImageRef::parse(image).map_err(|e| anyhow!("invalid --image: {e}"))?)
            }
            (None, Some(registry)) => Target::Registry(
                Registry::parse(registry).map_err(|e| anyhow!("invalid --registry: {e}"))?,
            ),
            (None, None) => unreachable!("clap requires --image or --registry"),
        };
        let verify = args.verify || (mode == Mode::Write && !args.no_verify);
        if args.pin_digest && !verify {
            bail!(
                "--pin-digest needs the registry's answer: it cannot be used with --no-verify, nor with --dry-run or --check without --verify"
            );
        }
        Ok(SetRequest {
            verify,
            verify_asked: args.verify,
            pin_digest: args.pin_digest,
            platform: args.registry_check.platform()?,
            timeout: std::time::Duration::from_secs(args.registry_check.timeout.max(1)),
            source,
            target,
            mode,
            release,
            backup: (args.backup || args.backup_dir.is_some()).then_some(args.backup_dir),
            create: args.create,
            quiet: args.quiet,
            force: args.force,
            drop_in: args.drop_in,
            json: args.common.json,
        })
    }

    /// Whether this run writes the config file (not standard output).
    fn writes(&self) -> bool {
        self.mode == Mode::Write && matches!(self.source, Source::File(_))
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    output::set_verbose(cli.verbose);
    output::set_color(cli.color);
    let result = match cli.command {
        Command::Set(args) => SetRequest::new(args).and_then(|req| {
            // Another run changed a file of the chain between this one's read and its lock
            // of that file's directory: read it all again (nothing was printed or written yet).
            let mut tries = 1;
            loop {
                match set::set(&req) {
                    Err(e) if e.is::<input::ChangedMeanwhile>() && tries < 10 => tries += 1,
                    other => break other,
                }
            }
        }),
        Command::Show(args) => show::show(args),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pausectl", &mut out);
            print_stdout(&String::from_utf8_lossy(&out)).map(|()| ExitCode::SUCCESS)
        }
        Command::Man(args) => man::man(Cli::command(), &args),
    };
    match result {
        Ok(code) => {
            input::remember_release();
            code
        }
        Err(err) => {
            print_stderr(&format!("error: {err:#}\n"));
            ExitCode::from(2)
        }
    }
}
