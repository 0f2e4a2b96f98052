#!/usr/bin/env bash
# How other projects consume corio, tried from scratch on this source tree:
#
#   tests/packaging/consumers.sh SOURCE_ROOT
#
#  1. Meson superproject: a three-file project with corio under
#     subprojects/, configured where libcheck cannot be found (pkg-config
#     sees only the library's own dependencies). Only the library's targets
#     may be built, only the library, headers and corio.pc installed, and
#     the program (a coroutine awaiting a thread-pool job) must run.
#  2. Static library: corio built with -Ddefault_library=static and
#     installed into a prefix; a program linked with
#     `pkg-config --static --cflags --libs corio` must run.
#  3. CMake: find_package(corio) on the same prefix, three lines of
#     CMakeLists.txt, built and run (skipped when cmake is not installed).
# Every build is in a temporary directory, removed at the end. Exit 77 when
# meson or a compiler is missing.
set -euo pipefail
src=$(cd "$1" && pwd)
command -v meson >/dev/null && command -v ninja >/dev/null && command -v cc >/dev/null || exit 77
tmp=$(mktemp -d /tmp/corio-consumers.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
jobs=-j2
hello=$src/tests/packaging/hello.c

step() { printf '\n== %s\n' "$*"; }

# ---- 1. superproject ----
step "superproject, libcheck hidden"
sp=$tmp/super
mkdir -p "$sp/subprojects"
ln -s "$src" "$sp/subprojects/corio"
cp "$hello" "$sp/hello.c"
cat > "$sp/meson.build" <<'MB'
project('consumer', 'c', default_options : ['c_std=c11'])
corio_dep = dependency('corio', fallback : ['corio', 'corio_dep'])
executable('hello', 'hello.c', dependencies : corio_dep, install : true)
MB
# A pkg-config directory holding only what the library needs: check (and
# libcurl, libuv, Boost) are invisible.
pcdir=$tmp/pc
mkdir -p "$pcdir"
for m in liburing libcares openssl libssl libcrypto; do
    f=$(pkg-config --variable=pcfiledir "$m")/$m.pc
    cp "$f" "$pcdir/"
done
PKG_CONFIG_LIBDIR=$pcdir pkg-config --exists check && { echo "check still visible"; exit 1; }
PKG_CONFIG_LIBDIR=$pcdir meson setup "$sp/build" "$sp" --prefix=/usr/local >"$tmp/sp-setup.log" 2>&1 ||
    { cat "$tmp/sp-setup.log"; exit 1; }
ninja -C "$sp/build" $jobs >"$tmp/sp-build.log" 2>&1 || { tail -30 "$tmp/sp-build.log"; exit 1; }
# What was built: the library (shared and static objects), the program,
# the man pages are off in a subproject. No test, bench or example binary.
extra=$(ninja -C "$sp/build" -t targets all | grep -E '^subprojects/corio/(tests|examples|docs)/' | grep -v '\.p/' || true)
[[ -z $extra ]] || { echo "a subproject built more than the library:"; echo "$extra" | head; exit 1; }
"$sp/build/hello"
DESTDIR=$tmp/sp-dest meson install -C "$sp/build" --quiet >/dev/null
installed=$(cd "$tmp/sp-dest" && find . -type f -o -type l | sort)
bad=$(grep -vE '^\./usr/local/(bin/hello|include/corio\.h|include/corio/[a-z_]+\.h|lib/[^/]*/?libcorio\.(so[.0-9]*|a)|lib/[^/]*/?pkgconfig/corio\.pc|lib/[^/]*/?cmake/corio/corio-config(-version)?\.cmake)$' <<<"$installed" || true)
[[ -z $bad ]] || { echo "a subproject installed more than the library:"; echo "$bad"; exit 1; }
echo "superproject: built and installed only the library; program ran"

# The README's own words: its first C program built with its pkg-config
# command line, verbatim, against that install (a non-system prefix: the
# README's PKG_CONFIG_PATH and LD_LIBRARY_PATH advice, with pkg-config's
# sysroot standing for the DESTDIR).
step "README: cc app.c \$(pkg-config --cflags --libs corio)"
readme_cmd=$(awk '/^## Using corio in your project/{f=1} f && /^```sh/{getline; print; exit}' "$src/README.md")
[[ $readme_cmd == 'cc app.c $(pkg-config --cflags --libs corio)' ]] ||
    { echo "README's pkg-config line changed: '$readme_cmd'"; exit 1; }
awk '/^```c$/{f=1; next} f && /^```$/{exit} f' "$src/README.md" > "$tmp/app.c"
sp_lib=$(dirname "$(find "$tmp/sp-dest" -name 'libcorio.so' | head -1)")
(
    cd "$tmp"
    export PKG_CONFIG_SYSROOT_DIR=$tmp/sp-dest
    export PKG_CONFIG_PATH=$(dirname "$(find "$tmp/sp-dest" -name corio.pc | head -1)")
    eval "$readme_cmd"
    LD_LIBRARY_PATH=$sp_lib ./a.out > "$tmp/app.out"
)
[[ -s $tmp/app.out ]] || { echo "README's program printed nothing"; exit 1; }
echo "README: its program built with its command and ran ($(head -1 "$tmp/app.out"))"

# ---- 2. static library through pkg-config ----
step "static library, pkg-config --static"
prefix=$tmp/prefix
meson setup "$tmp/static" "$src" --prefix="$prefix" -Ddefault_library=static -Dtests=disabled \
    -Dbenchmarks=disabled -Dexamples=disabled -Ddocs=disabled >"$tmp/st-setup.log" 2>&1 ||
    { cat "$tmp/st-setup.log"; exit 1; }
ninja -C "$tmp/static" $jobs >"$tmp/st-build.log" 2>&1 || { tail -30 "$tmp/st-build.log"; exit 1; }
meson install -C "$tmp/static" --quiet >/dev/null
pc=$(dirname "$(find "$prefix" -name corio.pc | head -1)")
[[ -n $pc && -z $(find "$prefix" -name 'libcorio.so*') ]] || { echo "static install has a .so"; exit 1; }
export PKG_CONFIG_PATH=$pc
# shellcheck disable=SC2046
# Strict C11 plus POSIX.1-2008 (what the headers require: sigset_t,
# pid_t, ssize_t...), every warning an error: the installed headers must
# stand on their own, with no _GNU_SOURCE from the consumer.
posix=(-std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Werror)
cc "${posix[@]}" -o "$tmp/hello-static" "$hello" \
    $(pkg-config --static --cflags --libs corio)
if ldd "$tmp/hello-static" | grep -q libcorio; then
    echo "linked libcorio dynamically"; exit 1
fi
"$tmp/hello-static"
# Each installed header on its own, same flags: self-contained.
for h in "$prefix"/include/corio.h "$prefix"/include/corio/*.h; do
    inc=${h#"$prefix"/include/}
    printf '#include <%s>\nint main(void) { return 0; }\n' "$inc" |
        cc "${posix[@]}" -fsyntax-only -I"$prefix/include" -x c - ||
        { echo "header $inc does not compile on its own"; exit 1; }
done
echo "static: linked with pkg-config --static; program ran"

# ---- 3. CMake ----
step "CMake find_package(corio)"
if ! command -v cmake >/dev/null; then
    echo "cmake not installed: skipped"
    exit 0
fi
cm=$tmp/cmake
mkdir -p "$cm"
cp "$hello" "$cm/hello.c"
cat > "$cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(corio 0.1 REQUIRED)
add_executable(hello hello.c)
target_link_libraries(hello corio::corio)
CM
cmake -S "$cm" -B "$cm/build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cm.log" 2>&1 || { cat "$tmp/cm.log"; exit 1; }
cmake --build "$cm/build" >>"$tmp/cm.log" 2>&1 || { tail -30 "$tmp/cm.log"; exit 1; }
"$cm/build/hello"
echo "cmake: find_package(corio) built and ran"
