// Package etcd adapts go.etcd.io/raft/v3 (the Raft library inside etcd) to
// raftcmp's adapter.Node. etcd raft is a library of the state machine only:
// it does no I/O, so this package supplies what an application must, in the
// way etcd's own server (go.etcd.io/etcd/server/v3 v3.7) does it: one
// raft.Node per process driven by a ticker and a Ready loop, etcd's WAL for
// durability, raft.MemoryStorage as the log the library reads, and either a
// TCP transport of its own or etcd's rafthttp.
//
// Settings (settings.go, resolve) is the one place that turns a Config
// into what runs: options first, then the shared --raft knobs, then etcd's
// production values; Start runs exactly what Settings reports, with each
// value's source.
//
// # Choices a reader of a report should know
//
//   - Timing as etcd's server: the tick is the heartbeat interval (etcd's
//     TickMs is --heartbeat-interval, default 100 ms; HeartbeatTick 1) and
//     the election timeout is counted in ticks (--election-timeout 1000 ms:
//     ElectionTick 10). --raft heartbeat=H sets the tick to H; --raft
//     election=E runs the nearest whole number of ticks and reports the knob
//     unhonoured when that is not E. Options tick_interval, heartbeat_tick
//     and election_tick override the knobs (which are then reported
//     unhonoured, "overridden by option ...").
//   - Flow control as the etcd server configures raft: MaxSizePerMsg 1 MiB
//     and MaxInflightMsgs 512 (etcd's maxInflightMsgs = 4096/8, sized not
//     to overflow its transport's 4096-message buffer);
//     MaxCommittedSizePerReady, MaxUncommittedEntriesSize and
//     MaxInflightBytes left at the library defaults, as etcd leaves them.
//     etcd raft bounds an append by bytes, not entries, and a node does not
//     know the payload size, so the shared knob append is never honoured
//     (reported, MaxSizePerMsg kept).
//   - CheckQuorum and PreVote are on, as the etcd server runs raft.
//   - Storage disk and tmpfs: etcd's WAL (package storage/wal of
//     go.etcd.io/etcd/server/v3) under DataDir/wal, fsynced whenever a Ready
//     carries new entries or a new term or vote (raft.MustSync, what the
//     WAL does by itself), plus raft.MemoryStorage that the library reads,
//     rebuilt from the WAL on restart. Storage memory: raft.MemoryStorage
//     alone.
//   - The Ready loop (ready_order=etcd, the default) follows etcd's server,
//     etcdserver/raft.go raftNode.start: committed entries are applied
//     first (etcd hands them to its apply goroutine before anything else, so
//     applying overlaps the Ready's disk write); a leader then sends its
//     messages and only then persists its HardState and entries, so its
//     own fsync runs in parallel with the followers' (Raft thesis §10.2.1);
//     any other role persists first and sends after, so a follower never
//     acknowledges an entry, nor a candidate asks for a vote, before it is
//     durable. As raftNode.processMessages, only the last MsgAppResp of a
//     Ready is sent. Storage writes are synchronous, in the Ready loop:
//     raft v3.6+ offers AsyncStorageWrites, but etcd's server v3.7 does not
//     set it (its raft.Config, etcdserver/bootstrap.go raftConfig, has no
//     such field, and the Ready loop above is the synchronous protocol), so
//     neither does this adapter. Safety of the leader's early send: raft
//     counts the leader's own copy of an entry only at Advance, after it is
//     durable, so an entry commits when a quorum has it on disk, counting
//     the leader or not. ready_order=persist-first restores the library
//     documentation's order for every role (persist, send, apply, Advance),
//     which this adapter ran before, to measure the difference with one
//     binary.
//   - Apply path: etcd applies in a goroutine of its own (EtcdServer.run,
//     applyAll) because its state machine (bbolt) is slow; here it is a
//     digest of each payload, cheaper than a goroutine hand-off per Ready,
//     so the Ready loop applies the committed entries itself at the point
//     where etcd hands them over: before the Ready is persisted. A Ready
//     with a snapshot carries no committed entries (raft withholds them),
//     and the snapshot is applied only once it is durable, as etcd waits
//     for notifyc.
//   - Transport (option transport): tcp (the default) is raftcmp's own: one
//     outbound connection per peer, frames of a 4-byte length and a
//     protobuf raftpb.Message; a goroutine per peer drains a queue of 4096
//     messages (etcd's rafthttp stream buffer) into a buffered writer and
//     flushes when the queue is empty, so messages produced together travel
//     in one write. A full queue drops the message and reports the peer
//     unreachable, as rafthttp does; a write that blocks for 5 s (rafthttp's
//     ConnWriteTimeout) breaks the connection; a broken connection is
//     redialled with backoff (10 ms doubling to 500 ms) and what was queued
//     for it is dropped for raft to resend. Messages are encoded in the
//     Ready loop. transport=rafthttp is etcd's own peer transport
//     (etcdserver/api/rafthttp), set up as etcd's server sets it up: HTTP
//     streams (msgappv2 for MsgApp), a pipeline of POSTs for the rest and
//     for snapshots, a dial timeout of 1 s plus the election timeout; each
//     peer added by id at the address of this node's own peer list. A
//     rafthttp stream carries messages towards the node that dialled it, so
//     messages from A to B travel on a connection B opened to A: raftcmp's
//     network faults, which act on every link of a target in both
//     directions, reach them all the same.
//   - Proposals: a follower does not forward (DisableProposalForwarding;
//     etcd's server forwards); Propose there returns
//     adapter.NotLeaderError naming the leader, as with hashicorp/raft, and
//     Describe reports ForwardsProposals false. The library accepts a
//     proposal before it commits, so each payload travels in an envelope
//     (proposer id, request id) and Propose waits for its entry to be
//     applied; the digest covers the payload without the envelope, which
//     adds 16 bytes to every entry. Waiting proposals fail when the leader
//     loses its term or the node stops.
//   - Reads: linearizable and lease through raft.Node.ReadIndex, then a
//     wait until this replica has applied the returned index, as etcd's
//     server serves a linearizable read (linearizableReadLoop); a follower's
//     ReadIndex is forwarded to the leader by raft. Whether ReadIndex
//     confirms leadership with a heartbeat round (ReadOnlySafe, what etcd's
//     server runs) or trusts the leader's lease (ReadOnlyLeaseBased, which
//     needs CheckQuorum) is raft.Config.ReadOnlyOption, a setting of the
//     node: Config.ReadMode lease selects ReadOnlyLeaseBased, and such a
//     node refuses linearizable reads (and a default one lease reads) with
//     adapter.ErrUnsupported. Stale reads return the local state machine.
//   - Snapshots as etcd's server takes them
//     (EtcdServer.snapshotIfNeededAndCompactRaftLog): a snapshot of the
//     state machine (the digest) saved to disk every snapshot_entries
//     applied entries (etcd's --snapshot-count, 10000), a snapshot of
//     MemoryStorage alone every 100 (etcd's memorySnapshotCount), and after
//     either the in-memory log compacted to snapshot_catchup_entries (etcd's
//     5000) behind it, so a follower further behind than that catches up
//     from a snapshot (--raft keep sets snapshot_catchup_entries). Status
//     counts the snapshots of every snapshot_entries (not the memory ones),
//     timed from CreateSnapshot to the end of the compaction after it, and
//     an install for each Ready carrying a leader's snapshot (MsgSnap).
//     --raft snapshot=off (the uniform profile) or
//     snapshot_entries=0 turns both off; the log then grows for the length
//     of a point, which with storage memory is payload × ops in RAM per
//     node.
//   - Restart (Start on a DataDir whose WAL exists) replays the WAL into
//     MemoryStorage and re-applies the committed log from the last disk
//     snapshot (or from the start), which rebuilds the digest. A node
//     restarted with storage memory has no state and must not rejoin its
//     old cluster.
//
// # Options
//
//	tick_interval=100ms            one raft tick (default: --raft heartbeat, else 100ms)
//	election_tick=10               election timeout, in ticks (default: --raft election, else 1s)
//	heartbeat_tick=1               heartbeat interval, in ticks
//	max_size_per_msg=1048576       bytes of entries per MsgApp
//	max_inflight_msgs=512          unacknowledged MsgApps per follower (default: --raft inflight)
//	max_committed_size_per_ready=0 bytes of committed entries per Ready (0: max_size_per_msg)
//	check_quorum=true              leader steps down without a quorum (default: --raft checkquorum)
//	pre_vote=true                  pre-vote before an election (default: --raft prevote)
//	snapshot_entries=10000         snapshot every N applied entries, 0 never (default: --raft snapshot)
//	snapshot_catchup_entries=5000  entries kept behind a compaction
//	transport=tcp                  tcp (raftcmp's) or rafthttp (etcd's)
//	ready_order=etcd               etcd (the leader sends before it persists) or persist-first
//	send_queue=4096                messages queued per peer before dropping (transport tcp)
package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Node is one etcd raft cluster member.
type Node struct {
	mu      sync.Mutex // serialises Start and Stop
	started bool
	r       atomic.Pointer[replica]
}

