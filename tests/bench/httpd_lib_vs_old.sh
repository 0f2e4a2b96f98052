#!/usr/bin/env bash
# corio-httpd on the HTTP server library against an older corio-httpd
# binary (the example server it replaced), on loopback, same machine, same run.
#
#   tests/bench/httpd_lib_vs_old.sh NEW_HTTPD OLD_HTTPD [DURATION] [ROUNDS] [CONNS]
#
# Both answer GET /hello (13 bytes) with --loops 1; wrk -t1 drives each with
# CONNS (default 100) keep-alive connections for DURATION (default 5s). The
# two take turns ROUNDS times (default 3), so that a load change on the
# machine hits both. Each round prints req/s and the server's CPU time per
# request (utime + stime of all its threads, from /proc/PID/stat, over the
# run); the summary gives the medians and the ratio new/old of CPU per
# request (1.00: the same; above: the library costs more).
set -euo pipefail
new=$1 old=$2 dur=${3:-5s} rounds=${4:-3} conns=${5:-100}
command -v wrk >/dev/null || { echo "wrk is needed" >&2; exit 77; }
tck=$(getconf CLK_TCK)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

start() { # binary -> pid and port in globals
    local out; out=$(mktemp)
    "$1" --port 0 --loops 1 --quiet --root /tmp > "$out" &
    pid=$!; pids+=("$pid")
    for _ in $(seq 100); do grep -q listening "$out" && break; sleep 0.05; done
    port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$out"); rm -f "$out"
}
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

declare -A rps cpr
for name in new old; do rps[$name]=""; cpr[$name]=""; done
for r in $(seq "$rounds"); do
    for name in new old; do
        bin=$new; [[ $name == old ]] && bin=$old
        start "$bin"
        wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port/hello" > /dev/null # warm-up
        c0=$(cpu "$pid")
        res=$(wrk -t1 -c"$conns" -d"$dur" "http://127.0.0.1:$port/hello")
        c1=$(cpu "$pid")
        kill "$pid"; wait "$pid" 2>/dev/null || true
        reqs=$(echo "$res" | awk '/requests in/ {print $1}')
        rate=$(echo "$res" | awk '/Requests\/sec/ {print $2}')
        us=$(awk -v a="$c0" -v b="$c1" -v n="$reqs" -v t="$tck" 'BEGIN {printf "%.3f", (b - a) / t * 1e6 / n}')
        printf 'round %d %-3s %10s req/s  %s us CPU/request  (%s requests)\n' "$r" "$name" "$rate" "$us" "$reqs"
        rps[$name]+="$rate "; cpr[$name]+="$us "
    done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
rn=$(echo "${rps[new]}" | med); ro=$(echo "${rps[old]}" | med)
cn=$(echo "${cpr[new]}" | med); co=$(echo "${cpr[old]}" | med)
printf 'median req/s: new %s old %s ratio new/old %.3f\n' "$rn" "$ro" "$(awk -v a="$rn" -v b="$ro" 'BEGIN {print a / b}')"
printf 'median CPU/request: new %s us old %s us ratio new/old %.3f\n' "$cn" "$co" "$(awk -v a="$cn" -v b="$co" 'BEGIN {print a / b}')"
