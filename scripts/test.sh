#!/usr/bin/env bash
# Runs every test, after fetching what the optional suites need where this machine allows:
#   - as root with apt: Debian's runc, docker-registry, skopeo, strace, cloud-init, ... (installed);
#   - with apt-get and dpkg: containerd 1.6, 1.7 and 2.x from Debian's archive, unpacked under
#     target/containerd and never installed (scripts/fetch-containerd.sh);
#   - with Python 3: ansible-core, python-hcl2 and kubernetes-validate in target/venv.
# A suite whose needs are met must pass (its PAUSECTL_REQUIRE_* is set, so it cannot skip);
# each suite it cannot run is named, with the command that enables it. Under CI=true every
# suite is required. Extra arguments go to `cargo test`.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-auto}
# What pausectl learns from `containerd --version` goes here, not to the machine's /run.
export PAUSECTL_CACHE_DIR="$PWD/target/pausectl-cache"
rm -rf "$PAUSECTL_CACHE_DIR"

have() { command -v "$1" >/dev/null 2>&1; }
say() { echo "scripts/test.sh: $*" >&2; }
skipped=()
skip() { skipped+=("$1"); }

root=false
[ "$(id -u)" = 0 ] && root=true
if ! have cargo; then
  say "cargo is not on PATH (under sudo, which resets PATH: sudo env PATH=\"\$PATH\" bash scripts/test.sh)"
  exit 2
fi

# Debian packages, as root.
packages=(runc util-linux docker-registry skopeo apache2-utils openssl gcc libc6-dev strace cloud-init curl jq python3-venv)
if $root && have apt-get && have dpkg-query; then
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    # No service starts during the install (docker-registry would listen on :5000).
    policy=/usr/sbin/policy-rc.d
    own_policy=false
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=true
    fi
    apt-get update -qq >&2 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 ||
      say "apt-get install failed; the suites that need those packages are skipped"
    if $own_policy; then rm -f "$policy"; fi
    for p in "${missing[@]}"; do
      case $p in
        # The tests start their own registries; the package's own stays off.
        docker-registry) deb-systemd-helper disable docker-registry.service >/dev/null 2>&1 || true ;;
        # The tests only check schemas; cloud-init must not configure this machine at boot.
        cloud-init) mkdir -p /etc/cloud && touch /etc/cloud/cloud-init.disabled ;;
      esac
    done
  fi
fi

# containerd builds under target/containerd.
if have apt-get && have dpkg; then
  bash scripts/fetch-containerd.sh >/dev/null || say "scripts/fetch-containerd.sh failed"
fi
builds=$(ls "${PAUSECTL_CONTAINERD_CACHE:-target/containerd}"/*/usr/bin/containerd 2>/dev/null |
  grep -vc '\.partial/' || true)

# Python tools in a virtualenv of the project's own (nothing installed into the system Python).
venv=target/venv
python_ok() { "$venv/bin/python3" -c 'import ansible, hcl2, kubernetes_validate' 2>/dev/null; }
if have python3 && ! python_ok; then
  { python3 -m venv "$venv" &&
    "$venv/bin/python3" -m pip install -q 'ansible-core==2.19.14' 'python-hcl2==8.1.4' \
      'kubernetes-validate==1.37.0'; } >&2 || say "could not make $venv"
fi
python_ok && export PATH="$PWD/$venv/bin:$PATH"

# Which suites can run here.
all() { for t in "$@"; do have "$t" || return 1; done; }
# The test image's binary is linked statically (gcc and libc6-dev).
static_cc() { printf 'int main(void){return 0;}\n' | gcc -static -x c -o /dev/null - 2>/dev/null; }
if [ "$builds" -gt 0 ]; then
  export PAUSECTL_REQUIRE_CONTAINERD=1
else
  skip "tests/containerd.rs (real containerd builds): needs apt-get and dpkg; run: bash scripts/fetch-containerd.sh"
fi
if all docker-registry skopeo htpasswd openssl gcc && static_cc; then
  export PAUSECTL_REQUIRE_REGISTRY=1
else
  skip "tests/registry.rs (a real registry): run as root: bash scripts/test.sh (or apt-get install docker-registry skopeo apache2-utils openssl gcc libc6-dev)"
fi
if $root && [ "$builds" -gt 0 ] && all runc unshare docker-registry skopeo gcc && static_cc; then
  export PAUSECTL_REQUIRE_POD=1
else
  skip "tests/pod.rs (a pod started by real containerd daemons): run as root: bash scripts/test.sh"
fi
if $root && have strace; then
  export PAUSECTL_REQUIRE_FAULTS=1
else
  skip "tests/faults.rs (some fault and ownership cases): run as root with strace: bash scripts/test.sh"
fi
if $root && all cloud-init ansible-playbook curl jq unshare && python_ok; then
  export PAUSECTL_REQUIRE_EXAMPLES=1
else
  skip "tests/examples.rs (cloud-init, Ansible, Packer, DaemonSet checks): run as root: bash scripts/test.sh"
fi
if [ "${CI:-}" = true ]; then
  export PAUSECTL_REQUIRE_CONTAINERD=1 PAUSECTL_REQUIRE_REGISTRY=1 PAUSECTL_REQUIRE_POD=1 \
    PAUSECTL_REQUIRE_FAULTS=1 PAUSECTL_REQUIRE_EXAMPLES=1
  skipped=()
fi
for s in "${skipped[@]}"; do say "SKIPPED $s"; done

cargo test "$@"
status=$?
# Under sudo, what was built stays the user's.
if [ -n "${SUDO_UID:-}" ]; then chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" target; fi
for s in "${skipped[@]}"; do say "SKIPPED $s"; done
exit $status
