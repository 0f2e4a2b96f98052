#!/usr/bin/env bash
# corio-downloads against its peers, on the same files from the same nginx,
# in one run:
#
#   tests/bench/downloads_vs_peers.sh [BUILD_DIR]      (default: build)
#
#   small set  1000 files x 64 KiB
#   large set    64 files x 16 MiB
#
# Peers: corio-downloads --mode coro (native client and curl-multi client at
# the tool's default window of 16, and the native client at 64),
# `curl --parallel --parallel-max 64`, `aria2c -j 64`, and the seeds'
# Python program (ThreadPoolExecutor + urllib, /usr/bin/python3). Each is
# timed from the outside (whole process, wall clock), best of $RUNS runs
# (default 3), and printed with MB/s and its ratio to curl (> 1: faster than
# curl). Installs nginx-light, curl and aria2 with tools/deps.sh when
# missing. Everything lives in one temp dir (files under /dev/shm when it
# exists), removed on exit together with the nginx it started.
#
# PLOT=FILE.png also draws both sets' MB/s as bar charts with gnuplot
# (gnuplot-nox, installed when missing).
#
# HTTPS=1 runs the same sets over TLS: the tests' throw-away CA and server
# certificate (tests/tls/make_certs.sh, in the temp dir: no key is kept), nginx with `listen ... ssl` (TLS 1.3, its default ciphers), and
# every peer told to trust that CA: corio-downloads --cacert, curl --cacert,
# aria2c --ca-certificate, Python through SSL_CERT_FILE. corio-curl is left
# out (the tool's libcurl modes use the system store only).
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
[[ $build = /* ]] || build=$here/$build
RUNS=${RUNS:-3}
CONC=${CONC:-64}               # the peers' window (curl, aria2c, Python)
CORIO_CONC=${CORIO_CONC:-16}   # corio-downloads' default window
dl=$build/examples/corio-downloads

"$here/tools/deps.sh" nginx-light curl aria2 libcurl4-openssl-dev
PLOT=${PLOT:-}
HTTPS=${HTTPS:-}
[[ -z $PLOT ]] || "$here/tools/deps.sh" gnuplot-nox
if [[ ! -x $dl ]]; then
    echo "downloads_vs_peers: $dl not built (ninja -C $build)" >&2
    exit 1
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

base=/tmp
[[ -d /dev/shm && -w /dev/shm ]] && base=/dev/shm
tmp=$(mktemp -d "$base/corio-dl-bench.XXXXXX")
nginx_pid=
cleanup() {
    if [[ -n $nginx_pid ]]; then
        kill "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
chmod 755 "$tmp"

# The files: one random file per size, copied (not linked: each URL is its
# own page-cache file, as on a real server).
mkdir -p "$tmp/www/small" "$tmp/www/large" "$tmp/aria" "$tmp/nginx"
head -c $((64 * 1024)) /dev/urandom >"$tmp/www/small/0"
for i in $(seq 1 999); do cp "$tmp/www/small/0" "$tmp/www/small/$i"; done
head -c $((16 * 1024 * 1024)) /dev/urandom >"$tmp/www/large/0"
for i in $(seq 1 63); do cp "$tmp/www/large/0" "$tmp/www/large/$i"; done

scheme=http
listen_tls=
if [[ -n $HTTPS ]]; then
    scheme=https
    # The tests' PKI (tests/tls/make_certs.sh): ca.pem and server.pem/.key
    # (localhost, 127.0.0.1, ::1), thrown away with the temp dir.
    bash "$here/tests/tls/make_certs.sh" "$tmp/nginx/pki" >/dev/null
    listen_tls="ssl; ssl_certificate $tmp/nginx/pki/server.pem; ssl_certificate_key $tmp/nginx/pki/server.key"
    listen_tls+="; ssl_session_cache shared:S:1m"
fi
ca=$tmp/nginx/pki/ca.pem
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
$( [[ $(id -u) -eq 0 ]] && echo "user root;" )
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 60;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$port backlog=4096 $listen_tls;
        root $tmp/www;
    }
}
EOF
"$nginx_bin" -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx" &
nginx_pid=$!
for _ in $(seq 100); do
    curl -sf -k -o /dev/null "$scheme://127.0.0.1:$port/small/0" && break
    sleep 0.05
done

for set in small large; do
    n=1000
    [[ $set = large ]] && n=64
    : >"$tmp/$set.urls"
    : >"$tmp/$set.curl"
    for i in $(seq 0 $((n - 1))); do
        echo "$scheme://127.0.0.1:$port/$set/$i" >>"$tmp/$set.urls"
        printf 'url = "%s://127.0.0.1:%s/%s/%s"\noutput = "/dev/null"\n' "$scheme" "$port" "$set" "$i" \
            >>"$tmp/$set.curl"
    done
done

now() { date +%s.%N; }
# best_of CMD...: run RUNS times, print the fastest wall time in seconds.
best_of() {
    local best= t0 t1 t
    for _ in $(seq "$RUNS"); do
        t0=$(now)
        "$@" >"$tmp/out.log" 2>&1 || { echo "downloads_vs_peers: failed: $*" >&2; cat "$tmp/out.log" >&2; return 1; }
        t1=$(now)
        best=$(awk -v a="$t0" -v b="$t1" -v best="$best" \
            'BEGIN { t = b - a; print (best == "" || t < best) ? t : best }')
        rm -rf "$tmp/aria"/*
    done
    printf '%.4f\n' "$best"
}

peers=(corio-native corio-curl corio-native-64 curl aria2c python-seeds)
tls_dl=() tls_curl=() tls_aria=() tls_py=()
if [[ -n $HTTPS ]]; then
    peers=(corio-native corio-native-64 curl aria2c python-seeds)
    tls_dl=(--cacert "$ca") tls_curl=(--cacert "$ca") tls_aria=(--ca-certificate="$ca")
    tls_py=(env SSL_CERT_FILE="$ca")
fi
run_peer() { # PEER SET
    local set=$2
    case $1 in
    corio-native) "$dl" --mode coro --coro-client native --concurrency "$CORIO_CONC" --quiet \
                    --no-progress "${tls_dl[@]}" --urls "$tmp/$set.urls" ;;
    corio-curl) "$dl" --mode coro --coro-client curl --concurrency "$CORIO_CONC" --quiet \
                    --no-progress --urls "$tmp/$set.urls" ;;
    corio-native-64) "$dl" --mode coro --coro-client native --concurrency "$CONC" --quiet \
                    --no-progress "${tls_dl[@]}" --urls "$tmp/$set.urls" ;;
    curl) curl --parallel --parallel-max "$CONC" -s -S -f "${tls_curl[@]}" -K "$tmp/$set.curl" ;;
    aria2c) aria2c "${tls_aria[@]}" -j "$CONC" -q -i "$tmp/$set.urls" -d "$tmp/aria" --allow-overwrite=true \
                --auto-file-renaming=false --file-allocation=none --console-log-level=error \
                --max-connection-per-server=16 --enable-http-keep-alive=true ;;
    python-seeds) "${tls_py[@]}" /usr/bin/python3 "$here/tests/bench/downloads_seeds.py" --workers "$CONC" \
                    --quiet "$tmp/$set.urls" ;;
    esac
}

echo "machine: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "corio-downloads vs peers: nginx on $scheme://127.0.0.1:$port, files under $base, best of $RUNS"
echo "windows: corio-native/corio-curl $CORIO_CONC (the tool's default), corio-native-64 and the peers $CONC"
for set in small large; do
    if [[ $set = small ]]; then bytes=$((1000 * 64 * 1024)); label="1000 x 64 KiB"
    else bytes=$((64 * 16 * 1024 * 1024)); label="64 x 16 MiB"; fi
    declare -A secs=()
    for p in "${peers[@]}"; do
        # Warm-up run (page cache, nginx workers), not timed.
        run_peer "$p" "$set" >/dev/null 2>&1 || true
        rm -rf "$tmp/aria"/*
        secs[$p]=$(best_of run_peer "$p" "$set")
    done
    echo
    echo "== $set set: $label ($bytes bytes)"
    printf '%-14s %10s %10s %10s\n' peer seconds MB/s vs-curl
    for p in "${peers[@]}"; do
        s=${secs[$p]}
        awk -v p="$p" -v s="$s" -v b="$bytes" -v c="${secs[curl]}" \
            'BEGIN { printf "%-14s %10.4f %10.1f %9.2fx\n", p, s, b / s / 1e6, c / s }'
        awk -v p="$p" -v s="$s" -v b="$bytes" \
            'BEGIN { printf "%s %.1f %.4f\n", p, b / s / 1e6, s }' >>"$tmp/$set.dat"
    done
    unset secs
done

if [[ -n $PLOT ]]; then
    gnuplot <<EOF
set terminal pngcairo size 1100,460 font ",10"
set output "$PLOT"
set multiplot layout 1,2 title "corio-downloads vs peers, nginx on loopback (best of $RUNS, MB/s)"
set style fill solid 0.8 border -1
set boxwidth 0.6
set yrange [0:*]
set grid ytics
set xtics rotate by -30
unset key
set title "1000 x 64 KiB"
plot "$tmp/small.dat" using 0:2:xtic(1) with boxes lc rgb "#4682b4", \\
     "" using 0:2:(sprintf("%.0f", \$2)) with labels offset 0,0.7
set title "64 x 16 MiB"
plot "$tmp/large.dat" using 0:2:xtic(1) with boxes lc rgb "#4682b4", \\
     "" using 0:2:(sprintf("%.0f", \$2)) with labels offset 0,0.7
unset multiplot
EOF
    echo "plot written to $PLOT"
fi
