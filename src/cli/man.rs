//! `pausectl man`: pausectl(1) and one page per subcommand (pausectl-set(1), ...). clap_mangen
//! renders the name, synopsis, options and subcommands from the clap command, so that they
//! never drift from `--help`; the sections below add what a node operator looks up: exit
//! status, environment, files, examples.

use super::output::print_stdout;
use super::{ManArgs, Page};
use anyhow::{Context, Result};
use clap::ValueEnum;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use std::io;
use std::process::ExitCode;

/// What a page says beyond the command's own help.
struct Extra {
    /// Paragraphs after the one-line description.
    description: &'static [&'static str],
    /// Exit code, meaning.
    exit: &'static [(&'static str, &'static str)],
    /// Names from [`ENVIRONMENT`] that apply.
    environment: &'static [&'static str],
    /// Paths from [`FILES`] that apply.
    files: &'static [&'static str],
    /// What it does, then the command (lines of shell).
    examples: &'static [(&'static str, &'static str)],
    /// Other pages, `name(section)`.
    see_also: &'static [&'static str],
}

/// The variables pausectl reads, and how.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "NO_COLOR",
        "Set and not empty: the diff is not coloured, even on a terminal. An explicit --color always wins over it.",
    ),
    (
        "PAUSECTL_NO_VERIFY",
        "Set to anything but an empty string, 0, false, no, off, n or f: as set --no-verify, a write does not ask the registry for the image first (an image build whose network cannot reach it). --verify wins over it.",
    ),
    (
        "HTTPS_PROXY, HTTP_PROXY, NO_PROXY",
        "The proxy for the registry check (a set that writes, --verify), taken as containerd has it: from the Environment= and EnvironmentFile= lines of containerd.service and its drop-ins (see FILES); pausectl's own environment (upper case, then lower case) only where there is no containerd.service. HTTPS_PROXY is used for https, HTTP_PROXY for plain http; a host, domain or IP in NO_PROXY, or a loopback registry, is reached directly.",
    ),
    (
        "SSL_CERT_FILE",
        "A CA bundle to trust instead of the system's (/etc/ssl/certs/ca-certificates.crt and the other places Go looks) when checking a registry's certificate; CAs named in hosts.toml are added to it.",
    ),
    (
        "PATH",
        "--containerd-version auto (the default) takes the first containerd on PATH: the version its --version prints, read from the binary's file without starting it, when that is beyond doubt; else the version of the dpkg package (containerd, containerd.io) that installed that file, when it has not changed since; else what it said to --version in an earlier run since boot, when that file has not changed since; else what it says to --version. With none, the release is unknown.",
    ),
    (
        "DPKG_ADMINDIR",
        "dpkg's database, read for the release of the containerd on PATH (default /var/lib/dpkg).",
    ),
    (
        "PAUSECTL_CACHE_DIR",
        "Where a successful run keeps what containerd said to --version (with the file's path, inode, size and times), so that later runs need not start it: default /run/pausectl, a tmpfs emptied at boot. Believed only when root or the user owns it and no one else can write it.",
    ),
];

/// The files pausectl reads or writes, and why.
const FILES: &[(&str, &str)] = &[
    (
        "/etc/containerd/config.toml",
        "The config containerd reads when started without --config: the default of --config, and the only config that set creates without --create.",
    ),
    (
        "CONFIG.bak, CONFIG.bak.N",
        "set --backup: the original of each file changed, beside it, unless an imports entry would load it there (then in the nearest directory above that none loads), or in --backup-dir.",
    ),
    (
        ".NAME.pausectl",
        "The new text of NAME, linked under this name and renamed over NAME by set. Only a run killed between the two leaves it behind; the next run removes it.",
    ),
    (
        "CONFIG_PATH/HOST/hosts.toml, /etc/containerd/certs.d",
        "The registry's hosts, CAs, client certificates and headers, read as containerd reads them, where the config's registry table sets config_path.",
    ),
    (
        "/etc/systemd/system/containerd.service.d/*.conf",
        "containerd's unit and its drop-ins (also under /run/systemd/system, /usr/local/lib/systemd/system, /usr/lib/systemd/system, /lib/systemd/system): the proxy containerd pulls through.",
    ),
];

const EXIT_SET: &[(&str, &str)] = &[
    (
        "0",
        "Done: the image is pinned (written, or already so and the file untouched). With --dry-run, whether or not a change is needed.",
    ),
    (
        "1",
        "--check only: a change is needed (nothing was written).",
    ),
    (
        "2",
        "An error: usage, an unreadable or invalid config, a bad image reference, a registry that lacks the image, a failed write. The files are left as they were, unless the message says one was written (a chain of several files whose later write failed: run again to finish).",
    ),
];

