//! `pausectl show`: read the chain, ask the library which image containerd uses, print it.

use super::output::{Shown, print_stderr, print_stdout, trace_report};
use super::{ShowArgs, Source, input};
use anyhow::{Result, bail};
use std::process::ExitCode;

pub(super) fn show(all: ShowArgs) -> Result<ExitCode> {
    let (args, verify) = (all.common, all.verify);
    let platform = verify.platform()?;
    let (release, how) = input::release(&args.containerd_version)?;
    let source = Source::new(&args.config);
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
    // With --verify: the image in effect, asked of the registry as containerd will ask.
    let texts: Vec<&str> = files.iter().map(|(_, t)| *t).collect();
    let checked = match (&report.image, verify.verify) {
        (Some(image), true) => Some(
            pausectl::pull::verify(&pausectl::pull::Check {
                texts: &texts,
                release,
                image,
                platform,
                timeout: std::time::Duration::from_secs(verify.timeout.max(1)),
                env: super::set::containerd_env(),
            })
            .map_err(|p| {
                let r = p.explain(image, None);
                (super::output::verify_error(&p, &r.why, &r.help), r)
            }),
        ),
        _ => None,
    };
    let verified = match &checked {
        Some(Ok((found, notes))) => {
            report.warnings.extend(
                notes
                    .iter()
                    .map(|n| pausectl::Warning::new(pausectl::Kind::Registry, n.clone())),
            );
            Some(found)
        }
        _ => None,
    };
    let verify_error = match &checked {
        Some(Err((json, _))) => Some(json.clone()),
        _ => None,
    };
    let shown = Shown {
        verify_error,
        verified,
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
        None if verify.verify && report.image.is_none() => {
            bail!("there is no image in effect to verify (see above)")
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
