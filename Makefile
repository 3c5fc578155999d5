# scc: two commands do all the set-up on a fresh Debian/Ubuntu machine.
#   make demo   - installs what is missing, builds, runs the demo chain with traffic and prints the report
#   make test   - installs what is missing, runs the whole test suite
# Neither needs root to run (the chain and the tests live in a user + network namespace of their own);
# `deps` uses sudo for apt-get only when a system package is missing.

CARGO ?= cargo
APT_PACKAGES := libhwloc-dev libudev-dev pkg-config iproute2 valgrind iputils-ping arping tcpdump
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps demo test lint bench doc

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@if command -v rustup >/dev/null 2>&1; then rustup component add rustfmt clippy >/dev/null 2>&1 || true; fi

demo: deps
	$(CARGO) run --release -p scc-launcher --bin scc -- run examples/chains/demo.toml

test: deps
	$(CARGO) test --workspace

lint: deps
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: deps
	$(CARGO) bench

doc: deps
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps
