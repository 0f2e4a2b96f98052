#!/usr/bin/env bash
# Compare the ABI of this tree's libcorio.so with an earlier release's:
#
#   tools/abi_compare.sh OLD_REF [BUILD_DIR]
#
# Builds OLD_REF (a tag such as v0.1.0, or any commit) in a temporary git
# worktree, library only, and runs abidiff (Debian abigail-tools, installed
# by tools/deps.sh when missing) on the two shared libraries with their
# public headers, so that only changes visible through include/ count.
# abidiff's exit status is passed on: 0 no change; bit 4 (value 4) a change
# that may be compatible (added functions); bit 8 (value 8) an incompatible
# change. The release procedure (docs/releasing.md) runs it against the
# previous tag: within a 0.x minor series, only 0 and 4 are acceptable.
set -euo pipefail
old=${1:?usage: tools/abi_compare.sh OLD_REF [BUILD_DIR]}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${2:-$top/build}
"$top/tools/deps.sh" abigail-tools
[[ -f $build/libcorio.so ]] || { echo "no $build/libcorio.so: build first" >&2; exit 1; }
tmp=$(mktemp -d /tmp/corio-abi.XXXXXX)
cleanup() {
    git -C "$top" worktree remove --force "$tmp/old" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
git -C "$top" worktree add -q --detach "$tmp/old" "$old"
meson setup "$tmp/old-build" "$tmp/old" -Dtests=disabled -Dbenchmarks=disabled \
    -Dexamples=disabled -Ddocs=disabled -Ddefault_library=shared >/dev/null
ninja -C "$tmp/old-build" >/dev/null
set +e
abidiff --headers-dir1 "$tmp/old/include" --headers-dir2 "$top/include" \
    --hd1 "$tmp/old-build/include" --hd2 "$build/include" \
    "$tmp/old-build/libcorio.so" "$build/libcorio.so"
rc=$?
set -e
case $rc in
    0) echo "ABI: no change against $old" ;;
    4) echo "ABI: compatible changes against $old (additions)" ;;
    *) echo "ABI: incompatible changes against $old (abidiff exit $rc)" ;;
esac
exit "$rc"
