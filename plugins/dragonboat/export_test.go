package dragonboat

import (
	"github.com/lni/dragonboat/v4/config"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Resolved is what the backend runs for a Config, as tests see it.
type Resolved struct {
	RTTMillis   uint64
	Shard       config.Config
	LogDB       string
	LogDBConfig config.LogDBConfig
	Report      adapter.Settings
}

func export(r resolved) Resolved {
	return Resolved{RTTMillis: r.rttMillis, Shard: r.shard, LogDB: r.logdb, LogDBConfig: r.logdbConfig, Report: r.report}
}

// Resolve is resolve for tests.
func Resolve(cfg adapter.Config) (Resolved, error) {
	r, err := resolve(cfg)
	return export(r), err
}

// Applied is what Start ran with.
func (n *Node) Applied() Resolved {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return export(n.applied)
}

// Running is the running NodeHost's configuration as dragonboat reports it.
func (n *Node) Running() config.NodeHostConfig {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.nh.NodeHostConfig()
}
