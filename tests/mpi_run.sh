#!/usr/bin/env bash
# Run one case of tests/test_mpi.c under mpiexec, bounded in time.
#
#   mpi_run.sh EXE CASE NP EXPECT [MPIEXEC_OPTION...]
#
# EXPECT: ok      exit status 0
#         spawn   exit status 0 and SPAWN-OK printed
#         broken  rank 0 printed BROKEN-SEEN (its futures failed with
#                 CORIO_EBROKEN_MPI naming the rank); any exit status but
#                 the timeout's, since mpiexec ends a job whose rank exits
#                 without MPI_Finalize
#         dies    a non-zero exit status that is not the timeout's, and
#                 mpiexec's report of the killed process
# Skips (77) without mpiexec, or when the test is a sanitizer build.
set -u
exe=$1 case=$2 np=$3 expect=$4
shift 4
command -v mpiexec >/dev/null 2>&1 || { echo "no mpiexec: skipped"; exit 77; }
# The test program answers --probe without MPI: 77 in a sanitizer build.
# (The examples have no --probe; meson does not define them there.)
if [ -z "${MPI_RUN_NO_PROBE:-}" ]; then
    "$exe" --probe
    [ $? -eq 77 ] && { echo "sanitizer build: MPI suite skipped"; exit 77; }
fi
# Open MPI refuses root without these; a 2-core machine needs --oversubscribe.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$(date +%s%N)
limit=${MPI_TEST_TIMEOUT:-60}
timeout -k 5 "$limit" mpiexec -n "$np" --oversubscribe "$@" "$exe" ${case:+"$case"} >"$out" 2>&1
rc=$?
end=$(date +%s%N)
cat "$out"
ms=$(( (end - start) / 1000000 ))
echo "mpiexec exit status $rc after $ms ms"
# 124: timeout ended mpiexec; 137 is also mpiexec's own status for a rank
# killed by SIGKILL, so it counts as a timeout only when the limit passed.
if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ "$ms" -ge $(( limit * 1000 )) ]; }; then
    echo "FAIL: timed out"
    exit 1
fi
case $expect in
    ok) [ "$rc" -eq 0 ] ;;
    spawn) [ "$rc" -eq 0 ] && grep -q SPAWN-OK "$out" ;;
    broken) grep -q BROKEN-SEEN "$out" ;;
    dies) [ "$rc" -ne 0 ] && grep -qi "signal 9\|killed" "$out" ;;
    *) echo "unknown expectation $expect"; exit 2 ;;
esac
