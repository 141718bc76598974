// Package hashicorp adapts github.com/hashicorp/raft to raftcmp's
// adapter.Node. It is the adapter and nothing else: one raft.Raft per
// process with its TCP transport, a state machine that keeps the applied
// digest, and the library's own stores.
//
// # Choices a reader of a report should know
//
//   - Durable log store (storage disk and tmpfs): raft-boltdb/v2, the store
//     Consul, Nomad and Vault ship by default; it syncs every append batch.
//     raft-wal, which HashiCorp built as its faster successor, is one option
//     away (log_store=wal) so the two can be compared.
//     With either store a raft.LogCache of 512 entries sits in front of
//     the log, as Consul and Vault run it (log_cache=0 removes it).
//   - Storage memory: raft.InmemStore for the log and stable store.
//   - Timing and batching: raft.DefaultConfig, which is also what Consul
//     runs at performance.raft_multiplier=1, the value Consul's docs
//     recommend for production (1 s HeartbeatTimeout and ElectionTimeout,
//     500 ms leader lease, MaxAppendEntries 64, 2 appends in flight); the
//     transport as Consul and Nomad create it (MaxPool 3, 10 s timeout).
//   - The shared --raft knobs map as follows (settings.go, resolve, which
//     both Settings and Start use): election -> HeartbeatTimeout (the
//     follower's wait; ElectionTimeout, the candidate's wait, and the leader
//     lease follow it in raft.DefaultConfig's ratios); heartbeat is
//     HeartbeatTimeout/10 in hashicorp/raft and cannot be set on its own;
//     prevote -> PreVoteDisabled; checkquorum is the leader lease, always
//     on; append -> MaxAppendEntries (at most 1024); inflight ->
//     NetworkTransportConfig.MaxRPCsInFlight; snapshot -> SnapshotThreshold
//     checked every second; keep -> TrailingLogs. What cannot be honoured is reported, and an
//     explicit option for the same setting wins over a knob.
//   - Snapshots as Consul takes them (production): SnapshotThreshold 16384
//     checked every SnapshotInterval 30 s (randomised by the library to
//     30-60 s), TrailingLogs 10240, so a point of a few tens of seconds sees
//     at most one check. --raft snapshot=off (the uniform profile) puts them
//     out of reach; snapshot_threshold and snapshot_interval set them.
//     Status counts a snapshot when the FSM snapshot's Persist has closed
//     its sink, timed from the FSM's Snapshot call (log compaction, which
//     follows, is not seen), and an install at each FSM Restore after
//     NewRaft has returned (NewRaft restores the node's own snapshot).
//   - Propose on a follower returns adapter.NotLeaderError with the leader's
//     id: hashicorp/raft does not forward.
package hashicorp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Node is one hashicorp/raft cluster member.
type Node struct {
	mu        sync.Mutex
	raft      *raft.Raft
	transport *raft.NetworkTransport
	book      *peerBook // the address book the transport dials by (membership.go)
	closers   []io.Closer
	fsm       *fsm
	id        uint64
	applied   resolved // what Start ran with
	// readyTerm is the term in which this node, as leader, has seen a
	// barrier applied; see Read.
	readyTerm atomic.Uint64
}

// New returns an unstarted node.
func New() *Node { return &Node{} }

// Describe implements adapter.Node.
func (n *Node) Describe() adapter.Description {
	return adapter.Description{
		Name:   "hashicorp",
		Module: "github.com/hashicorp/raft",
		Capabilities: adapter.Capabilities{
			ForwardsProposals: false,
			Storage:           []adapter.Storage{adapter.StorageDisk, adapter.StorageTmpfs, adapter.StorageMemory},
			// hashicorp/raft has no lease read: its leader lease only
			// bounds how long a leader goes without contact before it
			// steps down, and no API serves a read from it.
			ReadModes: []adapter.ReadMode{adapter.ReadLinearizable, adapter.ReadStale},
			// AddVoter / RemoveServer: membership.go.
			Membership: true,
		},
	}
}

