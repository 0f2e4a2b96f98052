#!/usr/bin/env bash
# Run every executable in DIR whose name starts with PREFIX, in name order,
# each under a header line. Used by `make demo` (ex_*) and `make bench` (bench_*).
#
#   tools/run_each.sh DIR PREFIX
#
# Runs them all even when one fails; exits 1 if any failed. Finding none is
# not an error (the programs may not be written yet).
set -uo pipefail
export LC_ALL=C

if (($# != 2)); then
    echo "usage: $0 DIR PREFIX" >&2
    exit 2
fi
dir=$1 prefix=$2

progs=()
for f in "$dir/$prefix"*; do
    [[ -f $f && -x $f ]] && progs+=("$f")
done
if ((${#progs[@]} == 0)); then
    echo "no ${prefix}* programs built under $dir yet"
    exit 0
fi

failed=()
for p in "${progs[@]}"; do
    echo "===== ${p##*/} ====="
    "$p"
    rc=$?
    if ((rc != 0)); then
        echo "===== ${p##*/}: FAILED (exit $rc) ====="
        failed+=("${p##*/}")
    fi
    echo
done
if ((${#failed[@]} > 0)); then
    echo "failed: ${failed[*]}" >&2
    exit 1
fi
