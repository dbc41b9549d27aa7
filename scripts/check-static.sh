#!/usr/bin/env bash
# CI: the self-contained binary for first boot. glibc's static libc through the gnu target,
# no extra toolchain. Fails unless ldd calls the result static and it runs in an empty
# environment.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --target "$target"
bin="target/$target/release/pausectl"
ldd_says=$(ldd "$bin" 2>&1 || true)
echo "check-static: ldd $bin: $ldd_says"
case "$ldd_says" in
  *"statically linked"* | *"not a dynamic executable"*) ;;
  *) echo "check-static: not static" >&2; exit 1 ;;
esac
env -i "$bin" --version
echo "check-static: $bin is static, $(stat -c %s "$bin") bytes: ok"