// Start implements adapter.Node.
func (n *Node) Start(ctx context.Context, cfg adapter.Config) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.raft != nil {
		return errors.New("already started")
	}
	s, err := resolve(cfg)
	if err != nil {
		return err
	}
	listen, err := cfg.ListenAddr()
	if err != nil {
		return err
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	conf := s.conf
	conf.LocalID = serverID(cfg.ID)
	conf.Logger = logger

	logs, stable, snaps, err := n.openStores(cfg, s.logStore, s.logCache, logger)
	if err != nil {
		n.closeAll()
		return err
	}
	addr, err := net.ResolveTCPAddr("tcp", listen)
	if err != nil {
		n.closeAll()
		return fmt.Errorf("resolve %s: %w", listen, err)
	}
	// Peers are dialled by id through this node's own peer list (the
	// contract: addresses may differ per node when raftcmp proxies links),
	// never by an address from the replicated configuration.
	tc := s.transport
	n.book = newPeerBook(cfg.Peers)
	tc.ServerAddressProvider = n.book
	tc.Logger = logger
	trans, err := raft.NewTCPTransportWithConfig(listen, addr, &tc)
	if err != nil {
		n.closeAll()
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	n.transport = trans

	existing, err := raft.HasExistingState(logs, stable, snaps)
	if err != nil {
		n.closeAll()
		return fmt.Errorf("inspect existing state: %w", err)
	}
	if !existing && !cfg.Join { // a joining node waits to be added (AddVoter)
		var servers []raft.Server
		for _, p := range cfg.Peers {
			servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: serverID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
		// Every member bootstraps with the same configuration, which
		// hashicorp/raft documents as safe.
		if err := raft.BootstrapCluster(&conf, logs, stable, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
			n.closeAll()
			return fmt.Errorf("bootstrap: %w", err)
		}
	}
	n.fsm = &fsm{}
	// NewRaft restores the node's own latest snapshot, if any, before it
	// returns and before any leader can reach it: that Restore is not an
	// install, and the FSM counts only those after started is set.
	r, err := raft.NewRaft(&conf, n.fsm, logs, stable, snaps, trans)
	if err != nil {
		n.closeAll()
		return fmt.Errorf("start raft: %w", err)
	}
	n.fsm.started.Store(true)
	n.raft = r
	n.id = cfg.ID
	n.applied = s
	return nil
}

// openStores opens the log, stable and snapshot stores for cfg.Storage,
// with a LogCache of cache entries in front of a durable log store (0: none),
// and remembers what must be closed.
func (n *Node) openStores(cfg adapter.Config, kind string, cache int, logger hclog.Logger) (raft.LogStore, raft.StableStore, raft.SnapshotStore, error) {
	logs, stable, snaps, err := n.openBareStores(cfg, kind, logger)
	if err != nil || cache == 0 || !cfg.Storage.Durable() {
		return logs, stable, snaps, err
	}
	cached, err := raft.NewLogCache(cache, logs)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("create log cache of %d: %w", cache, err)
	}
	return cached, stable, snaps, nil
}

// openBareStores opens the stores of openStores without a cache.
func (n *Node) openBareStores(cfg adapter.Config, kind string, logger hclog.Logger) (raft.LogStore, raft.StableStore, raft.SnapshotStore, error) {
	switch cfg.Storage {
	case adapter.StorageMemory:
		mem := raft.NewInmemStore()
		return mem, mem, raft.NewInmemSnapshotStore(), nil
	case adapter.StorageDisk, adapter.StorageTmpfs:
	default:
		return nil, nil, nil, fmt.Errorf("storage %q: %w", cfg.Storage, adapter.ErrUnsupported)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(filepath.Join(cfg.DataDir, "snapshots"), 2, logger)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open snapshot store: %w", err)
	}
	if kind == "wal" {
		dir := filepath.Join(cfg.DataDir, "wal")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, nil, fmt.Errorf("create wal dir: %w", err)
		}
		// raft-wal v0.4.0's Close does not close its meta store (a bolt
		// file), so the adapter opens that store itself to close it on Stop.
		meta := &metadb.BoltMetaDB{}
		w, err := raftwal.Open(dir, raftwal.WithLogger(logger), raftwal.WithMetaStore(meta))
		if err != nil {
			meta.Close()
			return nil, nil, nil, fmt.Errorf("open raft-wal: %w", err)
		}
		n.closers = append(n.closers, w, meta)
		return w, w, snaps, nil
	}
	b, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db")})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open raft-boltdb: %w", err)
	}
	n.closers = append(n.closers, b)
	return b, b, snaps, nil
}

func (n *Node) closeAll() {
	if n.transport != nil {
		n.transport.Close()
		n.transport = nil
	}
	for _, c := range n.closers {
		c.Close()
	}
	n.closers = nil
}

func (n *Node) started() (*raft.Raft, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.raft == nil {
		return nil, errors.New("node not started")
	}
	return n.raft, nil
}

