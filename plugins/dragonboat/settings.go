package dragonboat

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/logger"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// raftcmp's production timing for dragonboat: a 5 ms tick, elections after
// 40 ticks (200 ms, randomised by dragonboat to 200-400 ms), heartbeats every
// 4 ticks (20 ms). dragonboat has no default (ElectionRTT, HeartbeatRTT and
// RTTMillisecond are required) and no server product; its examples run
// 200 ms x 10 = 2 s elections, and its docs' advice for a LAN (a 1 ms tick,
// heartbeat 1, election 10) elected spuriously under load on a 2-core machine,
// while 5 ms x 40 was measured stable (docs/backends.md).
const (
	prodRTTMillis   = 5
	prodElectionRTT = 40
	prodHeartbeat   = 4
)

// timingReason is the Note of raftcmp's production timing.
const timingReason = "raftcmp's: dragonboat has no default (RTTMillisecond, ElectionRTT and HeartbeatRTT are required) and no server product; " +
	"its examples (dragonboat-example helloworld) run RTTMillisecond 200 x ElectionRTT 10 = 2s elections, heartbeat 200ms; its docs' LAN advice " +
	"(1ms tick, ElectionRTT 10) elected spuriously under load on a 2-core machine, 5ms x 40 was measured stable (docs/backends.md)"

// Library values the report cites.
const (
	// maxEntryBytes is settings.Soft.MaxEntrySize (= settings.MaxMessageBatchSize,
	// 64 MiB): the byte bound of one Replicate message's entries
	// (internal/raft/raft.go, sendReplicateMessage). It can only be changed
	// through a dragonboat-soft-settings.json file in the process's working
	// directory, read at package initialisation.
	maxEntryBytes = 64 << 20
	// sendQueueLength is settings.Soft.SendQueueLength: the messages the
	// transport queues per remote host before it drops.
	sendQueueLength = 2048
)

// resolved is everything Start runs with, computed from the Config alone by
// resolve, and the Settings report of the same values. Settings and Start
// both call resolve, so what one reports is what the other runs.
type resolved struct {
	rttMillis   uint64
	shard       config.Config // without ReplicaID
	logdb       string
	logdbConfig config.LogDBConfig
	logLevel    logger.LogLevel
	report      adapter.Settings
}

// Settings implements adapter.Node: the table resolve computes for cfg.
func (n *Node) Settings(cfg adapter.Config) (adapter.Settings, error) {
	res, err := resolve(cfg)
	if err != nil {
		return adapter.Settings{}, err
	}
	return res.report, nil
}

// options are this backend's --opt values, all read at once so that an
// unknown key is rejected with the full list of known ones.
type options struct {
	given                                 map[string]bool
	rttMillis, electionRTT, heartbeatRTT  uint64
	checkQuorum, preVote                  bool
	snapshotEntries, compaction, maxInMem uint64
	logdb, logdbSize                      string
	logdbShards                           uint64
	logLevel                              logger.LogLevel
}

func readOptions(opts adapter.Options) (options, error) {
	r := opts.Reader()
	o := options{
		given:           map[string]bool{},
		rttMillis:       uint64(r.Int("rtt_ms", prodRTTMillis, 1, 10_000)),
		electionRTT:     uint64(r.Int("election_rtt", prodElectionRTT, 3, 1_000_000)),
		heartbeatRTT:    uint64(r.Int("heartbeat_rtt", prodHeartbeat, 1, 1_000_000)),
		checkQuorum:     r.Bool("check_quorum", true),
		preVote:         r.Bool("pre_vote", false),
		snapshotEntries: uint64(r.Int("snapshot_entries", 0, 0, math.MaxInt)),
		compaction:      uint64(r.Int("compaction_overhead", 0, 0, math.MaxInt)),
		maxInMem:        uint64(r.Int("max_in_mem_log_size", 0, 0, math.MaxInt)),
		logdb:           r.Enum("logdb", "pebble", "pebble", "tan"),
		logdbSize:       r.Enum("logdb_size", "small", "tiny", "small", "medium", "default"),
		logdbShards:     uint64(r.Int("logdb_shards", 1, 1, 16)),
	}
	switch r.Enum("log_level", "warning", "error", "warning", "info", "debug") {
	case "error":
		o.logLevel = logger.ERROR
	case "warning":
		o.logLevel = logger.WARNING
	case "info":
		o.logLevel = logger.INFO
	default:
		o.logLevel = logger.DEBUG
	}
	for k := range opts {
		o.given[k] = true
	}
	if err := r.Err(); err != nil {
		return o, err
	}
	if m := o.maxInMem; m != 0 && m < 1024 {
		return o, fmt.Errorf("option max_in_mem_log_size=%d: must be 0 (unlimited) or at least 1024 bytes", m)
	}
	return o, nil
}

