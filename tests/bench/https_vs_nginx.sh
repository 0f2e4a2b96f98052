#!/usr/bin/env bash
# HTTPS hello: corio against nginx with TLS (one worker) on loopback, same
# machine, same run.
#
#   tests/bench/https_vs_nginx.sh [BUILD_DIR] [DURATION] [ROUNDS]
#
# TLS 1.3, the same certificate and key for both (EC P-256, made here with
# tests/tls/make_certs.sh, thrown away at exit), keep-alive. The servers
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

. "$here/wrk_common.sh"
scheme=https
bench_tmpdir https_vs_nginx

# The tests' PKI (tests/tls/make_certs.sh): one certificate for both servers.
bash "$top/tests/tls/make_certs.sh" "$tmp/pki" >/dev/null
cert=$tmp/pki/server.pem key=$tmp/pki/server.key ca=$tmp/pki/ca.pem

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
        ssl_certificate $cert;
        ssl_certificate_key $key;
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
start tls_hello "$hello" "$cert" "$key" 1
if [[ -x $httpd ]] && "$httpd" --help 2>&1 | grep -q -- --tls-cert; then
    start corio-httpd "$httpd" --port 0 --loops 1 --quiet --root "$tmp" \
        --tls-cert "$cert" --tls-key "$key"
fi

# Each must answer the same body over verified TLS.
for p in "${ports[@]}"; do
    body=$(curl -sS --max-time 5 --cacert "$ca" "https://localhost:$p/hello")
    [[ $body == "Hello, world!" ]] || { echo "port $p answered '$body'" >&2; exit 1; }
done


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
