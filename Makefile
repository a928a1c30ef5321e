# Outpost build entry points. `make run` starts a working panel with a local
# node; `make test` is what CI runs (see .ci/run).

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DEFAULT_GOAL := build

GO ?= go
NPM ?= npm
# How long `make fuzz` runs each fuzz target.
FUZZTIME ?= 20s

# npm installs node_modules next to the Go module, and some npm packages ship
# .go files (flatted does), so `./...` alone would build, vet and test them.
# Every Go command below works on this list instead.
GO_PACKAGES = $$($(GO) list -e ./... | grep -v '/node_modules/')

.PHONY: all web build run test webtest clientcheck browsercheck lint bench bench-fleet bench-web fuzz clean

all: build

# The SPA, embedded into the panel binary from web/dist.
web:
	@if [ ! -d node_modules ]; then echo "$(NPM) ci"; $(NPM) ci; fi
	$(NPM) run build

build: web
	$(GO) build -o bin/panel ./backend/cmd/panel
	CGO_ENABLED=0 $(GO) build -o bin/node ./nodes/cmd/node

# SQLite in ./data; the panel prints the dashboard URL and the admin login.
run: build
	./bin/panel --local-node

test: lint web webtest clientcheck browsercheck
	$(GO) test -count=1 -timeout 30m $(GO_PACKAGES)

# The dashboard's unit tests (Vitest): forms, the bulk actions, the events
# reducer and the translations.
webtest:
	@if [ ! -d node_modules ]; then echo "$(NPM) ci"; $(NPM) ci; fi
	$(NPM) run test:unit

# The dashboard in Debian's chromium (playwright-core) against bin/panel
# and bin/node; also checks that web/src/lib/api/schema.d.ts is what the
# panel's /openapi.json generates; SCREENSHOTS=1 also writes docs/screenshots/.
browsercheck: build
	$(NPM) run test:web

# The subscription formats checked by the clients' own parsers: sing-box's
# option parser and box.New (a separate Go module, because sing-box's
# dependencies conflict with xray-core's, so ./... above never reaches it)
# and mihomo's published JSON Schema (npm meta-json-schema).
SINGBOX_CHECK = backend/sub/clientcheck/singbox
SINGBOX_TAGS = with_utls,with_quic

# Both checks run even when the first fails, so one run reports every
# rejected file; the target fails if either did.
clientcheck:
	@if [ ! -d node_modules ]; then echo "$(NPM) ci"; $(NPM) ci; fi
	@failed=0; \
	echo "cd $(SINGBOX_CHECK) && $(GO) vet -tags $(SINGBOX_TAGS) ./... && $(GO) test -count=1 -tags $(SINGBOX_TAGS) ./..."; \
	(cd $(SINGBOX_CHECK) && $(GO) vet -tags $(SINGBOX_TAGS) ./... && $(GO) test -count=1 -tags $(SINGBOX_TAGS) ./...) || failed=1; \
	echo "$(NPM) run test:clash"; \
	$(NPM) run test:clash || failed=1; \
	exit $$failed

lint:
	@unformatted="$$(find . \( -name node_modules -o -name .git \) -prune -o -name '*.go' -print0 | xargs -0 -r gofmt -l)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt -l reports unformatted files:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(GO_PACKAGES)
	$(NPM) run lint

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 30m $(GO_PACKAGES) | tee bench.txt

# 1,000 simulated node agents against one panel on SQLite with 100,000
# users (backend/cmd/fleet; docs/benchmarks.md). FLEET_ARGS passes flags,
# e.g. FLEET_ARGS='--nodes 200 --users 20000'.
FLEET_ARGS ?=
bench-fleet: build
	$(GO) run ./backend/cmd/fleet --panel-bin bin/panel $(FLEET_ARGS)

# The dashboard in chromium against a panel with 100,000 users
# (web/bench/dashboard.mjs; docs/benchmarks.md, "Dashboard"): sign-in to the
# users table painted, searches and filters painted, a killed node shown
# offline. BENCH_WEB_ARGS passes flags, e.g. BENCH_WEB_ARGS='--users 20000
# --queries 12 --json bench-web.json'.
BENCH_WEB_ARGS ?=
bench-web: build
	node web/bench/dashboard.mjs $(BENCH_WEB_ARGS)

# Runs every FuzzXxx target found in a _test.go file for FUZZTIME each
# (go test -fuzz takes one target in one package at a time).
fuzz:
	@found=0; \
	for file in $$(grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git '^func Fuzz' .); do \
		dir=$$(dirname "$$file"); \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$file"); do \
			found=1; \
			echo "$(GO) test -run '^\$$' -fuzz '^$$target\$$' -fuzztime $(FUZZTIME) $$dir"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$dir"; \
		done; \
	done; \
	if [ "$$found" = 0 ]; then echo "no fuzz targets found"; fi

# Keeps ./data and ./node-state: they hold a running install's database and
# node state, not build output.
clean:
	rm -rf bin bench.txt bench-web.json coverage.out coverage.html
	find web/dist -mindepth 1 ! -name .gitkeep -delete
