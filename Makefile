# hush: `make demo` shows the main job, `make test` runs every test.
# Both install what they need first (`make deps`).

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
GOBUILD   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"
# Backends are chosen with build tags; no tag means every backend.
TAGS_FILES := novault,noinfisical,noyaml
TAGS_VAULT := noinfisical
# Fuzz budgets are counts, not durations: a duration races a bug of Go
# 1.26's fuzz coordinator (golang/go#75804) that fails a clean run with
# "context deadline exceeded" on a loaded machine. 300000 runs take about
# 10-20 s here.
FUZZTIME  ?= 300000x
# Debian packages the tests and benchmarks use.
DEB_PACKAGES := util-linux procps bash coreutils tini dumb-init catatonit busybox-static postgresql postgresql-client docker-compose nodejs python3

.PHONY: all build flavours deps deps-base vault test fuzz-short fuzz demo bench lint clean

all: build

build:
	$(GOBUILD) -o bin/hush ./cmd/hush

flavours: build
	$(GOBUILD) -tags $(TAGS_VAULT) -o bin/hush-vault ./cmd/hush
	$(GOBUILD) -tags $(TAGS_FILES) -o bin/hush-files ./cmd/hush

# deps installs what the tests need and is missing: Debian packages when
# running as root, the Go modules, and the Vault test server.
deps: deps-base vault

deps-base:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing Debian packages (run as root or install them):$$missing" >&2; \
		fi; \
	fi
	$(GO) mod download

# vault builds the real Vault server the Vault tests run against, once, into
# a cache outside the repository (minutes cold, nothing when cached).
vault:
	./scripts/build-vault.sh >/dev/null

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags $(TAGS_FILES) ./...

test: deps lint flavours
	HUSH_BIN=$(CURDIR)/bin/hush HUSH_FILES_BIN=$(CURDIR)/bin/hush-files $(GO) test -count=1 -timeout 40m ./...
	$(GO) test -count=1 -tags $(TAGS_FILES) ./sources/
	$(MAKE) fuzz-short

# A bounded fuzz run of the reference and --listen parsers, and of
# internal/digest against crypto/sha256, on every test run; `make fuzz`
# runs longer.
fuzz-short:
	$(GO) test -run '^$$' -fuzz '^FuzzParseRef$$' -fuzztime $(FUZZTIME) ./sources
	$(GO) test -run '^$$' -fuzz '^FuzzParseListen$$' -fuzztime $(FUZZTIME) ./shim
	$(GO) test -run '^$$' -fuzz '^FuzzSum256$$' -fuzztime $(FUZZTIME) ./internal/digest

fuzz:
	$(MAKE) fuzz-short FUZZTIME=10000000x

# The demo needs nothing but the Go toolchain: no service, no package.
demo: build
	./examples/demo.sh bin/hush

# bench measures hush next to tini, dumb-init and catatonit, then hush-vault
# next to Vault Agent against a real Vault (appended to the same report).
bench: deps flavours
	$(GO) run ./integration/bench -hush bin/hush -flavour files=bin/hush-files -flavour vault=bin/hush-vault -out docs/benchmarks.md
	$(GO) run ./integration/vault/agentbench -hush bin/hush-vault -runs 5 -window 10s >> docs/benchmarks.md
	$(GO) run ./integration/vault/fleetbench -hush bin/hush-vault -n 100 >> docs/benchmarks.md
	HUSH_BIN=$(CURDIR)/bin/hush HUSH_BENCH_REPORT=$(CURDIR)/docs/benchmarks.md \
		$(GO) test -count=1 -run 'TestRotationOneCallPerPoll|TestRotationWithETag' ./integration/infisical/

clean:
	rm -rf bin
