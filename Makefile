# rtbroker developer targets. `make test` is what CI runs (see .ci/run).
# The browser and Socket.IO tests use the npm packages of package-lock.json
# (`make test` runs `npm ci` when node_modules is missing or older than the
# lock file; the same for bench/peer, the benchmark's Node server) and
# Debian's chromium at /usr/bin/chromium.

GO       ?= go
BIN      ?= rtbroker
# The version a build carries (rtbroker version, /api/openapi.json): the
# nearest tag, commits since and the commit, or dev outside a git checkout.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  ?= -X main.version=$(VERSION)
FUZZTIME ?= 10s
# Lists the Go files to format: everything but node_modules and .git.
GOFIND    = find . -name '*.go' -not -path './node_modules/*' -not -path './.git/*'

.PHONY: all help run build docker test vet fmt fmt-check fuzz bench gobench npm clean

all: build

## help: list these targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)

## run: serve on :8080 with data in ./data
run:
	$(GO) run ./cmd/rtbroker serve

## build: the rtbroker binary in ./rtbroker, carrying VERSION (git describe)
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/rtbroker

## docker: the container image rtbroker:VERSION (Dockerfile; needs a Docker engine)
docker:
	docker build --build-arg VERSION=$(VERSION) -t rtbroker:$(VERSION) .

## test: gofmt, go vet, then every test with the race detector
test: fmt-check node_modules/.package-lock.json bench/peer/node_modules/.package-lock.json
	$(GO) vet ./...
	$(GO) vet -tags rtbroker_nofsync ./storage/bolt ./cmd/rtbroker
	$(GO) test -race -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...
	$(GO) vet -tags rtbroker_nofsync ./storage/bolt ./cmd/rtbroker

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

## bench: rtbroker against the Node Socket.IO peer, every scenario (bench/run.sh;
##        ARGS=--quick for a few minutes, ARGS='--only fanout'); writes bench/results/
bench: bench/peer/node_modules/.package-lock.json
	bench/run.sh $(ARGS)

## gobench: every Go micro-benchmark, with allocations
gobench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...

## npm: install the npm packages the tests use, exactly as locked (and bench/peer's)
npm: node_modules/.package-lock.json bench/peer/node_modules/.package-lock.json

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

# The benchmark peer (bench/peer) has its own package.json: the server only.
bench/peer/node_modules/.package-lock.json: bench/peer/package.json bench/peer/package-lock.json
	cd bench/peer && npm ci --no-audit --no-fund

clean:
	rm -f $(BIN)
