BIN := node_modules/.bin
BUN := $(BIN)/bun
DENO := $(BIN)/deno

.PHONY: all deps test test-bun test-deno build build-deno run check clean bench bench-pool

all: build

node_modules: package.json package-lock.json
	npm ci
	@touch node_modules

# The whole suite on both runtimes. Real backends (Dovecot, Postfix) and clients
# (curl, swaks, python3) come from Debian via .ci/install-deps (root, skipped when present).
test: deps build test-bun test-deno

deps:
	@if [ "$$(id -u)" = 0 ]; then bash .ci/install-deps; else echo "not root: assuming .ci/install-deps was run"; fi

# In a network namespace of their own where the machine allows (scripts/loopback-only.sh).
# The Bun suite runs twice: on Bun's native sockets (the default, src/net/bun.ts), then
# with MAILPROXY_SOCKETS=node on node:net/node:tls, the layer Deno always uses.
test-bun: node_modules
	sh scripts/loopback-only.sh $(BUN) test --timeout 60000 tests/
	MAILPROXY_SOCKETS=node sh scripts/loopback-only.sh $(BUN) test --timeout 60000 tests/

test-deno: node_modules
	sh scripts/loopback-only.sh $(DENO) test -A --quiet tests/

check: node_modules
	$(BIN)/tsc -p tsconfig.json

build: node_modules
	mkdir -p dist
	$(BUN) build --compile --minify-syntax src/main.ts --outfile dist/mailproxy

build-deno: node_modules
	mkdir -p dist
	$(DENO) compile -A --output dist/mailproxy-deno src/main.ts

# The newcomer's first command: demo auth service + demo IMAP mailbox + dist/mailproxy.
run: build
	sh scripts/run-demo.sh

clean:
	rm -rf dist

# `make bench`: mailproxy against nginx's mail proxy (not a test; never in CI)
include scripts/bench/Makefile.inc
include scripts/package/Makefile.inc
include scripts/soak/Makefile.inc
