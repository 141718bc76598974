# raftcmp: see README.md. Every Go build here is CGO_ENABLED=0 (DESIGN.md:
# pebble would otherwise link C, and static plugins start anywhere).
export CGO_ENABLED := 0
GO ?= go
BIN := bin
PLUGINS := $(patsubst plugins/%/plugin/main.go,%,$(wildcard plugins/*/plugin/main.go))
PLUGIN_BINS := $(foreach p,$(PLUGINS),$(BIN)/raftcmp-plugin-$(p))

.PHONY: all build run test bench proto vet clean FORCE

all: build

# plugins.sha256 is the manifest raftcmp checks every plugin against
# before running it (it may run them as root).
build: $(BIN)/raftcmp $(PLUGIN_BINS)
	cd $(BIN) && sha256sum raftcmp-plugin-* > plugins.sha256

# raftcmp records the commit it was built from and whether the tree had
# uncommitted changes (meta.json, every report, raftcmp --version). Go's own
# VCS stamping is off under GOFLAGS=-buildvcs=false and does not work in a
# git worktree, so both come from git here (reports.SelfBuild).
COMMIT = $(shell git rev-parse HEAD 2>/dev/null)
MODIFIED = $(if $(COMMIT),$(if $(shell git status --porcelain 2>/dev/null),true,false))
RAFTCMP_LDFLAGS = -X github.com/raftcmp/raftcmp/reports.buildCommit=$(COMMIT) -X github.com/raftcmp/raftcmp/reports.buildModified=$(MODIFIED)

$(BIN)/raftcmp: FORCE
	$(GO) build -ldflags '$(RAFTCMP_LDFLAGS)' -o $@ ./cmd/raftcmp

$(BIN)/raftcmp-plugin-%: FORCE
	$(GO) build -o $@ ./plugins/$*/plugin

# The built-in default experiment (examples/quick.yaml): every backend
# found, the baseline and a follower held to 5% CPU, a short sweep. The full
# original experiment is examples/follower-slow-cpu.yaml.
run: build
	$(BIN)/raftcmp run -f examples/quick.yaml --plugin-dir $(BIN) --overwrite

test: build tidy-check
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

# go.mod and go.sum as `go mod tidy` leaves them: every directly imported
# module required without "// indirect", nothing unused. Fails with the
# diff otherwise; run go mod tidy.
.PHONY: tidy-check
tidy-check:
	$(GO) mod tidy -diff

# raftcmp's own cost, measured: each backend as plugin processes against
# the same adapter code in one process (docs/architecture.md), and the load
# generator's ceiling.
bench: build
	$(GO) build -o $(BIN)/raftcmp-bench ./cmd/raftcmp-bench
	$(GO) test -run XXX -bench . -benchtime 2s ./core/load/
	$(BIN)/raftcmp-bench --plugin-dir $(BIN) --ceiling --duration 3s
	$(BIN)/raftcmp-bench --plugin-dir $(BIN) --storage memory --impl hashicorp,etcd
	$(BIN)/raftcmp-bench --plugin-dir $(BIN) --storage disk --impl hashicorp,etcd,dragonboat

proto:
	protoc --go_out=. --go_opt=paths=source_relative \
	       --go-grpc_out=. --go-grpc_opt=paths=source_relative \
	       core/adapter/adapterpb/adapter.proto

clean:
	rm -rf $(BIN) results

FORCE:
