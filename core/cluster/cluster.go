// Package cluster launches, addresses, watches and tears down the N node
// processes that form one Raft cluster of one backend. How a node's
// process starts is its Launcher's business (LocalLauncher: a plugin
// process on this machine); what else must happen around each node's life
// (cgroups, link proxies for faults) comes in through Hooks, so this
// package knows nothing of faults.
//
// Start returns only when the cluster is ready: every node is up, all agree
// on one leader, and every node has applied everything the leader had
// committed when it was elected (its bootstrap and no-op entries). Stop ends
// every process it started and removes the data directories, on every path.
package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/ownership"
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
	// Raft is the shared Raft knobs passed to every node (zero: each
	// backend's production values).
	Raft adapter.Raft
	// ReadMode is the consistent read mode passed to every node
	// (adapter.Config.ReadMode; empty: linearizable).
	ReadMode adapter.ReadMode
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
	// GOMAXPROCS is each node process's GOMAXPROCS: 0 leaves it to Go
	// (every CPU), a positive value sets it. See experiment.GOMAXPROCSFor.
	GOMAXPROCS int
	// Launcher starts the node processes (default LocalLauncher).
	Launcher Launcher
	// Hooks are called around each node's life (see Hooks).
	Hooks Hooks
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

	cfg      adapter.Config
	settings *adapter.Settings // what the node said it runs, before its first Start; guarded by mu
	mu       sync.Mutex
	proc     Process
	down     bool // stopped or killed on purpose
	// final holds, for each process of this member that raftcmp stopped
	// or killed, its Usage read just before: an ended process's counters
	// can no longer be read (FinalUsage).
	final map[Process]Usage
}

// FinalUsage is what process p of this member had used when raftcmp
// stopped or killed it (read just before), and whether that was recorded:
// not for a process that is still running, crashed on its own, or whose
// counters could not be read.
func (m *Member) FinalUsage(p Process) (Usage, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.final[p]
	return u, ok
}

// recordFinalUsage keeps p's usage before raftcmp ends it; see FinalUsage.
func (m *Member) recordFinalUsage(p Process) {
	if p == nil || p.Exited() {
		return
	}
	u, err := p.Usage()
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.final == nil {
		m.final = map[Process]Usage{}
	}
	m.final[p] = u
}

// Process is the member's current process (nil before launch).
func (m *Member) Process() Process {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc
}

// Node is the node in the member's current process.
func (m *Member) Node() Node { return m.Process().Node() }

// PID is the member's current process id.
func (m *Member) PID() int { return m.Process().PID() }

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

// WaitExit waits up to d for the member's process to end (a failed RPC
// often arrives just before the exit is noticed) and, if it ended, reaps
// it so that everything it wrote is in its StderrTail. It reports whether
// it ended.
func (m *Member) WaitExit(d time.Duration) bool {
	p := m.Process()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if Poll(ctx, "process exit", func(context.Context) (bool, string, error) { return p.Exited(), "running", nil }) != nil {
		return false
	}
	p.Close()
	return true
}

// Cluster is a running cluster. Its methods are safe for concurrent use.
type Cluster struct {
	spec    Spec
	dataDir string
	mmu     sync.RWMutex // guards members, which AddMember appends to
	members []*Member
	stop    sync.Once
	stopErr error
}

// all is the members, in id order, as of now.
func (c *Cluster) all() []*Member {
	c.mmu.RLock()
	defer c.mmu.RUnlock()
	return slices.Clone(c.members)
}

