#!/usr/bin/env bash
# The corio-downloads demo, run by `make demo` after the build:
#
#   tools/demo.sh [BUILD_DIR]        (default: build)
#
# Serves 300 generated files of 64 KiB from build/examples/corio-httpd on
# 127.0.0.1 (a free port, every response delayed by 20 ms, as a slow remote
# server would be), downloads them with corio-downloads in its four modes
# (seq, threads, procs, coro), prints the table, and writes the chart to
# BUILD_DIR/downloads-demo.png (gnuplot-nox is installed through
# tools/deps.sh when missing; without it the chart is skipped). Then one
# more coro run with a coroutine per URL shows what a bigger window buys.
# The server and the temp dir are removed on exit, whatever happens.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[[ $build = /* ]] || build=$here/$build
dl=$build/examples/corio-downloads
httpd=$build/examples/corio-httpd
files=${DEMO_FILES:-300}
delay=${DEMO_DELAY_MS:-20}
conc=${DEMO_CONCURRENCY:-16}

for prog in "$dl" "$httpd"; do
    if [[ ! -x $prog ]]; then
        echo "demo: $prog is not built." >&2
        echo "demo: corio-downloads needs libcurl: tools/deps.sh libcurl4-openssl-dev, then make build" >&2
        exit 1
    fi
done
if ! command -v gnuplot >/dev/null 2>&1; then
    "$here/tools/deps.sh" gnuplot-nox || echo "demo: gnuplot-nox not installed; no chart this time"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/corio-demo.XXXXXX")
httpd_pid=
cleanup() {
    if [[ -n $httpd_pid ]]; then
        kill "$httpd_pid" 2>/dev/null || true
        wait "$httpd_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mkdir "$tmp/www"
head -c 65536 /dev/urandom >"$tmp/www/file-0.bin"
for ((i = 1; i < files; i++)); do cp "$tmp/www/file-0.bin" "$tmp/www/file-$i.bin"; done

"$httpd" --bind 127.0.0.1 --port 0 --root "$tmp/www" --delay-ms "$delay" --quiet \
    >"$tmp/httpd.out" 2>"$tmp/httpd.err" &
httpd_pid=$!
port=
for _ in $(seq 200); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/httpd.out")
    [[ -n $port ]] && break
    kill -0 "$httpd_pid" 2>/dev/null || break
    sleep 0.05
done
if [[ -z $port ]]; then
    echo "demo: corio-httpd did not start: $(cat "$tmp/httpd.err")" >&2
    exit 1
fi
for ((i = 0; i < files; i++)); do echo "http://127.0.0.1:$port/file-$i.bin"; done >"$tmp/urls"

echo "== corio-downloads demo"
echo "   corio-httpd on 127.0.0.1:$port serves $files files x 64 KiB, each response delayed ${delay} ms."
echo "   Four ways to fetch them all, $conc at a time (seq: one at a time):"
echo "     seq      one blocking libcurl transfer after another"
echo "     threads  the thread pool, a blocking transfer per job, results via corio_as_completed"
echo "     procs    the process pool, the same job in worker processes (URL in, a record out)"
echo "     coro     a coroutine per URL on the io_uring loops, native HTTP/1.1 client, semaphore-bounded"
echo
plot=$build/downloads-demo.png
"$dl" --mode all --concurrency "$conc" --quiet --timeout 30 --urls "$tmp/urls" --plot "$plot"
echo
echo "== coro mode again, with a coroutine per URL in flight (--concurrency $files):"
"$dl" --mode coro --concurrency "$files" --quiet --timeout 30 --urls "$tmp/urls" | sed -n '/^mode/,$p'
echo
echo "Each URL waits ${delay} ms at the server, so time is latency, not bandwidth: the concurrent"
echo "modes overlap the waits. Try it yourself: $dl --help (manual: docs/downloads.md)."
