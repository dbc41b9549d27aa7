#!/usr/bin/env bash
# Whole-process timings, in one hyperfine run per input: `pausectl set --dry-run`, `pausectl set`
# on a fresh copy, `sed -i` doing the same edit on a fresh copy, and `/bin/true` as the floor;
# then peak memory (GNU time). Inputs: the containerd 2.1 default config, and the same grown to
# 1 MB and 10 MB (scripts/bench-inputs.py). Prints a Markdown table: median wall time and the
# ratio to sed.
#
#   bash scripts/bench.sh            (needs hyperfine and time: apt-get install hyperfine time)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
bin=$PWD/target/release/pausectl
dir=$PWD/target/bench
python3 scripts/bench-inputs.py "$dir"
edit='s|registry.k8s.io/pause:3.10|registry.local:5000/pause:3.10|'
# --no-verify: the registry is not there; this measures the edit, offline like sed.
args="--image registry.local:5000/pause:3.10 --containerd-version 2.1 --quiet --no-verify"
echo "| input | size | pausectl set --dry-run | pausectl set | sed -i | /bin/true | set peak memory |"
echo "|---|---|---|---|---|---|---|"
for name in default 1mb 10mb; do
  in="$dir/$name.toml" copy="$dir/copy.toml"
  # Every command gets the same fresh copy first (set and sed edit it; the others ignore it).
  hyperfine -N --warmup 3 --min-runs 10 --style none --export-json "$dir/$name.json" \
    --prepare "cp $in $copy" \
    -n dry-run "$bin set --dry-run --config $in $args" \
    -n set "$bin set --config $copy $args" \
    -n sed "sed -i $edit $copy" \
    -n true "/bin/true" > /dev/null
  cp "$in" "$copy"
  peak=$( { /usr/bin/time -f %M "$bin" set --config "$copy" $args; } 2>&1 | tail -1)
  python3 - "$dir/$name.json" "$(stat -c %s "$in")" "$peak" "$name" <<'PY'
import json, sys
runs = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
size, peak, name = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
sed = runs["sed"]
cell = lambda k: f"{runs[k] * 1000:.2f} ms ({runs[k] / sed:.2f}x)"
print(f"| {name} | {size / 1e6:.2f} MB | {cell('dry-run')} | {cell('set')} | {sed * 1000:.2f} ms | {cell('true')} | {peak / 1024:.1f} MB |")
PY
done
