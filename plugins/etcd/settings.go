package etcd

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// settings is everything a node runs with, resolved from its Config by
// resolve: the library's configuration, the adapter's own choices, and the
// report Settings returns. Start and Settings both call resolve, so what
// Settings says is what Start does.
type settings struct {
	tick                     time.Duration
	electionTick             int
	heartbeatTick            int
	maxSizePerMsg            uint64
	maxInflightMsgs          int
	maxCommittedSizePerReady uint64
	checkQuorum              bool
	preVote                  bool
	// snapshotEntries: snapshot to disk every this many applied entries,
	// 0 never (and then the log is never compacted either).
	snapshotEntries        uint64
	snapshotCatchUpEntries uint64
	transport              string
	readyOrder             string
	sendQueue              int // transport tcp only
	// readOnly is raft's read path for ReadIndex, from Config.ReadMode:
	// ReadOnlySafe serves linearizable reads, ReadOnlyLeaseBased lease.
	readOnly raft.ReadOnlyOption

	report adapter.Settings
}

// Values of the transport and ready_order options.
const (
	transportTCP      = "tcp"
	transportRafthttp = "rafthttp"

	// orderEtcd: the order of etcd's server (etcdserver/raft.go,
	// raftNode.start): a leader sends before it persists, a follower
	// persists before it sends, committed entries are applied before the
	// Ready's own entries are persisted.
	orderEtcd = "etcd"
	// orderPersistFirst: the order of the raft library's documentation,
	// which this adapter ran before: persist, send, apply, for every role.
	orderPersistFirst = "persist-first"
)

// Production values: what etcd's server runs unless told otherwise.
const (
	defaultTick            = 100 * time.Millisecond // etcd --heartbeat-interval
	defaultElection        = time.Second            // etcd --election-timeout
	defaultHeartbeatTick   = 1                      // etcd server's raft.Config
	defaultMaxSizePerMsg   = 1 << 20                // etcd server's maxSizePerMsg
	defaultMaxInflightMsgs = 4096 / 8               // etcd server's maxInflightMsgs
	defaultSnapshotEntries = 10000                  // etcd --snapshot-count
	defaultCatchUpEntries  = 5000                   // etcd --snapshot-catchup-entries
	defaultSendQueue       = 4096                   // etcd rafthttp streamBufSize
	// memorySnapshotEntries: etcd's server also snapshots into raft's
	// MemoryStorage and compacts it every 100 applied entries
	// (memorySnapshotCount), whatever --snapshot-count says.
	memorySnapshotEntries = 100
)

// Citations, so that each is written once.
const (
	citeEmbed     = "go.etcd.io/etcd/server/v3 embed/config.go NewConfig"
	citeBootstrap = "etcd server's raft.Config, etcdserver/bootstrap.go raftConfig"
	citeRaftGo    = "etcdserver/raft.go"
)

