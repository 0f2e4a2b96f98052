#!/usr/bin/env bash
# corio-downloads against real servers on loopback.
#
#   tests/test_downloads.sh BUILD_DIR
#
# The server is build/examples/corio-httpd when it was built, else a small
# Python stand-in (below) with the same routes. A second Python helper adds
# what no well-behaved server does: a port that accepts and never answers
# (timeouts), chunked and close-delimited bodies, and a connection reset.
# Checks every mode: exact byte counts, --out files identical to the
# served ones, per-URL failures (404, refused, timeout, reset, https) that
# do not stop or stall the other URLs, --json parseable, exit statuses.
# Exits 77 (skipped) when corio-downloads was not built (no libcurl).
set -uo pipefail

build=${1:?usage: test_downloads.sh BUILD_DIR}
dl=$build/examples/corio-downloads
httpd=$build/examples/corio-httpd
py=/usr/bin/python3
[[ -x $py ]] || py=$(command -v python3)
if [[ ! -x $dl ]]; then
    echo "SKIP: $dl not built (libcurl missing)"
    exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/corio-dl-test.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# ---------------------------------------------------------------- servers
mkdir -p "$tmp/www"
sizes=(0 1 1000 65536 65537 300000 1048579)
for i in "${!sizes[@]}"; do
    head -c "${sizes[$i]}" /dev/urandom >"$tmp/www/f$i.bin"
done

cat >"$tmp/helper.py" <<'EOF'
# Test helper servers; prints "listening on 127.0.0.1:PORT" and serves
# until killed. Modes:
#   blackhole   accept connections, never read nor answer
#   odd         /chunked/N (chunked body of N bytes), /close/N (no length,
#               body until close), /reset (resets the connection),
#               /hello, /bytes/N, static files under ROOT, 404 otherwise
import os, socket, sys, threading, time

def body(n):
    return bytes(97 + i % 26 for i in range(n))

def blackhole(ls):
    held = []
    while True:
        c, _ = ls.accept()
        held.append(c)

def serve(c, root):
    f = c.makefile("rb")
    try:
        while True:
            line = f.readline()
            if not line:
                return
            path = line.split()[1].decode()
            while f.readline() not in (b"\r\n", b"\n", b""):
                pass
            if path.startswith("/chunked/"):
                data = body(int(path[9:]))
                out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                for k in range(0, len(data), 7000):
                    part = data[k:k + 7000]
                    out += b"%x;ext=1\r\n" % len(part) + part + b"\r\n"
                c.sendall(out + b"0\r\nX-Trailer: t\r\n\r\n")
            elif path.startswith("/close/"):
                c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body(int(path[7:])))
                return
            elif path.startswith("/bad/"):
                heads = {"dupcl": b"Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
                         "clte": b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                         "barecr": b"X-A: 1\rX-B: 2\r\nContent-Length: 3\r\n\r\nabc",
                         "obsfold": b"X-A: 1\r\n folded\r\nContent-Length: 3\r\n\r\nabc"}
                c.sendall(b"HTTP/1.1 200 OK\r\n" + heads[path[5:]])
                return
            elif path == "/reset":
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                return
            else:
                if path == "/hello":
                    data = b"Hello, world\n"
                elif path.startswith("/bytes/"):
                    data = body(int(path[7:]))
                else:
                    fp = os.path.join(root, path.lstrip("/"))
                    data = open(fp, "rb").read() if root and os.path.isfile(fp) and ".." not in path else None
                if data is None:
                    c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n")
                else:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
    except (OSError, ValueError, IndexError):
        pass
    finally:
        c.close()

ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0))
ls.listen(128)
print("listening on 127.0.0.1:%d" % ls.getsockname()[1], flush=True)
if sys.argv[1] == "blackhole":
    blackhole(ls)
root = sys.argv[2] if len(sys.argv) > 2 else None
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c, root), daemon=True).start()
EOF

# start_server NAME CMD...: run CMD in the background, wait for its
# "listening on 127.0.0.1:PORT" line, set $port.
start_server() {
    local name=$1
    shift
    "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids+=($!)
    for _ in $(seq 200); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$name.out")
        [[ -n $port ]] && return 0
        sleep 0.05
    done
    echo "could not start $name: $(cat "$tmp/$name.err")"
    exit 1
}

