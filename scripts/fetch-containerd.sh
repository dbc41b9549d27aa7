#!/usr/bin/env bash
# Fetch real containerd builds from Debian's archive, without installing them:
# 1.6.x (bookworm), 1.7.x (trixie), 2.x (sid), each unpacked into a folder of its own under
# $PAUSECTL_CONTAINERD_CACHE (default: target/containerd). Reuses the mirror URI already
# configured in /etc/apt/sources.list(.d). Prints one line per release it has: VERSION DIR/bin/containerd
set -euo pipefail

cache=${PAUSECTL_CONTAINERD_CACHE:-$(cd "$(dirname "$0")/.." && pwd)/target/containerd}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# The first Debian mirror URI configured on this machine (deb822 or one-line format).
mirror=$( (grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
           grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}') |
         grep -v -e security -e google -e nodesource | head -n 1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
# Only a Debian machine's mirror carries Debian's suites (Ubuntu's does not).
if ! grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
  mirror=http://deb.debian.org/debian
fi
# The archive's signatures are checked with Debian's keyring where the machine has it
# (debian-archive-keyring); elsewhere the packages are taken unchecked, as the test builds only.
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [ -r "$keyring" ]; then trust="signed-by=$keyring"; else trust="trusted=yes"; fi

state=$cache/apt
mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$state/etc/parts"
for suite in bookworm trixie sid; do
  echo "deb [$trust] $mirror $suite main"
done >"$state/etc/sources.list"
: >"$state/etc/preferences"

apt_opts=(
  -o "Dir::State::Lists=$state/lists"
  -o "Dir::Etc::SourceList=$state/etc/sources.list"
  -o "Dir::Etc::SourceParts=$state/etc/parts"
  -o "Dir::Etc::Preferences=$state/etc/preferences"
  -o "Dir::Etc::PreferencesParts=$state/etc/parts"
  -o "APT::Sandbox::User=root"
  -o "Dir::Cache=$state/cache"
  -o "Acquire::Languages=none"
  -o "APT::Get::List-Cleanup=0"
  -o "Debug::NoLocking=1"
)

if [ -z "$(ls "$state/lists" 2>/dev/null | grep -v partial)" ] || [ -n "${PAUSECTL_REFRESH:-}" ]; then
  apt-get "${apt_opts[@]}" update -qq >&2
fi

# Every version the three suites offer, newest last; pick the newest of each release line.
versions=$(apt-cache "${apt_opts[@]}" madison containerd | awk -F'|' '{gsub(/ /,"",$2); print $2}' | sort -uV)
for line in 1.6 1.7 2; do
  v=$(printf '%s\n' $versions | grep -E "^${line//./\\.}\." | tail -n 1 || true)
  if [ -z "$v" ]; then
    echo "no containerd $line.x in the archive" >&2
    continue
  fi
  dir=$cache/$(printf '%s' "$v" | sed 's/[^A-Za-z0-9.+-]/_/g')
  if [ ! -x "$dir/usr/bin/containerd" ]; then
    tmp=$(mktemp -d "$cache/dl.XXXXXX")
    (cd "$tmp" && apt-get "${apt_opts[@]}" download -qq "containerd=$v" >&2)
    rm -rf "$dir.partial" && mkdir -p "$dir.partial"
    dpkg -x "$tmp"/containerd_*.deb "$dir.partial"
    rm -rf "$tmp" "$dir" && mv "$dir.partial" "$dir"
  fi
  upstream=$("$dir/usr/bin/containerd" --version | awk '{print $3}' | grep -oE '[0-9]+\.[0-9]+\.[0-9]+')
  echo "$upstream $dir/usr/bin/containerd"
done
