#!/usr/bin/env bash
# Build and run the context-switch test (tests/arch/test_ctx.c) against
# each implementation in runtime/arch/: natively for the host's CPU, and
# for the other CPU with a cross compiler (static) under qemu-user. The
# test needs only ctx.h and one implementation, nothing else of corio, so
# it is how the AArch64 switch gets executed on an x86-64 machine.
#
#   tools/test-arch.sh [ARCH...]    ARCH: x86_64, aarch64 (default: both)
#
# For each architecture: its assembly file, then portable.c (the ucontext
# fallback, forced with -DCORIO_CTX_PORTABLE), each built at -O2 and -O0
# (the test's inline assembly must hold with either code generation).
# Installs the cross compiler and qemu through tools/deps.sh when missing
# (as root; otherwise deps.sh prints the apt-get command). Builds into
# build-arch/. Prints one PASS or FAIL line per architecture and
# implementation and exits non-zero if any failed. Not part of
# `make test`, whose dependencies stay those of the library.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

out=build-arch
cflags=(-std=c11 -Wall -Wextra -Werror -Iruntime)
opts=(-O2 -O0)
timeout_s=${TEST_ARCH_TIMEOUT:-300}
host=$(uname -m)
archs=("$@")
((${#archs[@]})) || archs=(x86_64 aarch64)

# Per architecture: the assembly file and the Debian packages to build
# and run it from another CPU. The cross gcc only recommends the C
# library headers, and deps.sh does not install recommends: name them.
asm_of() {
    case $1 in
        x86_64) echo runtime/arch/x86_64_sysv.S ;;
        aarch64) echo runtime/arch/aarch64_aapcs.S ;;
    esac
}
cross_packages_of() {
    case $1 in
        x86_64) echo gcc-x86-64-linux-gnu libc6-dev-amd64-cross qemu-user ;;
        aarch64) echo gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user ;;
    esac
}

for arch in "${archs[@]}"; do
    if [[ -z $(asm_of "$arch") ]]; then
        echo "test-arch.sh: unknown architecture '$arch' (x86_64, aarch64)" >&2
        exit 2
    fi
done

# Everything missing in one apt run.
packages=()
for arch in "${archs[@]}"; do
    # shellcheck disable=SC2207 # space-separated package names
    [[ $arch == "$host" ]] || packages+=($(cross_packages_of "$arch"))
done
tools/deps.sh "${packages[@]}" || exit 1

# Why a run failed, from its exit status.
why_of() {
    case $1 in
        124) echo "timed out after ${timeout_s} s" ;;
        1) echo "a check failed" ;;
        *) if (($1 > 128)); then
               echo "killed by signal $(($1 - 128)) ($(kill -l $(($1 - 128))))"
           else
               echo "exit status $1"
           fi ;;
    esac
}

mkdir -p "$out"
failed=0
for arch in "${archs[@]}"; do
    if [[ $arch == "$host" ]]; then
        cc=(gcc)
        run=()
        how="gcc, native"
    else
        cc=("$arch-linux-gnu-gcc" -static)
        qemu=$(command -v "qemu-$arch" || command -v "qemu-$arch-static" || true)
        if [[ -z $qemu ]]; then
            echo "FAIL $arch: neither qemu-$arch nor qemu-$arch-static found"
            failed=1
            continue
        fi
        run=("$qemu")
        how="${cc[*]}, $(basename "$qemu")"
    fi
    for src in "$(asm_of "$arch")" runtime/arch/portable.c; do
        defs=()
        [[ $src == *portable.c ]] && defs=(-DCORIO_CTX_PORTABLE)
        name=$(basename "$src"); name=${name%.*}
        result=PASS
        for opt in "${opts[@]}"; do
            exe=$out/test_ctx-$arch-$name$opt
            echo "===== $arch: $src $opt ($how) ====="
            if ! "${cc[@]}" "${cflags[@]}" "$opt" "${defs[@]}" -o "$exe" \
                    tests/arch/test_ctx.c "$src" -lm; then
                result="FAIL $arch ($src): build failed at $opt"
                break
            fi
            timeout "$timeout_s" "${run[@]}" "$exe" 2>&1 | tee "$exe.log"
            rc=${PIPESTATUS[0]}
            if ((rc != 0)); then
                result="FAIL $arch ($src): $(why_of "$rc") at $opt; output in $exe.log"
                break
            fi
        done
        if [[ $result == PASS ]]; then
            echo "PASS $arch ($src; ${opts[*]})"
        else
            echo "$result"
            failed=1
        fi
    done
done
exit "$failed"
