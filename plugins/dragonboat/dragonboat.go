// Package dragonboat adapts github.com/lni/dragonboat/v4 to raftcmp's
// adapter.Node. It is the adapter and nothing else: one NodeHost per
// process, one Raft shard (ShardID 1) with ReplicaID = node id, and an
// in-memory state machine that keeps the applied digest.
//
// # Choices a reader of a report should know
//
//   - Log store (storage disk and tmpfs): dragonboat's LogDB in the data dir
//     (NodeHostDir and WALDir under Config.DataDir), syncing every write
//     batch as it does by default: Pebble (dragonboat's default) or tan
//     (dragonboat's own log-structured LogDB), option logdb. Storage memory
//     is not supported: dragonboat has no in-memory log (its in-memory
//     Pebble file system is a test helper), so Start returns
//     adapter.ErrUnsupported rather than fake one.
//   - LogDB sizing: dragonboat's default LogDBConfig is sized for a server
//     hosting thousands of shards: 16 Pebble instances with up to 4 x 128
//     MiB memtables each ("up to 8 GB"), and tan allocates 16 write buffers
//     of 128 MiB. A benchmark node hosts one shard, so this backend uses
//     dragonboat's own GetSmallMemLogDBConfig preset (memtables and tan
//     buffers of 16 MiB, at most 4 memtables) and one Pebble instance
//     instead of 16: one shard only ever writes to one of them, so the
//     other 15 would only hold files, memtables and goroutines. The write
//     path (write batch, WAL, fsync) is the same.
//   - Timing: dragonboat counts time in ticks of RTTMillisecond. Here a
//     tick is 5 ms, the election timeout 40 ticks = 200 ms (randomised by
//     dragonboat to 200-400 ms) and the heartbeat 4 ticks = 20 ms.
//     dragonboat's examples use 200 ms x 10 = 2 s; etcd's and hashicorp/raft's
//     default election timeouts are 1 s. Shorter is better for a benchmark
//     that measures recovery from faults, but on this 2-core machine 1 ms x
//     10 (10-20 ms elections) elected spuriously under load, while 5 ms x 40
//     was measured stable.
//   - check_quorum is on (dragonboat's default is off; its examples turn it
//     on): a leader cut off from its quorum steps down, as hashicorp/raft's
//     leader lease and etcd's server make theirs do, so partition faults are
//     comparable. PreVote keeps dragonboat's default (off); note that a
//     restarted follower may then disrupt the leader with a higher term.
//   - The shared --raft knobs map as follows (settings.go, resolve, which
//     both Settings and Start use): election and heartbeat -> ElectionRTT
//     and HeartbeatRTT on the 5 ms tick when both are multiples of it, else
//     on a tick of their greatest common divisor in whole milliseconds
//     (dragonboat's rule ElectionRTT > 2 x HeartbeatRTT may move one);
//     prevote -> PreVote; checkquorum -> CheckQuorum; snapshot ->
//     SnapshotEntries; keep -> CompactionOverhead. append and inflight have no equivalent: a Replicate
//     message is bounded by bytes (64 MiB), not entries, and a follower in
//     replicate state is sent appends with no in-flight window; both are
//     reported unhonoured. A timing option (rtt_ms, election_rtt,
//     heartbeat_rtt), pre_vote, check_quorum or snapshot_entries wins over
//     the knob for the same thing, which is then reported unhonoured.
//   - Snapshots: none (SnapshotEntries 0, the library's default; dragonboat
//     has no production setting to follow, its examples' 10-100 are demo
//     values); CompactionOverhead keeps dragonboat's default (0: the log is
//     compacted up to the snapshot, so with snapshots on a follower even
//     slightly behind is sent one). The log grows for the length of a
//     point. The snapshot counters of Status (snapshots.go) come from
//     dragonboat's system events and the state machine's SaveSnapshot: a
//     snapshot is counted at its SnapshotCreated event and timed from
//     SaveSnapshot's start to it; an install is a SnapshotRecovered event
//     after the replica's first (its recovery at start).
//   - Addressing: the node binds Config.Listen and reaches peer j at the
//     address its own Config.Peers gives for j (raftcmp may put a proxy on
//     every directed link). dragonboat's default node registry instead
//     dials the addresses in the replicated membership and learns more from
//     incoming messages (and panics when the two disagree, as they do
//     behind proxies), so this backend installs its own registry
//     (ExpertConfig.NodeRegistryFactory): the membership names each replica
//     by a NodeHostID derived from its node id, and the registry resolves a
//     replica to the address in this node's Peers, ignoring every address
//     dragonboat offers it.
//   - Propose on a follower succeeds: dragonboat's raft layer forwards a
//     follower's proposal to the leader it knows (raft.go,
//     handleFollowerPropose), and the follower's request completes when the
//     entry is applied to the follower's own state machine, so the
//     description says ForwardsProposals. A node that knows no leader drops
//     a proposal at once; that is reported as adapter.NotLeaderError with
//     Leader 0.
//   - Status: dragonboat exports neither its commit nor its applied index.
//     Commit is the raft node's live commit index, read through
//     NodeHost.QueryRaftLog (its reply carries the committed range). The
//     state machine only sees user entries, so the applied index is derived:
//     the index of the last user entry applied, raised by a ReadIndex
//     barrier when non-user entries (bootstrap membership, a new leader's
//     no-op) follow it; see Node.Status. Term is the term dragonboat reports
//     with its leader information (updated at every role change). Role is
//     leader, follower, or unknown while no leader is known: dragonboat does
//     not expose candidacy.
//   - Logging: dragonboat's loggers are set to WARNING. dragonboat logs each
//     election step at that level (about 15 lines per election), nothing per
//     proposal.
//
// # Options
//
// Every option and its default (--opt dragonboat.KEY=VALUE):
//
//   - rtt_ms=5: NodeHostConfig.RTTMillisecond, the tick length in ms.
//   - election_rtt=40, heartbeat_rtt=4: Config.ElectionRTT and HeartbeatRTT
//     in ticks; dragonboat requires election_rtt > 2 x heartbeat_rtt.
//   - check_quorum=true, pre_vote=false: Config.CheckQuorum and PreVote.
//   - snapshot_entries=0: Config.SnapshotEntries, 0 = no automatic
//     snapshots.
//   - compaction_overhead=0: Config.CompactionOverhead, entries kept after a
//     snapshot's compaction.
//   - max_in_mem_log_size=0: Config.MaxInMemLogSize in bytes, 0 = unlimited
//     (dragonboat's default); when reached, proposals fail as busy.
//   - logdb=pebble: pebble or tan.
//   - logdb_size=small: tiny, small, medium or default, dragonboat's
//     LogDBConfig presets (memtables / tan buffers of 4, 16, 64, 128 MiB).
//   - logdb_shards=1: LogDBConfig.Shards, Pebble instances per NodeHost
//     (dragonboat's default 16; tan ignores it).
//   - log_level=warning: error, warning, info or debug, for every dragonboat
//     logger; the first node started in a process sets it.
package dragonboat

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/client"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"
	"github.com/lni/dragonboat/v4/plugin/tan"
	"github.com/lni/dragonboat/v4/raftio"
	sm "github.com/lni/dragonboat/v4/statemachine"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// shardID is the one Raft shard every node of a raftcmp cluster runs.