const EXIT_SHOW: &[(&str, &str)] = &[
    ("0", "The report was printed."),
    (
        "2",
        "An error: usage, an unreadable config; with --verify, a registry that lacks the image or cannot be reached, or no image in effect to verify. show never writes.",
    ),
];

const EXIT_COMPLETIONS: &[(&str, &str)] = &[
    ("0", "The script was printed."),
    ("2", "A usage error, such as a shell it has no script for."),
];

const EXIT_MAN: &[(&str, &str)] = &[
    ("0", "The page was printed, or every page written."),
    (
        "2",
        "An error: usage, or a directory or page that cannot be written.",
    ),
];

const EXIT_ALL: &[(&str, &str)] = &[
    ("0", "Done, or nothing to do."),
    ("1", "set --check only: a change is needed."),
    (
        "2",
        "An error (usage, unreadable or invalid config, bad image reference, a registry that lacks the image, failed write). The file is left as it was, unless the message says it was written.",
    ),
];

/// What `set` reads from the environment (and so pausectl(1) as a whole).
const SET_ENVIRONMENT: &[&str] = &[
    "NO_COLOR",
    "PAUSECTL_NO_VERIFY",
    "HTTPS_PROXY, HTTP_PROXY, NO_PROXY",
    "SSL_CERT_FILE",
    "PATH",
    "DPKG_ADMINDIR",
    "PAUSECTL_CACHE_DIR",
];

const SET: Extra = Extra {
    description: &[
        "The config is edited in place: every comment and byte stays but the pin. pausectl finds the key that the containerd release reading the file uses (sandbox_image, or pinned_images.sandbox in version 3 configs; both where the release is unknown), follows the config's imports, and prints a unified diff and a one-line summary.",
        "Before it writes, set asks the registry for the image as containerd will (the config's hosts.toml, mirrors, credentials and TLS settings, containerd's proxy), and refuses, writing nothing, when containerd could not pull it. --dry-run and --check stay offline unless --verify is given.",
        "The file is replaced atomically, keeping its mode, owner and extended attributes: at every moment it holds its old bytes or its new ones. When nothing needs to change, it is not touched. containerd reads the new config only when it restarts: systemctl restart containerd.",
        "With --config -, the config is read from standard input and the result written to standard output; the diff and summary then go to standard error.",
    ],
    exit: EXIT_SET,
    environment: SET_ENVIRONMENT,
    files: &[
        "/etc/containerd/config.toml",
        "CONFIG.bak, CONFIG.bak.N",
        ".NAME.pausectl",
        "CONFIG_PATH/HOST/hosts.toml, /etc/containerd/certs.d",
        "/etc/systemd/system/containerd.service.d/*.conf",
    ],
    examples: &[
        (
            "Keep the repository and tag containerd uses now, pulled from your registry (asked first whether it has the image), then restart containerd:",
            "pausectl set --registry registry.local:5000\nsystemctl restart containerd",
        ),
        (
            "See the change without making it:",
            "pausectl set --image registry.local:5000/pause:3.10 --dry-run",
        ),
        (
            "In a script or a Packer build: 0 when the pin is in effect, 1 when a change is needed, 2 on an error:",
            "rc=0\npausectl set --image registry.local:5000/pause:3.10 --check --quiet || rc=$?",
        ),
        (
            "Restart containerd only when the file was written (JSON on standard output):",
            "pausectl set --registry registry.local:5000 --json | jq -e .written >/dev/null &&\n  systemctl restart containerd",
        ),
        (
            "Leave a main config that belongs to a package alone: pin in a drop-in, imported by the main config:",
            "pausectl set --image registry.local:5000/pause:3.10 \\\n  --drop-in /etc/containerd/conf.d/50-pause.toml",
        ),
        (
            "A fleet: keep the originals in one place; pin the digest the registry resolves:",
            "pausectl set --image registry.local:5000/pause:3.10 --pin-digest \\\n  --backup-dir /var/backups/pausectl",
        ),
        (
            "An image build whose network cannot reach the registry, for containerd 1.7:",
            "PAUSECTL_NO_VERIFY=1 pausectl set --registry registry.local:5000 --containerd-version 1.7",
        ),
    ],
    see_also: &[
        "pausectl(1)",
        "pausectl-show(1)",
        "containerd(8)",
        "containerd-config.toml(5)",
    ],
};

