# The README's two commands: `make serve` and `make test`. Each sets up what it needs first.
.PHONY: setup build serve test bench bench-engine bench-e2e bench-load bench-quality bench-soak clean \
	install deb test-deb

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

# A folder with img/*.jpg and gt/*.png (true alpha): make bench-quality DIR=/path/to/set
bench-quality: setup
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

clean:
	rm -rf build
