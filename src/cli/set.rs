//! `pausectl set`: resolve (read the chain), plan (the library decides every file's new text),
//! render (the diff), write, report.

use super::output::{self, Done, print_stderr, print_stdout, trace, trace_report};
use super::write::{self, Target as WriteTarget};
use super::{DEFAULT_CONFIG, Mode, SetRequest, Source, input};
use anyhow::{Context, Result, bail};
use pausectl::imports::Chain;
use pausectl::{DropIn, Kind, Plan, Target, Warning, disk, imports, plan};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

pub(super) fn set(req: &SetRequest) -> Result<ExitCode> {
    let (input, chain) = resolve(req)?;
    let mut warnings = managed_warning(req, &input)?;
    let again = req.pin_digest.then(|| chain.clone());
    let mut plan = make_plan(req, &input, &req.target, chain)?;
    let verified = verify(req, &plan, &mut warnings)?;
    if let (Some(chain), Some(found)) = (again, &verified) {
        // The same image, by the digest the registry resolved.
        let by_digest = pin_digest(&plan.image, &found.digest)?;
        plan = make_plan(req, &input, &by_digest, chain)?;
    }
    warnings.extend(plan.warnings.iter().cloned());
    let labels: Vec<&str> = plan.files.iter().map(|f| f.path.as_str()).collect();
    trace_report(&labels, &plan.before);
    trace(format_args!("pinning {}", plan.image));
    let changes: Vec<usize> = (0..plan.files.len())
        .filter(|&i| plan.files[i].changed())
        .collect();
    // The diff goes to standard error when standard output carries the config.
    let to_stderr = input.target.is_none();
    let diff = render(req, &plan, &changes, to_stderr);

    // Every file to write, checked before anything is printed or written.
    // (Only a run that writes needs the imports: where a backup must not go.)
    let (targets, entries) = match &input.target {
        Some(main) if req.writes() => {
            let entries = write::import_entries(&plan.files);
            let backup = req.backup.as_ref().map(|b| b.as_deref());
            let t = write::targets(&plan.files, &changes, main, backup, &entries, &mut warnings)?;
            (t, entries)
        }
        _ => (Vec::new(), Vec::new()),
    };
    let _locks = write::unchanged(&plan.files, &targets, input.lock.as_ref())?;
    if !req.json {
        // Warnings and the diff come first, so a failed write is reported after them.
        print_first(req, &warnings, &diff, to_stderr)?;
    }
    let backups = write(req, &plan, &targets, &entries)?;
    report(
        req,
        &Done {
            label: &input.label,
            plan: &plan,
            release: req.release,
            changes: &changes,
            diff: &diff,
            warnings: &warnings,
            written: !targets.is_empty(),
            backups: &backups,
            verified: verified.as_ref(),
            unchecked: req.mode == Mode::Write && !req.verify,
            flag: match req.mode {
                Mode::Check => Some("--check"),
                Mode::DryRun => Some("--dry-run"),
                Mode::Write => None,
            },
        },
    )?;
    let needed = req.mode == Mode::Check && !changes.is_empty();
    Ok(ExitCode::from(if needed { 1 } else { 0 }))
}

/// The diff of the files that change, coloured for a terminal that shows it; none when
/// nothing will print it (`--quiet` without `--json`).
fn render(req: &SetRequest, plan: &Plan, changes: &[usize], to_stderr: bool) -> String {
    if req.quiet && !req.json {
        return String::new();
    }
    let tty = if to_stderr {
        io::stderr().is_terminal()
    } else {
        io::stdout().is_terminal()
    };
    output::diff(&plan.files, changes, !req.json && output::color(tty))
}

/// The warnings, then the diff (unless `--quiet`).
fn print_first(req: &SetRequest, warnings: &[Warning], diff: &str, to_stderr: bool) -> Result<()> {
    for w in warnings {
        print_stderr(&format!("warning: {w}\n"));
    }
    match (req.quiet, to_stderr) {
        (true, _) => Ok(()),
        (false, true) => {
            print_stderr(diff);
            Ok(())
        }
        (false, false) => print_stdout(diff),
    }
}

/// Reads the config (locked when this run writes it) and the files it imports.
fn resolve(req: &SetRequest) -> Result<(input::Input, Chain)> {
    let mut input = input::read(&req.source, req.writes())?;
    if let Source::File(path) = &req.source
        && input.missing
        && !req.create
        && path != Path::new(DEFAULT_CONFIG)
    {
        bail!(
            "no such file `{}`; pass --create to create it\nhelp: without --create, pausectl creates a missing config only at {DEFAULT_CONFIG}, so that a mistyped path is not taken for a new config; nothing was written",
            input.label
        );
    }
    if !input.missing && pausectl::fresh(&input.text, req.release).is_some() {
        trace(format_args!(
            "`{}` holds no settings: it gets the version of a new config",
            input.label
        ));
    }
    let chain = input::chain(&req.source, &mut input, req.release)?;
    Ok((input, chain))
}

/// Refuses a config that another tool regenerates, or with `--force` says so.
fn managed_warning(req: &SetRequest, input: &input::Input) -> Result<Vec<Warning>> {
    let (label, Some(m)) = (&input.label, &input.managed) else {
        return Ok(Vec::new());
    };
    if !req.force {
        bail!(
            "`{label}` is managed by {}, which regenerates it, so an edit would not last\nhelp: {}; or pass --force to edit it anyway",
            m.tool,
            m.lever
        );
    }
    let text = format!(
        "editing `{label}` although {} regenerates it (--force); {}",
        m.tool, m.lever
    );
    Ok(vec![Warning::new(Kind::Managed, text).file(label)])
}

/// Asks the registry, as containerd will, for the image the plan pins (with `--verify`, or a
/// write without `--no-verify`); an error says what containerd would fail on.
fn verify(
    req: &SetRequest,
    plan: &Plan,
    warnings: &mut Vec<Warning>,
) -> Result<Option<pausectl::pull::client::Found>> {
    if !req.verify {
        return Ok(None);
    }
    // The check guards a write: a file that already pins the image is left alone without
    // asking (a node restarted while the registry is down still succeeds), unless --verify
    // or --pin-digest asks for the registry's answer.
    if !req.verify_asked && !req.pin_digest && plan.files.iter().all(|f| !f.changed()) {
        trace(format_args!(
            "{} is already pinned: the registry is not asked",
            plan.image
        ));
        return Ok(None);
    }
    let texts: Vec<&str> = plan.files.iter().map(|f| f.new.as_str()).collect();
    let check = pausectl::pull::Check {
        texts: &texts,
        release: req.release,
        image: &plan.image,
        platform: req.platform.clone(),
        timeout: req.timeout,
        env: input::containerd_env(),
    };
    trace(format_args!("asking the registry for {}", plan.image));
    match pausectl::pull::verify(&check) {
        Ok((found, notes)) => {
            trace(format_args!("{} has it: {}", found.host, found.digest));
            warnings.extend(notes.into_iter().map(|n| Warning::new(Kind::Registry, n)));
            Ok(Some(found))
        }
        Err(problem) => {
            let mut r = problem.explain(&plan.image, plan.before.image.as_deref());
            if problem.skippable() {
                r.help
                    .push_str("; or pass --no-verify to write the pin unchecked");
            }
            if req.json {
                let error = output::verify_error(&problem, &r.why, &r.help);
                let out =
                    serde_json::json!({"image": plan.image, "written": false, "error": error});
                print_stdout(&format!("{out:#}\n"))?;
            }
            bail!("{}; nothing was written\nhelp: {}", r.why, r.help)
        }
    }
}

/// `image` by `digest` instead of its tag.
fn pin_digest(image: &str, digest: &str) -> Result<Target> {
    let r = pausectl::ImageRef::parse_lenient(image)?;
    let repo = match &r.domain {
        Some(d) => format!("{d}/{}", r.path),
        None => r.path.clone(),
    };
    Ok(Target::Image(pausectl::ImageRef::parse(&format!(
        "{repo}@{digest}"
    ))?))
}

/// The library's plan: in place, or into a drop-in of its own.
fn make_plan(
    req: &SetRequest,
    input: &input::Input,
    target: &Target,
    chain: Chain,
) -> Result<Plan> {
    let exists = !input.missing;
    let Some(path) = &req.drop_in else {
        return Ok(plan::in_place(chain, exists, target, req.release)?);
    };
    let Source::File(config) = &req.source else {
        bail!("--drop-in needs a config file, not standard input");
    };
    // Absolute paths, so that the imports containerd resolves can be compared with the drop-in.
    let absolute = |p: &Path| std::path::absolute(p).map(|a| imports::clean(&a.to_string_lossy()));
    let (main, drop_in) = (absolute(config)?, absolute(path)?);
    let text = match disk::read_file(&drop_in) {
        Ok(b) => Some(
            String::from_utf8(b).map_err(|_| anyhow::anyhow!("`{drop_in}` is not UTF-8 text"))?,
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read `{drop_in}`")),
    };
    let load = |text: &str, overlay: &[(String, String)]| {
        disk::load_with(Path::new(&main), text, req.release, overlay)
    };
    let drop_in = DropIn {
        main: main.clone(),
        path: drop_in,
        text,
    };
    let keep_main = input.managed.as_ref().filter(|_| !req.force);
    Ok(plan::drop_in(
        chain,
        exists,
        &drop_in,
        &req.target,
        req.release,
        keep_main,
        load,
    )?)
}

/// Writes the plan: the files (with their backups), or the new config to standard output.
fn write(
    req: &SetRequest,
    plan: &Plan,
    targets: &[WriteTarget],
    entries: &[(String, String)],
) -> Result<Vec<std::path::PathBuf>> {
    if let (Source::Stdin, Mode::Write) = (&req.source, req.mode) {
        // Standard output carries the config: failing to write it is an error.
        let mut out = io::stdout().lock();
        out.write_all(plan.files[0].new.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write the config to standard output")?;
    }
    write::write_all(&plan.files, targets, entries)
}

/// The JSON object, or the summary on standard error.
fn report(req: &SetRequest, done: &Done) -> Result<()> {
    if req.json {
        return print_stdout(&done.json()).map_err(|e| {
            if done.written {
                e.context(format!("`{}` was written, but", done.label))
            } else {
                e
            }
        });
    }
    if !req.quiet {
        print_stderr(&done.text());
    }
    Ok(())
}
