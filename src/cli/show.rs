//! `pausectl show`: read the chain, ask the library which image containerd uses, print it.

use super::output::{Shown, print_stderr, print_stdout, trace_report};
use super::{Common, Source, input};
use anyhow::Result;
use std::process::ExitCode;

pub(super) fn show(args: Common) -> Result<ExitCode> {
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
    let shown = Shown {
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
        return Ok(ExitCode::SUCCESS);
    }
    print_stdout(&shown.text())?;
    for w in &report.warnings {
        print_stderr(&format!("warning: {w}\n"));
    }
    Ok(ExitCode::SUCCESS)
}
