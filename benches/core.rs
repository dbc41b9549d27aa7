//! The pure core on the benchmark inputs: `inspect` (what `show` does) and `set` (the whole
//! rewrite, with its self-check), on the containerd 2.1 default config and the same grown to
//! 1 MB and 10 MB with runtime tables (scripts/bench-inputs.py makes them).
//!
//!     cargo bench --bench core
//!
//! Whole-process timings against sed are scripts/bench.sh's.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pausectl::Release;
use std::path::Path;
use std::process::Command;

fn inputs() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-inputs");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bench-inputs.py");
    let ok = Command::new("python3")
        .arg(script)
        .arg(&dir)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "python3 scripts/bench-inputs.py failed");
    ["default.toml", "1mb.toml", "10mb.toml"]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            (name.to_string(), text)
        })
        .collect()
}

fn core(c: &mut Criterion) {
    let release = Release::parse("2.1");
    for (name, text) in inputs() {
        let mut group = c.benchmark_group(name.trim_end_matches(".toml"));
        group.throughput(Throughput::Bytes(text.len() as u64));
        if text.len() > 1 << 20 {
            group.sample_size(10);
        }
        group.bench_function("inspect", |b| {
            b.iter(|| pausectl::inspect(&text, release).unwrap())
        });
        group.bench_function("set", |b| {
            b.iter(|| pausectl::set(&text, "registry.local:5000/pause:3.10", release).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, core);
criterion_main!(benches);
