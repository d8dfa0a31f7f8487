# Everything a fresh machine with Node 20 and npm needs: `make run` and `make test` install first.
SHELL := /bin/bash
TESTS := $(shell find replica/test test -name '*.test.ts' 2>/dev/null | sort)
BENCHES := $(shell find bench -name '*.ts' ! -name '*.d.ts' 2>/dev/null | sort)

.PHONY: all install run test typecheck fixtures bench clean

all: test

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed

typecheck: install
	npx tsc -b

# Compile the Motoko test canisters once (cached in .cache/motoko by source hash).
fixtures: install
	node --import tsx test/support/compile-fixtures.ts

run: install
	node --import tsx examples/demo.ts

test: typecheck fixtures
	node --import tsx --test --test-reporter=tap --test-concurrency=2 $(TESTS)

bench: install fixtures
	@for b in $(BENCHES); do echo "== $$b"; node --import tsx $$b || exit 1; done

clean:
	rm -rf .build .cache node_modules
