# Two commands do everything: `make demo` (the main job, end to end) and
# `make test` (the whole suite). Both install what they need first.

CARGO ?= cargo
GOR := target/release/gor

.PHONY: all build setup demo test lint bench clean

all: build

setup:
	@bash scripts/setup.sh

build: setup
	$(CARGO) build --release

demo: build
	@bash scripts/demo.sh

# Release mode: capture tests push real traffic and must not lose it to an
# unoptimised build.
test: setup
	$(CARGO) test --release

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

bench: build
	@bash bench/run.sh

clean:
	$(CARGO) clean
