package hashicorp

import "github.com/raftcmp/raftcmp/core/adapter"

// Settings implements adapter.Node. Interim: the shared knobs are not mapped
// yet, so each one set is reported as not honoured.
func (n *Node) Settings(cfg adapter.Config) (adapter.Settings, error) {
	return adapter.Settings{Unhonoured: cfg.Raft.NoEquivalent("not mapped by this adapter yet")}, nil
}
