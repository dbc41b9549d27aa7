//! Using pausectl as a library: what containerd uses now, the pin, and what it will use after.
//!
//!     cargo run --example pin -- testdata/defaults/containerd-2.1-default.toml 2.1 registry.local:5000
//!
//! The core is pure (text in, text and reports out), so a tool of your own can decide where the
//! text comes from and where it goes; this example prints the new config on standard output.

use pausectl::{ImageRef, Registry, Release};
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
    let text = std::fs::read_to_string(path)?;
    let release = Release::parse(release).ok_or("not a containerd release, e.g. 2.1")?;
    let registry = Registry::parse(registry)?;

    // What this release uses with the file as it is: a pin in the file, or its built-in default.
    let before = pausectl::inspect(&text, Some(release))?;
    let current = before.image.ok_or("this release refuses the file")?;
    eprintln!(
        "containerd {release} uses {current} (config version {})",
        before.schema
    );

    // The same repository and tag from our registry; `set` edits only the pin.
    let image = ImageRef::parse_lenient(&current)?
        .with_registry(&registry)
        .pinned();
    let change = pausectl::set(&text, &image, Some(release))?;
    for warning in &change.warnings {
        eprintln!("warning: {warning}");
    }
    let after = pausectl::inspect(&change.text, Some(release))?;
    eprintln!("after the edit it uses {}", after.image.unwrap_or_default());
    print!("{}", change.text);
    Ok(())
}
