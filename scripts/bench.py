#!/usr/bin/env python3
"""pausectl against sed, like with like, on every shape and size (scripts/bench.sh runs it).

For each input, RUNS rounds; in each round, one run of each command, interleaved, so that a
busy moment of the machine falls on all of them alike:
  - `pausectl set --dry-run` (prints the diff, writes nothing) against `sed` to stdout;
  - `pausectl set --quiet` on a fresh copy against `sed -i` on a fresh copy.
Both edit the same image reference. Per run: wall time, CPU time (user + system, from wait4)
and, once more each, peak memory (GNU time). The table gives medians, and the ratio to sed as the median of the
per-round ratios of CPU time (a round's two runs saw the same machine).

  python3 scripts/bench.py PAUSECTL OUT_DIR [CONTAINERD]     (RUNS=15 by default)

With STATIC_PAUSECTL (a static build), the default configs once more with that binary.

With CONTAINERD (a containerd binary), last rows: a node with that containerd first on PATH
and no --containerd-version, so that pausectl finds the release itself (read from the binary;
for a build it cannot read, by running it, from what an earlier run kept, or from dpkg's
database).
"""
import os
import pathlib
import shutil
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("RUNS", "15"))
STATIC = os.environ.get("STATIC_PAUSECTL")
NEW = "registry.local:5000/pause"


def default(release):
    return (ROOT / f"testdata/defaults/containerd-{release}-default.toml").read_text()


def grow(head, table, size, tail=""):
    """`head`, then `table(n)` for n = 0, 1, ... until the text reaches `size` bytes."""
    parts, total, n = [head], len(head) + len(tail), 0
    while total < size:
        t = table(n)
        parts.append(t)
        total += len(t)
        n += 1
    parts.append(tail)
    return "".join(parts)


def v3_runtime(n):
    p = f"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc-{n}"
    return (
        f"\n{p}]\n  runtime_type = 'io.containerd.runc.v2'\n  sandboxer = 'podsandbox'\n"
        f"{p}.options]\n  BinaryName = '/usr/local/bin/runc-{n}'\n  SystemdCgroup = true\n"
    )


def v2_runtime(n):
    p = f'[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc-{n}'
    return (
        f'\n{p}]\n  runtime_type = "io.containerd.runc.v2"\n'
        f'{p}.options]\n  BinaryName = "/usr/local/bin/runc-{n}"\n  SystemdCgroup = true\n'
    )


def inputs():
    """(name, text, release, old image): the defaults, then each shape at each size."""
    v3, v2 = default("2.1"), default("1.7")
    yield "2.1 default (v3)", v3, "2.1", "registry.k8s.io/pause:3.10"
    yield "1.7 default (v2)", v2, "1.7", "registry.k8s.io/pause:3.8"
    for size, label in [(100_000, "100 KB"), (1_000_000, "1 MB"), (10_000_000, "10 MB")]:
        yield f"v3 + runtime tables, {label}", grow(v3, v3_runtime, size), "2.1", \
            "registry.k8s.io/pause:3.10"
    for size, label in [(100_000, "100 KB"), (1_000_000, "1 MB"), (10_000_000, "10 MB")]:
        yield f"v2 + CRI runtime tables, {label}", grow(v2, v2_runtime, size), "1.7", \
            "registry.k8s.io/pause:3.8"
    comment = lambda n: f"# {n:08d} a comment line of an operator's, kept as it is\n"
    yield "comments at the top, 10 MB", grow("", comment, 10_000_000, v3), "2.1", \
        "registry.k8s.io/pause:3.10"
    # The root keys first, then the runtime tables, then the rest: the pin near the end.
    cut = v3.index("\n[") + 1
    yield "pin at the end, 1 MB", grow(v3[:cut], v3_runtime, 1_000_000, v3[cut:]), "2.1", \
        "registry.k8s.io/pause:3.10"


