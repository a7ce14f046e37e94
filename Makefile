BIN := node_modules/.bin
BUN := $(BIN)/bun
DENO := $(BIN)/deno

.PHONY: all test test-bun test-deno build build-deno run check clean bench

all: build

node_modules: package.json package-lock.json
	npm ci
	@touch node_modules

test: node_modules test-bun test-deno

test-bun: node_modules
	$(BUN) test --timeout 60000 tests/

test-deno: node_modules
	$(DENO) test -A --quiet tests/

check: node_modules
	$(BIN)/tsc -p tsconfig.json

build: node_modules
	mkdir -p dist
	$(BUN) build --compile --minify-syntax src/main.ts --outfile dist/mailproxy

build-deno: node_modules
	mkdir -p dist
	$(DENO) compile -A --output dist/mailproxy-deno src/main.ts

clean:
	rm -rf dist