const shardID = 1

// Timeouts the backend applies on its own.
const (
	// defaultProposeTimeout bounds a proposal whose context has no deadline:
	// dragonboat requires one (it counts a request's life in ticks), and it
	// is load's default op timeout.
	defaultProposeTimeout = 10 * time.Second
	// statusProbeTimeout bounds each of Status's two probes (the commit
	// query and the ReadIndex barrier), so Status answers promptly even on a
	// node cut off from its leader.
	statusProbeTimeout = 500 * time.Millisecond
)

// errStopped is returned by calls made after Stop began.
var errStopped = errors.New("node stopped")

// Node is one dragonboat cluster member.
type Node struct {
	// mu guards nh: calls into the NodeHost hold it shared, and Stop holds
	// it exclusively while closing the NodeHost, so no call races Close
	// (NodeHost is not safe to call while it closes). Waiting for a request
	// happens outside mu.
	mu      sync.RWMutex
	nh      *dragonboat.NodeHost
	session *client.Session
	fsm     *stateMachine
	book    *peerBook // the registry's address book (membership.go)
	snaps   *snapshotCounters
	id      uint64
	applied resolved      // what Start ran with
	done    chan struct{} // closed when Stop begins
	closed  chan struct{} // closed when Stop has closed the NodeHost
	stop    sync.Once

	queryMu sync.Mutex    // dragonboat allows one raft log query at a time
	commit  atomic.Uint64 // highest commit index seen
	floor   atomic.Uint64 // an index proven applied by a ReadIndex barrier
}