if [[ -x $httpd ]]; then
    start_server httpd "$httpd" --port 0 --root "$tmp/www" --quiet
    server="corio-httpd"
else
    start_server httpd "$py" "$tmp/helper.py" odd "$tmp/www"
    server="python stand-in"
fi
main=$port
start_server odd "$py" "$tmp/helper.py" odd "$tmp/www"
odd=$port
start_server blackhole "$py" "$tmp/helper.py" blackhole
hole=$port
# A port nobody listens on: bind one, note it, let it go.
refused=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "# server: $server on $main; odd $odd; blackhole $hole; refused $refused"

# ---------------------------------------------------------------- checks
good_urls=()
good_bytes=0
for i in "${!sizes[@]}"; do
    good_urls+=("http://127.0.0.1:$main/f$i.bin")
    good_bytes=$((good_bytes + sizes[i]))
done
good_urls+=("http://127.0.0.1:$main/hello" "http://127.0.0.1:$main/bytes/123457")
good_bytes=$((good_bytes + 13 + 123457))
printf '%s\n' "${good_urls[@]}" >"$tmp/good.urls"

# json_check FILE PYTHON_EXPR: load the JSON document in FILE as `d` and
# evaluate the assertion expression; prints the failing value otherwise.
json_check() {
    "$py" - "$1" "$2" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
runs = d["runs"]
r = runs[0]
res = {x["url"]: x for x in r["results"]}
ok = eval(sys.argv[2])
if not ok:
    print(json.dumps(d, indent=1)[:3000])
sys.exit(0 if ok else 1)
EOF
}

modes=(seq threads procs coro coro-curl)
mode_args() {
    case $1 in
    coro-curl) echo "--mode coro --coro-client curl" ;;
    *) echo "--mode $1" ;;
    esac
}

# 1. Every mode: all good URLs, exact byte counts, exit 0, JSON parses.
for m in "${modes[@]}"; do
    # shellcheck disable=SC2046
    "$dl" $(mode_args "$m") --json --concurrency 4 --urls "$tmp/good.urls" >"$tmp/$m.json" 2>"$tmp/$m.err"
    rc=$?
    if [[ $rc -ne 0 ]]; then
        bad "$m: exit $rc on good URLs: $(head -c 500 "$tmp/$m.json") $(head -c 500 "$tmp/$m.err")"
        continue
    fi
    if "$py" -c 'import json,sys; json.load(sys.stdin)' <"$tmp/$m.json"; then
        ok "$m: --json parses"
    else
        bad "$m: --json does not parse"
    fi
    expect="r['ok'] == ${#good_urls[@]} and r['bytes'] == $good_bytes"
    for i in "${!sizes[@]}"; do
        expect+=" and res['http://127.0.0.1:$main/f$i.bin']['bytes'] == ${sizes[$i]}"
    done
    expect+=" and res['http://127.0.0.1:$main/hello']['bytes'] == 13"
    if json_check "$tmp/$m.json" "$expect"; then
        ok "$m: ${#good_urls[@]} URLs, $good_bytes bytes exactly"
    else
        bad "$m: byte counts"
    fi
done

# 2. --out saves exactly the served bytes (threads and both coro clients).
for m in threads coro coro-curl seq procs; do
    rm -rf "$tmp/out"
    # shellcheck disable=SC2046
    if ! "$dl" $(mode_args "$m") --quiet --no-progress --out "$tmp/out" --urls "$tmp/good.urls" >"$tmp/out.log" 2>&1; then
        bad "$m --out: $(cat "$tmp/out.log")"
        continue
    fi
    same=1
    for i in "${!sizes[@]}"; do
        f=$(ls "$tmp/out/"*"-f$i.bin" 2>/dev/null | head -1)
        cmp -s "$f" "$tmp/www/f$i.bin" || { same=0; echo "# differs: f$i.bin ($f)"; }
    done
    ((same)) && ok "$m --out: files identical to the served ones" || bad "$m --out: files differ"
done

# 3. Failures are reported per URL; the rest go on; a dead server does not
#    stall the others (timeout 1 s honoured).
fail_urls=("http://127.0.0.1:$main/no/such/file" "http://127.0.0.1:$refused/x"
           "http://127.0.0.1:$hole/never" "http://127.0.0.1:$odd/reset")
