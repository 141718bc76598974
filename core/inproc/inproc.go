// Package inproc runs a cluster's nodes inside the calling process: the
// same adapter code raftcmp runs as plugins, on the same loopback transport
// and storage, without the process boundary. It is the reference a plugin
// run is compared against (make bench): the ratio of the two is what
// raftcmp's own architecture costs.
//
// It is a cluster.Launcher, so an in-process cluster is started, waited
// for, loaded, checked and stopped by the very code that drives plugin
// clusters:
//
//	c, err := cluster.Start(ctx, cluster.Spec{Launcher: inproc.Launcher{New: newNode}, ...})
package inproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
)

// Launcher makes each node with New in the calling process.
type Launcher struct {
	// New returns a fresh, unstarted node.
	New func() adapter.Node
}

// Addrs returns free loopback addresses (cluster.FreeAddrs).
func (Launcher) Addrs(n int) ([]string, error) { return cluster.FreeAddrs(n) }

// Launch creates req.DataDir and makes the node.
func (l Launcher) Launch(ctx context.Context, req cluster.LaunchRequest) (cluster.Process, error) {
	if err := os.MkdirAll(req.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	return &process{node: node{l.New()}}, nil
}

// node runs the load generator in this process, which is the node's.
type node struct{ adapter.Node }

func (n node) RunLoad(ctx context.Context, spec load.Spec) (*load.Result, error) {
	return load.RunClient(ctx, spec, adapter.LoadClient(n.Node))
}

// errShared is what the process-level operations say: every node shares
// this process, so none of them can be killed, pinned or measured alone.
var errShared = errors.New("an in-process node shares the calling process")

// process is a node hosted in the calling process.
type process struct {
	node   node
	closed atomic.Bool
}

func (p *process) Node() cluster.Node            { return p.node }
func (p *process) PID() int                      { return os.Getpid() }
func (p *process) Exited() bool                  { return p.closed.Load() }
func (p *process) Kill() error                   { return errShared }
func (p *process) StderrTail() string            { return "" }
func (p *process) Pin(int) error                 { return errShared }
func (p *process) Usage() (cluster.Usage, error) { return cluster.Usage{}, errShared }

// Close marks the process ended; the cluster has stopped its node already.
func (p *process) Close() error {
	p.closed.Store(true)
	return nil
}
