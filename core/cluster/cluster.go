// Package cluster launches, addresses, watches and tears down the N plugin
// processes that form one Raft cluster of one backend.
//
// Start returns only when the cluster is ready: every node is up, all agree
// on one leader, and every node has applied everything the leader had
// committed when it was elected (its bootstrap and no-op entries). Stop ends
// every process it started and removes the data directories, on every path.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Spec describes a cluster to start.
type Spec struct {
	// Plugin is the backend's binary.
	Plugin Plugin
	// Nodes is the cluster size (at least 1).
	Nodes int
	// Storage is the storage mode every node uses.
	Storage adapter.Storage
	// Options is backend-specific tuning passed to every node.
	Options adapter.Options
	// DataRoot is where the cluster's data directory is created; for
	// storage tmpfs it should be on a RAM file system (see DataRoot).
	DataRoot string
	// KeepData keeps the data directory after Stop.
	KeepData bool
	// LogDir, if set, receives one stderr log per node (node-<id>.log).
	LogDir string
	// CPUs pins node i (0-based) to CPU CPUs[i]; nil or a negative entry
	// leaves that node unpinned.
	CPUs []int
	// ReadyTimeout bounds the wait for a leader (default 60 s).
	ReadyTimeout time.Duration
}

// DataRoot returns the default directory under which a cluster with the
// given storage keeps its data: /dev/shm for tmpfs, the system temporary
// directory otherwise.
func DataRoot(s adapter.Storage) string {
	if s == adapter.StorageTmpfs {
		return "/dev/shm"
	}
	return os.TempDir()
}

// Member is one node of a running cluster.
type Member struct {
	ID      uint64
	Addr    string
	DataDir string
	*Process
}

// PID is the member's OS process id.
func (m *Member) PID() int { return m.Desc.PID }

// Cluster is a running cluster. Its methods are safe for concurrent use.
type Cluster struct {
	spec    Spec
	dataDir string
	members []*Member
	stop    sync.Once
	stopErr error
}

// Start launches spec.Nodes plugin processes, starts a Raft node in each
// and waits until the cluster is ready. On error everything already started
// is torn down before Start returns.
func Start(ctx context.Context, spec Spec) (c *Cluster, err error) {
	if spec.Nodes < 1 {
		return nil, fmt.Errorf("nodes: %d, must be at least 1", spec.Nodes)
	}
	if spec.ReadyTimeout == 0 {
		spec.ReadyTimeout = 60 * time.Second
	}
	if spec.DataRoot == "" {
		spec.DataRoot = DataRoot(spec.Storage)
	}
	c = &Cluster{spec: spec}
	defer func() {
		if err != nil {
			c.Stop(context.WithoutCancel(ctx))
		}
	}()
	c.dataDir, err = os.MkdirTemp(spec.DataRoot, "raftcmp-"+spec.Plugin.Name+"-")
	if err != nil {
		return c, fmt.Errorf("create data dir: %w", err)
	}
	addrs, err := freeAddrs(spec.Nodes)
	if err != nil {
		return c, err
	}
	peers := make([]adapter.Peer, spec.Nodes)
	c.members = make([]*Member, spec.Nodes)
	for i := range c.members {
		id := uint64(i + 1)
		peers[i] = adapter.Peer{ID: id, Addr: addrs[i]}
		c.members[i] = &Member{ID: id, Addr: addrs[i], DataDir: filepath.Join(c.dataDir, "node-"+strconv.FormatUint(id, 10))}
	}
	if err := c.each(func(m *Member) error { return c.launch(ctx, m) }); err != nil {
		return c, err
	}
	if err := c.each(func(m *Member) error {
		cfg := adapter.Config{ID: m.ID, Peers: peers, DataDir: m.DataDir, Storage: spec.Storage, Options: spec.Options}
		if err := m.Node.Start(ctx, cfg); err != nil {
			return fmt.Errorf("start node %d: %w%s", m.ID, err, m.StderrTail())
		}
		return nil
	}); err != nil {
		return c, err
	}
	if err := c.pin(); err != nil {
		return c, err
	}
	rctx, cancel := context.WithTimeout(ctx, spec.ReadyTimeout)
	defer cancel()
	if err := c.WaitReady(rctx); err != nil {
		return c, err
	}
	return c, nil
}

// launch starts m's plugin process and checks it can run the spec.
func (c *Cluster) launch(ctx context.Context, m *Member) error {
	if err := os.MkdirAll(m.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir of node %d: %w", m.ID, err)
	}
	opts := LaunchOptions{}
	if c.spec.LogDir != "" {
		opts.LogPath = filepath.Join(c.spec.LogDir, fmt.Sprintf("node-%d.log", m.ID))
	}
	p, err := Launch(ctx, c.spec.Plugin.Path, opts)
	if err != nil {
		return fmt.Errorf("launch node %d: %w", m.ID, err)
	}
	m.Process = p
	if !p.Desc.Capabilities.Supports(c.spec.Storage) {
		return fmt.Errorf("storage %q: %w by %s (supports %v)", c.spec.Storage, adapter.ErrUnsupported, c.spec.Plugin.Name, p.Desc.Capabilities.Storage)
	}
	return nil
}

