//! Using pausectl as a library, as the `pausectl` command does: read a config and the files it
//! imports, plan the pin, check what containerd will use after it, print the result.
//!
//!     cargo run --example pin -- testdata/defaults/containerd-2.1-default.toml 2.1 registry.local:5000
//!
//! The plan is pure (texts in, texts out), so a tool of your own decides where the text comes
//! from and where it goes; this example prints the new main config on standard output and the
//! diff of every file that changes on standard error.

use pausectl::plan::{self, Target};
use pausectl::{Registry, Release, disk};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, release, registry] = args.as_slice() else {
        eprintln!("usage: pin CONFIG CONTAINERD_VERSION REGISTRY");
        return ExitCode::from(2);
    };
    match run(path, release, registry) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(path: &str, release: &str, registry: &str) -> Result<(), Box<dyn std::error::Error>> {
    let release = Release::parse(release).ok_or("not a containerd release, e.g. 2.1")?;
    let target = Target::Registry(Registry::parse(registry)?);
    // The config and, in containerd's order, the files its `imports` name.
    let text = pausectl::decode(disk::read_file(path)?)?;
    let chain = disk::load(Path::new(path), &text, Some(release))?;

    // The same repository and tag as the image in effect, from our registry; only pins change.
    let plan = plan::in_place(chain, true, &target, Some(release))?;
    eprintln!(
        "containerd {release} uses {} (config version {})",
        plan.before.image.as_deref().unwrap_or("no image"),
        plan.before.schema
    );
    for warning in &plan.warnings {
        eprintln!("warning: {warning}");
    }
    for f in plan.files.iter().filter(|f| f.changed()) {
        eprint!(
            "{}",
            pausectl::diff::unified(&f.old, &f.new, &f.path, false)
        );
    }

    // What the same release makes of the files as they will be.
    let files: Vec<(&str, &str)> = plan
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.new.as_str()))
        .collect();
    let after = pausectl::inspect_chain(&files, &[], Some(release))?;
    eprintln!("after the edit it uses {}", after.image.unwrap_or_default());
    print!("{}", plan.files[0].new);
    Ok(())
}