// resolve maps cfg (the shared Raft knobs, then this backend's options, which
// win over a knob for the same thing) onto dragonboat's configuration and
// reports each value with its source.
func resolve(cfg adapter.Config) (resolved, error) {
	o, err := readOptions(cfg.Options)
	if err != nil {
		return resolved{}, err
	}
	k := cfg.Raft
	var rep adapter.Settings
	res := resolved{shard: config.Config{ShardID: shardID}, logLevel: o.logLevel}

	if err := resolveTiming(&res, o, k, cfg.Options, &rep); err != nil {
		return resolved{}, err
	}

	// prevote
	switch {
	case o.given["pre_vote"]:
		res.shard.PreVote = o.preVote
		rep.Add(adapter.KnobPreVote, "PreVote", onOff(o.preVote), adapter.SourceRequested, "--opt dragonboat.pre_vote")
		if k.PreVote != adapter.SwitchUnset {
			rep.Refuse(adapter.KnobPreVote, string(k.PreVote), adapter.OverriddenBy("pre_vote", cfg.Options))
		}
	case k.PreVote != adapter.SwitchUnset:
		res.shard.PreVote = k.PreVote.Bool(false)
		rep.Add(adapter.KnobPreVote, "PreVote", string(k.PreVote), adapter.SourceRequested, "--raft prevote")
	default:
		rep.Add(adapter.KnobPreVote, "PreVote", "off", adapter.SourceLibrary,
			"config.Config.PreVote false (zero value); dragonboat's examples leave it off. A restarted or partitioned follower may then "+
				"disrupt a working leader with a higher term")
	}

	// checkquorum
	cqNote := fmt.Sprintf("a leader that has not heard from a quorum for ElectionRTT ticks (%s) steps down", fmtDur(res.election()))
	switch {
	case o.given["check_quorum"]:
		res.shard.CheckQuorum = o.checkQuorum
		rep.Add(adapter.KnobCheckQuorum, "CheckQuorum", onOff(o.checkQuorum), adapter.SourceRequested, "--opt dragonboat.check_quorum; "+cqNote)
		if k.CheckQuorum != adapter.SwitchUnset {
			rep.Refuse(adapter.KnobCheckQuorum, string(k.CheckQuorum), adapter.OverriddenBy("check_quorum", cfg.Options))
		}
	case k.CheckQuorum != adapter.SwitchUnset:
		res.shard.CheckQuorum = k.CheckQuorum.Bool(true)
		rep.Add(adapter.KnobCheckQuorum, "CheckQuorum", string(k.CheckQuorum), adapter.SourceRequested, "--raft checkquorum; "+cqNote)
	default:
		res.shard.CheckQuorum = true
		rep.Add(adapter.KnobCheckQuorum, "CheckQuorum", "on", adapter.SourceRaftcmp,
			"library default off (zero value); on as every dragonboat example sets it, so a leader cut off from its quorum steps down as "+
				"etcd's and hashicorp's do and partition faults compare; "+cqNote)
	}

	// append and inflight: no equivalent.
	rep.Add("", "Soft.MaxEntrySize", "64MiB", adapter.SourceLibrary,
		"a Replicate message carries as many entries as fit in 64 MiB (settings.MaxMessageBatchSize; internal/raft/raft.go "+
			"sendReplicateMessage): a byte bound, no entry count; settable only by a dragonboat-soft-settings.json in the working directory")
	if k.MaxAppendEntries != 0 {
		rep.Refuse(adapter.KnobAppend, k.Value(adapter.KnobAppend),
			"dragonboat bounds a Replicate message by bytes (Soft.MaxEntrySize, 64 MiB), not by entries; ran the byte bound")
	}
	rep.Add("", "appends in flight", "unbounded (send queue 2048)", adapter.SourceLibrary,
		"in replicate state the leader sends without waiting for acknowledgements (internal/raft/remote.go: no in-flight window); "+
			"the transport queues up to Soft.SendQueueLength 2048 messages per peer and batches them into one write")
	if k.MaxInflightAppends != 0 {
		rep.Refuse(adapter.KnobInflight, k.Value(adapter.KnobInflight),
			"dragonboat has no in-flight limit: a follower in replicate state is sent appends without waiting for acknowledgements; ran unbounded")
	}

	// snapshot
	switch {
	case o.given["snapshot_entries"]:
		res.shard.SnapshotEntries = o.snapshotEntries
		rep.Add(adapter.KnobSnapshot, "SnapshotEntries", snapshotValue(o.snapshotEntries), adapter.SourceRequested, "--opt dragonboat.snapshot_entries")
		if k.SnapshotEntries != 0 {
			rep.Refuse(adapter.KnobSnapshot, k.Value(adapter.KnobSnapshot), adapter.OverriddenBy("snapshot_entries", cfg.Options))
		}
	case k.SnapshotEntries > 0:
		res.shard.SnapshotEntries = uint64(k.SnapshotEntries)
		rep.Add(adapter.KnobSnapshot, "SnapshotEntries", strconv.Itoa(k.SnapshotEntries), adapter.SourceRequested,
			"--raft snapshot; dragonboat snapshots roughly every SnapshotEntries applied entries")
	case k.SnapshotEntries == adapter.SnapshotsOff:
		rep.Add(adapter.KnobSnapshot, "SnapshotEntries", "off", adapter.SourceRequested, "--raft snapshot=off; SnapshotEntries 0")
	default:
		rep.Add(adapter.KnobSnapshot, "SnapshotEntries", "off", adapter.SourceLibrary,
			"0 = no automatic snapshots (the zero value); raftcmp keeps it so no snapshot lands in a measured window (examples use 10-100, demo values)")
	}
	res.shard.CompactionOverhead = o.compaction
	switch {
	case o.given["compaction_overhead"]:
		rep.Add(adapter.KnobKeep, "CompactionOverhead", strconv.FormatUint(o.compaction, 10), adapter.SourceRequested, "--opt dragonboat.compaction_overhead")
		if k.KeepEntries != 0 {
			rep.Refuse(adapter.KnobKeep, k.Value(adapter.KnobKeep), adapter.OverriddenBy("compaction_overhead", cfg.Options))
		}
	case k.KeepEntries != 0:
		res.shard.CompactionOverhead = uint64(k.KeepEntries)
		rep.Add(adapter.KnobKeep, "CompactionOverhead", strconv.Itoa(k.KeepEntries), adapter.SourceRequested, "--raft keep: entries kept after a snapshot's log compaction")
	default:
		rep.Add(adapter.KnobKeep, "CompactionOverhead", strconv.FormatUint(o.compaction, 10), adapter.SourceLibrary,
			"entries kept after a snapshot's log compaction (zero value 0)")
	}

	// The backend's own settings.
	res.shard.MaxInMemLogSize = o.maxInMem
	inMem := "unlimited"
	if o.maxInMem > 0 {
		inMem = strconv.FormatUint(o.maxInMem, 10) + " bytes"
	}
	rep.Add("", "MaxInMemLogSize", inMem, adapter.SourceOf(o.given["max_in_mem_log_size"], adapter.SourceLibrary),
		"0 = unlimited (zero value): unapplied entries held in memory before proposals fail as busy")
	res.logdb = o.logdb
	switch o.logdbSize {
	case "tiny":
		res.logdbConfig = config.GetTinyMemLogDBConfig()
	case "small":
		res.logdbConfig = config.GetSmallMemLogDBConfig()
	case "medium":
		res.logdbConfig = config.GetMediumMemLogDBConfig()
	default:
		res.logdbConfig = config.GetDefaultLogDBConfig()
	}
	res.logdbConfig.Shards = o.logdbShards
	store := "Pebble LogDB, fsync per write batch (kv_pebble.go: WriteOptions{Sync: true})"
	if o.logdb == "tan" {
		store = "tan LogDB (dragonboat's own log-structured store), fsync per write batch"
	}
	rep.Add("", "log store", store, adapter.SourceOf(o.given["logdb"], adapter.SourceLibrary),
		"dragonboat's default LogDB (option logdb=tan for tan); storage memory unsupported: dragonboat has no in-memory log")
	rep.Add("", "LogDB sizing", fmt.Sprintf("%s preset (memtables %d MiB x %d), %d shard(s)", o.logdbSize,
		res.logdbConfig.KVWriteBufferSize>>20, res.logdbConfig.KVMaxWriteBufferNumber, res.logdbConfig.Shards),
		adapter.SourceOf(o.given["logdb_size"] || o.given["logdb_shards"], adapter.SourceRaftcmp),
		"raftcmp's: the default (GetDefaultLogDBConfig: 16 Pebble shards, 4 x 128 MiB memtables each, tan 16 x 128 MiB) is sized for "+
			"thousands of shards per host; one shard only writes to one LogDB shard, so one instance of dragonboat's own small preset. Same write path")
	rep.Add("", "write ordering", "leader sends, then persists", adapter.SourceLibrary,
		"the step engine sends Replicate messages before saving the entries (engine.go, Raft thesis 10.2.1); followers persist before they answer")
	rep.Add("", "transport", "dragonboat TCP, one connection per peer, messages batched up to 64 MiB per write", adapter.SourceLibrary,
		"internal/transport; raftcmp's node registry resolves peers through the node's own peer list (raftcmp proxies links), "+
			"keyed one connection per address as dragonboat's own registry does for one shard")
	rep.Add("", "state machine", "regular IStateMachine, Update per entry on the apply worker", adapter.SourceRaftcmp,
		"the digest of applied payloads; Propose returns when the entry is applied on the proposing node (NotifyCommit off, library default)")
	rep.Add("", "proposal forwarding", "follower forwards to the leader", adapter.SourceLibrary,
		"internal/raft/raft.go handleFollowerPropose; the follower's Propose returns once applied locally")

	res.report = rep
	return res, nil
}