// New returns an unstarted node.
func New() *Node { return &Node{} }

// Describe implements adapter.Node.
func (n *Node) Describe() adapter.Description {
	return adapter.Description{
		Name:   "dragonboat",
		Module: "github.com/lni/dragonboat/v4",
		Capabilities: adapter.Capabilities{
			ForwardsProposals: true,
			Storage:           []adapter.Storage{adapter.StorageDisk, adapter.StorageTmpfs},
			// dragonboat's reads are ReadIndex (SyncRead) and StaleRead;
			// it has no lease-based read.
			ReadModes: []adapter.ReadMode{adapter.ReadLinearizable, adapter.ReadStale},
			// SyncRequestAddReplica / SyncRequestDeleteReplica, StartReplica
			// with join: membership.go.
			Membership: true,
		},
	}
}

// dragonboatLoggers are the package loggers dragonboat (and the Pebble it
// embeds) create; setting their level before NewNodeHost covers them all.
var dragonboatLoggers = []string{
	"dragonboat", "raft", "rsm", "transport", "logdb", "LogDB", "raftpb",
	"config", "settings", "tan", "registry", "server", "gossip", "grpc",
	"pebblekv", "tools",
}

// logLevelOnce makes the first Start of the process set the loggers' level:
// the loggers are process-wide, and setting a level while a NodeHost logs
// is a data race in dragonboat's logger. A plugin process runs one node, so
// only tests that run several nodes in one process see the difference.
var logLevelOnce sync.Once

func setLogLevel(l logger.LogLevel) {
	logLevelOnce.Do(func() {
		for _, name := range dragonboatLoggers {
			logger.GetLogger(name).SetLevel(l)
		}
	})
}

// Start implements adapter.Node.
func (n *Node) Start(ctx context.Context, cfg adapter.Config) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nh != nil || n.done != nil {
		return errors.New("already started")
	}
	if !cfg.Storage.Durable() {
		return fmt.Errorf("storage %q: %w: dragonboat has no in-memory log store", cfg.Storage, adapter.ErrUnsupported)
	}
	s, err := resolve(cfg)
	if err != nil {
		return err
	}
	listen, err := cfg.ListenAddr()
	if err != nil {
		return err
	}
	setLogLevel(s.logLevel)

	book := newPeerBook(cfg.Peers)
	snaps := &snapshotCounters{}
	nhc := config.NodeHostConfig{
		NodeHostDir:    filepath.Join(cfg.DataDir, "nodehost"),
		WALDir:         filepath.Join(cfg.DataDir, "wal"),
		RTTMillisecond: s.rttMillis,
		RaftAddress:    listen,
		NodeHostID:     nodeHostID(cfg.ID),
		// One NodeHost per node and one shard per NodeHost: every event
		// is this replica's.
		SystemEventListener: snaps,
		Expert: config.ExpertConfig{
			LogDB:               s.logdbConfig,
			NodeRegistryFactory: book,
		},
	}
	if s.logdb == "tan" {
		nhc.Expert.LogDBFactory = tan.Factory
	}
	nh, err := dragonboat.NewNodeHost(nhc)
	if err != nil {
		return fmt.Errorf("create NodeHost on %s in %s: %w", listen, cfg.DataDir, err)
	}

	// dragonboat's rule: a fresh replica is given every initial member (the
	// same map on every node, join=false); a restarted one, found by the
	// bootstrap record its LogDB keeps, is given none and recovers its
	// membership from the log. Members are named by NodeHostID, so the
	// replicated membership holds no address (see peerRegistry).
	members := map[uint64]dragonboat.Target{}
	join := cfg.Join && !nh.HasNodeInfo(shardID, cfg.ID)
	if !nh.HasNodeInfo(shardID, cfg.ID) && !join { // a joining replica is given no members
		for _, p := range cfg.Peers {
			members[p.ID] = nodeHostID(p.ID)
		}
	}
	fsm := &stateMachine{counters: snaps}
	shard := s.shard
	shard.ReplicaID = cfg.ID
	create := func(uint64, uint64) sm.IStateMachine { return fsm }
	if err := nh.StartReplica(members, join, create, shard); err != nil {
		nh.Close()
		return fmt.Errorf("start replica %d of shard %d: %w", cfg.ID, shardID, err)
	}
	n.nh = nh
	n.snaps = snaps
	n.session = nh.GetNoOPSession(shardID)
	n.fsm = fsm
	n.book = book
	n.id = cfg.ID
	n.applied = s
	n.done = make(chan struct{})
	n.closed = make(chan struct{})
	return nil
}

