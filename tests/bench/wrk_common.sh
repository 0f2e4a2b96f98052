# shellcheck shell=bash
# shellcheck disable=SC2154 # $dur (and $scheme, $tmp) are set by the sourcing script
# Shared by httpd_vs_nginx.sh and https_vs_nginx.sh (sourced, not run):
# the temp dir with its server cleanup, ports, and one wrk run measured with
# the server's CPU time.
#
#   bench_tmpdir NAME    make $tmp (/tmp/NAME.XXXXXX) and the EXIT trap that
#                        kills and reaps every pid in $pids, then removes it
#   free_port            a free loopback TCP port
#   wait_up PORT         wait (bounded) until something accepts on PORT
#   run PORT CONNS PID...  one wrk run of $dur against $scheme://127.0.0.1:PORT/hello
#                        (scheme defaults to http; the command is ${wrk_cmd[@]},
#                        default `wrk -t1`), CPU time summed over the PIDs ->
#                        "req/s cpu-us-per-request wrk-cpu-%"
#   median               the median of the numbers on stdin

bench_tmpdir() {
    tmp=$(mktemp -d "/tmp/$1.XXXXXX")
    pids=()
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

bench_cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_up() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}

# Server CPU time so far in clock ticks (utime + stime of every thread of
# every process named).
cpu_ticks() {
    local p t=0
    for p in "$@"; do
        t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    done
    echo "$t"
}
hz=$(getconf CLK_TCK)

# wrk's own CPU use (user + system, from the shell's `times` for its
# children) says whether the client was the bottleneck: near 100 %, the
# req/s measure wrk more than the server.
run() {
    local t0 t1 out port=$1 conns=$2
    shift 2
    local cmd=(wrk -t1)
    [[ -z ${wrk_cmd+set} ]] || cmd=("${wrk_cmd[@]}")
    t0=$(cpu_ticks "$@")
    out=$("${cmd[@]}" -c"$conns" -d"$dur" "${scheme:-http}://127.0.0.1:$port/hello"; times)
    t1=$(cpu_ticks "$@")
    awk -v dt=$((t1 - t0)) -v hz="$hz" -v dur="${dur%s}" '
        function secs(t,  m) { m = t; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", t); sub(/s$/, "", t); return m * 60 + t }
        /requests in/ { n = $1 }
        /^Requests\/sec:/ { r = $2 }
        /^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$/ { w = secs($1) + secs($2) }
        END { printf "%s %.2f %.0f\n", r, n ? dt * 1e6 / hz / n : 0, w * 100 / dur }' <<<"$out"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
