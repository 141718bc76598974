// Package noop is a backend that replicates nothing: a one-node "cluster"
// whose Propose applies the payload to the digest at once. It exists to
// measure raftcmp itself: the load generator's ceiling and the harness's
// cost per operation, with no Raft library in the way (make bench).
//
// It is honest about what it is: it supports only one-node clusters (Start
// returns adapter.ErrUnsupported for more) and only storage memory.
package noop

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Node is a one-node cluster that commits every proposal instantly.
type Node struct {
	mu      sync.Mutex
	id      uint64
	started bool
	d       adapter.Digest
}

// New returns an unstarted node.
func New() *Node { return &Node{} }

// Describe implements adapter.Node.
func (n *Node) Describe() adapter.Description {
	return adapter.Description{
		Name:   "noop",
		Module: "github.com/raftcmp/raftcmp",
		Capabilities: adapter.Capabilities{
			Storage:  []adapter.Storage{adapter.StorageMemory},
			MaxNodes: 1,
			// Its one node is the whole cluster: its local state is every
			// acknowledged write, so both modes it declares are exact.
			ReadModes: []adapter.ReadMode{adapter.ReadLinearizable, adapter.ReadStale},
		},
	}
}

// Settings implements adapter.Node: noop has no Raft, so it has nothing to
// report and honours no shared knob.
func (n *Node) Settings(cfg adapter.Config) (adapter.Settings, error) {
	if err := cfg.Options.Reader().Err(); err != nil {
		return adapter.Settings{}, err
	}
	return adapter.Settings{Unhonoured: cfg.Raft.NoEquivalent("noop has no Raft: it applies each proposal at once on its one node")}, nil
}

// Start implements adapter.Node.
func (n *Node) Start(ctx context.Context, cfg adapter.Config) error {
	if len(cfg.Peers) != 1 {
		return fmt.Errorf("noop runs as a one-node cluster, not %d nodes: %w", len(cfg.Peers), adapter.ErrUnsupported)
	}
	if cfg.Storage != adapter.StorageMemory {
		return fmt.Errorf("storage %q: %w", cfg.Storage, adapter.ErrUnsupported)
	}
	if err := cfg.Options.Reader().Err(); err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.id, n.started = cfg.ID, true
	return nil
}

// Propose implements adapter.Node: the payload is applied before it returns.
func (n *Node) Propose(ctx context.Context, payload []byte) (uint64, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started {
		return 0, errors.New("node not started")
	}
	n.d.Add(payload)
	return n.d.Count(), nil
}

// Read implements adapter.Node: a one-node cluster's local state is
// linearizable; noop has no lease.
func (n *Node) Read(ctx context.Context, mode adapter.ReadMode) (adapter.ReadState, error) {
	if mode != adapter.ReadLinearizable && mode != adapter.ReadStale {
		return adapter.ReadState{}, fmt.Errorf("read mode %q: %w", mode, adapter.ErrUnsupported)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started {
		return adapter.ReadState{}, errors.New("node not started")
	}
	return adapter.ReadState{AppliedPayloads: n.d.Count(), Digest: n.d.Sum()}, nil
}

// Status implements adapter.Node.
func (n *Node) Status(ctx context.Context) (adapter.Status, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started {
		return adapter.Status{}, errors.New("node not started")
	}
	c := n.d.Count()
	return adapter.Status{
		ID: n.id, Role: adapter.RoleLeader, Leader: n.id, Term: 1,
		Commit: c + 1, Applied: c + 1, AppliedPayloads: c, Digest: n.d.Sum(),
	}, nil
}

// Stop implements adapter.Node.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.started = false
	return nil
}