// nodeHostID is the NodeHostID (a UUID) of node id: fixed, so that every
// node names every member the same way and a restarted node keeps its name.
func nodeHostID(id uint64) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012x", id)
}

// peerRegistry is dragonboat's node registry for one node: it resolves a
// replica to the address this node's Config.Peers gives for that node id.
// dragonboat calls Add with the targets of the membership (NodeHostIDs
// here) and with the source of every incoming message; those are ignored,
// so no address learnt from another node or from the replicated
// configuration is ever dialled. It is also its own factory.
type peerRegistry []adapter.Peer

var (
	_ raftio.INodeRegistry       = peerRegistry(nil)
	_ config.NodeRegistryFactory = peerRegistry(nil)
)

// errUnknownPeer is returned by Resolve for a replica id not in Peers.
var errUnknownPeer = errors.New("replica is not among this node's peers")

// Create implements config.NodeRegistryFactory.
func (r peerRegistry) Create(string, uint64, config.TargetValidator) (raftio.INodeRegistry, error) {
	return r, nil
}

// Add implements raftio.INodeRegistry; it ignores the target.
func (peerRegistry) Add(uint64, uint64, string) {}

// Remove implements raftio.INodeRegistry; the peer list is fixed.
func (peerRegistry) Remove(uint64, uint64) {}

// RemoveShard implements raftio.INodeRegistry; the peer list is fixed.
func (peerRegistry) RemoveShard(uint64) {}

// Close implements raftio.INodeRegistry.
func (peerRegistry) Close() error { return nil }

// Resolve implements raftio.INodeRegistry: the address to dial and the key
// of the connection to use (one per address, as dragonboat's own registry
// does for a single shard).
func (r peerRegistry) Resolve(_ uint64, replicaID uint64) (string, string, error) {
	for _, p := range r {
		if p.ID == replicaID {
			return p.Addr, p.Addr, nil
		}
	}
	return "", "", fmt.Errorf("replica %d: %w", replicaID, errUnknownPeer)
}

// submit runs f with the NodeHost held against Stop, or returns errStopped.
func (n *Node) submit(f func(nh *dragonboat.NodeHost) (*dragonboat.RequestState, error)) (*dragonboat.RequestState, error) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.nh == nil {
		if n.done == nil {
			return nil, errors.New("node not started")
		}
		return nil, errStopped
	}
	return f(n.nh)
}

// wait waits for rs's outcome, for ctx to end, or for Stop to begin.
func (n *Node) wait(ctx context.Context, rs *dragonboat.RequestState) (dragonboat.RequestResult, error) {
	select {
	case r := <-rs.AppliedC():
		return r, nil
	case <-ctx.Done():
		return dragonboat.RequestResult{}, ctx.Err()
	case <-n.done:
		return dragonboat.RequestResult{}, errStopped
	}
}

// Propose implements adapter.Node.
//
// This is NodeHost.SyncPropose split in two: SyncPropose is nh.Propose
// followed by a wait on the request's AppliedC. Splitting it lets the
// submission hold mu (so Stop cannot close the NodeHost under it) while the
// wait does not (so Stop is never held up by a proposal, and every waiter
// returns as soon as Stop begins). AppliedC delivers Completed only once the
// entry is committed and applied to this replica's state machine: the
// request is completed by node.ApplyUpdate, which the replica's rsm calls
// right after stateMachine.Update returned for that entry (NotifyCommit,
// which would report at commit, is off). This holds for a proposal a
// follower forwarded to the leader too.
//
// The position is the state machine's Update result for the entry: the
// payload count right after folding it in.
func (n *Node) Propose(ctx context.Context, payload []byte) (uint64, error) {
	ctx, timeout, cancel, err := n.deadline(ctx, "propose")
	if err != nil {
		return 0, err
	}
	defer cancel()
	rs, err := n.submit(func(nh *dragonboat.NodeHost) (*dragonboat.RequestState, error) {
		return nh.Propose(n.session, payload, timeout)
	})
	if err != nil {
		return 0, n.proposeError(err)
	}
	r, err := n.wait(ctx, rs)
	if err != nil {
		return 0, fmt.Errorf("propose: %w", err)
	}
	if err := n.resultError("propose", r); err != nil {
		return 0, err
	}
	rs.Release()
	return r.GetResult().Value, nil
}

