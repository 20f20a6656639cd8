# Son La operations-centre pipeline. The two commands:
#   make run    all roles + simulator against the local services, wall on :8080
#   make test   starts the local services and runs every test against them
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO       ?= go
BIN      := bin/ioc
CONFIG   ?= deploy/ioc.yaml
SERVICES := deploy/local/services.sh

.PHONY: run test build services-up services-down services-status test-tools unit check-config clean

build:
	$(GO) build -trimpath -o $(BIN) ./cmd/ioc

services-up:
	$(SERVICES) up

services-down:
	$(SERVICES) down

services-status:
	$(SERVICES) status

# Debian's chromium drives the browser tests of the wall.
test-tools:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

run: build services-up
	@echo "Wall: http://localhost:8080   metrics: http://localhost:9100/metrics   (Ctrl-C stops cleanly)"
	eval "$$($(SERVICES) env)" && ./$(BIN) run -config $(CONFIG) -simulate

test: services-up test-tools
	$(GO) vet ./...
	eval "$$($(SERVICES) env)" && $(GO) test -count=1 -timeout 15m ./...

# Tests that need no service (decoders, config, schema rendering).
unit:
	$(GO) test -count=1 ./ingest/... ./internal/... ./stream/schema/... ./cmd/...

check-config: build
	./$(BIN) check-config -config $(CONFIG) >/dev/null

clean:
	rm -rf bin
