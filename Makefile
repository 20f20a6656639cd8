# Son La operations-centre pipeline. The two commands:
#   make run    all roles + simulator against the local services, wall on :8080
#   make test   starts the local services and runs every test against them
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO       ?= go
BIN      := bin/ioc
CONFIG   ?= deploy/ioc.yaml
SERVICES := deploy/local/services.sh

.PHONY: run test build services-up services-down services-status test-tools unit test-race check-config clean lint

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/ioc

services-up:
	$(SERVICES) up

services-down:
	$(SERVICES) down

services-status:
	$(SERVICES) status

# Debian's chromium drives the browser tests of the wall; poppler-utils
# (pdftotext, pdftoppm) reads the KPI report's PDF in its tests.
test-tools:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v pdftotext >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null; }

run: build services-up
	@echo "Wall: http://localhost:8080   metrics: http://localhost:9100/metrics   (Ctrl-C stops cleanly)"
	@echo "Open without signing in (dashboard.auth.dev_open in $(CONFIG), this machine only); accounts: ./$(BIN) user help"
	eval "$$($(SERVICES) env)" && ./$(BIN) run -config $(CONFIG) -simulate

test: services-up test-tools
	$(GO) vet ./...
	$(MAKE) --no-print-directory lint
	eval "$$($(SERVICES) env)" && $(GO) test -count=1 -timeout 15m ./...
# The Helm chart, with Helm's Go library, in a module of its own (deploy/kubetest).
	cd deploy/kubetest && $(GO) vet ./... && eval "$$(../../$(SERVICES) env)" && $(GO) test -count=1 -timeout 10m ./...

# golangci-lint at a pinned version (.golangci.yml says which linters and why; docs/contributing.md).
# `go install pkg@version` builds it from the Go module proxy with golangci-lint's own go.mod
# (checked against the checksum database), so nothing is added to our go.mod; it goes to
# bin/golangci-lint-VERSION/ (git-ignored), built once (about 2 min of CPU) and rebuilt only
# when the version here changes.
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(CURDIR)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

$(GOLANGCI_LINT):
	GOBIN=$(@D) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

# Both modules: the main one and the Helm test module (deploy/kubetest).
lint: $(GOLANGCI_LINT)
	$(GOLANGCI_LINT) run ./...
	cd deploy/kubetest && $(GOLANGCI_LINT) run --config $(CURDIR)/.golangci.yml ./...

# The tests under the race detector: run it after touching goroutines or
# anything a test reads while a process writes (docs/contributing.md).
# Not part of `make test`: instrumented code runs 2-10 times slower, which
# the timing of the end-to-end tests does not allow for.
test-race: services-up
	eval "$$($(SERVICES) env)" && $(GO) test -race -count=1 -timeout 25m ./...

# Tests that need no service (decoders, config, schema rendering).
unit:
	$(GO) test -count=1 ./ingest/... ./internal/... ./stream/schema/... ./stream/kpi/... ./simulate/... ./cmd/...

check-config: build
	./$(BIN) check-config -config $(CONFIG) >/dev/null

clean:
	rm -rf bin

# Benchmark (bench/, cmd/iocbench, docs/performance.md): an open-loop MQTT load on the local
# services through the real binary's roles, each hop alone, a table, bench/results/latest.json
# and the results block of docs/performance.md; about 10–15 minutes. Pass iocbench flags in
# BENCH_FLAGS, e.g. BENCH_FLAGS="-set ingest.linger=5ms -skip hops" (./bin/iocbench -h lists them).
BENCH_FLAGS ?=

# The peer (docs/performance.md, "The peer"): Benthos v4.27 built from the Go module proxy in a
# scratch folder outside the repository's code (.local/benthos, git-ignored) from bench/benthos.
BENTHOS := .local/benthos/benthos

.PHONY: bench bench-smoke bench-peer-build bench-peer-smoke

bench: build services-up $(BENTHOS)
	$(GO) build -trimpath -o bin/iocbench ./cmd/iocbench
	ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -Hn)"; \
	eval "$$($(SERVICES) env)" && ./bin/iocbench -ioc $(BIN) -benthos $(BENTHOS) -doc docs/performance.md $(BENCH_FLAGS)

bench-peer-build: $(BENTHOS)

# The comparison with the peer alone at smoke rates: the pipeline and Benthos at one reading
# per message (bench-smoke covers that shape for the pipeline without building Benthos).
bench-peer-smoke: build services-up $(BENTHOS)
	$(GO) build -trimpath -o bin/iocbench ./cmd/iocbench
	eval "$$($(SERVICES) env)" && ./bin/iocbench -smoke -ioc $(BIN) -benthos $(BENTHOS) -skip fanout,ramp,latency,hops $(BENCH_FLAGS)

$(BENTHOS): bench/benthos/main.go bench/benthos/go.mod bench/benthos/go.sum
	mkdir -p .local/benthos/src
	cp bench/benthos/main.go bench/benthos/go.mod bench/benthos/go.sum .local/benthos/src/
	cd .local/benthos/src && $(GO) build -trimpath -o ../benthos .

# The same harness for a few seconds at tiny rates (CI): it checks the harness and that nothing
# acknowledged is lost, not the pipeline's speed; both load shapes (five readings per message,
# and one per message over fewer connections).
bench-smoke: build services-up
	$(GO) build -trimpath -o bin/iocbench ./cmd/iocbench
	eval "$$($(SERVICES) env)" && ./bin/iocbench -smoke -ioc $(BIN) $(BENCH_FLAGS)