// deadline gives ctx a deadline (defaultProposeTimeout if it has none) and
// returns the time left, as dragonboat's requests take a timeout.
func (n *Node) deadline(ctx context.Context, what string) (context.Context, time.Duration, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	if _, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, defaultProposeTimeout)
	}
	dl, _ := ctx.Deadline()
	timeout := time.Until(dl)
	if timeout <= 0 {
		cancel()
		return nil, 0, nil, fmt.Errorf("%s: %w", what, context.DeadlineExceeded)
	}
	return ctx, timeout, cancel, nil
}

// resultError maps a request's outcome other than Completed to the
// contract's errors; nil for Completed.
func (n *Node) resultError(what string, r dragonboat.RequestResult) error {
	switch {
	case r.Completed():
		return nil
	case r.Timeout():
		return fmt.Errorf("%s: %w (%w)", what, dragonboat.ErrTimeout, context.DeadlineExceeded)
	case r.Dropped():
		return n.proposeError(dragonboat.ErrShardNotReady)
	case r.Terminated():
		return fmt.Errorf("%s: %w (%w)", what, errStopped, dragonboat.ErrShardClosed)
	case r.Rejected():
		return fmt.Errorf("%s: %w", what, dragonboat.ErrRejected)
	case r.Aborted():
		return fmt.Errorf("%s: %w", what, dragonboat.ErrAborted)
	}
	return fmt.Errorf("%s: unexpected dragonboat result %+v", what, r)
}

// Read implements adapter.Node.
//
// Linearizable is NodeHost.SyncRead split in two, as Propose splits
// SyncPropose: ReadIndex (which dragonboat completes once this replica has
// applied up to the leader's commit index confirmed by a quorum, on the
// leader or, forwarded, on a follower), then ReadLocalNode, which runs the
// state machine's Lookup. Stale reads the state machine at once, as
// NodeHost.StaleRead does, without going through the NodeHost.
func (n *Node) Read(ctx context.Context, mode adapter.ReadMode) (adapter.ReadState, error) {
	switch mode {
	case adapter.ReadStale:
		if _, err := n.submit(func(*dragonboat.NodeHost) (*dragonboat.RequestState, error) { return nil, nil }); err != nil {
			return adapter.ReadState{}, err
		}
		sum, count, _ := n.fsm.state()
		return adapter.ReadState{AppliedPayloads: count, Digest: sum}, nil
	case adapter.ReadLinearizable:
	default:
		return adapter.ReadState{}, fmt.Errorf("read mode %q: %w", mode, adapter.ErrUnsupported)
	}
	ctx, timeout, cancel, err := n.deadline(ctx, "read index")
	if err != nil {
		return adapter.ReadState{}, err
	}
	defer cancel()
	rs, err := n.submit(func(nh *dragonboat.NodeHost) (*dragonboat.RequestState, error) {
		return nh.ReadIndex(shardID, timeout)
	})
	if err != nil {
		return adapter.ReadState{}, n.proposeError(err)
	}
	r, err := n.wait(ctx, rs)
	if err != nil {
		return adapter.ReadState{}, fmt.Errorf("read index: %w", err)
	}
	if err := n.resultError("read index", r); err != nil {
		return adapter.ReadState{}, err
	}
	var v any
	_, err = n.submit(func(nh *dragonboat.NodeHost) (*dragonboat.RequestState, error) {
		v, err = nh.ReadLocalNode(rs, nil)
		return nil, err
	})
	rs.Release()
	if err != nil {
		return adapter.ReadState{}, fmt.Errorf("read local node: %w", err)
	}
	st, ok := v.(snapshotState)
	if !ok {
		return adapter.ReadState{}, fmt.Errorf("read local node: Lookup answered %T", v)
	}
	return adapter.ReadState{AppliedPayloads: st.Count, Digest: st.Sum}, nil
}

