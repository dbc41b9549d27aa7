#!/usr/bin/env bash
# CI: build the .deb, install it with dpkg, check what it installed, remove it. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-deb.sh
deb=$(ls -t target/debian/pausectl_*.deb | head -1)
echo "test-deb: $deb ($(stat -c %s "$deb") bytes)"
dpkg-deb --contents "$deb"
dpkg -i "$deb"
trap 'dpkg -r pausectl >/dev/null 2>&1 || true' EXIT
version=$(/usr/bin/pausectl --version)
test "$version" = "pausectl $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
for f in /usr/share/bash-completion/completions/pausectl \
         /usr/share/zsh/vendor-completions/_pausectl /usr/share/fish/vendor_completions.d/pausectl.fish; do
  test -s "$f" || { echo "test-deb: $f missing" >&2; exit 1; }
done
# A man page for pausectl and for each subcommand, and every page the binary writes (a new
# subcommand's page must be added to Cargo.toml's assets too).
for page in pausectl pausectl-set pausectl-show pausectl-completions pausectl-man; do
  f=/usr/share/man/man1/$page.1.gz
  test -s "$f" || { echo "test-deb: $f missing" >&2; exit 1; }
  zcat "$f" | grep -q "^\.TH $page 1 " || { echo "test-deb: $f is not $page(1)" >&2; exit 1; }
done
for f in target/assets/man/*.1.gz; do
  test -s "/usr/share/man/man1/${f##*/}" || { echo "test-deb: ${f##*/} not installed" >&2; exit 1; }
done
if command -v man >/dev/null; then
  test "$(man -w pausectl-set)" = /usr/share/man/man1/pausectl-set.1.gz
fi
# The installed binary works: the default config needs the pin (--check exits 1).
rc=0
/usr/bin/pausectl set --image registry.local:5000/pause:3.10 --config testdata/defaults/containerd-2.1-default.toml --check --quiet || rc=$?
test $rc -eq 1
dpkg -r pausectl
trap - EXIT
test ! -e /usr/bin/pausectl
echo "test-deb: installed, ran \`$version\`, removed: ok"
