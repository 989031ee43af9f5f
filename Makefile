# netmon: see README.md. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
SERVICES := planner fetcher loader aggregator
MODULES = $(shell $(GO) list -m -f '{{.Dir}}')
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin
BUF := $(GOBIN_DIR)/buf
BUF_VERSION := v1.75.0
PROTOC_GEN_GO_VERSION := v1.36.12
TEST_TIMEOUT ?= 20m

.PHONY: help build services test rules demo bench proto proto-baseline lint tidy clean chaos

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

build: ## build every binary into bin/
	@mkdir -p $(BIN)
	@for s in $(SERVICES); do $(GO) build -o $(BIN)/netmon-$$s ./services/$$s || exit 1; done
	$(GO) build -o $(BIN)/netmon ./services/netmon
	@if [ -f services/simnet/main.go ]; then $(GO) build -o $(BIN)/netmon-simnet ./services/simnet; fi

services: ## make sure Postgres and the Pushgateway binary are installed and running (idempotent)
	@scripts/ensure-services.sh

# One package at a time: the end-to-end tests run whole stacks of processes with deadlines, and on
# 2 cores several such packages at once starve each other.
TEST_PARALLEL ?= 1

test: services rules ## run every test of every module (starts what the tests need)
	$(GO) test -count=1 -p $(TEST_PARALLEL) -timeout $(TEST_TIMEOUT) $(addsuffix /...,$(MODULES))

rules: ## check the Prometheus config and alert rules and run the rules' unit tests (promtool)
	@command -v promtool >/dev/null || { echo "promtool missing: run make services (Debian package prometheus)"; exit 1; }
	promtool check config deploy/prometheus/prometheus.yml
	promtool test rules deploy/prometheus/tests/*.yml

# Fuzz targets `make chaos` explores (package:target:executions). `make test` runs their seeds and
# committed corpora (testdata/fuzz) as ordinary tests. The budgets are counts, not durations: with
# a duration, Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded"
# when the time runs out while a worker is busy (golang/go#75804, fixed in Go 1.27); a count has no
# deadline to race. Each budget is about 4 s of exploration on this 2-core machine; FUZZ_SCALE
# multiplies them all (make chaos FUZZ_SCALE=25 explores for about 100 s a target).
FUZZ_SCALE ?= 1
FUZZ_TARGETS := internal/contentnode:FuzzDecodeClocks:20000 internal/contentnode:FuzzDecodeCIDs:20000 \
	internal/contentnode:FuzzRetryAfter:20000 internal/config:FuzzLoad:15000 \
	internal/planner:FuzzDiscoveryRows:2000 internal/loader:FuzzLoaderHandle:3000 \
	internal/fetcher:FuzzWorkItem:10000 internal/ethregistry:FuzzDecode:25000 \
	internal/storagenode:FuzzDecodeHealth:8000 internal/storagenode:FuzzDecodeBlobInfo:25000 \
	internal/storagenode:FuzzDecodeUploads:25000 internal/storagekeys:FuzzResolve:20000
CHAOS_REPORT := $(BIN)/chaos-report.md

chaos: services ## crash, restart, cluster, fault, poison and auth tests (-tags chaos), then each fuzz target for its execution budget
	@mkdir -p $(BIN) && rm -f $(CHAOS_REPORT)
	$(GO) vet -tags chaos ./internal/e2e/
	NETMON_CHAOS_REPORT=$(abspath $(CHAOS_REPORT)) $(GO) test -count=1 -tags chaos -timeout $(TEST_TIMEOUT) -run '^Test(Crash|Chaos|Outage)' ./internal/e2e/
	@out=$$(mktemp); for t in $(FUZZ_TARGETS); do \
		IFS=: read -r pkg target execs <<<"$$t"; execs=$$((execs * $(FUZZ_SCALE))); \
		echo "fuzz $$pkg:$$target for $$execs executions"; \
		$(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $${execs}x ./$$pkg >$$out 2>&1 || \
		{ cat $$out; rm -f $$out; exit 1; }; \
	done; rm -f $$out
	@echo; echo "| test | faults injected | runs completed | run took | items | rows | items lost | items double-counted |"
	@echo "|---|---|---|---|---|---|---|---|"; cat $(CHAOS_REPORT)

demo: services build ## a clocks run and a storage run over simulated networks (netmon demo --network picks one); metrics on 127.0.0.1:9091
	@scripts/ensure-pushgateway.sh
	$(BIN)/netmon demo

NATS_SERVER_VERSION := v2.15.2
BENCH_FLAGS ?=

bench: services build ## network-scale benchmarks: complete runs at 10k, 100k and 1M users, ceilings, profiles, scale-out (docs/benchmarks.md)
	@test -x $(GOBIN_DIR)/nats-server || $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)
	$(GO) build -o $(BIN)/netmon-bench ./services/bench
	$(BIN)/netmon-bench -bin $(BIN) -nats-server $(GOBIN_DIR)/nats-server -out $(BIN)/bench $(BENCH_FLAGS)

$(BUF):
	GOFLAGS=-mod=mod $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

$(GOBIN_DIR)/protoc-gen-go:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

proto: $(BUF) $(GOBIN_DIR)/protoc-gen-go ## regenerate the protobuf Go code
	cd proto && PATH=$(GOBIN_DIR):$$PATH $(BUF) lint && PATH=$(GOBIN_DIR):$$PATH $(BUF) generate

lint: $(BUF) ## gofmt, go vet, buf lint, and buf breaking against the released messages
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(addsuffix /...,$(MODULES))
	cd proto && $(BUF) lint && $(BUF) breaking --against baseline.binpb

proto-baseline: $(BUF) ## record the current messages as released (buf breaking compares against them)
	cd proto && $(BUF) build -o baseline.binpb

tidy: ## go mod tidy every module and sync the workspace
	@for m in $(MODULES); do (cd $$m && GOWORK=off GOFLAGS=-mod=mod $(GO) mod tidy) || exit 1; done
	$(GO) work sync

clean: ## remove build output
	rm -rf $(BIN)