// resolve computes what a node started with cfg runs: the options first
// (an explicit --opt wins), then the shared knobs of cfg.Raft, then etcd's
// production values. A knob that an option overrides, or that etcd raft
// cannot take exactly, is reported Unhonoured with what runs instead.
func resolve(cfg adapter.Config) (settings, error) {
	opts := cfg.Options
	r := opts.Reader()
	given := func(key string) (string, bool) { v, ok := opts[key]; return v, ok }
	knobs := cfg.Raft
	var s settings
	var rep adapter.Settings
	add := func(v adapter.Setting) { rep.Values = append(rep.Values, v) }
	unhonoured := func(knob, reason string) { rep.Refuse(knob, knobs.Value(knob), reason) }
	overridden := func(knob, key string) {
		if _, ok := given(key); ok && knobs.Value(knob) != "" {
			unhonoured(knob, adapter.OverriddenBy(key, opts))
		}
	}

	// Timing. etcd's server ticks at its heartbeat interval (TickMs is
	// --heartbeat-interval, HeartbeatTick 1) and counts the election
	// timeout in those ticks; a requested heartbeat becomes the tick the
	// same way, unless tick_interval is given.
	s.tick = r.Duration("tick_interval", defaultTick, time.Millisecond)
	s.heartbeatTick = r.Int("heartbeat_tick", defaultHeartbeatTick, 1, 1_000_000)
	s.electionTick = r.Int("election_tick", int(defaultElection/defaultTick), 2, 1_000_000)
	_, tickGiven := given("tick_interval")
	_, hbGiven := given("heartbeat_tick")
	_, elGiven := given("election_tick")
	tickNote := "etcd --heartbeat-interval default 100ms is etcd's tick (TickMs), " + citeEmbed
	tickSource := adapter.SourceProduction
	switch {
	case tickGiven:
		tickSource, tickNote = adapter.SourceRequested, "option tick_interval"
	case knobs.HeartbeatInterval != 0:
		s.tick = knobs.HeartbeatInterval
		tickSource, tickNote = adapter.SourceRequested, "--raft heartbeat: etcd's server ticks at its heartbeat interval (TickMs = --heartbeat-interval)"
	}

	hbSource, hbNote := adapter.SourceProduction, "HeartbeatTick 1 tick of 100ms: etcd --heartbeat-interval default, "+citeBootstrap
	switch {
	case hbGiven:
		hbSource, hbNote = adapter.SourceRequested, fmt.Sprintf("option heartbeat_tick=%d", s.heartbeatTick)
		overridden(adapter.KnobHeartbeat, "heartbeat_tick")
	case knobs.HeartbeatInterval != 0:
		s.heartbeatTick = ticksOf(knobs.HeartbeatInterval, s.tick)
		hbSource, hbNote = adapter.SourceRequested, fmt.Sprintf("HeartbeatTick %d of %v ticks", s.heartbeatTick, s.tick)
		if got := time.Duration(s.heartbeatTick) * s.tick; got != knobs.HeartbeatInterval {
			unhonoured(adapter.KnobHeartbeat, fmt.Sprintf("not a whole number of %v ticks; runs %v (%d ticks)", s.tick, got, s.heartbeatTick))
		}
	case tickGiven:
		hbNote = fmt.Sprintf("HeartbeatTick 1 (etcd's) of %v ticks", s.tick)
	}

	elSource, elNote := adapter.SourceProduction, "etcd --election-timeout default 1000ms, "+citeEmbed+"; ElectionTick = 1000ms / TickMs"
	switch {
	case elGiven:
		elSource, elNote = adapter.SourceRequested, fmt.Sprintf("option election_tick=%d", s.electionTick)
		overridden(adapter.KnobElection, "election_tick")
	case knobs.ElectionTimeout != 0:
		s.electionTick = ticksOf(knobs.ElectionTimeout, s.tick)
		elSource, elNote = adapter.SourceRequested, fmt.Sprintf("ElectionTick %d of %v ticks", s.electionTick, s.tick)
		if s.electionTick <= s.heartbeatTick {
			s.electionTick = s.heartbeatTick + 1
			unhonoured(adapter.KnobElection, fmt.Sprintf("etcd raft needs ElectionTick > HeartbeatTick; runs %v (%d ticks)",
				time.Duration(s.electionTick)*s.tick, s.electionTick))
		} else if got := time.Duration(s.electionTick) * s.tick; got != knobs.ElectionTimeout {
			unhonoured(adapter.KnobElection, fmt.Sprintf("not a whole number of %v ticks; runs %v (%d ticks)", s.tick, got, s.electionTick))
		}
	default:
		// etcd's server: ElectionTicks = --election-timeout / TickMs.
		s.electionTick = max(ticksOf(defaultElection, s.tick), s.heartbeatTick+1)
		if s.tick != defaultTick {
			elNote = fmt.Sprintf("etcd --election-timeout default 1000ms in %v ticks", s.tick)
		}
	}
	if s.electionTick <= s.heartbeatTick {
		return s, fmt.Errorf("option election_tick=%d: must be greater than heartbeat_tick (%d)", s.electionTick, s.heartbeatTick)
	}
	add(adapter.Setting{Knob: adapter.KnobElection, Name: "ElectionTick", Value: (time.Duration(s.electionTick) * s.tick).String(), Source: elSource, Note: elNote})
	add(adapter.Setting{Knob: adapter.KnobHeartbeat, Name: "HeartbeatTick", Value: (time.Duration(s.heartbeatTick) * s.tick).String(), Source: hbSource, Note: hbNote})

	// Switches.
	s.preVote = r.Bool("pre_vote", true)
	s.checkQuorum = r.Bool("check_quorum", true)
	sw := func(knob, key, name string, v *bool, knobVal adapter.Switch, prodNote string) {
		src, note := adapter.SourceProduction, prodNote
		if _, ok := given(key); ok {
			src, note = adapter.SourceRequested, "option "+key
			overridden(knob, key)
		} else if knobVal != adapter.SwitchUnset {
			*v = knobVal.Bool(*v)
			src, note = adapter.SourceRequested, "--raft "+knob
		}
		add(adapter.Setting{Knob: knob, Name: name, Value: string(adapter.SwitchOf(*v)), Source: src, Note: note})
	}
	sw(adapter.KnobPreVote, "pre_vote", "PreVote", &s.preVote, knobs.PreVote,
		"etcd --pre-vote default true, "+citeEmbed+" (library default false)")
	sw(adapter.KnobCheckQuorum, "check_quorum", "CheckQuorum", &s.checkQuorum, knobs.CheckQuorum,
		"etcd's server always sets it, "+citeBootstrap+" (library default false)")

	// Flow control. etcd raft bounds an append by bytes, not entries.
	s.maxSizePerMsg = uint64(r.Int("max_size_per_msg", defaultMaxSizePerMsg, 0, 1<<30))
	if knobs.MaxAppendEntries != 0 {
		unhonoured(adapter.KnobAppend, fmt.Sprintf("etcd raft bounds an append by bytes (MaxSizePerMsg), not entries, and the payload size is not known to the node; runs MaxSizePerMsg=%s", bytesString(s.maxSizePerMsg)))
	}
	s.maxInflightMsgs = r.Int("max_inflight_msgs", defaultMaxInflightMsgs, 1, 1<<20)
	inflSource, inflNote := adapter.SourceProduction, "etcd's maxInflightMsgs = 4096/8, sized not to overflow rafthttp's 4096-message stream buffer, "+citeRaftGo+" (the library has no default)"
	if _, ok := given("max_inflight_msgs"); ok {
		inflSource, inflNote = adapter.SourceRequested, "option max_inflight_msgs"
		overridden(adapter.KnobInflight, "max_inflight_msgs")
	} else if knobs.MaxInflightAppends != 0 {
		s.maxInflightMsgs = knobs.MaxInflightAppends
		inflSource, inflNote = adapter.SourceRequested, "--raft inflight: MaxInflightMsgs, MsgApps in flight per follower"
	}
	add(adapter.Setting{Knob: adapter.KnobInflight, Name: "MaxInflightMsgs", Value: strconv.Itoa(s.maxInflightMsgs), Source: inflSource, Note: inflNote})

	// Snapshots.
	s.snapshotEntries = uint64(r.Int("snapshot_entries", defaultSnapshotEntries, 0, math.MaxInt32))
	snapSource, snapNote := adapter.SourceProduction, "etcd --snapshot-count default 10000 (DefaultSnapshotCount, etcdserver/server.go)"
	if _, ok := given("snapshot_entries"); ok {
		snapSource, snapNote = adapter.SourceRequested, "option snapshot_entries"
		overridden(adapter.KnobSnapshot, "snapshot_entries")
	} else if knobs.SnapshotEntries != 0 {
		s.snapshotEntries = uint64(max(knobs.SnapshotEntries, 0)) // SnapshotsOff is 0 here: never
		snapSource, snapNote = adapter.SourceRequested, "--raft snapshot"
	}
	snapValue := "off"
	if s.snapshotEntries > 0 {
		snapValue = strconv.FormatUint(s.snapshotEntries, 10)
	}
	add(adapter.Setting{Knob: adapter.KnobSnapshot, Name: "SnapshotCount", Value: snapValue, Source: snapSource, Note: snapNote})

	// The backend's own settings.
	s.maxCommittedSizePerReady = uint64(r.Int("max_committed_size_per_ready", 0, 0, math.MaxInt32))
	s.snapshotCatchUpEntries = uint64(r.Int("snapshot_catchup_entries", defaultCatchUpEntries, 0, math.MaxInt32))
	s.transport = r.Enum("transport", transportTCP, transportTCP, transportRafthttp)
	s.readyOrder = r.Enum("ready_order", orderEtcd, orderEtcd, orderPersistFirst)
	s.sendQueue = r.Int("send_queue", defaultSendQueue, 1, 1<<20)
	if err := r.Err(); err != nil {
		return s, err
	}
	switch cfg.ReadMode {
	case "", adapter.ReadLinearizable:
		s.readOnly = raft.ReadOnlySafe
		add(adapter.Setting{Name: "ReadOnlyOption", Value: "ReadOnlySafe", Source: adapter.SourceProduction,
			Note: "linearizable reads: ReadIndex confirmed by a heartbeat round; etcd's server never sets ReadOnlyLeaseBased (library default ReadOnlySafe)"})
	case adapter.ReadLease:
		if !s.checkQuorum {
			return s, fmt.Errorf("lease reads (raft.ReadOnlyLeaseBased) need check quorum on, as etcd raft requires: %w", adapter.ErrUnsupported)
		}
		s.readOnly = raft.ReadOnlyLeaseBased
		add(adapter.Setting{Name: "ReadOnlyOption", Value: "ReadOnlyLeaseBased", Source: adapter.SourceRequested,
			Note: "read mode lease: the leader answers ReadIndex from its lease (it heard from a quorum within the election timeout, CheckQuorum), without a heartbeat round; it relies on bounded clock drift"})
	default:
		return s, fmt.Errorf("read mode %q: %w", cfg.ReadMode, adapter.ErrUnsupported)
	}
	if _, ok := given("send_queue"); ok && s.transport != transportTCP {
		return s, fmt.Errorf("option send_queue: only transport=%s has it (rafthttp's stream buffer is fixed at 4096 messages)", transportTCP)
	}

	src := func(key string, prod string) string {
		_, ok := given(key)
		return adapter.SourceOf(ok, prod)
	}
	add(adapter.Setting{Name: "tick", Value: s.tick.String(), Source: tickSource, Note: tickNote})
	add(adapter.Setting{Name: "MaxSizePerMsg", Value: bytesString(s.maxSizePerMsg), Source: src("max_size_per_msg", adapter.SourceProduction),
		Note: "bytes of entries per MsgApp (etcd bounds appends by bytes, so the shared knob append has no equivalent): etcd's maxSizePerMsg, " + citeRaftGo + " (library default 0: one entry per message)"})
	mcs := "= MaxSizePerMsg"
	if s.maxCommittedSizePerReady != 0 {
		mcs = bytesString(s.maxCommittedSizePerReady)
	}
	add(adapter.Setting{Name: "MaxCommittedSizePerReady", Value: mcs, Source: src("max_committed_size_per_ready", adapter.SourceLibrary),
		Note: "bytes of committed entries per Ready; unset, raft uses MaxSizePerMsg; etcd's server leaves it unset"})
	add(adapter.Setting{Name: "MaxUncommittedEntriesSize, MaxInflightBytes", Value: "no limit", Source: adapter.SourceLibrary,
		Note: "etcd's server leaves both unset"})

	switch cfg.Storage {
	case adapter.StorageMemory:
		add(adapter.Setting{Name: "log store", Value: "raft.MemoryStorage", Source: adapter.SourceLibrary, Note: "storage memory: the library's in-memory log, no WAL"})
		add(adapter.Setting{Name: "fsync", Value: "none", Source: adapter.SourceRaftcmp, Note: "storage memory"})
	default:
		add(adapter.Setting{Name: "log store", Value: "etcd WAL + raft.MemoryStorage", Source: adapter.SourceProduction,
			Note: "etcd's WAL (server/storage/wal, 64 MB segments) and snapshotter under DataDir, raft.MemoryStorage as the log raft reads, as etcd's server"})
		add(adapter.Setting{Name: "fsync", Value: "every Ready with new entries, term or vote", Source: adapter.SourceProduction,
			Note: "etcd's WAL.Save syncs when raft.MustSync (server/storage/wal/wal.go)"})
	}
	tNote := "raftcmp's own: one TCP connection per peer, length-prefixed raftpb frames, 4096-message queue per peer (rafthttp's stream buffer), drop and ReportUnreachable when full"
	if s.transport == transportRafthttp {
		tNote = "etcd's peer transport (etcdserver/api/rafthttp): HTTP streams (msgappv2 for MsgApp) plus a pipeline of POSTs, peers added by id at the addresses of this node's peer list"
	}
	add(adapter.Setting{Name: "transport", Value: s.transport, Source: src("transport", adapter.SourceRaftcmp), Note: tNote})
	if s.transport == transportTCP {
		add(adapter.Setting{Name: "send queue", Value: strconv.Itoa(s.sendQueue), Source: src("send_queue", adapter.SourceProduction),
			Note: "messages queued per peer before dropping: rafthttp's streamBufSize"})
	}
	oNote := "as etcd's server, " + citeRaftGo + " raftNode.start: the leader sends, then persists (Raft thesis 10.2.1); a follower persists, then sends; synchronous storage writes (etcd does not use raft's AsyncStorageWrites); one MsgAppResp per Ready"
	if s.readyOrder == orderPersistFirst {
		oNote = "the raft library's documented order for every role: persist, send, apply, Advance (this adapter's order before issue 12)"
	}
	add(adapter.Setting{Name: "ready order", Value: s.readyOrder, Source: src("ready_order", adapter.SourceProduction), Note: oNote})
	add(adapter.Setting{Name: "apply", Value: "in the Ready loop, before the Ready's entries are persisted", Source: adapter.SourceRaftcmp,
		Note: "etcd hands committed entries to an apply goroutine before persisting; the state machine here is a digest, cheaper than that hand-off, so the loop applies at the same point itself"})
	add(adapter.Setting{Name: "DisableProposalForwarding", Value: "true", Source: adapter.SourceRaftcmp,
		Note: "a follower returns NotLeaderError, as with hashicorp/raft; etcd's server forwards (library default false)"})
	catchSource, catchNote := adapter.SourceProduction, "entries kept behind a compaction for slow followers: etcd --snapshot-catchup-entries default 5000 (DefaultSnapshotCatchUpEntries, etcdserver/server.go)"
	if _, ok := given("snapshot_catchup_entries"); ok {
		catchSource, catchNote = adapter.SourceRequested, "option snapshot_catchup_entries"
		overridden(adapter.KnobKeep, "snapshot_catchup_entries")
	} else if knobs.KeepEntries != 0 {
		s.snapshotCatchUpEntries = uint64(knobs.KeepEntries)
		catchSource, catchNote = adapter.SourceRequested, "--raft keep: entries kept behind a compaction (etcd --snapshot-catchup-entries)"
	}
	add(adapter.Setting{Knob: adapter.KnobKeep, Name: "SnapshotCatchUpEntries", Value: strconv.FormatUint(s.snapshotCatchUpEntries, 10), Source: catchSource, Note: catchNote})
	if s.snapshotEntries == 0 {
		add(adapter.Setting{Name: "log compaction", Value: "never", Source: snapSource, Note: "snapshots off: the log grows for the length of the run"})
	} else {
		add(adapter.Setting{Name: "memory snapshot", Value: "every " + strconv.Itoa(memorySnapshotEntries) + " entries", Source: adapter.SourceProduction,
			Note: "etcd also snapshots raft's MemoryStorage and compacts it every 100 applied entries (memorySnapshotCount, etcdserver/server.go); not counted as a snapshot taken"})
	}
	s.report = rep
	return s, nil
}

// ticksOf is d in whole ticks of tick, rounded to the nearest, at least 1.
func ticksOf(d, tick time.Duration) int {
	return max(int((d+tick/2)/tick), 1)
}

// bytesString spells n bytes as 1MiB, 64KiB or 1000.
func bytesString(n uint64) string {
	switch {
	case n != 0 && n%(1<<20) == 0:
		return strconv.FormatUint(n>>20, 10) + "MiB"
	case n != 0 && n%(1<<10) == 0:
		return strconv.FormatUint(n>>10, 10) + "KiB"
	}
	return strconv.FormatUint(n, 10)
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
		ReadOnlyOption:           s.readOnly,
		Logger:                   logger,
		// Followers refuse proposals; see the package documentation.
		DisableProposalForwarding: true,
	}
}

// Settings implements adapter.Node: the table Start(cfg) runs, from the
// same resolution Start uses.
func (n *Node) Settings(cfg adapter.Config) (adapter.Settings, error) {
	s, err := resolve(cfg)
	if err != nil {
		return adapter.Settings{}, err
	}
	return s.report, nil
}
