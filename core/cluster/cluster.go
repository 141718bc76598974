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
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/ownership"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/netproxy"
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
	// GOMAXPROCS is each plugin process's GOMAXPROCS: 0 leaves it to Go
	// (every CPU), a positive value sets it. See experiment.GOMAXPROCSFor.
	GOMAXPROCS int
	// Cgroups, if set, puts every node process into a cgroup of its own
	// from the moment it starts (so a fault changes limits only, covering
	// every thread), named CgroupPrefix + "-n<id>", removed on Stop.
	Cgroups      *cgroup.Manager
	CgroupPrefix string
	// Proxied puts a TCP proxy on every directed link between nodes
	// (faults/netproxy), through which network faults act. Each node is
	// then given its own peer addresses.
	Proxied bool
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

// Member is one node of a running cluster. Its process can be stopped,
// killed and restarted on the same data directory and address.
type Member struct {
	ID      uint64
	Addr    string
	DataDir string

	cfg    adapter.Config
	cgroup *cgroup.Group
	mu     sync.Mutex
	proc   *Process
	down   bool // stopped or killed on purpose
}

// Cgroup is the member's own cgroup, or nil if the cluster has none.
func (m *Member) Cgroup() *cgroup.Group { return m.cgroup }

// Process is the member's current plugin process (nil before launch).
func (m *Member) Process() *Process {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc
}

// Node is the gRPC client of the member's current process.
func (m *Member) Node() *adapter.Client { return m.Process().Node }

// PID is the member's current OS process id.
func (m *Member) PID() int { return m.Process().Desc.PID }

// Live reports whether the member is meant to be running: it was not
// stopped or killed on purpose. (A live member's process may still have
// crashed; Exited says so.)
func (m *Member) Live() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.down && m.proc != nil
}

// Exited reports whether the member's process has ended.
func (m *Member) Exited() bool {
	p := m.Process()
	return p == nil || p.Exited()
}

// Cluster is a running cluster. Its methods are safe for concurrent use.
type Cluster struct {
	spec    Spec
	dataDir string
	members []*Member
	mesh    *netproxy.Mesh
	stop    sync.Once
	stopErr error

	mu     sync.Mutex
	extras []*cgroup.Group // made by NewCgroup
}

// Mesh is the cluster's link proxies, or nil if it is not proxied.
func (c *Cluster) Mesh() *netproxy.Mesh { return c.mesh }

