#!/usr/bin/env bash
# corio-httpd against nginx on loopback, same machine, same run.
#
#   tests/bench/httpd_vs_nginx.sh [--loops N] [--conns "100 1000 10000"]
#                                 [--idle "1000 10000"] [--profile "1000"]
#                                 [BUILD_DIR] [DURATION] [ROUNDS]
#
# Both servers answer GET /hello with the 13-byte body "Hello, world!"
# (nginx: `return 200 "Hello, world!";` with default_type text/plain,
# keep-alive, no access log). corio-httpd runs with --loops N and nginx
# with N workers (default 1 and 1). wrk drives each with 100, 1000 and
# 10000 keep-alive connections; nginx's worker_connections and
# worker_rlimit_nofile, and the open-file limit of both servers and of wrk,
# are set above the largest count (nginx refuses connections beyond its
# worker_connections, which would flatter corio). The two servers take
# turns, ROUNDS times (default 3) per connection count, so that a load
# change on the machine hits both; each round prints req/s and the
# server's CPU time per request (user + system, all its threads, from
# /proc), then the medians and `ratio cpu-per-request corio/nginx`.
#
# With N = 1 (the default below 8 CPUs) the corio loop pins itself and
# nginx, wrk -t1 and the loop share the machine. With --loops N > 1
# (default N = CPUs / 2 from 8 CPUs up) each server is confined with
# taskset to CPUs 0..N-1 and wrk -tN to CPUs N..2N-1.
#
# Memory: for each count in --idle, a fresh instance of each server (N
# loops / workers) is given that many keep-alive connections, one request
# answered on each, held idle (tests/bench/idle_conns); the growth of the
# server's resident set (VmRSS, all its threads; nginx: its workers) over
# the connections is printed per connection in KiB, with
# `ratio rss-per-idle-connection corio/nginx`.
#
# Profile: for each count in --profile (default none; it must also be in
# --conns), one more run of each server under `perf record -e cpu-clock`
# (a software clock: it works in VMs without hardware counters) splits
# the server's median CPU per request of that count into user space, the
# kernel's system-call entry, epoll and file-descriptor work, its io_uring
# work, and the rest of the kernel (TCP/IP, softirqs, timers, the
# scheduler: the work either server causes by serving the same bytes).
# `floor cpu-per-request corio/nginx` is corio-httpd's rest-of-kernel
# time over nginx's whole time: the ratio corio-httpd would reach if its
# user space and io_uring cost nothing.
#
# Installs nginx-light and wrk through tools/deps.sh when they are missing.
# Kills every server it started on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

ncpu=$(nproc)
loops=1
((ncpu >= 8)) && loops=$((ncpu / 2))
conns="100 1000 10000"
idle="1000 10000"
profile=
args=()
while (($#)); do
    case $1 in
        --loops) loops=$2; shift 2 ;;
        --conns) conns=$2; shift 2 ;;
        --idle) idle=$2; shift 2 ;;
        --profile) profile=$2; shift 2 ;;
        -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done
set -- "${args[@]+"${args[@]}"}"
build=${1:-$top/build}
dur=${2:-5s}
rounds=${3:-3}
httpd=$build/examples/corio-httpd
idle_bin=$build/tests/bench/idle_conns
((loops >= 1)) || { echo "--loops takes a count >= 1" >&2; exit 2; }
for c in $profile; do
    [[ " $conns " == *" $c "* ]] || { echo "--profile $c: not one of --conns ($conns)" >&2; exit 2; }
done
if ((loops > 1 && 2 * loops > ncpu)); then
    echo "--loops $loops needs $((2 * loops)) CPUs (server and wrk apart); this machine has $ncpu" >&2
    exit 2
fi

"$top/tools/deps.sh" nginx-light wrk
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
for b in "$httpd" "$idle_bin"; do
    [[ -x $b ]] || { echo "no $b: build first (ninja -C $build)" >&2; exit 1; }
done

# Room for the largest count on both sides (the servers and wrk inherit it).
maxc=0
for c in $conns $idle; do ((c > maxc)) && maxc=$c; done
want=$((maxc * 2 + 1024))
ulimit -n "$want" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (($(ulimit -n) < maxc + 64)); then
    echo "open-file limit $(ulimit -n) is below $maxc connections (+64); raise ulimit -Hn" >&2
    exit 1
fi

# shellcheck source=tests/bench/wrk_common.sh
. "$here/wrk_common.sh"
bench_tmpdir httpd_vs_nginx

