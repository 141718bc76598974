// Package etcd adapts go.etcd.io/raft/v3 (the Raft library inside etcd) to
// raftcmp's adapter.Node. etcd raft is a library of the state machine only:
// it does no I/O, so this package supplies what an application must, in the
// way etcd's own server does it: one raft.Node per process driven by a
// ticker and a Ready loop, etcd's WAL for durability, raft.MemoryStorage as
// the log the library reads, and a TCP transport of its own.
//
// # Choices a reader of a report should know
//
//   - Timing: a tick every 100 ms, HeartbeatTick 1 and ElectionTick 10, so a
//     100 ms heartbeat and a 1 s election timeout: etcd's defaults
//     (--heartbeat-interval 100, --election-timeout 1000). Options
//     tick_interval, heartbeat_tick and election_tick change them.
//   - Flow control as the etcd server configures raft: MaxSizePerMsg 1 MiB
//     and MaxInflightMsgs 512 (etcd's maxInflightMsgs = 4096/8, sized not
//     to overflow its transport's 4096-message buffer);
//     MaxCommittedSizePerReady left at the library default (equal to
//     MaxSizePerMsg), as etcd leaves it.
//   - CheckQuorum and PreVote are on, as the etcd server runs raft.
//   - Storage disk and tmpfs: etcd's WAL (package storage/wal of
//     go.etcd.io/etcd/server/v3) under DataDir/wal, fsynced whenever a Ready carries new
//     entries or a new term or vote (raft.MustSync, what the WAL does by
//     itself), plus raft.MemoryStorage that the library reads, rebuilt
//     from the WAL on restart. Storage memory: raft.MemoryStorage alone.
//   - The Ready loop follows the simple order of the library's
//     documentation: persist HardState and entries, then send messages,
//     then apply committed entries, then Advance. The leader does not write
//     its log in parallel with replication (the Raft thesis §10.2.1
//     optimisation etcd's server also uses); with fsync on every Ready the
//     leader's own disk write is therefore on the commit path.
//   - Transport: TCP, one outbound connection per peer, frames of a 4-byte
//     length and a protobuf raftpb.Message; a goroutine per peer drains a
//     queue of 4096 messages (etcd's rafthttp stream buffer) into a
//     buffered writer and flushes when the queue is empty, so messages
//     produced together travel in one write. A full queue drops the message
//     and reports the peer unreachable, as rafthttp does; a write that
//     blocks for 5 s (rafthttp's ConnWriteTimeout) breaks the connection;
//     a broken connection is redialled with backoff (10 ms doubling to
//     500 ms) and what was queued for it is dropped for raft to resend.
//     Messages are encoded in the Ready loop, as the library requires.
//   - Proposals: a follower does not forward (DisableProposalForwarding);
//     Propose there returns adapter.NotLeaderError naming the leader, as
//     with hashicorp/raft, and Describe reports ForwardsProposals false.
//     The library accepts a proposal before it commits, so each payload
//     travels in an envelope (proposer id, request id) and Propose waits
//     for its entry to be applied; the digest covers the payload without
//     the envelope, which adds 16 bytes to every entry. Waiting proposals
//     fail when the leader loses its term or the node stops.
//   - Snapshots: off by default, so that none lands in a measured window
//     (etcd would snapshot every 10000 applied entries). With
//     snapshot_entries=N the node snapshots its state machine (the digest)
//     every N applied entries and keeps snapshot_catchup_entries (etcd's
//     5000) entries behind it for slow followers. Without snapshots the log
//     grows for the length of a point; with storage memory that is payload
//     × ops in RAM per node.
//   - Restart (Start on a DataDir whose WAL exists) replays the WAL into
//     MemoryStorage and re-applies the committed log from the last snapshot
//     (or from the start), which rebuilds the digest. A node restarted with
//     storage memory has no state and must not rejoin its old cluster.
//
// # Options
//
//	tick_interval=100ms            one raft tick
//	election_tick=10               election timeout, in ticks
//	heartbeat_tick=1               heartbeat interval, in ticks
//	max_size_per_msg=1048576       bytes of entries per MsgApp
//	max_inflight_msgs=512          unacknowledged MsgApps per follower
//	max_committed_size_per_ready=0 bytes of committed entries per Ready (0: max_size_per_msg)
//	check_quorum=true              leader steps down without a quorum
//	pre_vote=true                  pre-vote before an election
//	snapshot_entries=0             snapshot every N applied entries (0: never)
//	snapshot_catchup_entries=5000  entries kept behind a snapshot
//	send_queue=4096                messages queued per peer before dropping
package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

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
		},
	}
}