// NewCgroup creates an extra cgroup named after the cluster's (for a
// fault's competing process); it is deleted on Stop if not before.
func (c *Cluster) NewCgroup(suffix string) (*cgroup.Group, error) {
	if c.spec.Cgroups == nil {
		return nil, errors.New("the cluster was started without cgroups")
	}
	g, err := c.spec.Cgroups.Create(c.spec.CgroupPrefix + "-" + suffix)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.extras = append(c.extras, g)
	c.mu.Unlock()
	return g, nil
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
	if spec.Cgroups != nil && spec.CgroupPrefix == "" {
		spec.CgroupPrefix = fmt.Sprintf("%s%d-%d", cgroup.Prefix, os.Getpid(), time.Now().UnixNano()%1e9)
	}
	c = &Cluster{spec: spec}
	defer func() {
		if err != nil {
			c.Stop(context.WithoutCancel(ctx))
		}
	}()
	c.dataDir, err = ownership.MkdirTemp(spec.DataRoot, "raftcmp-"+spec.Plugin.Name+"-")
	if err != nil {
		return c, fmt.Errorf("create data dir: %w", err)
	}
	addrs, err := FreeAddrs(spec.Nodes)
	if err != nil {
		return c, err
	}
	c.members = make([]*Member, spec.Nodes)
	var meshNodes []netproxy.Node
	for i := range c.members {
		id := uint64(i + 1)
		c.members[i] = &Member{ID: id, Addr: addrs[i], DataDir: filepath.Join(c.dataDir, "node-"+strconv.FormatUint(id, 10))}
		meshNodes = append(meshNodes, netproxy.Node{ID: id, Addr: addrs[i]})
	}
	if spec.Proxied {
		if c.mesh, err = netproxy.NewMesh(meshNodes); err != nil {
			return c, fmt.Errorf("start link proxies: %w", err)
		}
	}
	if err := c.each(func(m *Member) error { return c.launch(ctx, m) }); err != nil {
		return c, err
	}
	for _, m := range c.members {
		// Each node reaches its peers directly, or through its own proxies.
		var peers []adapter.Peer
		for _, p := range c.members {
			addr := p.Addr
			if c.mesh != nil {
				addr = c.mesh.PeerAddr(m.ID, p.ID)
			}
			peers = append(peers, adapter.Peer{ID: p.ID, Addr: addr})
		}
		m.cfg = adapter.Config{ID: m.ID, Listen: m.Addr, Peers: peers, DataDir: m.DataDir, Storage: spec.Storage, Options: spec.Options}
	}
	if err := c.each(func(m *Member) error { return c.startNode(ctx, m) }); err != nil {
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

// startNode starts the Raft node in m's process.
func (c *Cluster) startNode(ctx context.Context, m *Member) error {
	p := m.Process()
	if err := p.Node.Start(ctx, m.cfg); err != nil {
		return fmt.Errorf("start node %d: %w%s", m.ID, err, p.StderrTail())
	}
	return nil
}

// launch starts m's plugin process and checks it can run the spec.
func (c *Cluster) launch(ctx context.Context, m *Member) error {
	if err := os.MkdirAll(m.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir of node %d: %w", m.ID, err)
	}
	opts := LaunchOptions{GOMAXPROCS: c.spec.GOMAXPROCS, Checksum: c.spec.Plugin.Checksum}
	if c.spec.LogDir != "" {
		opts.LogPath = filepath.Join(c.spec.LogDir, fmt.Sprintf("node-%d.log", m.ID))
	}
	p, err := Launch(ctx, c.spec.Plugin.Path, opts)
	if err != nil {
		return fmt.Errorf("launch node %d: %w", m.ID, err)
	}
	m.mu.Lock()
	m.proc, m.down = p, false
	m.mu.Unlock()
	if c.spec.Cgroups != nil {
		if m.cgroup == nil {
			g, err := c.spec.Cgroups.Create(fmt.Sprintf("%s-n%d", c.spec.CgroupPrefix, m.ID))
			if err != nil {
				return fmt.Errorf("cgroup of node %d: %w", m.ID, err)
			}
			m.cgroup = g
		}
		if err := m.cgroup.AddProcess(p.Desc.PID); err != nil {
			return fmt.Errorf("put node %d (pid %d) in its cgroup: %w", m.ID, p.Desc.PID, err)
		}
	}
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
func (c *Cluster) Description() adapter.Description { return c.members[0].Process().Desc }

// DataDir is the directory holding every node's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// Live returns the members meant to be running, in id order.
func (c *Cluster) Live() []*Member {
	var live []*Member
	for _, m := range c.members {
		if m.Live() {
			live = append(live, m)
		}
	}
	return live
}

// Statuses polls every live member once, in id order. For a member that
// cannot answer, errs holds the reason (and its Status is zero).
func (c *Cluster) Statuses(ctx context.Context) ([]adapter.Status, []error) {
	live := c.Live()
	st := make([]adapter.Status, len(live))
	errs := make([]error, len(live))
	var wg sync.WaitGroup
	for i, m := range live {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, statusTimeout)
			defer cancel()
			st[i], errs[i] = m.Node().Status(sctx)
			if errs[i] != nil {
				st[i].ID = m.ID
				errs[i] = describeFailure(m, errs[i])
			}
		})
	}
	wg.Wait()
	return st, errs
}

// describeFailure adds what raftcmp knows about a failed member to err.
func describeFailure(m *Member, err error) error {
	if m.Exited() {
		return fmt.Errorf("node %d (pid %d): plugin process exited: %w%s", m.ID, m.PID(), err, m.Process().StderrTail())
	}
	return fmt.Errorf("node %d (pid %d): %w", m.ID, m.PID(), err)
}

// statusTimeout bounds one Status call; a node that cannot answer in this
// long is treated as failing that poll.
const statusTimeout = 2 * time.Second

// WaitReady waits until every member answers and Ready holds.
func (c *Cluster) WaitReady(ctx context.Context) error {
	return Poll(ctx, "a leader elected and its first entries applied on every node", func(ctx context.Context) (bool, string, error) {
		st, errs := c.Statuses(ctx)
		if err := errors.Join(errs...); err != nil {
			return false, err.Error(), exitedError(c, err)
		}
		ok, why := Ready(st)
		return ok, why, nil
	})
}

// Ready reports whether a cluster whose live nodes report st is ready for
// load: all name the same leader, that leader is among them and says it
// leads, and every node has applied at least what the leader reports
// committed. (A new leader's commit index may still be its predecessor's
// until its own first entry commits, so this does not promise that entry
// is applied; proposals made then simply queue behind it.) When not, it
// says what is missing.
func Ready(st []adapter.Status) (bool, string) {
	leader := st[0].Leader
	if leader == 0 {
		return false, fmt.Sprintf("no leader known to node %d", st[0].ID)
	}
	i := slices.IndexFunc(st, func(s adapter.Status) bool { return s.ID == leader })
	if i < 0 {
		return false, fmt.Sprintf("node %d follows node %d, which is not running", st[0].ID, leader)
	}
	ls := st[i]
	if ls.Role != adapter.RoleLeader || ls.Commit == 0 {
		return false, fmt.Sprintf("node %d is named leader but reports role %s, commit %d", leader, ls.Role, ls.Commit)
	}
	for _, s := range st {
		if s.Leader != leader {
			return false, fmt.Sprintf("node %d follows %d, node %d follows %d", s.ID, s.Leader, st[0].ID, leader)
		}
		if s.Applied < ls.Commit {
			return false, fmt.Sprintf("node %d applied %d of the leader's commit %d", s.ID, s.Applied, ls.Commit)
		}
	}
	return true, ""
}