// each runs f for every member concurrently and returns the first error.
func (c *Cluster) each(f func(*Member) error) error {
	errs := make([]error, len(c.members))
	var wg sync.WaitGroup
	for i, m := range c.members {
		wg.Go(func() { errs[i] = f(m) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Members returns the cluster's nodes in id order.
func (c *Cluster) Members() []*Member { return c.members }

// Member returns the node with the given id, or nil.
func (c *Cluster) Member(id uint64) *Member {
	if id < 1 || id > uint64(len(c.members)) {
		return nil
	}
	return c.members[id-1]
}

// Description is the backend's description as its first node reported it.
func (c *Cluster) Description() adapter.Description { return c.members[0].Desc }

// DataDir is the directory holding every node's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// Statuses polls every member once, in id order. A member that cannot
// answer has a nil-free zero Status and its error in errs.
func (c *Cluster) Statuses(ctx context.Context) ([]adapter.Status, []error) {
	st := make([]adapter.Status, len(c.members))
	errs := make([]error, len(c.members))
	var wg sync.WaitGroup
	for i, m := range c.members {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			st[i], errs[i] = m.Node.Status(sctx)
			if errs[i] != nil {
				errs[i] = c.describeFailure(m, errs[i])
			}
		})
	}
	wg.Wait()
	return st, errs
}

// describeFailure adds what raftcmp knows about a failed member to err.
func (c *Cluster) describeFailure(m *Member, err error) error {
	if m.Exited() {
		return fmt.Errorf("node %d (pid %d): plugin process exited: %w%s", m.ID, m.PID(), err, m.StderrTail())
	}
	return fmt.Errorf("node %d (pid %d): %w", m.ID, m.PID(), err)
}

// statusTimeout bounds one Status call; a node that cannot answer in this
// long is treated as failing that poll.
const statusTimeout = 2 * time.Second

// WaitReady waits until every member answers, all name the same leader, that
// leader says it leads, and every member has applied at least the leader's
// commit index (so the bootstrap and the new leader's first entry are
// applied everywhere).
func (c *Cluster) WaitReady(ctx context.Context) error {
	return Poll(ctx, "a leader elected and its first entries applied on every node", func(ctx context.Context) (bool, string, error) {
		st, errs := c.Statuses(ctx)
		if err := errors.Join(errs...); err != nil {
			return false, err.Error(), exitedError(c, err)
		}
		leader := st[0].Leader
		if leader == 0 || c.Member(leader) == nil {
			return false, "no leader known to node 1", nil
		}
		ls := st[leader-1]
		if ls.Role != adapter.RoleLeader || ls.Commit == 0 {
			return false, fmt.Sprintf("node %d is named leader but reports role %s, commit %d", leader, ls.Role, ls.Commit), nil
		}
		for _, s := range st {
			if s.Leader != leader {
				return false, fmt.Sprintf("node %d follows %d, node 1 follows %d", s.ID, s.Leader, leader), nil
			}
			if s.Applied < ls.Commit {
				return false, fmt.Sprintf("node %d applied %d of the leader's commit %d", s.ID, s.Applied, ls.Commit), nil
			}
		}
		return true, "", nil
	})
}

// exitedError turns a status failure into a final error if a member's
// process has ended (waiting longer cannot help), or nil to keep waiting.
func exitedError(c *Cluster, err error) error {
	for _, m := range c.members {
		if m.Exited() {
			return err
		}
	}
	return nil
}

// Leader returns the member that currently reports itself leader, waiting
// (until ctx ends) while there is none.
func (c *Cluster) Leader(ctx context.Context) (*Member, error) {
	var leader *Member
	err := Poll(ctx, "a leader", func(ctx context.Context) (bool, string, error) {
		st, errs := c.Statuses(ctx)
		for i, s := range st {
			if errs[i] == nil && s.Role == adapter.RoleLeader {
				leader = c.members[i]
				return true, "", nil
			}
		}
		return false, "no node reports itself leader", nil
	})
	return leader, err
}

// Stop stops every node, ends and reaps every plugin process and removes the
// data directory (unless the spec keeps it). It is safe to call more than
// once and from a deferred cleanup with a cancelled context: each node gets
// a bounded, fresh grace period to stop cleanly before its process is
// killed.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stop.Do(func() {
		ctx = context.WithoutCancel(ctx)
		var errs []error
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, m := range c.members {
			if m == nil || m.Process == nil {
				continue
			}
			wg.Go(func() {
				sctx, cancel := context.WithTimeout(ctx, stopTimeout)
				defer cancel()
				if !m.Exited() {
					if err := m.Node.Stop(sctx); err != nil {
						slog.Warn("stop node", "node", m.ID, "pid", m.PID(), "err", err)
					}
				}
				m.Kill()
				if isAlive(m.PID()) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("node %d: process %d still alive after kill", m.ID, m.PID()))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if c.dataDir != "" && !c.spec.KeepData {
			if err := os.RemoveAll(c.dataDir); err != nil {
				errs = append(errs, fmt.Errorf("remove data dir: %w", err))
			}
		}
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// stopTimeout bounds a node's clean shutdown before its process is killed.
const stopTimeout = 5 * time.Second

// freeAddrs returns n distinct loopback addresses with ports that were free
// a moment ago. The ports are released before the plugins bind them, so
// another program could take one in between; a plugin that cannot bind then
// fails Start with a clear error rather than the run hanging.
func freeAddrs(n int) ([]string, error) {
	addrs := make([]string, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("allocate a port: %w", err)
		}
		ls = append(ls, l)
		addrs[i] = l.Addr().String()
	}
	return addrs, nil
}