printf '%s\n' "${fail_urls[@]}" "${good_urls[@]}" >"$tmp/mixed.urls"
for m in "${modes[@]}"; do
    start=$(date +%s.%N)
    # shellcheck disable=SC2046
    "$dl" $(mode_args "$m") --json --timeout 1 --concurrency 4 --urls "$tmp/mixed.urls" >"$tmp/mixed-$m.json" 2>"$tmp/mixed-$m.err"
    rc=$?
    secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
    [[ $rc -eq 1 ]] && ok "$m: exit 1 when some URLs fail" || bad "$m: exit $rc with failing URLs ($(cat "$tmp/mixed-$m.err"))"
    expect="r['ok'] == ${#good_urls[@]} and r['bytes'] == $good_bytes and r['failed'] == 4"
    expect+=" and not res['http://127.0.0.1:$main/no/such/file']['ok']"
    expect+=" and res['http://127.0.0.1:$main/no/such/file']['status'] == 404"
    expect+=" and '404' in res['http://127.0.0.1:$main/no/such/file']['error']"
    expect+=" and not res['http://127.0.0.1:$refused/x']['ok']"
    expect+=" and 'onnect' in res['http://127.0.0.1:$refused/x']['error']"
    expect+=" and not res['http://127.0.0.1:$hole/never']['ok']"
    expect+=" and 'time' in res['http://127.0.0.1:$hole/never']['error'].lower()"
    expect+=" and 900 <= res['http://127.0.0.1:$hole/never']['ms'] < 3000"
    expect+=" and not res['http://127.0.0.1:$odd/reset']['ok']"
    if json_check "$tmp/mixed-$m.json" "$expect"; then
        ok "$m: 404, refused, timeout and reset reported per URL; good URLs complete"
    else
        bad "$m: failure reporting"
    fi
    if awk -v s="$secs" 'BEGIN { exit !(s < 4) }'; then
        ok "$m: the dead URL did not stall the run (${secs}s)"
    else
        bad "$m: run took ${secs}s with a 1 s timeout"
    fi
done

# 4. The native client's other body framings: chunked (with extensions and
#    trailers) and close-delimited, plus keep-alive reuse across them.
odd_urls=("http://127.0.0.1:$odd/chunked/100000" "http://127.0.0.1:$odd/close/54321"
          "http://127.0.0.1:$odd/chunked/0" "http://127.0.0.1:$odd/bytes/7"
          "http://127.0.0.1:$odd/chunked/7001")
for m in coro coro-curl threads; do
    # shellcheck disable=SC2046
    "$dl" $(mode_args "$m") --json --concurrency 2 "${odd_urls[@]}" >"$tmp/odd-$m.json" 2>&1
    expect="r['ok'] == 5 and r['bytes'] == 100000 + 54321 + 0 + 7 + 7001"
    json_check "$tmp/odd-$m.json" "$expect" && ok "$m: chunked and close-delimited bodies" \
        || bad "$m: chunked/close bodies"
done
rm -rf "$tmp/out"
"$dl" --mode coro --quiet --no-progress --out "$tmp/out" "http://127.0.0.1:$odd/chunked/100000" >/dev/null 2>&1
"$py" -c "import sys; d=open(sys.argv[1],'rb').read(); sys.exit(d != bytes(97 + i % 26 for i in range(100000)))" \
    "$(ls "$tmp/out/"* | head -1)" && ok "coro: chunked body saved decoded" || bad "coro: chunked body saved wrong"

# 5. https:// goes to the native client (corio_http_client over TLS) and
#    fails cleanly per URL (no TLS server here: the plain-HTTP port answers
#    garbage to a ClientHello).
"$dl" --mode coro --json --timeout 2 "https://127.0.0.1:$main/hello" "http://127.0.0.1:$main/hello" \
    >"$tmp/https.json" 2>&1
rc=$?
expect="r['ok'] == 1 and not res['https://127.0.0.1:$main/hello']['ok'] and res['http://127.0.0.1:$main/hello']['ok']"
[[ $rc -eq 1 ]] && json_check "$tmp/https.json" "$expect" && ok "coro: https fails cleanly in the native client" \
    || bad "coro: https handling (exit $rc)"