# taskset prefixes: servers on CPUs 0..N-1, wrk on N..2N-1 (N > 1 only).
srv_set=() wrk_set=()
if ((loops > 1)); then
    srv_set=(taskset -c "0-$((loops - 1))")
    wrk_set=(taskset -c "$loops-$((2 * loops - 1))")
fi
wrk_threads=$loops

# start_nginx NAME -> sets $nport and $npid (the master; workers are its children)
start_nginx() {
    local d=$tmp/$1
    nport=$(free_port)
    mkdir -p "$d"
    cat > "$d/nginx.conf" <<EOF
worker_processes $loops;
worker_rlimit_nofile $((want + 1024));
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections $((maxc + 1024)); }
http {
    access_log off;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    server {
        listen 127.0.0.1:$nport;
        location / {
            default_type text/plain;
            return 200 "Hello, world!";
        }
    }
}
EOF
    "${srv_set[@]}" "$nginx_bin" -p "$d" -c "$d/nginx.conf" &
    npid=$!
    pids+=("$npid")
    wait_up "$nport"
    for _ in $(seq 100); do
        (($(pgrep -c -P "$npid") >= loops)) && break
        sleep 0.05
    done
}

# start_corio NAME -> sets $cport and $cpid
start_corio() {
    local out=$tmp/$1.out
    "${srv_set[@]}" "$httpd" --port 0 --loops "$loops" --quiet --root "$tmp" > "$out" &
    cpid=$!
    pids+=("$cpid")
    cport=
    for _ in $(seq 100); do
        grep -q '^listening on ' "$out" && break
        sleep 0.05
    done
    cport=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
    [[ -n $cport ]] || { echo "corio-httpd did not start" >&2; exit 1; }
}

# stop PID: end one server started here and reap it.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# Resident KiB of the given processes together.
rss_kib() {
    local t=0 p v
    for p in "$@"; do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status")
        t=$((t + v))
    done
    echo "$t"
}

# idle_growth PORT N PID... -> KiB of RSS growth per idle connection
idle_growth() {
    local port=$1 n=$2 r0 r1 line
    shift 2
    r0=$(rss_kib "$@")
    coproc IDLE { exec "$idle_bin" "$port" "$n" 120; }
    local ipid=$IDLE_PID
    read -r -t 90 line <&"${IDLE[0]}" || line=
    if [[ $line != "ready $n" ]]; then
        echo "idle_conns did not hold $n connections to port $port" >&2
        exit 1
    fi
    sleep 0.5 # let the server's last answers and their bookkeeping settle
    r1=$(rss_kib "$@")
    eval "exec ${IDLE[1]}>&-"
    wait "$ipid" 2>/dev/null || true
    awk -v a="$r0" -v b="$r1" -v n="$n" 'BEGIN { printf "%.2f\n", (b - a) / n }'
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $ncpu cores, $(uname -srm), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nginx: $("$nginx_bin" -v 2>&1 | sed 's/.*: //'), $loops worker(s), worker_connections $((maxc + 1024)); corio-httpd: --loops $loops; wrk -t$wrk_threads -d$dur${srv_set[*]:+ (servers: ${srv_set[*]}, wrk: ${wrk_set[*]})}; $rounds rounds, servers alternating; open-file limit $(ulimit -n)"

# ---- memory: fresh servers, idle keep-alive connections ----
for n in $idle; do
    start_nginx "mem-nginx-$n"
    mapfile -t workers < <(pgrep -P "$npid")
    ng=$(idle_growth "$nport" "$n" "${workers[@]}")
    stop "$npid"
    start_corio "mem-corio-$n"
    co=$(idle_growth "$cport" "$n" "$cpid")
    stop "$cpid"
    printf 'idle n=%-5s RSS growth per idle keep-alive connection: nginx %s KiB   corio-httpd %s KiB\n' \
        "$n" "$ng" "$co"
    printf 'ratio rss-per-idle-connection corio/nginx: %s (n=%s)\n' \
        "$(awk -v a="$co" -v b="$ng" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')" "$n"
done

# profile_split PORT CONNS CPU_US NAME PID... -> a line with the split of
# CPU_US (the server's median CPU per request) by where perf's samples
# fell during one more wrk run, then a line with the rest-of-kernel
# microseconds alone ("none" when perf recorded no samples).
profile_split() {
    local port=$1 c=$2 us=$3 name=$4 data=$tmp/perf-$4.data
    shift 4
    perf record -q -e cpu-clock -o "$data" -p "$(IFS=,; echo "$*")" -- sleep "${dur%s}" \
        > /dev/null 2>&1 &
    local ppid=$!
    run "$port" "$c" "$@" > /dev/null
    wait "$ppid" || true
    perf report -i "$data" --no-children --sort dso,sym -g none 2> /dev/null | awk -v us="$us" \
        -v name="$name" -v c="$c" '
        /^#/ || NF < 3 { next }
        {
            p = $1; sub(/%/, "", p); sym = $NF
            if ($0 !~ /\[k\]/) u += p
            else if (sym ~ /^(io_|__io_|llist_|fget|fput|__fget|sock_from_file|tctx_)/) io += p
            else if (sym ~ /^(ep_|__ep_|do_epoll|sock_poll|do_syscall_64|entry_SYSCALL|syscall_|__x64_sys|__do_sys|ksys_|vfs_|__fdget|fdget|sock_read_iter|sock_write_iter|do_iter_|import_iovec|__import_iovec|iovec_from_user|rw_verify_area|__sys_|sockfd_lookup|exit_to_user|__rseq|rseq_)/) sc += p
            else k += p
        }
        END {
            t = u + io + sc + k
            if (t == 0) { print "c=" c " profile " name ": no samples"; print "none"; exit }
            printf "c=%-5s profile %s: %.2f us CPU/req = user %.2f + kernel syscall/epoll/fd %.2f + kernel io_uring %.2f + kernel rest %.2f\n", \
                c, name, us, us * u / t, us * sc / t, us * io / t, us * k / t
            printf "%.2f\n", us * k / t
        }'
}

# ---- throughput and CPU per request ----
start_nginx nginx
start_corio corio
# Both must answer the same body.
for p in "$nport" "$cport"; do
    body=$(python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$p/hello').read().decode())")
    [[ $body == "Hello, world!" ]] || { echo "port $p answered '$body'" >&2; exit 1; }
done
# CPU time is read from every nginx process (master and workers: the
# master only supervises) and from corio-httpd's one process.
mapfile -t nginx_cpu_pids < <(echo "$npid"; pgrep -P "$npid")
# shellcheck disable=SC2034 # read by run (wrk_common.sh)
wrk_cmd=("${wrk_set[@]}" wrk -t"$wrk_threads")

for c in $conns; do
    nr=() hr=() nc=() hc=()
    for ((k = 1; k <= rounds; k++)); do
        read -r n ncpu nw < <(run "$nport" "$c" "${nginx_cpu_pids[@]}")
        read -r h hcpu hw < <(run "$cport" "$c" "$cpid")
        nr+=("$n") hr+=("$h") nc+=("$ncpu") hc+=("$hcpu")
        printf 'c=%-5s round %d: nginx %10s req/s (%s us CPU/req, wrk %s%%)   corio-httpd %10s req/s (%s us CPU/req, wrk %s%%)\n' \
            "$c" "$k" "$n" "$ncpu" "$nw" "$h" "$hcpu" "$hw"
    done
    n=$(printf '%s\n' "${nr[@]}" | median)
    h=$(printf '%s\n' "${hr[@]}" | median)
    printf 'c=%-5s median: nginx %10s req/s   corio-httpd %10s req/s   corio/nginx %sx\n' \
        "$c" "$n" "$h" "$(awk -v h="$h" -v n="$n" 'BEGIN { printf "%.2f", h / n }')"
    ncm=$(printf '%s\n' "${nc[@]}" | median)
    hcm=$(printf '%s\n' "${hc[@]}" | median)
    printf 'c=%-5s median CPU per request: nginx %s us   corio-httpd %s us\n' "$c" "$ncm" "$hcm"
    printf 'ratio cpu-per-request corio/nginx: %s (c=%s)\n' \
        "$(awk -v a="$hcm" -v b="$ncm" 'BEGIN { printf "%.2f", a / b }')" "$c"
    [[ " $profile " == *" $c "* ]] || continue
    if ! command -v perf > /dev/null; then
        echo "c=$c profile: perf not found, skipped"
        continue
    fi
    out=$(profile_split "$nport" "$c" "$ncm" nginx "${nginx_cpu_pids[@]}")
    echo "${out%$'\n'*}"
    out=$(profile_split "$cport" "$c" "$hcm" corio-httpd "$cpid")
    echo "${out%$'\n'*}"
    hk=${out##*$'\n'}
    [[ $hk != none ]] || continue
    printf 'floor cpu-per-request corio/nginx: %s (c=%s)\n' \
        "$(awk -v a="$hk" -v b="$ncm" 'BEGIN { printf "%.2f", a / b }')" "$c"
done