// election and heartbeat are the resolved timings in wall-clock time.
func (r resolved) election() time.Duration {
	return time.Duration(r.shard.ElectionRTT*r.rttMillis) * time.Millisecond
}

func (r resolved) heartbeat() time.Duration {
	return time.Duration(r.shard.HeartbeatRTT*r.rttMillis) * time.Millisecond
}

// resolveTiming chooses RTTMillisecond, ElectionRTT and HeartbeatRTT. The
// timing options win; else requested election and heartbeat are run exactly
// when dragonboat can: on raftcmp's 5 ms tick if both are multiples of it,
// else on a tick of their greatest common divisor in whole milliseconds. An
// unset one keeps its production value, moved only as far as dragonboat's
// rule ElectionRTT > 2 x HeartbeatRTT requires.
func resolveTiming(res *resolved, o options, k adapter.Raft, opts adapter.Options, rep *adapter.Settings) error {
	var timingOpts []string
	for _, key := range []string{"rtt_ms", "election_rtt", "heartbeat_rtt"} {
		if o.given[key] {
			timingOpts = append(timingOpts, key+"="+opts[key])
		}
	}
	var eSrc, hSrc, eNote, hNote string
	switch {
	case len(timingOpts) > 0:
		res.rttMillis, res.shard.ElectionRTT, res.shard.HeartbeatRTT = o.rttMillis, o.electionRTT, o.heartbeatRTT
		if res.shard.ElectionRTT <= 2*res.shard.HeartbeatRTT {
			return fmt.Errorf("option election_rtt=%d: must be more than twice heartbeat_rtt=%d (dragonboat's rule)", res.shard.ElectionRTT, res.shard.HeartbeatRTT)
		}
		eSrc, hSrc = adapter.SourceRequested, adapter.SourceRequested
		eNote = "--opt dragonboat." + strings.Join(timingOpts, ",")
		hNote = eNote
		why := "overridden by option " + strings.Join(timingOpts, ",")
		if k.ElectionTimeout != 0 {
			rep.Refuse(adapter.KnobElection, k.Value(adapter.KnobElection), why)
		}
		if k.HeartbeatInterval != 0 {
			rep.Refuse(adapter.KnobHeartbeat, k.Value(adapter.KnobHeartbeat), why)
		}
	case k.ElectionTimeout == 0 && k.HeartbeatInterval == 0:
		res.rttMillis, res.shard.ElectionRTT, res.shard.HeartbeatRTT = prodRTTMillis, prodElectionRTT, prodHeartbeat
		eSrc, hSrc = adapter.SourceRaftcmp, adapter.SourceRaftcmp
		eNote, hNote = "raftcmp's production timing, see RTTMillisecond", "raftcmp's production timing, see RTTMillisecond"
	default:
		e, h := k.ElectionTimeout, k.HeartbeatInterval
		eSrc, hSrc = adapter.SourceRequested, adapter.SourceRequested
		eNote, hNote = "--raft election", "--raft heartbeat"
		if e == 0 {
			e, eSrc, eNote = prodElectionRTT*prodRTTMillis*time.Millisecond, adapter.SourceRaftcmp, "raftcmp's production 200ms (unset)"
		}
		if h == 0 {
			h, hSrc, hNote = prodHeartbeat*prodRTTMillis*time.Millisecond, adapter.SourceRaftcmp, "raftcmp's production 20ms (unset)"
		}
		eMs, hMs := wholeMillis(e), wholeMillis(h)
		rtt := uint64(prodRTTMillis)
		if eMs%rtt != 0 || hMs%rtt != 0 {
			rtt = gcd(eMs, hMs)
		}
		eT, hT := eMs/rtt, hMs/rtt
		if eT <= 2*hT {
			// dragonboat's rule: ElectionRTT > 2 x HeartbeatRTT. A
			// requested value wins over an unset one; with both requested
			// the heartbeat gives way.
			if k.ElectionTimeout == 0 {
				eT = 2*hT + 1
				eNote += fmt.Sprintf("; raised to %d ticks so that ElectionRTT > 2 x HeartbeatRTT (dragonboat's rule) with the requested heartbeat", eT)
			} else {
				hT = max((eT-1)/2, 1)
				eT = max(eT, 2*hT+1)
			}
		}
		res.rttMillis, res.shard.ElectionRTT, res.shard.HeartbeatRTT = rtt, eT, hT
		if k.ElectionTimeout != 0 && res.election() != k.ElectionTimeout {
			rep.Refuse(adapter.KnobElection, k.Value(adapter.KnobElection), fmt.Sprintf(
				"dragonboat counts whole ticks of whole milliseconds and needs ElectionRTT > 2 x HeartbeatRTT; ran %s (%d x %dms)", fmtDur(res.election()), eT, rtt))
		}
		if res.heartbeat() != h {
			if k.HeartbeatInterval != 0 {
				rep.Refuse(adapter.KnobHeartbeat, k.Value(adapter.KnobHeartbeat), fmt.Sprintf(
					"dragonboat counts whole ticks of whole milliseconds and needs ElectionRTT > 2 x HeartbeatRTT; ran %s (%d x %dms)", fmtDur(res.heartbeat()), hT, rtt))
			} else {
				hNote += fmt.Sprintf("; lowered to %d ticks so that ElectionRTT > 2 x HeartbeatRTT (dragonboat's rule) with the requested election timeout", hT)
			}
		}
	}
	tickSrc := adapter.SourceRaftcmp
	tickNote := "the tick every Raft timing counts in; " + timingReason
	switch {
	case o.given["rtt_ms"]:
		tickSrc, tickNote = adapter.SourceRequested, "--opt dragonboat.rtt_ms"
	case res.rttMillis != prodRTTMillis:
		tickNote = "the tick every Raft timing counts in: the largest whole-millisecond tick of which the requested election timeout and heartbeat " +
			"are whole multiples (raftcmp keeps its 5ms tick when both are multiples of it)"
	}
	rep.Add("", "RTTMillisecond", fmt.Sprintf("%dms", res.rttMillis), tickSrc, tickNote)
	rep.Add(adapter.KnobElection, "ElectionRTT x RTTMillisecond", fmtDur(res.election()), eSrc,
		fmt.Sprintf("%d ticks of %dms, randomised by dragonboat to 1-2x; ", res.shard.ElectionRTT, res.rttMillis)+eNote)
	rep.Add(adapter.KnobHeartbeat, "HeartbeatRTT x RTTMillisecond", fmtDur(res.heartbeat()), hSrc,
		fmt.Sprintf("%d ticks of %dms; ", res.shard.HeartbeatRTT, res.rttMillis)+hNote)
	return nil
}

// wholeMillis rounds d to whole milliseconds, at least 1.
func wholeMillis(d time.Duration) uint64 {
	return max(uint64(d.Round(time.Millisecond)/time.Millisecond), 1)
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func onOff(b bool) string { return string(adapter.SwitchOf(b)) }

// snapshotValue spells SnapshotEntries as --raft spells the knob.
func snapshotValue(n uint64) string {
	if n == 0 {
		return "off"
	}
	return strconv.FormatUint(n, 10)
}

// fmtDur spells d as --raft does (1s, 100ms).
func fmtDur(d time.Duration) string { return d.String() }
