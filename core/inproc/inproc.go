// Package inproc runs a Raft cluster of adapter.Nodes inside the calling
// process: the same adapter code raftcmp runs as plugins, on the same
// loopback transport and storage, without the process boundary. It is the
// reference a plugin run is compared against (make bench): the ratio of the
// two is what raftcmp's own architecture costs.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
)

// Cluster is an in-process cluster.
type Cluster struct {
	Nodes []adapter.Node
	dir   string
}

// Start starts n nodes made by newNode, each with its own data directory
// under dataRoot and a loopback port, and waits (until ctx ends) for the
// same readiness raftcmp requires of a plugin cluster (cluster.Ready).
func Start(ctx context.Context, newNode func() adapter.Node, n int, storage adapter.Storage, opts adapter.Options, dataRoot string) (c *Cluster, err error) {
	c = &Cluster{}
	defer func() {
		if err != nil {
			c.Stop(context.WithoutCancel(ctx))
		}
	}()
	if c.dir, err = os.MkdirTemp(dataRoot, "raftcmp-inproc-"); err != nil {
		return c, fmt.Errorf("create data dir: %w", err)
	}
	addrs, err := cluster.FreeAddrs(n)
	if err != nil {
		return c, err
	}
	peers := make([]adapter.Peer, n)
	for i := range peers {
		peers[i] = adapter.Peer{ID: uint64(i + 1), Addr: addrs[i]}
		c.Nodes = append(c.Nodes, newNode())
	}
	return c, c.start(ctx, peers, storage, opts)
}

func (c *Cluster) start(ctx context.Context, peers []adapter.Peer, storage adapter.Storage, opts adapter.Options) error {
	for i, node := range c.Nodes {
		dir := filepath.Join(c.dir, "node-"+strconv.Itoa(i+1))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		cfg := adapter.Config{ID: peers[i].ID, Listen: peers[i].Addr, Peers: peers, DataDir: dir, Storage: storage, Options: opts}
		if err := node.Start(ctx, cfg); err != nil {
			return fmt.Errorf("start node %d: %w", cfg.ID, err)
		}
	}
	return cluster.Poll(ctx, "an in-process leader", func(ctx context.Context) (bool, string, error) {
		st, err := c.statuses(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		ok, why := cluster.Ready(st)
		return ok, why, nil
	})
}

func (c *Cluster) statuses(ctx context.Context) ([]adapter.Status, error) {
	st := make([]adapter.Status, len(c.Nodes))
	for i, n := range c.Nodes {
		var err error
		if st[i], err = n.Status(ctx); err != nil {
			return nil, fmt.Errorf("status of node %d: %w", i+1, err)
		}
	}
	return st, nil
}

// Leader returns the node that reports itself leader.
func (c *Cluster) Leader(ctx context.Context) (adapter.Node, error) {
	st, err := c.statuses(ctx)
	if err != nil {
		return nil, err
	}
	for i, s := range st {
		if s.Role == adapter.RoleLeader {
			return c.Nodes[i], nil
		}
	}
	return nil, errors.New("no node reports itself leader")
}

// Converge waits until every node applied the same log (cluster.Converged).
func (c *Cluster) Converge(ctx context.Context) ([]adapter.Status, error) {
	var st []adapter.Status
	err := cluster.Poll(ctx, "in-process nodes to converge", func(ctx context.Context) (bool, string, error) {
		var err error
		if st, err = c.statuses(ctx); err != nil {
			return false, err.Error(), nil
		}
		ok, why := cluster.Converged(st)
		return ok, why, nil
	})
	return st, err
}

// Stop stops every node and removes the data directories.
func (c *Cluster) Stop(ctx context.Context) error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.Stop(ctx))
	}
	if c.dir != "" {
		errs = append(errs, os.RemoveAll(c.dir))
	}
	return errors.Join(errs...)
}
