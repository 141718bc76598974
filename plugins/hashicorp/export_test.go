package hashicorp

import (
	"github.com/hashicorp/raft"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Resolved is what the backend runs for a Config, as tests see it.
type Resolved struct {
	Conf      raft.Config
	Transport raft.NetworkTransportConfig
	LogStore  string
	LogCache  int
	Report    adapter.Settings
}

func export(r resolved) Resolved {
	return Resolved{Conf: r.conf, Transport: r.transport, LogStore: r.logStore, LogCache: r.logCache, Report: r.report}
}

// Resolve is resolve for tests.
func Resolve(cfg adapter.Config) (Resolved, error) {
	r, err := resolve(cfg)
	return export(r), err
}

// Applied is what Start ran with.
func (n *Node) Applied() Resolved {
	n.mu.Lock()
	defer n.mu.Unlock()
	return export(n.applied)
}

// Running is the running raft.Raft's own copy of its reloadable settings.
func (n *Node) Running() raft.ReloadableConfig {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.raft.ReloadableConfig()
}
