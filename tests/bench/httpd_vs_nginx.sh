#!/usr/bin/env bash
# corio-httpd against nginx (one worker) on loopback, same machine, same run.
#
#   tests/bench/httpd_vs_nginx.sh [BUILD_DIR] [DURATION] [ROUNDS]
#
# Both servers answer GET /hello with the 13-byte body "Hello, world!"
# (nginx: `return 200 "Hello, world!";` with default_type text/plain,
# keep-alive, no access log). corio-httpd runs with --loops 1 so both use one
# server thread. wrk (-t1) drives each with 100 and then 1000 keep-alive
# connections; wrk and the server share the machine's cores. The two servers
# take turns, ROUNDS times (default 3) per connection count, so that a load
# change on the machine hits both; each round prints req/s and the server's
# CPU time per request (user + system, all its threads, from /proc), then a
# summary line gives the median req/s of each and the ratio corio/nginx,
# and another the median CPU time per request and the ratio nginx/corio
# (how much less CPU corio spends per request: on a machine shared with
# other work the req/s ratio mostly measures who got the CPU).
# Installs nginx-light and wrk through tools/deps.sh when they are missing.
# Kills both servers on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${1:-$top/build}
dur=${2:-5s}
rounds=${3:-3}
httpd=$build/examples/corio-httpd

"$top/tools/deps.sh" nginx-light wrk
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $httpd ]] || { echo "no $httpd: build first (ninja -C $build)" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

. "$here/wrk_common.sh"
bench_tmpdir httpd_vs_nginx

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
        listen 127.0.0.1:$nport;
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

"$httpd" --port 0 --loops 1 --quiet --root "$tmp" > "$tmp/httpd.out" &
pids+=($!)
for _ in $(seq 100); do
    grep -q '^listening on ' "$tmp/httpd.out" && break
    sleep 0.05
done
cport=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/httpd.out")
[[ -n $cport ]] || { echo "corio-httpd did not start" >&2; exit 1; }

# Both must answer the same body.
for p in "$nport" "$cport"; do
    body=$(python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:$p/hello').read().decode())")
    [[ $body == "Hello, world!" ]] || { echo "port $p answered '$body'" >&2; exit 1; }
done


# nginx's worker (the master only supervises).
nworker=$(pgrep -P "${pids[0]}" | head -1)
[[ -n $nworker ]] || nworker=${pids[0]}
hpid=${pids[1]}

echo "machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nginx: $("$nginx_bin" -v 2>&1 | sed 's/.*: //'), 1 worker; corio-httpd: --loops 1; wrk -t1 -d$dur; $rounds rounds, servers alternating"
for c in 100 1000; do
    nr=() hr=() nc=() hc=()
    for ((k = 1; k <= rounds; k++)); do
        read -r n ncpu nw < <(run "$nport" "$c" "$nworker")
        read -r h hcpu hw < <(run "$cport" "$c" "$hpid")
        nr+=("$n") hr+=("$h") nc+=("$ncpu") hc+=("$hcpu")
        printf 'c=%-5s round %d: nginx %10s req/s (%s us CPU/req, wrk %s%%)   corio-httpd %10s req/s (%s us CPU/req, wrk %s%%)\n' \
            "$c" "$k" "$n" "$ncpu" "$nw" "$h" "$hcpu" "$hw"
    done
    n=$(printf '%s\n' "${nr[@]}" | median)
    h=$(printf '%s\n' "${hr[@]}" | median)
    ratio=$(awk -v h="$h" -v n="$n" 'BEGIN { printf "%.2f", h / n }')
    printf 'c=%-5s median: nginx %10s req/s   corio-httpd %10s req/s   corio/nginx %sx\n' \
        "$c" "$n" "$h" "$ratio"
    ncm=$(printf '%s\n' "${nc[@]}" | median)
    hcm=$(printf '%s\n' "${hc[@]}" | median)
    printf 'c=%-5s median CPU per request: nginx %s us   corio-httpd %s us   nginx/corio %sx\n' \
        "$c" "$ncm" "$hcm" "$(awk -v a="$ncm" -v b="$hcm" 'BEGIN { printf "%.2f", a / b }')"
done
