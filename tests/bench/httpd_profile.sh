#!/usr/bin/env bash
# Where corio-httpd's time goes per request (docs/benchmarks.md, HTTP
# server, "Where the time goes"): ring work from the runtime's own
# counters, system calls from strace, user-space instructions from
# callgrind. GET /hello with wrk -t1 on loopback, --loops 1.
#
#   tests/bench/httpd_profile.sh [HTTPD_BINARY] [CONNS] [DURATION]
#
# Prints per request: ring enters, SQEs submitted, CQEs reaped, coroutine
# switches and loop sleeps (GET /metrics before and after a wrk run);
# then system calls of the server (strace -c -f over a wrk run; strace
# slows the server, the counts per request stay meaningful); then user
# instructions (valgrind --tool=callgrind, zeroed after start-up, dumped
# after a wrk run: Ir of the whole process over the requests served).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
httpd=${1:-$top/build/examples/corio-httpd}
conns=${2:-100}
dur=${3:-3s}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# shellcheck source=tests/bench/wrk_common.sh
. "$here/wrk_common.sh"
bench_tmpdir httpd_profile

# start [PREFIX...]: corio-httpd (under PREFIX) -> $port, $spid
start() {
    "$@" "$httpd" --port 0 --loops 1 --quiet --root "$tmp" > "$tmp/out" 2> "$tmp/err" &
    spid=$!
    pids+=("$spid")
    port=
    for _ in $(seq 2400); do
        port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")
        [[ -n $port ]] && break
        sleep 0.05
    done
    [[ -n $port ]] || { echo "corio-httpd did not start" >&2; cat "$tmp/err" >&2; exit 1; }
}
stop() { kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true; }

# The loop counters summed over loops: name value, one a line.
metrics() {
    curl -s "http://127.0.0.1:$port/metrics" |
        awk '/^corio_[a-z_]+\{loop=/ { sub(/\{.*/, "", $1); v[$1] += $2 } END { for (k in v) print k, v[k] }'
}
reqs() { sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$1"; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, $(uname -srm), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: $httpd --loops 1; wrk -t1 -c$conns -d$dur GET /hello"

start
metrics > "$tmp/m0"
wrk -t1 -c"$conns" -d"$dur" "http://127.0.0.1:$port/hello" > "$tmp/wrk"
metrics > "$tmp/m1"
n=$(reqs "$tmp/wrk")
awk -v n="$n" 'NR == FNR { a[$1] = $2; next }
    { d[$1] = $2 - a[$1] }
    END { printf "per request (%d requests): ring enters %.3f, SQEs %.3f, CQEs %.3f, switches %.3f, sleeps %.3f\n",
                 n, d["corio_ring_enters"] / n, d["corio_ring_submitted"] / n,
                 d["corio_ring_completed"] / n, d["corio_switches"] / n, d["corio_sleeps"] / n }' \
    "$tmp/m0" "$tmp/m1"

if command -v strace > /dev/null; then
    strace -c -f -q -o "$tmp/strace" -p "$spid" &
    st=$!
    sleep 0.5
    wrk -t1 -c"$conns" -d"$dur" "http://127.0.0.1:$port/hello" > "$tmp/wrk"
    kill -INT "$st"
    wait "$st" 2>/dev/null || true
    n=$(reqs "$tmp/wrk")
    # strace -c columns: % time, seconds, usecs/call, calls, [errors,] syscall
    # The total first, then the eight most frequent calls.
    awk -v n="$n" '$NF == "total" { printf "syscalls per request (strace -c -f, %d requests): %.3f\n", n, $4 / n }' \
        "$tmp/strace"
    awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { printf "  %-20s %8.3f per request\n", $NF, $4 / n }' \
        "$tmp/strace" | sort -k2 -gr | head -8 || true
fi
stop

if command -v valgrind > /dev/null; then
    # --fair-sched=yes: with valgrind's default lock the server twice hung at
    # start-up (its main thread waiting for the lock, the loop thread in
    # io_uring_enter); the test suite's valgrind runs use it too (Makefile).
    start valgrind --tool=callgrind --fair-sched=yes --callgrind-out-file="$tmp/cg.out" --collect-atstart=yes
    callgrind_control -z "$spid" > /dev/null
    wrk -t1 -c"$conns" -d"$dur" "http://127.0.0.1:$port/hello" > "$tmp/wrk"
    n=$(reqs "$tmp/wrk")
    callgrind_control -d "$spid" > /dev/null
    for _ in $(seq 100); do
        [[ -n $(find "$tmp" -name 'cg.out*' -newer "$tmp/wrk") ]] && break
        sleep 0.1
    done
    f=$(find "$tmp" -name 'cg.out*' -newer "$tmp/wrk" | head -1)
    ir=$(sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$f" | head -1)
    [[ -n $ir ]] || ir=$(sed -n 's/^totals: *\([0-9]*\).*/\1/p' "$f" | head -1)
    echo "user instructions per request (callgrind, $n requests): $((ir / n))"
    # corio-httpd's SIGTERM path does not end it under valgrind: kill it
    # first (the listing's head -12 ends its pipe early, and with pipefail
    # that would end the script with the server still running).
    kill -KILL "$spid" 2>/dev/null || true
    callgrind_annotate --inclusive=no "$f" 2> /dev/null | grep -E '^ *[0-9,]+ \(' | head -12 |
        awk -v n="$n" '{ gsub(",", "", $1); printf "  %7.0f Ir/req  %s %s\n", $1 / n, $(NF - 1), $NF }' || true
    wait "$spid" 2>/dev/null || true
fi
