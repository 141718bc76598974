package hashicorp_test

import (
	"testing"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
)

func TestMain(m *testing.M) { adaptertest.Main(m) }

func plugin(t *testing.T) adaptertest.Config {
	return adaptertest.Config{Plugin: adaptertest.BuildBackend(t, "hashicorp")}
}

// The conformance kit, through real plugin processes.
func TestConformance(t *testing.T) {
	adaptertest.Run(t, plugin(t))
}

// raft-wal, the other durable log store, keeps the contract too.
func TestConformanceRaftWAL(t *testing.T) {
	cfg := plugin(t)
	cfg.Options = adapter.Options{"log_store": "wal"}
	cfg.Only = []string{"every-storage-mode", "replicated-in-order", "restart-recovers", "stop-releases"}
	adaptertest.Run(t, cfg)
}
