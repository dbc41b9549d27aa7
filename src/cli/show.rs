//! `pausectl show`: read the chain, ask the library which image containerd uses (and, with
//! `--verify`, ask the registry for it), print it.

use super::output::{Shown, print_stderr, print_stdout, trace_report, verify_error};
use super::{RegistryArgs, ShowArgs, Source, input};
use anyhow::{Result, bail};
use pausectl::pull::client::Found;
use pausectl::{Kind, Refusal, Release, Warning};
use std::process::ExitCode;

pub(super) fn show(all: ShowArgs) -> Result<ExitCode> {
    let (args, registry, verify) = (all.common, all.registry_check, all.verify);
    let platform = registry.platform()?;
    let (release, how) = input::release(&args.containerd_version)?;
    let source = Source::new(&all.config);
    let mut input = input::read(&source, false)?;
    let chain = input::chain(&source, &mut input, release)?;
    let files: Vec<(&str, &str)> = chain
        .files
        .iter()
        .map(|(p, t)| (p.as_str(), t.as_str()))
        .collect();
    let mut report = pausectl::inspect_chain(&files, &chain.missing, release)?;
    report.warnings.extend(chain.notes.iter().cloned());
    let labels: Vec<&str> = files.iter().map(|(l, _)| *l).collect();
    trace_report(&labels, &report);
    if let Some(image) = &report.image {
        report.warnings.extend(pausectl::advice(image));
    }
    let texts: Vec<&str> = files.iter().map(|(_, t)| *t).collect();
    let checked = match (&report.image, verify) {
        (Some(image), true) => Some(check(&texts, release, image, &registry, platform)),
        _ => None,
    };
    if let Some(Ok((_, notes))) = &checked {
        report.warnings.extend(notes.iter().cloned());
    }
    let shown = Shown {
        verify_error: checked
            .as_ref()
            .and_then(|c| c.as_ref().err())
            .map(|e| e.0.clone()),
        verified: checked.as_ref().and_then(|c| c.as_ref().ok()).map(|c| &c.0),
        label: &input.label,
        missing: input.missing,
        release,
        how,
        files: &labels,
        report: &report,
        managed: input.managed.as_ref(),
    };
    if args.json {
        print_stdout(&shown.json())?;
    } else {
        print_stdout(&shown.text())?;
        for w in &report.warnings {
            print_stderr(&format!("warning: {w}\n"));
        }
    }
    match checked {
        Some(Err((_, r))) => bail!("{}\nhelp: {}", r.why, r.help),
        None if verify && report.image.is_none() => {
            bail!("there is no image in effect to verify (see above)")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// `--verify`: the image in effect, asked of the registry as containerd will ask; a failure
/// as JSON and as the sentence and help.
fn check(
    texts: &[&str],
    release: Option<Release>,
    image: &str,
    registry: &RegistryArgs,
    platform: Option<pausectl::pull::platform::Platform>,
) -> Result<(Found, Vec<Warning>), (serde_json::Value, Refusal)> {
    let check = pausectl::pull::Check {
        texts,
        release,
        image,
        platform,
        timeout: std::time::Duration::from_secs(registry.timeout.max(1)),
        env: input::containerd_env(),
    };
    match pausectl::pull::verify(&check) {
        Ok((found, notes)) => {
            let notes = notes.into_iter().map(|n| Warning::new(Kind::Registry, n));
            Ok((found, notes.collect()))
        }
        Err(p) => {
            let r = p.explain(image, None);
            Err((verify_error(&p, &r.why, &r.help), r))
        }
    }
}
