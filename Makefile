# raftcmp: see README.md. Every Go build here is CGO_ENABLED=0 (DESIGN.md:
# pebble would otherwise link C, and static plugins start anywhere).
export CGO_ENABLED := 0
GO ?= go
BIN := bin
PLUGINS := $(patsubst plugins/%/plugin/main.go,%,$(wildcard plugins/*/plugin/main.go))
PLUGIN_BINS := $(foreach p,$(PLUGINS),$(BIN)/raftcmp-plugin-$(p))

.PHONY: all build run test bench proto vet clean FORCE

all: build

build: $(BIN)/raftcmp $(PLUGIN_BINS)

$(BIN)/raftcmp: FORCE
	$(GO) build -o $@ ./cmd/raftcmp

$(BIN)/raftcmp-plugin-%: FORCE
	$(GO) build -o $@ ./plugins/$*/plugin

# The built-in default experiment: every backend found, a short sweep of
# the original workload (40000 ops/s target, 2 KiB payloads), a few seconds
# per point. The full original experiment is `bin/raftcmp run` with no flags.
run: build
	$(BIN)/raftcmp run --plugin-dir $(BIN) --threads 2,8,16 --warmup 1s --duration 3s \
		--out results/default --overwrite

test: build
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

proto:
	protoc --go_out=. --go_opt=paths=source_relative \
	       --go-grpc_out=. --go-grpc_opt=paths=source_relative \
	       core/adapter/adapterpb/adapter.proto

clean:
	rm -rf $(BIN) results

FORCE:
