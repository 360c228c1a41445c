# Two commands do everything: `make demo` (the main job, end to end) and
# `make test` (the whole suite). Both install what they need first.
# `make lint` checks formatting and clippy (CI runs it before the tests).

CARGO ?= cargo
GOR := target/release/gor

.PHONY: all build setup demo test lint bench fuzz clean

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

# Formatting and clippy on every target (library, binary, tests, benches),
# warnings as errors. Installs the rustfmt and clippy components if missing.
lint: setup
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --all-targets -- -D warnings

bench: build
	@bash bench/run.sh

# Coverage-guided fuzzing of every parser (nightly toolchain, cargo-fuzz);
# FUZZ_SECONDS per target, 20 by default. See docs/reliability.md.
FUZZ_SECONDS ?= 20
fuzz: setup
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash scripts/fuzz.sh

clean:
	$(CARGO) clean
