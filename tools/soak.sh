#!/usr/bin/env bash
# Soak test: corio-httpd under wrk with 1000 keep-alive connections for a set
# time, sampling the server's RSS and open descriptors every few seconds.
#
#   tools/soak.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
#   (make soak; SOAK_SECONDS=300 and SOAK_CONNS=1000 by default)
#
# Passes when, after the warm-up (the first fifth of the run, at least 10 s),
# the RSS grows by no more than max(8 MiB, 5%) and the descriptor count stays
# within 16 of its warm-up value, and when every response was correct: wrk's
# Lua hook checks each status and body ("Hello, world!"), and wrk must report
# no non-2xx responses and no connect/read/write errors. Prints every sample
# and a summary; exits non-zero on failure. Kills the server on exit.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
secs=${2:-${SOAK_SECONDS:-300}}
conns=${3:-${SOAK_CONNS:-1000}}
interval=${SOAK_INTERVAL:-5}
httpd=$build/examples/corio-httpd

"$top/tools/deps.sh" wrk
[[ -x $httpd ]] || { echo "soak: no $httpd (build first)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

tmp=$(mktemp -d /tmp/corio-soak.XXXXXX)
server=
cleanup() {
    [[ -n $server ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$httpd" --port 0 --loops 1 --quiet >"$tmp/httpd.out" 2>"$tmp/httpd.err" &
server=$!
port=
for _ in $(seq 200); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/httpd.out")
    [[ -n $port ]] && break
    sleep 0.05
done
[[ -n $port ]] || { echo "soak: corio-httpd did not start" >&2; cat "$tmp/httpd.err" >&2; exit 1; }

cat >"$tmp/check.lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or body ~= "Hello, world!" then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("bad responses: %d\n", total))
end
LUA

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
nfds() { find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l; }

echo "soak: corio-httpd (pid $server, 1 loop) on 127.0.0.1:$port, wrk -t1 -c$conns for ${secs}s"
echo "machine: $(uname -m), $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s -s "$tmp/check.lua" "http://127.0.0.1:$port/hello" \
    >"$tmp/wrk.out" 2>&1 &
wrk_pid=$!

warm=$((secs / 5 > 10 ? secs / 5 : 10))
t=0
samples=()
printf '%6s %10s %6s\n' "t(s)" "RSS(KiB)" "fds"
while kill -0 "$wrk_pid" 2>/dev/null; do
    sleep "$interval"
    t=$((t + interval))
    kill -0 "$server" 2>/dev/null || { echo "soak: server died" >&2; exit 1; }
    # Only samples taken under load count: once wrk is gone its connections are.
    kill -0 "$wrk_pid" 2>/dev/null || break
    r=$(rss_kib)
    f=$(nfds)
    printf '%6d %10d %6d\n' "$t" "$r" "$f"
    samples+=("$t $r $f")
done
wait "$wrk_pid" || { echo "soak: wrk failed" >&2; cat "$tmp/wrk.out" >&2; exit 1; }
cat "$tmp/wrk.out"

# Reference: the first sample at or after the warm-up.
ref_rss='' ref_fds='' max_rss=0 min_fds=1000000000 max_fds=0
for s in "${samples[@]}"; do
    read -r st sr sf <<<"$s"
    ((st < warm)) && continue
    if [[ -z $ref_rss ]]; then ref_rss=$sr ref_fds=$sf; fi
    ((sr > max_rss)) && max_rss=$sr
    ((sf > max_fds)) && max_fds=$sf
    ((sf < min_fds)) && min_fds=$sf
done
[[ -n $ref_rss ]] || { echo "soak: run too short for a warm-up (${secs}s)" >&2; exit 1; }

requests=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
bad=$(awk '/^bad responses:/ {print $3}' "$tmp/wrk.out")
non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$tmp/wrk.out")
sockerr=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8}' "$tmp/wrk.out")
timeouts=$(awk '/Socket errors:/ {print $NF}' "$tmp/wrk.out")
growth=$((max_rss - ref_rss))
allowed=$((ref_rss / 20 > 8192 ? ref_rss / 20 : 8192))
fd_drift=$((max_fds - ref_fds > ref_fds - min_fds ? max_fds - ref_fds : ref_fds - min_fds))

echo "summary: ${secs}s, ${requests:-0} requests, bad responses ${bad:-?}, non-2xx ${non2xx:-0}," \
     "socket errors ${sockerr:-0} (timeouts ${timeouts:-0})"
echo "summary: RSS after warm-up ${ref_rss} KiB, max ${max_rss} KiB (growth ${growth} KiB, allowed ${allowed} KiB)"
echo "summary: fds after warm-up ${ref_fds}, range ${min_fds}..${max_fds} (drift ${fd_drift}, allowed 16)"
ok=1
[[ ${bad:-1} -eq 0 ]] || ok=0
[[ ${non2xx:-0} -eq 0 ]] || ok=0
[[ ${sockerr:-0} -eq 0 ]] || ok=0
((growth <= allowed)) || ok=0
((fd_drift <= 16)) || ok=0
if ((ok)); then echo "soak: PASS"; else echo "soak: FAIL"; exit 1; fi