// New returns an unstarted node.
func New() *Node { return &Node{} }

// Describe implements adapter.Node.
func (n *Node) Describe() adapter.Description {
	return adapter.Description{
		Name:   "etcd",
		Module: "go.etcd.io/raft/v3",
		Capabilities: adapter.Capabilities{
			ForwardsProposals: false,
			Storage:           []adapter.Storage{adapter.StorageDisk, adapter.StorageTmpfs, adapter.StorageMemory},
			// Lease reads are raft.ReadOnlyLeaseBased, a raft.Config
			// setting for every read of a node: Config.ReadMode selects it.
			ReadModes: []adapter.ReadMode{adapter.ReadLinearizable, adapter.ReadLease, adapter.ReadStale},
			// ProposeConfChange / ApplyConfChange: membership.go.
			Membership: true,
		},
	}
}

// Start implements adapter.Node.
func (n *Node) Start(ctx context.Context, cfg adapter.Config) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return errors.New("already started")
	}
	s, err := resolve(cfg)
	if err != nil {
		return err
	}
	switch cfg.Storage {
	case adapter.StorageDisk, adapter.StorageTmpfs, adapter.StorageMemory:
	default:
		return fmt.Errorf("storage %q: %w", cfg.Storage, adapter.ErrUnsupported)
	}
	if _, err := cfg.Self(); err != nil {
		return err
	}
	r, err := startReplica(cfg, s)
	if err != nil {
		return err
	}
	n.started = true
	n.r.Store(r)
	return nil
}