// Start launches spec.Nodes node processes, starts a Raft node in each
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
	if spec.Launcher == nil {
		spec.Launcher = LocalLauncher{}
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
	addrs, err := spec.Launcher.Addrs(spec.Nodes)
	if err != nil {
		return c, err
	}
	c.members = make([]*Member, spec.Nodes)
	nodes := make([]adapter.Peer, spec.Nodes)
	for i := range c.members {
		id := uint64(i + 1)
		c.members[i] = &Member{ID: id, Addr: addrs[i], DataDir: filepath.Join(c.dataDir, "node-"+strconv.FormatUint(id, 10))}
		nodes[i] = adapter.Peer{ID: id, Addr: addrs[i]}
	}
	if h := spec.Hooks.Prepare; h != nil {
		if err := h(ctx, nodes); err != nil {
			return c, err
		}
	}
	if err := c.each(func(m *Member) error { return c.launch(ctx, m) }); err != nil {
		return c, err
	}
	for _, m := range c.members {
		// Each node reaches its peers directly, or where the hooks say.
		var peers []adapter.Peer
		for _, p := range c.members {
			addr := p.Addr
			if h := spec.Hooks.PeerAddr; h != nil && p.ID != m.ID {
				addr = cmp.Or(h(m.ID, p.ID), addr)
			}
			peers = append(peers, adapter.Peer{ID: p.ID, Addr: addr})
		}
		m.cfg = adapter.Config{ID: m.ID, Listen: m.Addr, Peers: peers, DataDir: m.DataDir, Storage: spec.Storage, Options: spec.Options, Raft: spec.Raft, ReadMode: spec.ReadMode}
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

// startNode asks the Raft node in m's process what it will run, then
// starts it.
func (c *Cluster) startNode(ctx context.Context, m *Member) error {
	p := m.Process()
	set, err := p.Node().Settings(m.cfg)
	if err != nil {
		return fmt.Errorf("settings: %w", err)
	}
	m.mu.Lock()
	if m.settings == nil { // a restart keeps what the first start ran
		m.settings = &set
	}
	m.mu.Unlock()
	if err := p.Node().Start(ctx, m.cfg); err != nil {
		if errors.Is(err, adapter.ErrUnsupported) {
			return fmt.Errorf("start: %w", err) // a refusal, not a crash: the same for every node
		}
		return fmt.Errorf("start: %w%s", err, p.StderrTail())
	}
	return nil
}

// launch starts m's process, tells the hooks, and checks the backend can
// run the spec.
func (c *Cluster) launch(ctx context.Context, m *Member) error {
	req := LaunchRequest{Plugin: c.spec.Plugin, ID: m.ID, DataDir: m.DataDir, GOMAXPROCS: c.spec.GOMAXPROCS}
	if c.spec.LogDir != "" {
		req.LogPath = filepath.Join(c.spec.LogDir, fmt.Sprintf("node-%d.log", m.ID))
	}
	p, err := c.spec.Launcher.Launch(ctx, req)
	if err != nil {
		return fmt.Errorf("launch: %w", err)
	}
	m.mu.Lock()
	m.proc, m.down = p, false
	m.mu.Unlock()
	if h := c.spec.Hooks.Started; h != nil {
		if err := h(ctx, m.ID, p); err != nil {
			return err
		}
	}
	if d := p.Node().Describe(); !d.Capabilities.Supports(c.spec.Storage) {
		return fmt.Errorf("storage %q: %w (%s supports %v)", c.spec.Storage, adapter.ErrUnsupported, c.spec.Plugin.Name, d.Capabilities.Storage)
	}
	return nil
}

// each runs f for every member concurrently. Its error says each reason
// once, naming the nodes that failed with it ("nodes 1,2,3: ...").
func (c *Cluster) each(f func(*Member) error) error { return c.eachOf(c.all(), f) }

// eachOf is each over the given members.
func (c *Cluster) eachOf(members []*Member, f func(*Member) error) error {
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() { errs[i] = f(m) })
	}
	wg.Wait()
	var out []*NodesError
	for i, err := range errs {
		if err == nil {
			continue
		}
		j := slices.IndexFunc(out, func(e *NodesError) bool { return e.Err.Error() == err.Error() })
		if j < 0 {
			out = append(out, &NodesError{Err: err})
			j = len(out) - 1
		}
		out[j].IDs = append(out[j].IDs, members[i].ID)
	}
	joined := make([]error, len(out))
	for i, e := range out {
		joined[i] = e
	}
	return errors.Join(joined...)
}