// proposeError maps an error from submitting a proposal, or a dropped
// proposal (ErrShardNotReady), to the contract's errors.
func (n *Node) proposeError(err error) error {
	switch {
	case errors.Is(err, dragonboat.ErrShardNotReady):
		// dragonboat drops a proposal at once on a node that knows no
		// leader (a follower between leaders, a candidate), or on a leader
		// that is transferring leadership.
		leader, ok := n.leader()
		if !ok || leader != n.id {
			return &adapter.NotLeaderError{Leader: leader}
		}
		return fmt.Errorf("propose: dropped by the leader, retry later: %w", err)
	case errors.Is(err, dragonboat.ErrSystemBusy):
		return fmt.Errorf("propose: proposal queue full or max_in_mem_log_size reached: %w", err)
	case errors.Is(err, dragonboat.ErrTimeoutTooSmall):
		return fmt.Errorf("propose: %w (%w)", err, context.DeadlineExceeded)
	case errors.Is(err, dragonboat.ErrClosed), errors.Is(err, dragonboat.ErrShardClosed):
		return fmt.Errorf("propose: %w (%w)", errStopped, err)
	}
	return fmt.Errorf("propose: %w", err)
}

// leader is the leader this node knows, if any (0, false if none).
func (n *Node) leader() (uint64, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.nh == nil {
		return 0, false
	}
	id, _, ok, err := n.nh.GetLeaderID(shardID)
	if err != nil || !ok {
		return 0, false
	}
	return id, true
}

// Status implements adapter.Node.
//
// Commit is the raft node's live commit index (see queryCommit). Applied
// needs more care: dragonboat applies membership entries and each new
// leader's no-op itself and hands the state machine only user entries, and
// it exports no applied index. The state machine's own index (that of the
// last user entry it applied) is exact while the log ends with a user
// entry, but right after bootstrap (entries 1-3 membership, 4 the first
// leader's no-op) it is 0, and after any leader change it stays behind the
// new no-op until the next proposal: raftcmp's readiness wait (every node
// applied at least the leader's commit) and its convergence check would
// then never finish. So when the state machine's index is below the commit
// index C, Status runs a ReadIndex barrier: dragonboat completes a ReadIndex
// only once this replica has applied up to the leader's commit index at the
// time of the read, which is at least C (a follower's commit never exceeds
// its leader's, and a leader serves ReadIndex only after committing an
// entry of its term). After the barrier C is a proven lower bound of what
// this replica applied, and Applied reports max(state machine index, C).
// The digest and count are read after the barrier, and every entry between
// the last user entry and the true applied index is a non-user entry, so
// they describe exactly the prefix of the log up to the reported Applied.
// If the barrier cannot complete (no leader, partition), Applied falls back
// to the best index proven so far.
func (n *Node) Status(ctx context.Context) (adapter.Status, error) {
	n.mu.RLock()
	nh, started := n.nh, n.done != nil
	var leader, term uint64
	var valid bool
	var err error
	if nh != nil {
		leader, term, valid, err = nh.GetLeaderID(shardID)
	}
	n.mu.RUnlock()
	switch {
	case !started:
		return adapter.Status{}, errors.New("node not started")
	case nh == nil:
		return adapter.Status{}, errStopped
	case err != nil:
		return adapter.Status{}, fmt.Errorf("leader of shard %d: %w", shardID, err)
	}
	commit := n.queryCommit(ctx)
	_, _, idx := n.fsm.state()
	if valid && max(idx, n.floor.Load()) < commit {
		if n.barrier(ctx) == nil {
			raise(&n.floor, commit)
		}
	}
	sum, count, idx := n.fsm.state()
	applied := max(idx, n.floor.Load())
	snapshots, installs, snapTime := n.snaps.get()
	st := adapter.Status{
		Snapshots:        snapshots,
		SnapshotInstalls: installs,
		SnapshotTime:     snapTime,
		ID:               n.id,
		Role:             adapter.RoleUnknown,
		Term:             term,
		Commit:           max(commit, applied), // an applied entry is committed
		Applied:          applied,
		AppliedPayloads:  count,
		Digest:           sum,
	}
	if valid {
		st.Leader = leader
		st.Role = adapter.RoleFollower
		if leader == n.id {
			st.Role = adapter.RoleLeader
		}
	}
	return st, nil
}

