# corio — convenience targets around meson. The build itself is meson's;
# this file only checks dependencies, configures, builds and runs.
#
#   make demo            build and run the examples and the downloads demo
#   make test            test suite in the plain, asan+ubsan and tsan builds,
#                        and the core suite under valgrind memcheck,
#                        and the fault-injection suite
#   make test-plain      ... one configuration only (also test-asan, test-tsan)
#   make test-faults     allocation-failure sweeps (fault injection, asan+ubsan)
#   make test-valgrind   the core suite under valgrind (plain build)
#   make test-arch       the context switch alone, x86-64 and AArch64 (qemu)
#   make bench           build and run the benchmarks
#   make fuzz            each libFuzzer target for FUZZ_SECONDS (120)
#   make soak            corio-httpd under wrk for SOAK_SECONDS (300), RSS/fds checked
#   make install         meson install (PREFIX=/usr/local, DESTDIR honoured)
#   make clean           remove every build directory
#
# Each target first runs tools/deps.sh, which installs missing Debian
# packages (as root) or prints the command to install them.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
# Configurations build one after another: ninja already uses every core,
# and interleaved logs would be unreadable.
.NOTPARALLEL:

MESON ?= meson
NINJA ?= ninja
PREFIX ?= /usr/local
# The code is meant to be warning-free: warnings fail every build.
MESON_SETUP_OPTS ?= -Dwerror=true --prefix=$(PREFIX)

DEPS := tools/deps.sh
BENCH_PACKAGES := libuv1-dev libboost-context-dev libboost-fiber-dev g++ dnsmasq-base wrk aria2 nginx-light
# libFuzzer needs clang and its runtime (libclang_rt.fuzzer).
FUZZ_PACKAGES := clang libclang-rt-14-dev
FUZZ_TESTS := fuzz_http_parser fuzz_http_response fuzz_wire
FUZZ_SECONDS ?= 120
# corio-downloads (an example, its tests and the demo) needs libcurl; the
# build skips it when libcurl is missing, so every target that runs it
# installs it first.
DOWNLOADS_PACKAGES := libcurl4-openssl-dev
# The net suite builds a veth in a network namespace with ip(8) when root;
# the resolve suites run against a dnsmasq they start (skipped without it);
# the TLS and HTTP suites start openssl, curl and nginx; the packaging
# suite builds a CMake consumer.
NET_TEST_PACKAGES := iproute2 dnsmasq-base openssl curl nginx-light cmake
# The MPI executor (corio/mpi.h) is built when Open MPI is found; its suite
# runs under mpiexec, and the benchmark compares with mpi4py.futures.
MPI_PACKAGES := libopenmpi-dev openmpi-bin python3-mpi4py
# The coroutine dump walks suspended stacks with libunwind when it is found
# (else by frame pointers, which stop at the first frame built without).
UNWIND_PACKAGES := libunwind-dev

# Sanitizer runtime settings (kept when already set in the environment):
# stop at the first report so the test that caused it fails.
ASAN_OPTIONS ?= abort_on_error=1:halt_on_error=1:detect_leaks=1:print_summary=1
UBSAN_OPTIONS ?= halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1
TSAN_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tools/tsan.supp
export ASAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS

ASAN_SETUP := -Db_sanitize=address,undefined -Db_lundef=false
TSAN_SETUP := -Db_sanitize=thread
# Fault injection: the library built with its failure hooks, under ASan so
# that a leak on an error path fails the sweep.
FAULTS_SETUP := -Dfault_injection=true $(ASAN_SETUP)
# Valgrind runs the core suite on the plain build; Check's own per-test
# timeouts and meson's are stretched for it. Valgrind runs one thread at a
# time; --fair-sched=yes hands the turn round in order, so a thread that
# never blocks (test_create_with_running_threads' busy thread) cannot keep
# it from the pool's threads (with the default lock it did, for 20 minutes).
VALGRIND_SUITE ?= core
VALGRIND_TEST := --suite $(VALGRIND_SUITE) --timeout-multiplier 10 \
	--wrap='env CK_TIMEOUT_MULTIPLIER=10 valgrind -q --fair-sched=yes --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite'

# $(call configure,BUILD_DIR,EXTRA_SETUP_OPTIONS): set up the directory, or
# reconfigure it when it already holds a configuration (wiping it if meson
# cannot reuse it, e.g. after a meson upgrade).
configure = if [ -f $(1)/meson-private/coredata.dat ]; then \
	  $(MESON) setup --reconfigure $(1) $(MESON_SETUP_OPTS) $(2) \
	  || $(MESON) setup --wipe $(1) $(MESON_SETUP_OPTS) $(2); \
	else $(MESON) setup $(1) $(MESON_SETUP_OPTS) $(2); fi

