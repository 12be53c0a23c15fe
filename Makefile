# The README's two commands: `make serve` and `make test`. Each sets up what it needs first.
.PHONY: setup build serve test bench bench-engine bench-e2e bench-load bench-quality bench-soak clean \
	install deb test-deb test-sanitize test-tsan

setup:
	scripts/setup

build:
	scripts/setup --no-model

# `serve`: the web pages and the HTTP API on SQLite and a local data folder (scripts/serve).
serve: setup
	scripts/serve

test: setup
	ctest --test-dir build --output-on-failure -j2

bench: bench-engine bench-e2e bench-load

bench-engine: setup
	bench/engine.sh

bench-e2e: setup
	bench/e2e.sh

bench-load: setup
	node bench/load.mjs

# Valid and hostile traffic together for SOAK_MINUTES (default 10); RSS and fds must stay flat.
bench-soak: setup
	node bench/soak.mjs

# The composite set built from Debian packages, and optionally a folder of real photos with
# hand-made mattes (img/*.jpg, gt/*.png): make bench-quality [DIR=/path/to/set]
bench-quality: setup
	scripts/setup --bench-quality
	bench/quality.sh $(DIR)

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the binary, web pages, docs, man page, systemd unit
# and its settings file (docs/deploy.md).
PREFIX ?= /usr/local
install: build
	DESTDIR="$(DESTDIR)" cmake --install build --prefix "$(PREFIX)"

# `make deb`: build/packages/bgerase_VERSION_amd64.deb (CPack; Depends from dpkg-shlibdeps).
deb: build
	cpack --config build/CPackConfig.cmake

# `make test-deb` (as root): installs the .deb, serves a cutout as the bgerase user, purges it.
test-deb: build
	BGERASE_TEST_DEB=1 ctest --test-dir build -L packaging --output-on-failure

# `make test-sanitize`: the whole suite built with AddressSanitizer + UndefinedBehaviorSanitizer
# (g++, build-asan/, -O1) and run; every test, and every `bgerase` a test starts, through
# tests/sanitizers/run-checked, which fails the test on any report (docs/security.md, Sanitizers).
# Not run here: packaging_deb packages and installs the build system-wide (opt-in, make test-deb;
# an instrumented .deb is nothing we ship) and packaging_syscalls checks the unit's system call
# filter under strace: the sanitizer runtime makes calls of its own (its shadow memory, LSan's
# thread suspension), and LeakSanitizer refuses to run under ptrace. Nor the reruns with oneDNN
# capped at AVX2/SSE4.1 (*_avx2, *_sse41): they run oneDNN's other kernels, which are not
# instrumented, through the same code of ours, and would add a third to the run (CI's budget).
SANITIZE_SKIP = ^packaging_(deb|syscalls)$$|_avx2$$|_sse41$$
test-sanitize: setup
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBGERASE_SANITIZE=address,undefined >/dev/null
	cmake --build build-asan -j"$$(nproc)"
	ctest --test-dir build-asan --output-on-failure -j2 -E '$(SANITIZE_SKIP)'

# `make test-tsan`: ThreadSanitizer (g++, build-tsan/) on the store tests and the API tests, which
# start the server with its inference queue, job runner and reaper (in process and as `bgerase
# serve`); only those folders are built (BGERASE_TEST_DIRS).
test-tsan: setup
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBGERASE_SANITIZE=thread \
	  -DBGERASE_TEST_DIRS="store;api;sanitizers" >/dev/null
	cmake --build build-tsan -j"$$(nproc)"
	ctest --test-dir build-tsan --output-on-failure -j2

clean:
	rm -rf build build-asan build-tsan