// exitedError turns a status failure into a final error if a live member's
// process has ended (waiting longer cannot help), or nil to keep waiting.
func exitedError(c *Cluster, err error) error {
	for _, m := range c.Live() {
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
				leader = c.Member(s.ID)
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
			if m == nil || m.Process() == nil {
				continue
			}
			wg.Go(func() {
				if err := m.stopProcess(ctx); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		// Processes are gone; now their cgroups and proxies can go too.
		c.mu.Lock()
		extras := c.extras
		c.mu.Unlock()
		for _, g := range extras {
			if err := g.Delete(); err != nil {
				errs = append(errs, err)
			}
		}
		for _, m := range c.members {
			if m != nil && m.cgroup != nil {
				if err := m.cgroup.Delete(); err != nil {
					errs = append(errs, fmt.Errorf("delete cgroup of node %d: %w", m.ID, err))
				}
			}
		}
		if c.mesh != nil {
			if err := c.mesh.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close link proxies: %w", err))
			}
		}
		if c.dataDir != "" && !c.spec.KeepData {
			if err := os.RemoveAll(c.dataDir); err != nil {
				errs = append(errs, fmt.Errorf("remove data dir: %w", err))
			}
		}
		ownership.ReleaseDir(c.dataDir, c.spec.KeepData)
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// stopProcess stops m's node cleanly if it answers, then ends and reaps its
// process.
func (m *Member) stopProcess(ctx context.Context) error {
	p := m.Process()
	if !p.Exited() {
		sctx, cancel := context.WithTimeout(ctx, stopTimeout)
		defer cancel()
		if err := p.Node.Stop(sctx); err != nil {
			slog.Warn("stop node", "node", m.ID, "pid", p.Desc.PID, "err", err)
		}
	}
	p.Kill()
	if isAlive(p.Desc.PID) {
		return fmt.Errorf("node %d: process %d still alive after kill", m.ID, p.Desc.PID)
	}
	return nil
}

// StopMember stops node id cleanly and ends its process; the member is no
// longer live until RestartMember.
func (c *Cluster) StopMember(ctx context.Context, id uint64) error {
	m := c.Member(id)
	if m == nil {
		return fmt.Errorf("no node %d", id)
	}
	m.mu.Lock()
	m.down = true
	m.mu.Unlock()
	return m.stopProcess(context.WithoutCancel(ctx))
}

// KillMember ends node id's process with SIGKILL, as a crash would, and
// reaps it; the member is no longer live until RestartMember.
func (c *Cluster) KillMember(id uint64) error {
	m := c.Member(id)
	if m == nil {
		return fmt.Errorf("no node %d", id)
	}
	m.mu.Lock()
	m.down = true
	p := m.proc
	m.mu.Unlock()
	if err := syscall.Kill(p.Desc.PID, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return fmt.Errorf("kill node %d (pid %d): %w", id, p.Desc.PID, err)
	}
	p.Kill() // reaps
	return nil
}

// RestartMember starts a new process for a stopped or killed node id on the
// same data directory and address, and starts its node with the same
// configuration (recovering from its data, if its storage is durable). It
// does not wait for the node to catch up.
func (c *Cluster) RestartMember(ctx context.Context, id uint64) error {
	m := c.Member(id)
	if m == nil {
		return fmt.Errorf("no node %d", id)
	}
	if m.Live() {
		return fmt.Errorf("node %d is running", id)
	}
	if err := c.launch(ctx, m); err != nil {
		return err
	}
	if err := c.startNode(ctx, m); err != nil {
		return err
	}
	if len(c.spec.CPUs) >= int(id) && c.spec.CPUs[id-1] >= 0 {
		return PinProcess(m.PID(), c.spec.CPUs[id-1])
	}
	return nil
}

// stopTimeout bounds a node's clean shutdown before its process is killed.
const stopTimeout = 5 * time.Second

// FreeAddrs returns n distinct loopback addresses with ports that were free
// a moment ago. The ports are released before the plugins bind them, so
// another program could take one in between; a plugin that cannot bind then
// fails Start with a clear error rather than the run hanging.
func FreeAddrs(n int) ([]string, error) {
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