# The analyst view at a year's scale (issue 19, docs/performance.md "Analyst queries"): generates
# 100 million readings (2 % redelivered) in database ioc_analystbench (dropped at the end; -keep
# keeps it; -db another name), merges them as `ioc dedup` does, then writes 10 minutes of
# readings as a settled stream does (looked up, copies left out, no watermark row), runs the next
# dedup and writes 10 minutes more, and prints each documented query's time on the raw table and
# through the view and the ratio; then the same after an unsettled stream (5 minutes after a
# restart or a rebalance) covered its batch and the next dedup ran. About 4 minutes on 2 cores.
ANALYST_BENCH_FLAGS ?=

.PHONY: bench-analyst
bench-analyst: services-up
	$(GO) build -trimpath -o bin/iocanalystbench ./cmd/iocanalystbench
	eval "$$($(SERVICES) env)" && ./bin/iocanalystbench $(ANALYST_BENCH_FLAGS)

# Fault suite (faults/, docs/reliability.md): kills, stops and restarts the services, so it runs
# on its OWN instance of them (data under .local/faults, ports below), never the default one.
FAULTS_ENV := IOC_LOCAL_DIR=$(CURDIR)/.local/faults IOC_MQTT_PORT=21883 IOC_KAFKA_PORT=29092 \
	IOC_KAFKA_CONTROLLER_PORT=29093 IOC_CH_PORT=29000 IOC_CH_HTTP_PORT=28123

.PHONY: faults faults-quick faults-unsafe faults-down

# Every scenario at full length plus the unsafe demonstration; writes docs/reliability.md.
faults:
	$(FAULTS_ENV) IOC_FAULTS=full IOC_FAULTS_REPORT=docs/reliability.md $(GO) test -count=1 -timeout 90m -v ./faults

# The same scenarios with shortened faults (CI).
faults-quick:
	$(FAULTS_ENV) IOC_FAULTS=quick $(GO) test -count=1 -timeout 20m -v -run 'TestFaults$$' ./faults

# One scenario with stream.unsafe_commit_before_insert: fails unless the suite reports the loss.
faults-unsafe:
	$(FAULTS_ENV) IOC_FAULTS=quick $(GO) test -count=1 -timeout 20m -v -run 'TestUnsafeModeIsCaught$$' ./faults

faults-down:
	$(FAULTS_ENV) $(SERVICES) down

# The wall's browser library (uPlot), from npm at the version of package-lock.json, copied into
# dashboard/web/vendor/ where it is committed and embedded: the Go build needs no npm.
.PHONY: web
web:
	npm ci --no-audit --no-fund
	mkdir -p dashboard/web/vendor
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css node_modules/uplot/LICENSE dashboard/web/vendor/

# The SQL access-control migrations (021, 071: ClickHouse 20.5+) checked on the current ClickHouse
# engine: PyPI's chdb-core (ClickHouse 26.x in process) parses every statement and evaluates each
# role's grants (stream/schema/rbac_test.go says what it cannot show). Not part of `make test`.
.PHONY: rbac-check
rbac-check:
	test -x .local/chdb/venv/bin/python || { python3 -m venv .local/chdb/venv && .local/chdb/venv/bin/pip install -q chdb-core; }
	IOC_CHDB_PYTHON=$(CURDIR)/.local/chdb/venv/bin/python $(GO) test -count=1 -v -run 'TestRBACStatementsOnCurrentEngine$$' ./stream/schema/
	IOC_CHDB_PYTHON=$(CURDIR)/.local/chdb/venv/bin/python $(GO) test -count=1 -v -run 'TestIndexSQLOnCurrentEngine$$' ./stream/svcindex/

# The cluster topology (deploy/local/cluster.sh, docs/operations.md): three Kafka brokers, ZooKeeper,
# ClickHouse as 2 shards x 2 replicas, on ports 26000-27999 under .local/cluster. cluster-test runs
# the correctness tests (cluster/) and the node-loss suite under load (faults/cluster_test.go,
# writes its table to docs/reliability.md), then stops the cluster; cluster-test-quick is the CI
# version (shortened outages, no report).
CLUSTER_ENV := IOC_TOPOLOGY=cluster IOC_LOCAL_DIR=$(CURDIR)/.local/cluster

.PHONY: cluster-up cluster-down cluster-status cluster-test cluster-test-quick

cluster-up:
	$(CLUSTER_ENV) $(SERVICES) up

cluster-down:
	$(CLUSTER_ENV) $(SERVICES) down

cluster-status:
	$(CLUSTER_ENV) $(SERVICES) status

cluster-test: cluster-up
	rc=0; eval "$$($(CLUSTER_ENV) $(SERVICES) env)" && $(GO) test -count=1 -timeout 15m -v ./cluster || rc=$$?; \
	$(CLUSTER_ENV) IOC_CLUSTER_FAULTS=full IOC_FAULTS_REPORT=docs/reliability.md \
		$(GO) test -count=1 -timeout 60m -v -run 'TestClusterNodeLoss' ./faults || rc=$$?; \
	$(CLUSTER_ENV) $(SERVICES) down; exit $$rc

cluster-test-quick: cluster-up
	rc=0; eval "$$($(CLUSTER_ENV) $(SERVICES) env)" && $(GO) test -count=1 -timeout 10m -v ./cluster || rc=$$?; \
	$(CLUSTER_ENV) IOC_CLUSTER_FAULTS=quick $(GO) test -count=1 -timeout 20m -v -run 'TestClusterNodeLoss' ./faults || rc=$$?; \
	$(CLUSTER_ENV) $(SERVICES) down; exit $$rc