// Propose implements adapter.Node. hashicorp/raft resolves an ApplyFuture
// only after the entry is applied to this node's FSM, or with an error when
// leadership is lost or the node shuts down, so the wait always ends.
//
// The position is what the FSM's Apply returned for the entry: the payload
// count right after folding it in.
func (n *Node) Propose(ctx context.Context, payload []byte) (uint64, error) {
	r, err := n.started()
	if err != nil {
		return 0, err
	}
	var enqueue time.Duration // 0: wait for the apply queue as long as it takes
	if dl, ok := ctx.Deadline(); ok {
		enqueue = max(time.Until(dl), time.Microsecond)
	}
	f := r.Apply(payload, enqueue)
	if err := n.futureError("apply", r, f.Error()); err != nil {
		return 0, err
	}
	pos, ok := f.Response().(uint64)
	if !ok {
		return 0, fmt.Errorf("apply: the FSM answered %T, not a position", f.Response())
	}
	return pos, nil
}

// futureError maps what a future of r failed with to the contract's errors.
func (n *Node) futureError(what string, r *raft.Raft, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		_, id := r.LeaderWithID()
		return &adapter.NotLeaderError{Leader: parseID(id)}
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%s: %w (%w)", what, err, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Read implements adapter.Node.
//
// Stale reads the FSM at once. Linearizable is what Consul does for its
// consistent reads (agent/consul/rpc.go consistentRead), since
// hashicorp/raft offers no read index of its own: (1) once per term, the
// leader applies a Barrier (Consul's readyForConsistentReads, set after
// the barrier it runs on gaining leadership), so that its commit index
// covers every entry of earlier terms; (2) the commit index is taken, which
// then covers every write acknowledged before the read began; (3)
// VerifyLeader confirms with a quorum that this node still leads, after
// the read began; (4) the read waits until the FSM has applied the commit
// index of (2). A Barrier per read would be linearizable too, but it puts
// a log entry (an fsync on disk) behind every read, which is a write, not
// hashicorp/raft's read path. Only the leader serves it; a follower
// returns NotLeaderError.
func (n *Node) Read(ctx context.Context, mode adapter.ReadMode) (adapter.ReadState, error) {
	r, err := n.started()
	if err != nil {
		return adapter.ReadState{}, err
	}
	switch mode {
	case adapter.ReadStale:
		sum, count := n.fsm.digest()
		return adapter.ReadState{AppliedPayloads: count, Digest: sum}, nil
	case adapter.ReadLinearizable:
	default:
		return adapter.ReadState{}, fmt.Errorf("read mode %q: %w", mode, adapter.ErrUnsupported)
	}
	if r.State() != raft.Leader {
		_, id := r.LeaderWithID()
		return adapter.ReadState{}, &adapter.NotLeaderError{Leader: parseID(id)}
	}
	if term := r.CurrentTerm(); n.readyTerm.Load() != term {
		var timeout time.Duration
		if dl, ok := ctx.Deadline(); ok {
			timeout = max(time.Until(dl), time.Microsecond)
		}
		if err := n.futureError("barrier", r, r.Barrier(timeout).Error()); err != nil {
			return adapter.ReadState{}, err
		}
		n.readyTerm.Store(term)
	}
	index := r.CommitIndex()
	if err := n.futureError("verify leader", r, r.VerifyLeader().Error()); err != nil {
		return adapter.ReadState{}, err
	}
	if err := n.waitApplied(ctx, r, index); err != nil {
		return adapter.ReadState{}, err
	}
	sum, count := n.fsm.digest()
	return adapter.ReadState{AppliedPayloads: count, Digest: sum}, nil
}

// waitApplied waits until r has applied index. The FSM signals each
// command it applies; the entries it never sees (a leader's no-op, a
// barrier, configuration) advance AppliedIndex without a signal, so the
// wait also looks again every millisecond.
func (n *Node) waitApplied(ctx context.Context, r *raft.Raft, index uint64) error {
	var tick *time.Ticker
	for r.AppliedIndex() < index {
		changed := n.fsm.changed()
		if r.AppliedIndex() >= index {
			break
		}
		if tick == nil {
			tick = time.NewTicker(time.Millisecond)
			defer tick.Stop()
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("wait for the FSM to apply index %d: %w", index, ctx.Err())
		}
	}
	return nil
}

// Status implements adapter.Node.
func (n *Node) Status(ctx context.Context) (adapter.Status, error) {
	r, err := n.started()
	if err != nil {
		return adapter.Status{}, err
	}
	// Applied first, commit after: the commit index only grows, so read in
	// this order it is never below applied.
	sum, count := n.fsm.digest()
	applied := r.AppliedIndex()
	_, leader := r.LeaderWithID()
	return adapter.Status{
		ID:               n.id,
		Role:             role(r.State()),
		Leader:           parseID(leader),
		Term:             r.CurrentTerm(),
		Commit:           r.CommitIndex(),
		Applied:          applied,
		AppliedPayloads:  count,
		Digest:           sum,
		Snapshots:        n.fsm.snapshots.Load(),
		SnapshotInstalls: n.fsm.installs.Load(),
		SnapshotTime:     time.Duration(n.fsm.snapshotNanos.Load()),
	}, nil
}

// Stop implements adapter.Node.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var err error
	if n.raft != nil {
		err = n.raft.Shutdown().Error()
		n.raft = nil
	}
	n.closeAll()
	return err
}

