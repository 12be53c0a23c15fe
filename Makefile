# The README's two commands: `make serve` and `make test`. Each sets up what it needs first.
.PHONY: setup build serve test bench bench-engine bench-e2e bench-load bench-quality clean

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

# A folder with img/*.jpg and gt/*.png (true alpha): make bench-quality DIR=/path/to/set
bench-quality: setup
	bench/quality.sh $(DIR)

clean:
	rm -rf build