# 5b. Malformed heads (libcurl 7.88 accepts them) fail in every mode: the
#     native client's parser and the libcurl modes' header check agree.
bad_urls=("http://127.0.0.1:$odd/bad/dupcl" "http://127.0.0.1:$odd/bad/clte"
          "http://127.0.0.1:$odd/bad/barecr" "http://127.0.0.1:$odd/bad/obsfold")
for m in "${modes[@]}"; do
    # shellcheck disable=SC2046
    "$dl" $(mode_args "$m") --json --timeout 5 "${bad_urls[@]}" >"$tmp/bad-$m.json" 2>&1
    rc=$?
    expect="r['ok'] == 0 and r['failed'] == 4"
    for u in "${bad_urls[@]}"; do
        expect+=" and 'alformed' in res['$u']['error']"
    done
    [[ $rc -eq 1 ]] && json_check "$tmp/bad-$m.json" "$expect" \
        && ok "$m: duplicate Content-Length, CL+TE, bare CR and obs-fold refused" \
        || bad "$m: malformed heads accepted (exit $rc): $(head -c 600 "$tmp/bad-$m.json")"
done

# 6. Plain output: one line per URL, a table; usage errors exit 2.
"$dl" --mode all --no-progress "${good_urls[@]:0:3}" >"$tmp/plain.txt" 2>&1
rc=$?
lines=$(grep -c '^http.* bytes  ' "$tmp/plain.txt")
if [[ $rc -eq 0 && $lines -eq 12 ]] && grep -q '^coro ' "$tmp/plain.txt" && grep -q 'vs seq' "$tmp/plain.txt"; then
    ok "--mode all: 4 x 3 per-URL lines and the table"
else
    bad "--mode all output (exit $rc, $lines lines): $(cat "$tmp/plain.txt")"
fi
"$dl" --mode bogus "http://127.0.0.1:$main/hello" >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "bad mode: exit 2" || bad "bad mode exit status"
"$dl" --mode coro >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "no URLs: exit 2" || bad "no URLs exit status"

# 7. Many URLs through a small window with keep-alive (coro, both clients).
for i in $(seq 1 300); do echo "http://127.0.0.1:$main/bytes/$((i * 10))"; done >"$tmp/many.urls"
for m in coro coro-curl; do
    # shellcheck disable=SC2046
    "$dl" $(mode_args "$m") --json --concurrency 8 --urls "$tmp/many.urls" >"$tmp/many-$m.json" 2>&1
    json_check "$tmp/many-$m.json" "r['ok'] == 300 and r['bytes'] == $((10 * 300 * 301 / 2))" \
        && ok "$m: 300 URLs through 8 slots" || bad "$m: 300 URLs"
done

# 8. libcurl is loaded only when needed (examples/downloads/curl_lazy.c):
#    with it missing, coro + native still serves http:// and https:// (the
#    https URL fails here, against a plain port, but not for want of
#    libcurl); a mode that needs it stops, exit 2.
export_missing=(env CORIO_DOWNLOADS_LIBCURL=libcurl-missing.so.9)
"${export_missing[@]}" "$dl" --mode coro --json "https://127.0.0.1:$main/hello" \
    "http://127.0.0.1:$main/hello" >"$tmp/nocurl.json" 2>"$tmp/nocurl.err"
rc=$?
expect="r['ok'] == 1 and res['http://127.0.0.1:$main/hello']['bytes'] == 13"
expect+=" and 'libcurl' not in res['https://127.0.0.1:$main/hello']['error']"
[[ $rc -eq 1 ]] && json_check "$tmp/nocurl.json" "$expect" \
    && ok "no libcurl: the native client serves http:// and https:// without it" \
    || bad "no libcurl, coro native (exit $rc): $(cat "$tmp/nocurl.err")"
"${export_missing[@]}" "$dl" --mode threads "http://127.0.0.1:$main/hello" >/dev/null 2>"$tmp/nocurl.err"
rc=$?
[[ $rc -eq 2 ]] && grep -q 'libcurl could not be loaded' "$tmp/nocurl.err" \
    && ok "no libcurl: threads mode stops with exit 2 and says why" \
    || bad "no libcurl, threads mode (exit $rc): $(cat "$tmp/nocurl.err")"

