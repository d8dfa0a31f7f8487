# Everything a fresh machine with Node 20 and npm needs: `make run` and `make test` install first
# (`make test` also installs Debian's nats-server, which the XNet-over-NATS tests start).
SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TESTS := $(shell find replica/test test -name '*.test.ts' 2>/dev/null | sort)
BENCHES := $(shell find bench -name '*.ts' ! -name '*.d.ts' 2>/dev/null | sort)

.PHONY: all install nats-server run cli test typecheck fixtures bench clean

all: test

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: node_modules/.installed

# The NATS server the tests start on a free port (Debian's package, as the Helm chart's image is).
nats-server:
	@command -v nats-server >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nats-server; }

typecheck: install
	npx tsc -b

# Compile the Motoko test canisters once (cached in .cache/motoko by source hash).
fixtures: install
	node --import tsx test/support/compile-fixtures.ts

# A local network (two subnets on free ports, or PORT=4943 and 4944) driven through the real IC agent:
# creates, installs and calls the example canisters, checks a certified variable, calls across
# the subnets, exits.
run: install
	node --import tsx examples/demo.ts $(if $(PORT),--port $(PORT))

# The command line client, e.g. `make cli ARGS='start'` or `make cli ARGS="call <id> get"`
# (bin/icpk is the same thing without make).
cli: install
	@node --import tsx replica/src/cli/main.ts $(ARGS)

test: typecheck fixtures nats-server
	node --import tsx --test --test-reporter=tap --test-concurrency=2 $(TESTS)

bench: install fixtures
	@for b in $(BENCHES); do echo "== $$b"; node --import tsx $$b || exit 1; done

clean:
	rm -rf .build .cache node_modules
