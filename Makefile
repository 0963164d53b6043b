# rtbroker developer targets. `make test` is what CI runs (see .ci/run).
# The browser and Socket.IO tests use the npm packages of package-lock.json
# (`make test` runs `npm ci` when node_modules is missing or older than the
# lock file) and Debian's chromium at /usr/bin/chromium.

GO       ?= go
BIN      ?= rtbroker
FUZZTIME ?= 10s
# Lists the Go files to format: everything but node_modules and .git.
GOFIND    = find . -name '*.go' -not -path './node_modules/*' -not -path './.git/*'

.PHONY: all run build test vet fmt fmt-check fuzz bench npm clean

all: build

## run: serve on :8080 with data in ./data
run:
	$(GO) run ./cmd/rtbroker serve

## build: the rtbroker binary in ./rtbroker
build:
	$(GO) build -o $(BIN) ./cmd/rtbroker

## test: gofmt, go vet, then every test with the race detector
test: fmt-check node_modules/.package-lock.json
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

## fmt-check: fail when gofmt would change a file
fmt-check:
	@out="$$(gofmt -l $$($(GOFIND)))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## fmt: gofmt every Go file in place
fmt:
	gofmt -w $$($(GOFIND))

## fuzz: run every Fuzz target for FUZZTIME (default 10s) each
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

## bench: every benchmark, with allocations
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

## npm: install the npm packages the tests use, exactly as locked
npm node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

clean:
	rm -f $(BIN)
