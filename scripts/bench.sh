#!/usr/bin/env bash
# pausectl against sed on every shape and size, like with like (scripts/bench.py says how):
# the release build, the inputs written to target/bench, and with a containerd 2.x build from
# scripts/fetch-containerd.sh (run when there is none), the real-node rows (release found on
# PATH). Prints a Markdown
# table; RUNS=N sets the rounds per input (15).
#
#   bash scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
# The static build too (as scripts/check-static.sh makes it), for the default configs.
target=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked -q --target "$target"
export STATIC_PAUSECTL="$PWD/target/$target/release/pausectl"
# The real-node rows need a containerd 2.x build: fetched as the tests fetch it, when missing.
find_containerd() {
  ls target/containerd/2.*/usr/bin/containerd 2>/dev/null | grep -v '\.partial/' | tail -n 1 || true
}
containerd=$(find_containerd)
if [ -z "$containerd" ]; then
  bash scripts/fetch-containerd.sh >/dev/null || echo "bench: no containerd build; the real-node rows are left out" >&2
  containerd=$(find_containerd)
fi
echo "$(nproc) cores, $(uname -m), $(date -u +%Y-%m-%d); pausectl $(git rev-parse --short HEAD)"
python3 scripts/bench.py "$PWD/target/release/pausectl" "$PWD/target/bench" $containerd