const SHOW: Extra = Extra {
    description: &[
        "It prints the config and its version, the containerd release, the sandbox image in effect, the file, line and key that set it (or the release's built-in default), the files the config imports, and every other key that holds a sandbox image. Warnings on standard error say when the release would refuse the config or ignore the pin, and what to change. show writes nothing.",
        "With --verify it also asks the registry for that image, as containerd will, and prints which host has it and its digest.",
    ],
    exit: EXIT_SHOW,
    environment: &[
        "HTTPS_PROXY, HTTP_PROXY, NO_PROXY",
        "SSL_CERT_FILE",
        "PATH",
        "DPKG_ADMINDIR",
        "PAUSECTL_CACHE_DIR",
    ],
    files: &[
        "/etc/containerd/config.toml",
        "CONFIG_PATH/HOST/hosts.toml, /etc/containerd/certs.d",
        "/etc/systemd/system/containerd.service.d/*.conf",
    ],
    examples: &[
        (
            "What containerd will use, and where it is set:",
            "pausectl show",
        ),
        (
            "Whether containerd can pull it (exit 2 when it cannot):",
            "pausectl show --verify",
        ),
        (
            "The image alone, for a script:",
            "pausectl show --json | jq -r .image",
        ),
        (
            "A config that is not on this node, as containerd 2.1 reads it, with a trace of what was read:",
            "pausectl -v show --config - --containerd-version 2.1 < config.toml",
        ),
    ],
    see_also: &[
        "pausectl(1)",
        "pausectl-set(1)",
        "containerd(8)",
        "containerd-config.toml(5)",
    ],
};

const COMPLETIONS: Extra = Extra {
    description: &[
        "The Debian package installs the bash, zsh and fish scripts where those shells find them.",
    ],
    exit: EXIT_COMPLETIONS,
    environment: &[],
    files: &[],
    examples: &[
        (
            "Install them by hand:",
            "pausectl completions bash > /usr/share/bash-completion/completions/pausectl\npausectl completions zsh > /usr/share/zsh/vendor-completions/_pausectl\npausectl completions fish > /usr/share/fish/vendor_completions.d/pausectl.fish",
        ),
        (
            "Try them in this bash:",
            "source <(pausectl completions bash)",
        ),
    ],
    see_also: &["pausectl(1)"],
};

const MAN: Extra = Extra {
    description: &[
        "Without a SUBCOMMAND it prints pausectl(1); with one, pausectl-SUBCOMMAND(1). With --dir it writes every page into that directory (for a package) and prints each path written.",
    ],
    exit: EXIT_MAN,
    environment: &[],
    files: &[],
    examples: &[
        (
            "Read a page without installing it:",
            "pausectl man set | man -l -",
        ),
        (
            "Install every page:",
            "pausectl man --dir /usr/local/share/man/man1",
        ),
    ],
    see_also: &["pausectl(1)", "man(1)"],
};

const TOP: Extra = Extra {
    description: &[
        "Nodes then start pods with no internet: containerd pulls the pod sandbox image from your registry instead of registry.k8s.io. pausectl set pins the image, editing the config in place; pausectl show says which image containerd will use and where it is set. Both know every config version and containerd release line, and follow imports.",
    ],
    exit: EXIT_ALL,
    environment: SET_ENVIRONMENT,
    files: &[
        "/etc/containerd/config.toml",
        "CONFIG.bak, CONFIG.bak.N",
        "CONFIG_PATH/HOST/hosts.toml, /etc/containerd/certs.d",
        "/etc/systemd/system/containerd.service.d/*.conf",
    ],
    examples: &[
        (
            "Pin a mirror of the pause image and restart containerd:",
            "pausectl set --registry registry.local:5000\nsystemctl restart containerd",
        ),
        ("See where the pin is:", "pausectl show"),
    ],
    see_also: &[
        "pausectl-set(1)",
        "pausectl-show(1)",
        "pausectl-completions(1)",
        "pausectl-man(1)",
        "containerd(8)",
        "containerd-config.toml(5)",
    ],
};

