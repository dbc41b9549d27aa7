#!/usr/bin/env python3
"""Writes the benchmark inputs to DIR: the containerd 2.1 default config, and the same with
runtime tables appended up to 1 MB and 10 MB (the shape a config really grows in)."""
import pathlib, sys

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
base = (pathlib.Path(__file__).parent.parent / "testdata/defaults/containerd-2.1-default.toml").read_text()
(out / "default.toml").write_text(base)
for name, size in [("1mb.toml", 1 << 20), ("10mb.toml", 10 << 20)]:
    parts, n, total = [base], 0, len(base)
    while total < size:
        t = (
            f"\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc-{n}]\n"
            f"  runtime_type = 'io.containerd.runc.v2'\n"
            f"  sandboxer = 'podsandbox'\n"
            f"  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc-{n}.options]\n"
            f"    BinaryName = '/usr/local/bin/runc-{n}'\n"
            f"    SystemdCgroup = true\n"
        )
        parts.append(t)
        total += len(t)
        n += 1
    (out / name).write_text("".join(parts))