// settings are the options this backend reads, with their defaults.
type settings struct {
	tick                     time.Duration
	electionTick             int
	heartbeatTick            int
	maxSizePerMsg            uint64
	maxInflightMsgs          int
	maxCommittedSizePerReady uint64
	checkQuorum              bool
	preVote                  bool
	snapshotEntries          uint64
	snapshotCatchUpEntries   uint64
	sendQueue                int
}

// Defaults, with the etcd setting each one follows.
const (
	defaultTick            = 100 * time.Millisecond // etcd --heartbeat-interval
	defaultElectionTick    = 10                     // etcd --election-timeout 1000 ms / 100 ms
	defaultHeartbeatTick   = 1                      // etcd server's raft.Config
	defaultMaxSizePerMsg   = 1 << 20                // etcd server's maxSizePerMsg
	defaultMaxInflightMsgs = 4096 / 8               // etcd server's maxInflightMsgs
	defaultCatchUpEntries  = 5000                   // etcd --snapshot-catchup-entries
	defaultSendQueue       = 4096                   // etcd rafthttp streamBufSize
)

func readSettings(opts adapter.Options) (settings, error) {
	r := opts.Reader()
	s := settings{
		tick:                     r.Duration("tick_interval", defaultTick, time.Millisecond),
		electionTick:             r.Int("election_tick", defaultElectionTick, 2, 1_000_000),
		heartbeatTick:            r.Int("heartbeat_tick", defaultHeartbeatTick, 1, 1_000_000),
		maxSizePerMsg:            uint64(r.Int("max_size_per_msg", defaultMaxSizePerMsg, 0, 1<<30)),
		maxInflightMsgs:          r.Int("max_inflight_msgs", defaultMaxInflightMsgs, 1, 1<<20),
		maxCommittedSizePerReady: uint64(r.Int("max_committed_size_per_ready", 0, 0, math.MaxInt32)),
		checkQuorum:              r.Bool("check_quorum", true),
		preVote:                  r.Bool("pre_vote", true),
		snapshotEntries:          uint64(r.Int("snapshot_entries", 0, 0, math.MaxInt32)),
		snapshotCatchUpEntries:   uint64(r.Int("snapshot_catchup_entries", defaultCatchUpEntries, 0, math.MaxInt32)),
		sendQueue:                r.Int("send_queue", defaultSendQueue, 1, 1<<20),
	}
	if err := r.Err(); err != nil {
		return s, err
	}
	if s.electionTick <= s.heartbeatTick {
		return s, fmt.Errorf("option election_tick=%d: must be greater than heartbeat_tick (%d)", s.electionTick, s.heartbeatTick)
	}
	return s, nil
}

// raftConfig is the library configuration for node id over storage.
func (s settings) raftConfig(id uint64, storage raft.Storage, applied uint64, logger raft.Logger) *raft.Config {
	return &raft.Config{
		ID:                       id,
		ElectionTick:             s.electionTick,
		HeartbeatTick:            s.heartbeatTick,
		Storage:                  storage,
		Applied:                  applied,
		MaxSizePerMsg:            s.maxSizePerMsg,
		MaxCommittedSizePerReady: s.maxCommittedSizePerReady,
		MaxInflightMsgs:          s.maxInflightMsgs,
		CheckQuorum:              s.checkQuorum,
		PreVote:                  s.preVote,
		Logger:                   logger,
		// Followers refuse proposals; see the package documentation.
		DisableProposalForwarding: true,
	}
}

// Start implements adapter.Node.
func (n *Node) Start(ctx context.Context, cfg adapter.Config) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started {
		return errors.New("already started")
	}
	s, err := readSettings(cfg.Options)
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
func (n *Node) Propose(ctx context.Context, payload []byte) error {
	r := n.r.Load()
	if r == nil {
		return errNotStarted
	}
	return r.propose(ctx, payload)
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