# $(call suite,LABEL,BUILD_DIR,EXTRA_SETUP_OPTIONS,MESON_TEST_OPTIONS,EXTRA_PACKAGES):
# one test configuration, from dependency check to meson's summary. Adding a
# configuration is one line below.
suite = echo "===== [$(1)] configure and build ($(2)) =====" \
	&& $(DEPS) $(DOWNLOADS_PACKAGES) $(NET_TEST_PACKAGES) $(MPI_PACKAGES) $(UNWIND_PACKAGES) $(5) && $(call configure,$(2),$(3)) && $(NINJA) -C $(2) \
	&& echo "===== [$(1)] meson test ($(2)) =====" \
	&& $(MESON) test -C $(2) --print-errorlogs $(4)

.PHONY: all build deps test test-plain test-asan test-tsan test-faults test-fuzz test-valgrind test-arch demo bench soak fuzz install clean

all: build

deps:
	@$(DEPS)

build:
	@$(DEPS) $(UNWIND_PACKAGES) && $(call configure,build,) && $(NINJA) -C build

# Every configuration runs even when an earlier one fails (-k); the exit
# status is non-zero if any failed. Each prints its own meson summary;
# .ci/run adds them up.
test:
	@$(MAKE) --no-print-directory -k test-plain test-asan test-tsan test-faults test-fuzz test-valgrind

test-plain: ; @$(call suite,plain,build,,,)
# The model suite (tests/model) does not depend on the build: run it once.
test-asan: ; @$(call suite,asan+ubsan,build-asan,$(ASAN_SETUP),--no-suite model,)
test-tsan: ; @$(call suite,tsan,build-tsan,$(TSAN_SETUP),--no-suite model,)
test-faults: ; @$(call suite,faults,build-faults,$(FAULTS_SETUP),--suite faults,)
test-valgrind: ; @$(call suite,valgrind,build,,$(VALGRIND_TEST),valgrind)
# The libFuzzer targets (clang), each run briefly from its seed corpus.
# The context switch alone (tests/arch/test_ctx.c) against each runtime/arch
# implementation: natively, and for AArch64 cross-compiled and run under
# qemu-user (tools/test-arch.sh installs gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross and qemu-user through deps.sh). Opt-in: not part of
# `make test`.
test-arch:
	@tools/test-arch.sh

test-fuzz: export CC = clang
test-fuzz: ; @$(call suite,fuzz,build-fuzz,,$(FUZZ_TESTS),$(FUZZ_PACKAGES))

# The examples, then tools/demo.sh: corio-httpd serving generated files,
# corio-downloads fetching them in every mode, the table and a chart (the
# script installs gnuplot-nox when missing).
demo:
	@$(DEPS) $(DOWNLOADS_PACKAGES) && $(call configure,build,) && $(NINJA) -C build
	@tools/run_each.sh build/examples ex_
	@tools/demo.sh build

# corio-httpd under wrk with 1000 connections for SOAK_SECONDS (default 300),
# RSS and descriptors sampled; fails on drift or on any wrong response.
SOAK_SECONDS ?= 300
soak: build
	@tools/soak.sh build $(SOAK_SECONDS)

# Each libFuzzer target for FUZZ_SECONDS (default 120) on a scratch copy of
# its seed corpus; crashes are left as crash-* files in build-fuzz/.
fuzz: export CC = clang
fuzz:
	@$(DEPS) $(FUZZ_PACKAGES) && $(call configure,build-fuzz,) && $(NINJA) -C build-fuzz
	@for t in http_parser:fuzz_http_parser http_response:fuzz_http_response wire:fuzz_wire; do \
	  corpus=$${t%%:*}; exe=$${t##*:}; dir=$$(mktemp -d); \
	  cp tests/fuzz/corpus/$$corpus/* "$$dir"/; \
	  echo "===== $$exe for $(FUZZ_SECONDS) s ====="; \
	  build-fuzz/tests/fuzz/$$exe -max_total_time=$(FUZZ_SECONDS) \
	    -artifact_prefix=build-fuzz/ "$$dir" 2>&1 | grep -E '^(#[0-9]+.*(INITED|DONE)|Done|stat::|==)' ; \
	  rc=$${PIPESTATUS[0]}; rm -rf "$$dir"; [ "$$rc" -eq 0 ] || exit "$$rc"; \
	done


bench:
	@$(DEPS) $(BENCH_PACKAGES) $(MPI_PACKAGES) $(UNWIND_PACKAGES) && $(call configure,build,-Dbenchmarks=enabled) && $(NINJA) -C build
	@tools/run_each.sh build/tests/bench bench_

install: build
	$(MESON) install -C build

clean:
	rm -rf build build-asan build-tsan build-faults build-fuzz build-arch ci.log
