#!/usr/bin/env bash
# Print a short digest of every failed test found in meson's test logs
# (BUILD_DIR/meson-logs/testlog*.txt of each configuration; testlog-env.txt
# is the valgrind run's, through its env wrapper), so that the
# reason for a failure sits at the end of a long CI log:
#
#   tools/failure_digest.sh [--newer FILE] BUILD_DIR...
#
# With --newer, logs older than FILE (from an earlier run) are skipped.
#
# For each failed test: its name, its result, Check's failure lines
# (file:line:F|E:case:test:message), the sanitizers' report headers and
# first frames, and the last lines it printed. Prints nothing when no test
# failed. Always exits 0: it only reports.
set -uo pipefail

newer=
if [[ ${1:-} == --newer ]]; then
    newer=$2
    shift 2
fi

for dir in "$@"; do
  for log in "$dir"/meson-logs/testlog*.txt; do
    [[ -f $log ]] || continue
    [[ -z $newer || $log -nt $newer ]] || continue
    awk -v dir="$dir" '
        function flush(   i, n, shown) {
            if (name == "" || result ~ /^(exit status 0|SKIP|OK|EXPECTEDFAIL)/ || result == "")
                return
            printf "----- [%s] %s: %s\n", dir, name, result
            shown = 0
            for (i = 1; i <= nl && shown < 40; i++) {
                if (line[i] ~ /:[FE]:[^:]*:[^:]*:/ || line[i] ~ /(WARNING|ERROR): (Thread|Address|Leak)Sanitizer/ \
                    || line[i] ~ /SUMMARY: / || line[i] ~ /runtime error:/ || line[i] ~ /^ +#[0-4] / \
                    || line[i] ~ /[Tt]imeout|timed out|Early exit|Received signal/) {
                    print "  " line[i]; shown++
                }
            }
            n = nl > 10 ? nl - 9 : 1
            print "  last lines:"
            for (i = n; i <= nl; i++) print "    " line[i]
        }
        /^=====+ [0-9]+\/[0-9]+ =====+$/ { flush(); name = ""; result = ""; nl = 0; inblk = 1; next }
        /^==========+$/ { flush(); name = ""; result = ""; nl = 0; inblk = 0; next }
        inblk && /^test: +/ { name = $0; sub(/^test: +/, "", name); next }
        inblk && /^result: +/ { result = $0; sub(/^result: +/, "", result); next }
        inblk && /^(start time|duration|command): / { next }
        inblk && /^-+ (stdout|stderr) -+$/ { next }
        inblk && name != "" { line[++nl] = $0 }
        END { flush() }
    ' "$log"
  done
done
exit 0
