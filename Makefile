# raftcmp: see README.md. Every Go build here is CGO_ENABLED=0 (DESIGN.md:
# pebble would otherwise link C, and static plugins start anywhere).
export CGO_ENABLED := 0
GO ?= go
BIN := bin
PLUGINS := $(filter-out canonical,$(patsubst plugins/%/plugin/main.go,%,$(wildcard plugins/*/plugin/main.go)))
PLUGIN_BINS := $(foreach p,$(PLUGINS),$(BIN)/raftcmp-plugin-$(p))

# The canonical backend wraps libraft, a C library, and is the one binary
# built with cgo (CGO_ENABLED=1 for it alone), where pkg-config finds
# libraft and libuv; without them everything else still builds and `make`
# says in one line how to get them. Its Describe reports the libraft
# release pkg-config names (libraft 0.15 has no version function).
HAVE_LIBRAFT := $(shell pkg-config --exists raft libuv 2>/dev/null && echo yes)
ifeq ($(HAVE_LIBRAFT),yes)
PLUGIN_BINS += $(BIN)/raftcmp-plugin-canonical
endif

.PHONY: all build run test bench proto vet clean FORCE

all: build

# plugins.sha256 is the manifest raftcmp checks every plugin against
# before running it (it may run them as root).
build: $(BIN)/raftcmp $(PLUGIN_BINS)
ifneq ($(HAVE_LIBRAFT),yes)
	@echo "raftcmp-plugin-canonical not built: it needs libraft and libuv (apt-get install libraft-dev libuv1-dev gcc pkg-config)"
endif
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

$(BIN)/raftcmp-plugin-canonical: FORCE
	CGO_ENABLED=1 $(GO) build -ldflags '-X github.com/raftcmp/raftcmp/plugins/canonical.libraftVersion=$(shell pkg-config --modversion raft)' -o $@ ./plugins/canonical/plugin

# The built-in default experiment (examples/quick.yaml): every backend
# found, the baseline and a follower held to 5% CPU, a short sweep. The full
# original experiment is examples/follower-slow-cpu.yaml.
run: build
	$(BIN)/raftcmp run -f examples/quick.yaml --plugin-dir $(BIN) --overwrite

# Under CGO_ENABLED=0 the canonical backend's cgo files are left out by
# their build constraints; its tests run in their own step with cgo, and
# the Go side of its glue once more under the race detector.
test: build tidy-check
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
ifeq ($(HAVE_LIBRAFT),yes)
	CGO_ENABLED=1 $(GO) vet ./plugins/canonical/...
	CGO_ENABLED=1 $(GO) test -count=1 -timeout 20m ./plugins/canonical/...
	CGO_ENABLED=1 $(GO) test -count=1 -race -run 'TestConcurrentUseAndStopInFlight|TestSnapshotsCounted' ./plugins/canonical/
endif

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
