#!/usr/bin/env bash
# HTTPS hello: corio against nginx with TLS (one worker) on loopback, same
# machine, same run.
#
#   tests/bench/https_vs_nginx.sh [BUILD_DIR] [DURATION] [ROUNDS]
#
# TLS 1.3, the same certificate and key for both (EC P-256, made here with
# the openssl command line, thrown away at exit), keep-alive. The servers
# answer GET /hello with the 13-byte body "Hello, world!": nginx with
# `return 200`, corio with tests/bench/bench_tls_hello (the TLS layer over
# streams, one loop: the floor under an HTTPS server on corio) and, when
# its build has TLS options, corio-httpd --loops 1 with --tls-cert and
# --tls-key. wrk (-t1) drives each with 100 and then 1000 connections; wrk
# and the servers share the machine's 2 cores, so wrk is the bottleneck
# and the figure that counts is the server's CPU time per request (user +
# system, all its threads, from /proc). Servers take turns, ROUNDS times
# (default 3); the summary gives medians and the ratios.
# Installs nginx-light and wrk through tools/deps.sh when missing. Kills
# every server on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
dur=${2:-5s}
rounds=${3:-3}
httpd=$build/examples/corio-httpd

"$top/tools/deps.sh" nginx-light wrk openssl
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
hello=$build/tests/bench/bench_tls_hello
[[ -x $hello ]] || { echo "no $hello: build with -Dbenchmarks=enabled first" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

tmp=$(mktemp -d /tmp/https_vs_nginx.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback port for nginx (corio-httpd picks its own with --port 0).
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Wait until something answers /hello on port $1 (bounded).
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

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 2>/dev/null

nport=$(free_port)
mkdir -p "$tmp/nginx"
cat > "$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    server {
        listen 127.0.0.1:$nport ssl;
        ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        ssl_protocols TLSv1.3;
        location / {
            default_type text/plain;
            return 200 "Hello, world!";
        }
    }
}
EOF
"$nginx_bin" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" &
pids+=($!)
wait_up "$nport"

# start NAME COMMAND...: a corio server that prints "listening on ...:PORT".
names=(nginx) ports=("$nport")
start() {
    local name=$1
    shift
    "$@" > "$tmp/$name.out" &
    pids+=($!)
    for _ in $(seq 100); do
        grep -q '^listening on ' "$tmp/$name.out" && break
        sleep 0.05
    done
    local p
    p=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/$name.out")
    [[ -n $p ]] || { echo "$name did not start" >&2; exit 1; }
    names+=("$name") ports+=("$p")
}
start tls_hello "$hello" "$tmp/cert.pem" "$tmp/key.pem" 1
if [[ -x $httpd ]] && "$httpd" --help 2>&1 | grep -q -- --tls-cert; then
    start corio-httpd "$httpd" --port 0 --loops 1 --quiet --root "$tmp" \
        --tls-cert "$tmp/cert.pem" --tls-key "$tmp/key.pem"
fi

# Each must answer the same body over verified TLS.
for p in "${ports[@]}"; do
    body=$(curl -sS --max-time 5 --cacert "$tmp/cert.pem" "https://localhost:$p/hello")
    [[ $body == "Hello, world!" ]] || { echo "port $p answered '$body'" >&2; exit 1; }
done

# Server CPU time so far in clock ticks (utime + stime of every thread).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# One wrk run: port connections pid -> "req/s cpu-us-per-request wrk-cpu-%"
# wrk's own CPU use (user + system, from the shell's `times` for its
# children) says whether the client was the bottleneck: near 100 %, the
# req/s measure wrk more than the server.
run() {
    local t0 t1 out
    t0=$(cpu_ticks "$3")
    out=$(wrk -t1 -c"$2" -d"$dur" "https://127.0.0.1:$1/hello"; times)
    t1=$(cpu_ticks "$3")
    awk -v dt=$((t1 - t0)) -v hz="$hz" -v dur="${dur%s}" '
        function secs(t,  m) { m = t; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", t); sub(/s$/, "", t); return m * 60 + t }
        /requests in/ { n = $1 }
        /^Requests\/sec:/ { r = $2 }
        /^[0-9]+m[0-9.]+s [0-9]+m[0-9.]+s$/ { w = secs($1) + secs($2) }
        END { printf "%s %.2f %.0f\n", r, n ? dt * 1e6 / hz / n : 0, w * 100 / dur }' <<<"$out"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# nginx's worker (the master only supervises); the corio servers' pids.
nworker=$(pgrep -P "${pids[0]}" | head -1)
[[ -n $nworker ]] || nworker=${pids[0]}
spids=("$nworker" "${pids[@]:1}")

echo "machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nginx: $("$nginx_bin" -v 2>&1 | sed 's/.*: //'), 1 worker, TLS 1.3; corio: 1 loop; $(openssl version); wrk -t1 -d$dur; $rounds rounds, servers alternating"
for c in 100 1000; do
    declare -A rq=() cp=()
    for ((k = 1; k <= rounds; k++)); do
        line="c=$c round $k:"
        for i in "${!names[@]}"; do
            read -r r cpu w < <(run "${ports[$i]}" "$c" "${spids[$i]}")
            rq[$i]+="$r " cp[$i]+="$cpu "
            line+=$(printf '  %s %s req/s (%s us CPU/req, wrk %s%%)' "${names[$i]}" "$r" "$cpu" "$w")
        done
        echo "$line"
    done
    n_r=$(printf '%s\n' ${rq[0]} | median)
    n_c=$(printf '%s\n' ${cp[0]} | median)
    for i in "${!names[@]}"; do
        ((i == 0)) && continue
        r=$(printf '%s\n' ${rq[$i]} | median)
        cpu=$(printf '%s\n' ${cp[$i]} | median)
        printf 'c=%-5s median: nginx %s req/s, %s us CPU/req   %s %s req/s, %s us CPU/req   req/s %s/nginx %sx   CPU/req nginx/%s %sx\n' \
            "$c" "$n_r" "$n_c" "${names[$i]}" "$r" "$cpu" "${names[$i]}" \
            "$(awk -v a="$r" -v b="$n_r" 'BEGIN { printf "%.2f", a / b }')" "${names[$i]}" \
            "$(awk -v a="$n_c" -v b="$cpu" 'BEGIN { printf "%.2f", a / b }')"
    done
    unset rq cp
done