# 9. https:// with the native client against nginx with TLS: a throw-away
#    CA made here with openssl (no key kept), --cacert verifies, the system
#    store refuses, --insecure passes. Skipped without nginx or openssl.
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
if [[ -x $nginx_bin ]] && command -v openssl >/dev/null; then
    mkdir -p "$tmp/tls"
    # The tests' PKI: ca.pem and server.pem/.key (localhost, 127.0.0.1).
    bash "$(dirname "${BASH_SOURCE[0]}")/tls/make_certs.sh" "$tmp/tls" >/dev/null
    tport=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$tmp/tls/nginx.conf" <<NGINX
daemon off; master_process off; worker_processes 1;
error_log $tmp/tls/error.log; pid $tmp/tls/nginx.pid;
events { worker_connections 256; }
http { access_log off; client_body_temp_path $tmp/tls; proxy_temp_path $tmp/tls;
  fastcgi_temp_path $tmp/tls; uwsgi_temp_path $tmp/tls; scgi_temp_path $tmp/tls;
  server { listen 127.0.0.1:$tport ssl; root $tmp/www;
    ssl_certificate $tmp/tls/server.pem; ssl_certificate_key $tmp/tls/server.key; } }
NGINX
    "$nginx_bin" -p "$tmp/tls" -c "$tmp/tls/nginx.conf" >/dev/null 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do
        "$py" -c "import socket; socket.create_connection(('127.0.0.1', $tport), 1)" 2>/dev/null && break
        sleep 0.05
    done
    https_urls=()
    for i in "${!sizes[@]}"; do https_urls+=("https://127.0.0.1:$tport/f$i.bin"); done
    "$dl" --mode coro --json --cacert "$tmp/tls/ca.pem" "${https_urls[@]}" >"$tmp/https-ok.json" 2>&1
    rc=$?
    expect="r['ok'] == ${#sizes[@]} and r['client'] == 'native'"
    for i in "${!sizes[@]}"; do
        expect+=" and res['https://127.0.0.1:$tport/f$i.bin']['bytes'] == ${sizes[$i]}"
    done
    [[ $rc -eq 0 ]] && json_check "$tmp/https-ok.json" "$expect" \
        && ok "https: native client with --cacert, every byte" \
        || bad "https --cacert (exit $rc): $(head -c 600 "$tmp/https-ok.json")"
    rm -rf "$tmp/out"
    "$dl" --mode coro --quiet --no-progress --cacert "$tmp/tls/ca.pem" --out "$tmp/out" \
        "${https_urls[@]}" >/dev/null 2>&1
    same=1
    for i in "${!sizes[@]}"; do
        f=$(ls "$tmp/out/"*"-f$i.bin" 2>/dev/null | head -1)
        cmp -s "$f" "$tmp/www/f$i.bin" || same=0
    done
    ((same)) && ok "https --out: files identical to the served ones" || bad "https --out: files differ"
    "$dl" --mode coro --json "https://127.0.0.1:$tport/f0.bin" >"$tmp/https-verify.json" 2>&1
    rc=$?
    [[ $rc -eq 1 ]] && json_check "$tmp/https-verify.json" \
        "r['ok'] == 0 and 'verif' in res['https://127.0.0.1:$tport/f0.bin']['error']" \
        && ok "https: an unknown CA fails verification" \
        || bad "https without --cacert (exit $rc): $(head -c 600 "$tmp/https-verify.json")"
    "$dl" --mode coro --json --insecure "https://127.0.0.1:$tport/f0.bin" >"$tmp/https-insecure.json" 2>&1
    rc=$?
    [[ $rc -eq 0 ]] && json_check "$tmp/https-insecure.json" "r['ok'] == 1" \
        && ok "https: --insecure skips verification" || bad "https --insecure (exit $rc)"
    "$dl" --mode coro --cacert "$tmp/no-such.pem" "https://127.0.0.1:$tport/f0.bin" >/dev/null 2>&1
    [[ $? -eq 2 ]] && ok "https: unreadable --cacert: exit 2" || bad "bad --cacert exit status"
else
    echo "# skipped https: no nginx or openssl"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