// queryCommit returns the raft node's commit index. dragonboat has no getter
// for it, but QueryRaftLog's reply carries the committed range [first,
// commit+1) of the raft log: asking for entries past any possible commit
// index returns that range and no entries. The query is local (no network)
// and handled by the node's step worker. If it cannot be answered now, the
// highest commit index seen before is returned.
func (n *Node) queryCommit(ctx context.Context) uint64 {
	n.queryMu.Lock()
	defer n.queryMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, statusProbeTimeout)
	defer cancel()
	rs, err := n.submit(func(nh *dragonboat.NodeHost) (*dragonboat.RequestState, error) {
		return nh.QueryRaftLog(shardID, math.MaxUint64-1, math.MaxUint64, 0)
	})
	if err != nil {
		return n.commit.Load()
	}
	r, err := n.wait(ctx, rs)
	if err != nil || !(r.Completed() || r.RequestOutOfRange()) {
		return n.commit.Load()
	}
	_, lr := r.RaftLogs()
	if lr.LastIndex > 0 {
		raise(&n.commit, lr.LastIndex-1)
	}
	return n.commit.Load()
}

// barrier runs one ReadIndex and waits until this replica has applied up to
// the index it returned; see Status.
func (n *Node) barrier(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, statusProbeTimeout)
	defer cancel()
	dl, _ := ctx.Deadline()
	rs, err := n.submit(func(nh *dragonboat.NodeHost) (*dragonboat.RequestState, error) {
		return nh.ReadIndex(shardID, time.Until(dl))
	})
	if err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	r, err := n.wait(ctx, rs)
	if err != nil {
		return fmt.Errorf("read index: %w", err)
	}
	if !r.Completed() {
		return fmt.Errorf("read index did not complete: %+v", r)
	}
	rs.Release()
	return nil
}

// raise sets v to x if x is higher.
func raise(v *atomic.Uint64, x uint64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// Stop implements adapter.Node. Waiting proposals and probes return at once
// with an error; then the NodeHost is closed, which stops the replica,
// closes the transport (releasing the Raft port) and the LogDB, and ends
// dragonboat's goroutines. If ctx ends first, Stop returns its error and
// the close goes on in the background.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.RLock()
	done, closed := n.done, n.closed
	n.mu.RUnlock()
	if done == nil {
		return nil // never started
	}
	n.stop.Do(func() {
		close(done)
		go func() {
			defer close(closed)
			n.mu.Lock()
			defer n.mu.Unlock()
			n.nh.Close()
			n.nh = nil
		}()
	})
	select {
	case <-closed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("close NodeHost: %w", ctx.Err())
	}
}

// stateMachine is the replicated state machine: the digest of the applied
// user payloads and the index of the last one. dragonboat calls Update and
// the snapshot methods from one goroutine at a time; Status reads the state
// concurrently, hence mu.
type stateMachine struct {
	mu       sync.Mutex
	d        adapter.Digest
	index    uint64
	counters *snapshotCounters // told when a SaveSnapshot begins
}

func (f *stateMachine) state() (sum, count, index uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.d.Sum(), f.d.Count(), f.index
}

// Update applies one user entry and returns its position (the payload
// count after it); dragonboat never passes it membership entries or no-ops.
func (f *stateMachine) Update(e sm.Entry) (sm.Result, error) {
	f.mu.Lock()
	f.d.Add(e.Cmd)
	f.index = e.Index
	pos := f.d.Count()
	f.mu.Unlock()
	return sm.Result{Value: pos}, nil
}

// snapshotState is what Lookup returns and a snapshot holds.
type snapshotState struct{ Sum, Count, Index uint64 }

// Lookup returns the state machine's snapshotState; the query is ignored.
func (f *stateMachine) Lookup(any) (any, error) {
	sum, count, index := f.state()
	return snapshotState{Sum: sum, Count: count, Index: index}, nil
}

// SaveSnapshot writes the digest state and the index: 24 bytes.
func (f *stateMachine) SaveSnapshot(w io.Writer, _ sm.ISnapshotFileCollection, _ <-chan struct{}) error {
	f.counters.saveBegins()
	sum, count, index := f.state()
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], sum)
	binary.LittleEndian.PutUint64(b[8:], count)
	binary.LittleEndian.PutUint64(b[16:], index)
	if _, err := w.Write(b[:]); err != nil {
		return fmt.Errorf("write snapshot: %w", err)
	}
	return nil
}

// RecoverFromSnapshot restores what SaveSnapshot wrote.
func (f *stateMachine) RecoverFromSnapshot(r io.Reader, _ []sm.SnapshotFile, _ <-chan struct{}) error {
	var b [24]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("read snapshot: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.d.Restore(binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:]))
	f.index = binary.LittleEndian.Uint64(b[16:])
	return nil
}

// Close releases nothing: the state lives in memory.
func (f *stateMachine) Close() error { return nil }
