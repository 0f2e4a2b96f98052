#!/usr/bin/env bash
# Make sure the Debian 12 packages corio needs are installed.
#
#   tools/deps.sh [EXTRA_PACKAGE...]
#
# Checks the base packages (below) plus any named on the command line. When
# something is missing: as root, runs `apt-get update` and installs it,
# non-interactively and quietly; otherwise prints the exact command to run
# and exits 1. Prints nothing when everything is already installed.
set -euo pipefail

base=(meson ninja-build pkg-config gcc liburing-dev libc-ares-dev libssl-dev ca-certificates check)
wanted=("${base[@]}" "$@")

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: dpkg-query not found (not a Debian system?); not checking:" \
         "${wanted[*]}" >&2
    exit 0
fi

missing=()
for pkg in "${wanted[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case $status in
        *"install ok installed"*) ;;
        *) missing+=("$pkg") ;;
    esac
done

if ((${#missing[@]} == 0)); then
    exit 0
fi

# Remove duplicates while keeping the order given.
declare -A seen=()
todo=()
for pkg in "${missing[@]}"; do
    if [[ -z ${seen[$pkg]:-} ]]; then
        seen[$pkg]=1
        todo+=("$pkg")
    fi
done

if [[ $(id -u) -ne 0 ]]; then
    echo "deps.sh: missing packages: ${todo[*]}" >&2
    echo "deps.sh: install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${todo[*]}" >&2
    exit 1
fi

echo "deps.sh: installing ${todo[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Wait for a concurrent apt/dpkg run instead of failing on its lock.
apt_opts=(-qq -o DPkg::Lock::Timeout=300)
# The package lists can be empty on a fresh machine: refresh them first.
apt-get "${apt_opts[@]}" update </dev/null >/dev/null
apt-get "${apt_opts[@]}" install -y --no-install-recommends "${todo[@]}" </dev/null >/dev/null
echo "deps.sh: installed ${todo[*]}" >&2