def run(argv, env, null):
    """(wall s, cpu s) of one run, which must succeed; its output goes to /dev/null."""
    start = time.perf_counter()
    actions = [(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: {' '.join(argv)} exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def peak(argv, env, out):
    """Peak memory (MB) of one run, by GNU time: a child of this (large) Python process would
    count the parent's memory in its own maxrss, one of `time`'s does not."""
    report = out / "time.txt"
    null = os.open(os.devnull, os.O_WRONLY)
    pid = os.posix_spawn("/usr/bin/time", ["time", "-f", "%M", "-o", str(report), *argv], env,
                         file_actions=[(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)])
    os.waitpid(pid, 0)
    os.close(null)
    return int(report.read_text().split()[-1]) / 1024


def bench(name, text, release, old, pausectl, out, path=None, dpkg=None, cache=None):
    src, copy = out / "in.toml", out / "copy.toml"
    src.write_text(text)
    tag = old.rsplit(":", 1)[1]
    new = f"{NEW}:{tag}"
    edit = f"s|{old}|{new}|"
    env = {"PATH": path or "/usr/bin:/bin", "PAUSECTL_NO_VERIFY": "1"}
    if dpkg:
        env["DPKG_ADMINDIR"] = str(dpkg)
    # Where pausectl keeps what `containerd --version` said (a path it cannot create: nothing).
    env["PAUSECTL_CACHE_DIR"] = str(cache or "/proc/no-cache")
    flags = ["--image", new, "--no-verify"]
    if path is None:
        flags += ["--containerd-version", release]
    sed = shutil.which("sed")
    commands = {
        "dry": [pausectl, "set", "--dry-run", "--config", str(src), *flags],
        "sed": [sed, edit, str(src)],
        "set": [pausectl, "set", "--quiet", "--config", str(copy), *flags],
        "sed -i": [sed, "-i", edit, str(copy)],
    }
    null = os.open(os.devnull, os.O_WRONLY)
    results = {k: [] for k in commands}
    for _ in range(RUNS):
        for key, argv in commands.items():
            shutil.copyfile(src, copy)
            results[key].append(run(argv, env, null))
    os.close(null)
    med = lambda k, i: statistics.median(r[i] for r in results[k])
    ratio = lambda a, b: statistics.median(x[1] / y[1] for x, y in zip(results[a], results[b]))
    ms = lambda k: f"{med(k, 0) * 1000:.1f}"
    shutil.copyfile(src, copy)
    memory = max(peak(commands["set"], env, out), peak(commands["dry"], env, out))
    size = len(text.encode())
    size_label = f"{size / 1000:.0f} KB" if size < 1_000_000 else f"{size / 1e6:.1f} MB"
    print(
        f"| {name} | {size_label} | {ratio('dry', 'sed'):.2f}x | {ratio('set', 'sed -i'):.2f}x "
        f"| {ms('dry')} / {ms('sed')} | {ms('set')} / {ms('sed -i')} | {memory:.1f} MB |",
        flush=True,
    )


def main():
    pausectl, out = sys.argv[1], pathlib.Path(sys.argv[2])
    containerd = sys.argv[3] if len(sys.argv) > 3 else None
    out.mkdir(parents=True, exist_ok=True)
    print(f"{RUNS} interleaved rounds per input; ratios are medians of per-round CPU-time ratios.")
    print()
    print("| input | size | `set --dry-run` / `sed` (CPU) | `set` / `sed -i` (CPU) "
          "| wall ms: dry-run / sed | wall ms: set / sed -i | pausectl peak memory |")
    print("|---|---|---|---|---|---|---|")
    for name, text, release, old in inputs():
        bench(name, text, release, old, pausectl, out)
        # The static binary (check-static.sh's build) loads no shared libraries.
        if STATIC and "default" in name:
            bench(f"{name}, static binary", text, release, old, STATIC, out)
    if containerd:
        # A node with containerd 2.1 on PATH and no --containerd-version: pausectl reads the
        # version from the binary's file.
        empty, db = out / "dpkg-empty", out / "dpkg"
        (empty / "info").mkdir(parents=True, exist_ok=True)
        bench("real node, containerd 2.1 on PATH, no flag (release read from its file)",
              default("2.1"), "2.1", "registry.k8s.io/pause:3.10", pausectl, out,
              f"{pathlib.Path(containerd).parent}:/usr/bin:/bin", empty)
        # A build it cannot read (as Docker's containerd.io, whose version package names
        # another path): a copy whose Go build info names another main package. pausectl runs
        # its `--version` (an empty dpkg database), or reads what an earlier run kept, or,
        # where dpkg's database says a package installed that file (one written here, as dpkg
        # keeps it), the package's version.
        other = out / "unreadable"
        other.mkdir(exist_ok=True)
        binary = pathlib.Path(containerd).read_bytes()
        info = binary.index(b"\xff Go buildinf:")
        at = binary.index(b"/cmd/containerd\n", info)
        patched = binary[:at] + b"/cmd/containerX\n" + binary[at + 16:]
        (other / "containerd").write_bytes(patched)
        os.chmod(other / "containerd", 0o755)
        path = f"{other}:/usr/bin:/bin"
        (db / "info").mkdir(parents=True, exist_ok=True)
        (db / "info/containerd.list").write_text(f"/.\n/usr\n{other / 'containerd'}\n")
        (db / "status").write_text(
            "Package: containerd\nStatus: install ok installed\nVersion: 2.1.9~ds1-5\n")
        bench("a build it cannot read, first run since boot (runs `containerd --version`)",
              default("2.1"), "2.1", "registry.k8s.io/pause:3.10", pausectl, out, path, empty)
        shutil.rmtree(out / "cache", ignore_errors=True)
        bench("the same, later runs (the release kept since the first)", default("2.1"), "2.1",
              "registry.k8s.io/pause:3.10", pausectl, out, path, empty, out / "cache")
        bench("the same, installed by dpkg", default("2.1"), "2.1",
              "registry.k8s.io/pause:3.10", pausectl, out, path, db)


main()