var (
	errNotStarted = errors.New("node not started")
	errStopped    = errors.New("node stopped")
	// errLeadershipLost fails a proposal whose leader lost its term before
	// the entry was applied; the entry may still commit under the next
	// leader, so the write is unacknowledged, not known lost.
	errLeadershipLost = errors.New("leadership lost before the entry was applied")
)

// Propose implements adapter.Node. It returns once the entry is applied on
// this node, when the node stops, when the leader loses its term, or when
// ctx ends, whichever is first.
func (n *Node) Propose(ctx context.Context, payload []byte) (uint64, error) {
	r := n.r.Load()
	if r == nil {
		return 0, errNotStarted
	}
	return r.propose(ctx, payload)
}

// Read implements adapter.Node: linearizable and lease through raft's
// ReadIndex, on the leader or on a follower (raft forwards it), under the
// ReadOnlyOption the node was started with (Config.ReadMode; the other
// consistent mode is then ErrUnsupported); stale from the local state
// machine.
func (n *Node) Read(ctx context.Context, mode adapter.ReadMode) (adapter.ReadState, error) {
	r := n.r.Load()
	if r == nil {
		return adapter.ReadState{}, errNotStarted
	}
	switch mode {
	case adapter.ReadLinearizable, adapter.ReadLease:
		started := adapter.ReadLinearizable
		if r.set.readOnly == raft.ReadOnlyLeaseBased {
			started = adapter.ReadLease
		}
		if mode != started {
			return adapter.ReadState{}, fmt.Errorf("read mode %s on a node started for %s reads (etcd raft's ReadOnlyOption is per node; set Config.ReadMode): %w", mode, started, adapter.ErrUnsupported)
		}
		return r.readIndex(ctx)
	case adapter.ReadStale:
		return r.staleRead()
	}
	return adapter.ReadState{}, fmt.Errorf("read mode %q: %w", mode, adapter.ErrUnsupported)
}

// Status implements adapter.Node.
func (n *Node) Status(ctx context.Context) (adapter.Status, error) {
	r := n.r.Load()
	if r == nil {
		return adapter.Status{}, errNotStarted
	}
	return r.status()
}

// Stop implements adapter.Node.
func (n *Node) Stop(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r := n.r.Load(); r != nil {
		return r.stop()
	}
	return nil
}

func role(s raft.StateType) adapter.Role {
	switch s {
	case raft.StateLeader:
		return adapter.RoleLeader
	case raft.StateFollower:
		return adapter.RoleFollower
	case raft.StateCandidate, raft.StatePreCandidate:
		return adapter.RoleCandidate
	}
	return adapter.RoleUnknown
}

// raftLogger is the library's logger over slog, passing warnings and errors
// only: etcd raft logs every election at info level, which is noise here.
type raftLogger struct{ l *slog.Logger }

func (raftLogger) Debug(...any)          {}
func (raftLogger) Debugf(string, ...any) {}
func (raftLogger) Info(...any)           {}
func (raftLogger) Infof(string, ...any)  {}

func (g raftLogger) Warning(v ...any)            { g.l.Warn(fmt.Sprint(v...)) }
func (g raftLogger) Warningf(f string, v ...any) { g.l.Warn(fmt.Sprintf(f, v...)) }
func (g raftLogger) Error(v ...any)              { g.l.Error(fmt.Sprint(v...)) }
func (g raftLogger) Errorf(f string, v ...any)   { g.l.Error(fmt.Sprintf(f, v...)) }
func (g raftLogger) Fatal(v ...any)              { g.Panic(v...) }
func (g raftLogger) Fatalf(f string, v ...any)   { g.Panicf(f, v...) }

func (g raftLogger) Panic(v ...any) {
	msg := fmt.Sprint(v...)
	g.l.Error(msg)
	panic(msg)
}

func (g raftLogger) Panicf(f string, v ...any) {
	msg := fmt.Sprintf(f, v...)
	g.l.Error(msg)
	panic(msg)
}