// peerAddrs resolves a server id to the address this node dials.
type peerAddrs []adapter.Peer

func (p peerAddrs) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	n := parseID(id)
	for _, peer := range p {
		if peer.ID == n {
			return raft.ServerAddress(peer.Addr), nil
		}
	}
	return "", fmt.Errorf("no peer with id %s", id)
}

func serverID(id uint64) raft.ServerID { return raft.ServerID(strconv.FormatUint(id, 10)) }

func parseID(id raft.ServerID) uint64 {
	v, _ := strconv.ParseUint(string(id), 10, 64)
	return v
}

func role(s raft.RaftState) adapter.Role {
	switch s {
	case raft.Leader:
		return adapter.RoleLeader
	case raft.Follower:
		return adapter.RoleFollower
	case raft.Candidate:
		return adapter.RoleCandidate
	}
	return adapter.RoleUnknown
}

// fsm is the replicated state machine: the digest of applied payloads.
// Its snapshot is the digest (sum and count), so a node restored from one,
// its own or a leader's, continues the same chain.
type fsm struct {
	mu   sync.Mutex
	d    adapter.Digest
	wake chan struct{} // closed and replaced at each applied command; nil until asked for

	// The snapshot counters of adapter.Status. started is set once NewRaft
	// has returned: a Restore after it is a snapshot installed from a
	// leader (hashicorp/raft restores a node's own snapshot only inside
	// NewRaft, and this adapter never calls Raft.Restore).
	started       atomic.Bool
	snapshots     atomic.Uint64 // snapshots persisted
	installs      atomic.Uint64 // leader snapshots restored
	snapshotNanos atomic.Int64  // from Snapshot to the sink's Close, per persisted snapshot
}

// Apply folds a command into the digest and returns its position (uint64).
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.d.Add(l.Data)
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
	return f.d.Count()
}

// changed returns a channel closed when the FSM next applies a command.
func (f *fsm) changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wake == nil {
		f.wake = make(chan struct{})
	}
	return f.wake
}

func (f *fsm) digest() (sum, count uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.d.Sum(), f.d.Count()
}

// Snapshot captures the digest; Persist writes it. hashicorp/raft calls
// Snapshot on its FSM goroutine and Persist on its snapshot goroutine.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	sum, count := f.digest()
	return snapshot{sum: sum, count: count, fsm: f, began: time.Now()}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var b [16]byte
	if _, err := io.ReadFull(rc, b[:]); err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	f.mu.Lock()
	f.d.Restore(binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:]))
	if f.wake != nil {
		close(f.wake)
		f.wake = nil
	}
	f.mu.Unlock()
	if f.started.Load() {
		f.installs.Add(1)
	}
	return nil
}

// snapshot is the digest as Snapshot captured it, and when.
type snapshot struct {
	sum, count uint64
	fsm        *fsm
	began      time.Time
}

// Persist writes the digest and, once the sink is closed (the snapshot
// store has it: for the file store, written, synced and renamed into
// place), counts the snapshot and the time since Snapshot.
func (s snapshot) Persist(sink raft.SnapshotSink) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], s.sum)
	binary.LittleEndian.PutUint64(b[8:], s.count)
	if _, err := sink.Write(b[:]); err != nil {
		sink.Cancel()
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	s.fsm.snapshots.Add(1)
	s.fsm.snapshotNanos.Add(int64(time.Since(s.began)))
	return nil
}

func (snapshot) Release() {}