/// `pausectl man`: one page on standard output, or every page into `--dir`.
pub(super) fn man(cmd: clap::Command, args: &ManArgs) -> Result<ExitCode> {
    // The man pages list the subcommands that have one: not clap's `help`.
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let Some(dir) = &args.dir else {
        return print_stdout(&page(&cmd, args.page)).map(|()| ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let pages = std::iter::once(None).chain(Page::value_variants().iter().copied().map(Some));
    for p in pages {
        let path = dir.join(format!("{}.1", title(p)));
        std::fs::write(&path, page(&cmd, p))
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        print_stdout(&format!("{}\n", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The subcommand's name as clap knows it.
fn name(p: Page) -> &'static str {
    match p {
        Page::Set => "set",
        Page::Show => "show",
        Page::Completions => "completions",
        Page::Man => "man",
    }
}

/// A page's title: `pausectl`, `pausectl-set`, ...
fn title(p: Option<Page>) -> String {
    p.map_or("pausectl".into(), |p| format!("pausectl-{}", name(p)))
}

/// One page, in roff: clap_mangen's sections from the command, then ours.
fn page(root: &clap::Command, p: Option<Page>) -> String {
    let (cmd, extra) = match p {
        None => (root.clone(), &TOP),
        Some(p) => {
            let sub = root
                .find_subcommand(name(p))
                .expect("every page is a subcommand");
            let extra = match p {
                Page::Set => &SET,
                Page::Show => &SHOW,
                Page::Completions => &COMPLETIONS,
                Page::Man => &MAN,
            };
            (sub.clone(), extra)
        }
    };
    let man = Man::new(cmd.clone())
        .title(title(p))
        .source(format!("pausectl {}", env!("CARGO_PKG_VERSION")))
        .manual("pausectl manual");
    let mut out = PREAMBLE.to_string();
    out += &piece(|w| man.render_title(w));
    out += &piece(|w| man.render_name_section(w));
    out += &piece(|w| man.render_synopsis_section(w));
    out += &piece(|w| man.render_description_section(w));
    out += &ours(&paragraphs(extra.description));
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        out += &piece(|w| man.render_options_section(w));
    }
    if cmd.has_subcommands() {
        out += &piece(|w| man.render_subcommands_section(w));
    }
    out += &ours(&sections(extra));
    if p.is_none() {
        out += &piece(|w| man.render_version_section(w));
    }
    out
}

/// The lines roff's renderer starts every piece with (the string `\*(Aq` that an apostrophe
/// is written as): once at the top of a page is enough.
const PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

/// One of clap_mangen's sections, without the preamble that [`page`] writes once.
fn piece(render: impl Fn(&mut Vec<u8>) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    render(&mut out).expect("writing to memory");
    let text = String::from_utf8(out).expect("roff from UTF-8 text is UTF-8");
    text.strip_prefix(PREAMBLE).unwrap_or(&text).to_string()
}

/// Our sections, rendered (and escaped) by roff, without the preamble.
fn ours(roff: &Roff) -> String {
    piece(|w| roff.to_writer(w))
}

/// DESCRIPTION's paragraphs after clap's one line.
fn paragraphs(texts: &[&str]) -> Roff {
    let mut roff = Roff::new();
    for t in texts {
        roff.control("PP", []).text([roman(*t)]);
    }
    roff
}

/// EXIT STATUS, ENVIRONMENT, FILES, EXAMPLES, SEE ALSO.
fn sections(extra: &Extra) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in extra.exit {
        roff.control("TP", [])
            .text([bold(*code)])
            .text([roman(*meaning)]);
    }
    let listed = |roff: &mut Roff, heading: &str, names: &[&str], table: &[(&str, &str)]| {
        if names.is_empty() {
            return;
        }
        roff.control("SH", [heading]);
        for name in names {
            let (_, text) = table.iter().find(|(n, _)| n == name).expect("listed");
            roff.control("TP", [])
                .text([bold(*name)])
                .text([roman(*text)]);
        }
    };
    listed(&mut roff, "ENVIRONMENT", extra.environment, ENVIRONMENT);
    listed(&mut roff, "FILES", extra.files, FILES);
    roff.control("SH", ["EXAMPLES"]);
    for (what, command) in extra.examples {
        roff.control("PP", []).text([roman(*what)]);
        roff.control("RS", ["4"]).control("nf", []);
        for line in command.lines() {
            roff.text([roman(line)]);
        }
        roff.control("fi", []).control("RE", []);
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut refs = Vec::new();
    for (i, r) in extra.see_also.iter().enumerate() {
        let (name, section) = r.split_once('(').expect("name(section)");
        let sep = if i + 1 < extra.see_also.len() {
            ", "
        } else {
            ""
        };
        refs.extend([bold(name), roman(format!("({section}{sep}"))]);
    }
    roff.text(refs);
    roff
}