// NodesError is one reason for which the nodes it names failed.
type NodesError struct {
	IDs []uint64
	Err error
}

// Error is "node 2: reason" or "nodes 1,3: reason".
func (e *NodesError) Error() string {
	ids := make([]string, len(e.IDs))
	for i, id := range e.IDs {
		ids[i] = strconv.FormatUint(id, 10)
	}
	noun := "node "
	if len(ids) > 1 {
		noun = "nodes "
	}
	return noun + strings.Join(ids, ",") + ": " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *NodesError) Unwrap() error { return e.Err }

// Members returns the cluster's nodes in id order, those removed from
// its membership (RemoveMember) and those added (AddMember) included.
func (c *Cluster) Members() []*Member { return c.all() }

// Member returns the node with the given id, or nil.
func (c *Cluster) Member(id uint64) *Member {
	c.mmu.RLock()
	defer c.mmu.RUnlock()
	if id < 1 || id > uint64(len(c.members)) {
		return nil
	}
	return c.members[id-1]
}

// Description is the backend's description as its first node reported it.
func (c *Cluster) Description() adapter.Description { return c.all()[0].Node().Describe() }

// Settings is what the first node said, before it started, that it runs:
// every node of a cluster gets the same configuration but its id and
// addresses.
func (c *Cluster) Settings() adapter.Settings {
	m := c.all()[0]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.settings == nil {
		return adapter.Settings{}
	}
	return *m.settings
}

// DataDir is the directory holding every node's data directory.
func (c *Cluster) DataDir() string { return c.dataDir }

// Live returns the members meant to be running, in id order.
func (c *Cluster) Live() []*Member {
	var live []*Member
	for _, m := range c.all() {
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

// Stop stops every node, ends and reaps every node process, tears down
// what the hooks made (Hooks.Teardown) and removes the data directory
// (unless the spec keeps it). It is safe to call more than once and from a
// deferred cleanup with a cancelled context: each node gets a bounded,
// fresh grace period to stop cleanly before its process is killed.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stop.Do(func() {
		ctx = context.WithoutCancel(ctx)
		var errs []error
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, m := range c.all() {
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
		// Processes are gone; now what the hooks made for them can go too.
		if h := c.spec.Hooks.Teardown; h != nil {
			if err := h(); err != nil {
				errs = append(errs, err)
			}
		}
		if c.dataDir != "" && !c.spec.KeepData {
			if err := os.RemoveAll(c.dataDir); err != nil {
				errs = append(errs, fmt.Errorf("remove data dir: %w", err))
			}
			if r, ok := c.spec.Launcher.(DataRemover); ok {
				if err := r.RemoveData(ctx, c.dataDir); err != nil {
					errs = append(errs, fmt.Errorf("remove data dir: %w", err))
				}
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
		if err := p.Node().Stop(sctx); err != nil {
			slog.Warn("stop node", "node", m.ID, "pid", p.PID(), "err", err)
		}
	}
	if err := p.Close(); err != nil {
		return fmt.Errorf("node %d: %w", m.ID, err)
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
	m.recordFinalUsage(m.Process())
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
	m.recordFinalUsage(p)
	if err := p.Kill(); err != nil {
		return fmt.Errorf("kill node %d: %w", id, err)
	}
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
	for _, step := range []func(context.Context, *Member) error{c.launch, c.startNode} {
		if err := step(ctx, m); err != nil {
			return &NodesError{IDs: []uint64{id}, Err: err}
		}
	}
	if len(c.spec.CPUs) >= int(id) && c.spec.CPUs[id-1] >= 0 {
		return m.Process().Pin(c.spec.CPUs[id-1])
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
