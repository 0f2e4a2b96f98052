#!/usr/bin/env bash
# Add up the summaries that `meson test` prints at the end of each run
# (one per build configuration) found in the given logs, or stdin.
#
#   tools/count_results.sh [--raw] [LOG...]
#
# passed = Ok + Expected Fail
# failed = Fail + Timeout + Unexpected Pass
# skipped = Skipped
#
# Prints "N passed, N failed" (", N skipped" when some were), or with --raw
# the four numbers "PASSED FAILED SKIPPED RUNS", where RUNS is the number of
# summaries found (0: no test run reached its summary).
set -euo pipefail

raw=0
if [[ ${1:-} == --raw ]]; then
    raw=1
    shift
fi

# Colour codes are stripped in case the log came from a terminal.
sed -e 's/\x1b\[[0-9;]*[A-Za-z]//g' -e 's/\r$//' "$@" | awk -v raw="$raw" '
    # Only a summary line exactly: "Label:" then spaces, a number, spaces.
    match($0, /^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout):[ \t]+[0-9]+[ \t]*$/) {
        label = $0; sub(/:.*/, "", label)
        n = $0; sub(/^[^:]*:[ \t]+/, "", n); n += 0
        if (label == "Ok") { passed += n; runs++ }
        else if (label == "Expected Fail") passed += n
        else if (label == "Skipped") skipped += n
        else failed += n
    }
    END {
        if (raw) { printf "%d %d %d %d\n", passed, failed, skipped, runs; exit }
        line = sprintf("%d passed, %d failed", passed, failed)
        if (skipped) line = line sprintf(", %d skipped", skipped)
        print line
    }'
