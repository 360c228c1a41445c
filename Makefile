# Two commands do everything: `make demo` (the main job, end to end) and
# `make test` (the whole suite). Both install what they need first.
# `make lint` checks formatting and clippy (CI runs it before the tests).
# `make install` / `make uninstall` put gor, its man page, shell completions
# and systemd unit under PREFIX (DESTDIR for staging a package).

CARGO ?= cargo
GOR ?= $(or $(CARGO_TARGET_DIR),target)/release/gor

PREFIX ?= /usr/local
DESTDIR ?=
# The service's command line file: /etc/default/gor for a system-wide
# install, under PREFIX otherwise (a private prefix never writes to /etc).
ifeq ($(filter /usr /usr/local,$(PREFIX)),)
SYSCONFDIR ?= $(PREFIX)/etc
else
SYSCONFDIR ?= /etc
endif
BINDIR := $(PREFIX)/bin
MANDIR := $(PREFIX)/share/man/man1
BASHDIR := $(PREFIX)/share/bash-completion/completions
ZSHDIR := $(PREFIX)/share/zsh/site-functions
FISHDIR := $(PREFIX)/share/fish/vendor_completions.d
UNITDIR := $(PREFIX)/lib/systemd/system
# Generated files (man page, completions) for install and `cargo deb`.
ASSETS := $(or $(CARGO_TARGET_DIR),target)/release/assets

.PHONY: all build setup demo test lint bench fuzz clean assets install uninstall deb

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
	$(CARGO) test --release --no-fail-fast

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

# The man page and completions, from the same flag definitions as --help.
assets:
	@test -x $(GOR) || $(MAKE) build
	mkdir -p $(ASSETS)
	$(GOR) __generate man > $(ASSETS)/gor.1
	$(GOR) __generate bash > $(ASSETS)/gor.bash
	$(GOR) __generate zsh > $(ASSETS)/_gor
	$(GOR) __generate fish > $(ASSETS)/gor.fish
	sed -e 's|/usr/local/bin/gor|$(BINDIR)/gor|' -e 's|/etc/default/gor|$(SYSCONFDIR)/default/gor|' \
		examples/systemd/gor.service > $(ASSETS)/gor.service

# Capture needs CAP_NET_RAW and CAP_NET_ADMIN: as root the binary gets them
# as file capabilities, so gor captures without running as root. The
# command line file is installed once and never overwritten.
install: assets
	install -Dm755 $(GOR) $(DESTDIR)$(BINDIR)/gor
	@if [ "$$(id -u)" = 0 ] && setcap cap_net_raw,cap_net_admin+eip $(DESTDIR)$(BINDIR)/gor; then \
		echo "install: $(BINDIR)/gor has cap_net_raw,cap_net_admin+eip: it captures without root"; \
	else \
		echo "install: NOTE: no file capabilities set on $(BINDIR)/gor (needs root and setcap);"; \
		echo "install: capture (--input-raw) will need root until you run:"; \
		echo "install:   sudo setcap cap_net_raw,cap_net_admin+eip $(BINDIR)/gor"; \
	fi
	install -Dm644 $(ASSETS)/gor.1 $(DESTDIR)$(MANDIR)/gor.1
	install -Dm644 $(ASSETS)/gor.bash $(DESTDIR)$(BASHDIR)/gor
	install -Dm644 $(ASSETS)/_gor $(DESTDIR)$(ZSHDIR)/_gor
	install -Dm644 $(ASSETS)/gor.fish $(DESTDIR)$(FISHDIR)/gor.fish
	install -Dm644 $(ASSETS)/gor.service $(DESTDIR)$(UNITDIR)/gor.service
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/default/gor ]; then \
		echo "install: keeping $(SYSCONFDIR)/default/gor"; \
	else \
		install -Dm644 examples/systemd/gor.default $(DESTDIR)$(SYSCONFDIR)/default/gor; \
	fi

# Removes what install put there; the command line file only if it was
# never edited.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gor $(DESTDIR)$(MANDIR)/gor.1 \
		$(DESTDIR)$(BASHDIR)/gor $(DESTDIR)$(ZSHDIR)/_gor $(DESTDIR)$(FISHDIR)/gor.fish \
		$(DESTDIR)$(UNITDIR)/gor.service
	@if cmp -s examples/systemd/gor.default $(DESTDIR)$(SYSCONFDIR)/default/gor; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/default/gor; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/default/gor ]; then \
		echo "uninstall: keeping $(SYSCONFDIR)/default/gor (edited)"; \
	fi

# A Debian package (cargo install cargo-deb first); its assets are in
# Cargo.toml under [package.metadata.deb].
deb: build
	$(MAKE) assets PREFIX=/usr
	$(CARGO) deb --no-build
