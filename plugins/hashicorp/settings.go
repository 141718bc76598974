package hashicorp

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Production values this backend takes from HashiCorp's products where they
// differ from raft.DefaultConfig, and raftcmp's own.
const (
	// consulLogCacheSize is raftLogCacheSize in Consul's
	// agent/consul/server.go and Vault's physical/raft/raft.go: both put a
	// raft.LogCache of 512 entries in front of their durable log store, so
	// the leader replicates recent entries from memory.
	consulLogCacheSize = 512
	// consulMaxPool and consulTimeout are the NetworkTransportConfig Consul
	// (agent/consul/server.go) and Nomad (nomad/server.go) create their
	// transport with.
	consulMaxPool = 3
	consulTimeout = 10 * time.Second
	// consulSnapshotThreshold and consulSnapshotInterval are Consul's
	// (agent/consul/config.go, DefaultConfig): the production profile's.
	consulSnapshotThreshold = 16384
	consulSnapshotInterval  = 30 * time.Second
	// snapshotsOffInterval and snapshotsOffThreshold put hashicorp/raft's
	// periodic snapshot out of reach of any run (--raft snapshot=off, as
	// the uniform profile has it).
	snapshotsOffInterval  = 1000 * time.Hour
	snapshotsOffThreshold = math.MaxInt64
	// snapshotCheckInterval is how often hashicorp/raft checks the snapshot
	// threshold when the experiment asks for a snapshot every N entries: the
	// library only snapshots when a timer check (SnapshotInterval,
	// randomised to 1-2x) finds at least SnapshotThreshold new entries, and
	// at the default 120 s the timer, not the count, would decide within a
	// measured window.
	snapshotCheckInterval = time.Second
	// minTimeout is the least HeartbeatTimeout, ElectionTimeout and
	// LeaderLeaseTimeout raft.ValidateConfig accepts.
	minTimeout = 5 * time.Millisecond
	// maxAppendEntriesLimit is the most raft.ValidateConfig accepts.
	maxAppendEntriesLimit = 1024
)

// resolved is everything Start runs with, computed from the Config alone by
// resolve, and the Settings report of the same values. Settings and Start
// both call resolve, so what one reports is what the other runs.
type resolved struct {
	conf      raft.Config
	transport raft.NetworkTransportConfig // without stream, addresses or logger
	logStore  string                      // boltdb or wal (durable storage)
	logCache  int                         // raft.LogCache capacity, 0 = none
	report    adapter.Settings
}

// Settings implements adapter.Node: the table resolve computes for cfg.
func (n *Node) Settings(cfg adapter.Config) (adapter.Settings, error) {
	res, err := resolve(cfg)
	if err != nil {
		return adapter.Settings{}, err
	}
	return res.report, nil
}

// resolve maps cfg (the shared Raft knobs, then this backend's options, which
// win over a knob for the same thing) onto hashicorp/raft's configuration and
// reports each value with its source.
func resolve(cfg adapter.Config) (resolved, error) {
	def := raft.DefaultConfig()
	opts, k := cfg.Options, cfg.Raft
	given := func(key string) bool { _, ok := opts[key]; return ok }
	var rep adapter.Settings
	c := *def

	// Every option is read first, so that an unknown one is rejected with
	// the full list of known ones; whether it was given decides below.
	r := opts.Reader()
	o := struct {
		heartbeatTimeout, electionTimeout, leaseTimeout, commitTimeout, snapshotInterval, transportTimeout time.Duration
		maxAppend, inflight, trailing, snapshotThreshold, maxPool, logCache                                int
		batchApply                                                                                         bool
		logStore                                                                                           string
	}{
		heartbeatTimeout:  r.Duration("heartbeat_timeout", def.HeartbeatTimeout, minTimeout),
		electionTimeout:   r.Duration("election_timeout", def.ElectionTimeout, minTimeout),
		leaseTimeout:      r.Duration("leader_lease_timeout", def.LeaderLeaseTimeout, minTimeout),
		commitTimeout:     r.Duration("commit_timeout", def.CommitTimeout, time.Millisecond),
		snapshotInterval:  r.Duration("snapshot_interval", def.SnapshotInterval, time.Second),
		transportTimeout:  r.Duration("transport_timeout", consulTimeout, time.Millisecond),
		maxAppend:         r.Int("max_append_entries", def.MaxAppendEntries, 1, maxAppendEntriesLimit),
		inflight:          r.Int("max_rpcs_in_flight", raft.DefaultMaxRPCsInFlight, 1, 1<<20),
		trailing:          r.Int("trailing_logs", int(def.TrailingLogs), 0, math.MaxInt32),
		snapshotThreshold: r.Int("snapshot_threshold", int(def.SnapshotThreshold), 1, math.MaxInt64),
		maxPool:           r.Int("max_pool", consulMaxPool, 1, 64),
		logCache:          r.Int("log_cache", consulLogCacheSize, 0, 1<<20),
		batchApply:        r.Bool("batch_apply", def.BatchApplyCh),
		logStore:          r.Enum("log_store", "boltdb", "boltdb", "wal"),
	}
	if err := r.Err(); err != nil {
		return resolved{}, err
	}

	// election: hashicorp/raft's HeartbeatTimeout is the shared knob's
	// election timeout (how long a follower waits without hearing from a
	// leader before it stands); its ElectionTimeout is a candidate's wait
	// for votes before it tries again.
	electionOpt := "heartbeat_timeout"
	switch {
	case given(electionOpt):
		c.HeartbeatTimeout = o.heartbeatTimeout
		rep.Add(adapter.KnobElection, "HeartbeatTimeout", fmtDur(c.HeartbeatTimeout), adapter.SourceRequested,
			"--opt hashicorp.heartbeat_timeout; a follower stands after HeartbeatTimeout (randomised to 1-2x) without a leader")
		if k.ElectionTimeout != 0 {
			rep.Refuse(adapter.KnobElection, k.Value(adapter.KnobElection), adapter.OverriddenBy(electionOpt, opts))
		}
	case k.ElectionTimeout != 0:
		c.HeartbeatTimeout = max(k.ElectionTimeout, minTimeout)
		rep.Add(adapter.KnobElection, "HeartbeatTimeout", fmtDur(c.HeartbeatTimeout), adapter.SourceRequested,
			"--raft election; a follower stands after HeartbeatTimeout (randomised to 1-2x) without a leader")
		if c.HeartbeatTimeout != k.ElectionTimeout {
			rep.Refuse(adapter.KnobElection, k.Value(adapter.KnobElection),
				"hashicorp/raft's least HeartbeatTimeout is 5ms (raft.ValidateConfig); ran 5ms")
		}
	default:
		rep.Add(adapter.KnobElection, "HeartbeatTimeout", fmtDur(c.HeartbeatTimeout), adapter.SourceLibrary,
			"raft.DefaultConfig (config.go) 1000ms, randomised to 1-2x; also Consul's production value: "+
				"performance.raft_multiplier=1, which Consul's server performance docs recommend for production "+
				"(its built-in multiplier 5 is sized for t2.micro-class servers)")
	}
	timingChanged := c.HeartbeatTimeout != def.HeartbeatTimeout

	switch key := "election_timeout"; {
	case given(key):
		c.ElectionTimeout = o.electionTimeout
		rep.Add("", "ElectionTimeout", fmtDur(c.ElectionTimeout), adapter.SourceRequested,
			"--opt hashicorp.election_timeout; a candidate's wait for votes before it starts another election")
	case timingChanged:
		c.ElectionTimeout = c.HeartbeatTimeout
		rep.Add("", "ElectionTimeout", fmtDur(c.ElectionTimeout), adapter.SourceRaftcmp,
			"equal to HeartbeatTimeout, as raft.DefaultConfig and Consul's raft_multiplier keep them; a candidate's wait for votes")
	default:
		rep.Add("", "ElectionTimeout", fmtDur(c.ElectionTimeout), adapter.SourceLibrary,
			"raft.DefaultConfig 1000ms (Consul at raft_multiplier=1 the same); a candidate's wait for votes")
	}

	// heartbeat: not a setting of its own. The leader's replication loop
	// sends a heartbeat every randomTimeout(HeartbeatTimeout/10), i.e. 1-2x
	// HeartbeatTimeout/10 (replication.go, heartbeat).
	hb := c.HeartbeatTimeout / 10
	hbNote := "the leader heartbeats every HeartbeatTimeout/10, randomised to 1-2x (replication.go, heartbeat); not settable on its own"
	switch {
	case k.HeartbeatInterval == 0:
		src := adapter.SourceLibrary
		if timingChanged {
			src = adapter.SourceRequested
			hbNote += "; follows the HeartbeatTimeout set above"
		}
		rep.Add(adapter.KnobHeartbeat, "HeartbeatTimeout/10", fmtDur(hb), src, hbNote)
	case k.HeartbeatInterval == hb:
		rep.Add(adapter.KnobHeartbeat, "HeartbeatTimeout/10", fmtDur(hb), adapter.SourceRequested, "--raft heartbeat; "+hbNote)
	default:
		rep.Add(adapter.KnobHeartbeat, "HeartbeatTimeout/10", fmtDur(hb), adapter.SourceLibrary, hbNote)
		rep.Refuse(adapter.KnobHeartbeat, k.Value(adapter.KnobHeartbeat), fmt.Sprintf(
			"hashicorp/raft's leader heartbeats every HeartbeatTimeout/10 (randomised to 1-2x) and HeartbeatTimeout is the election timeout (%s); ran %s",
			fmtDur(c.HeartbeatTimeout), fmtDur(hb)))
	}

	// checkquorum: hashicorp/raft's leader lease, always on.
	switch key := "leader_lease_timeout"; {
	case given(key):
		c.LeaderLeaseTimeout = o.leaseTimeout
		rep.Add("", "LeaderLeaseTimeout", fmtDur(c.LeaderLeaseTimeout), adapter.SourceRequested, "--opt hashicorp.leader_lease_timeout")
	case timingChanged:
		c.LeaderLeaseTimeout = max(c.HeartbeatTimeout*def.LeaderLeaseTimeout/def.HeartbeatTimeout, minTimeout)
		rep.Add("", "LeaderLeaseTimeout", fmtDur(c.LeaderLeaseTimeout), adapter.SourceRaftcmp,
			"scaled with HeartbeatTimeout as Consul's raft_multiplier scales both (500ms per 1s, raft.DefaultConfig's ratio)")
	default:
		rep.Add("", "LeaderLeaseTimeout", fmtDur(c.LeaderLeaseTimeout), adapter.SourceLibrary,
			"raft.DefaultConfig 500ms (Consul at raft_multiplier=1 the same)")
	}
	lease := fmt.Sprintf("a leader that has not heard from a quorum for LeaderLeaseTimeout (%s) steps down (raft.go, checkLeaderLease)", fmtDur(c.LeaderLeaseTimeout))
	switch k.CheckQuorum {
	case adapter.SwitchOn:
		rep.Add(adapter.KnobCheckQuorum, "LeaderLeaseTimeout", "on", adapter.SourceRequested, "--raft checkquorum; always on in hashicorp/raft: "+lease)
	case adapter.SwitchOff:
		rep.Add(adapter.KnobCheckQuorum, "LeaderLeaseTimeout", "on", adapter.SourceLibrary, "always on: "+lease)
		rep.Refuse(adapter.KnobCheckQuorum, "off", "hashicorp/raft's leader lease cannot be turned off: "+lease+"; ran on")
	default:
		rep.Add(adapter.KnobCheckQuorum, "LeaderLeaseTimeout", "on", adapter.SourceLibrary, "always on: "+lease)
	}

	// prevote: raft.Config.PreVoteDisabled, pre-vote on by default since v1.7.0.
	switch k.PreVote {
	case adapter.SwitchUnset:
		rep.Add(adapter.KnobPreVote, "PreVoteDisabled", "on", adapter.SourceLibrary,
			"PreVoteDisabled=false: pre-vote on by default since hashicorp/raft v1.7.0 (CHANGELOG, GH-530); Consul and Nomad leave it")
	default:
		c.PreVoteDisabled = !k.PreVote.Bool(true)
		rep.Add(adapter.KnobPreVote, "PreVoteDisabled", string(k.PreVote), adapter.SourceRequested,
			"--raft prevote; PreVoteDisabled="+strconv.FormatBool(c.PreVoteDisabled))
	}

	// append: MaxAppendEntries, 1 to 1024 (raft.ValidateConfig).
	switch key := "max_append_entries"; {
	case given(key):
		c.MaxAppendEntries = o.maxAppend
		rep.Add(adapter.KnobAppend, "MaxAppendEntries", strconv.Itoa(c.MaxAppendEntries), adapter.SourceRequested, "--opt hashicorp.max_append_entries")
		if k.MaxAppendEntries != 0 {
			rep.Refuse(adapter.KnobAppend, k.Value(adapter.KnobAppend), adapter.OverriddenBy(key, opts))
		}
	case k.MaxAppendEntries != 0:
		c.MaxAppendEntries = min(k.MaxAppendEntries, maxAppendEntriesLimit)
		rep.Add(adapter.KnobAppend, "MaxAppendEntries", strconv.Itoa(c.MaxAppendEntries), adapter.SourceRequested, "--raft append")
		if c.MaxAppendEntries != k.MaxAppendEntries {
			rep.Refuse(adapter.KnobAppend, k.Value(adapter.KnobAppend),
				fmt.Sprintf("hashicorp/raft takes at most %d entries per append (raft.ValidateConfig); ran %d", maxAppendEntriesLimit, maxAppendEntriesLimit))
		}
	default:
		rep.Add(adapter.KnobAppend, "MaxAppendEntries", strconv.Itoa(c.MaxAppendEntries), adapter.SourceLibrary,
			"raft.DefaultConfig 64; Consul, Nomad and Vault leave it")
	}

	// inflight: NetworkTransportConfig.MaxRPCsInFlight. 1 turns pipelining
	// off (one append outstanding); N >= 2 allows N (net_transport.go).
	tc := raft.NetworkTransportConfig{MaxPool: consulMaxPool, Timeout: consulTimeout, MaxRPCsInFlight: raft.DefaultMaxRPCsInFlight}
	inflightNote := "appends outstanding per follower on the pipeline; 1 = no pipelining (net_transport.go)"
	switch key := "max_rpcs_in_flight"; {
	case given(key):
		tc.MaxRPCsInFlight = o.inflight
		rep.Add(adapter.KnobInflight, "MaxRPCsInFlight", strconv.Itoa(tc.MaxRPCsInFlight), adapter.SourceRequested,
			"--opt hashicorp.max_rpcs_in_flight; "+inflightNote)
		if k.MaxInflightAppends != 0 {
			rep.Refuse(adapter.KnobInflight, k.Value(adapter.KnobInflight), adapter.OverriddenBy(key, opts))
		}
	case k.MaxInflightAppends != 0:
		tc.MaxRPCsInFlight = k.MaxInflightAppends
		rep.Add(adapter.KnobInflight, "MaxRPCsInFlight", strconv.Itoa(tc.MaxRPCsInFlight), adapter.SourceRequested, "--raft inflight; "+inflightNote)
	default:
		rep.Add(adapter.KnobInflight, "MaxRPCsInFlight", strconv.Itoa(tc.MaxRPCsInFlight), adapter.SourceLibrary,
			"raft.DefaultMaxRPCsInFlight 2 since v1.4.1 (was effectively 130; lowered because deep pipelining raised commit "+
				"latency under load, hashicorp/raft#541); Consul and Nomad leave it; "+inflightNote)
	}

	resolveSnapshots(&c, def, k, opts, o.snapshotThreshold, o.snapshotInterval, &rep)
	c.TrailingLogs = uint64(o.trailing)
	switch {
	case given("trailing_logs"):
		rep.Add(adapter.KnobKeep, "TrailingLogs", strconv.FormatUint(c.TrailingLogs, 10), adapter.SourceRequested, "--opt hashicorp.trailing_logs")
		if k.KeepEntries != 0 {
			rep.Refuse(adapter.KnobKeep, k.Value(adapter.KnobKeep), adapter.OverriddenBy("trailing_logs", opts))
		}
	case k.KeepEntries != 0:
		c.TrailingLogs = uint64(k.KeepEntries)
		rep.Add(adapter.KnobKeep, "TrailingLogs", strconv.Itoa(k.KeepEntries), adapter.SourceRequested, "--raft keep: log entries kept after a snapshot")
	default:
		rep.Add(adapter.KnobKeep, "TrailingLogs", strconv.FormatUint(c.TrailingLogs, 10), adapter.SourceLibrary,
			"log entries kept after a snapshot; raft.DefaultConfig 10240, Consul the same")
	}

	// The backend's own settings.
	c.CommitTimeout = o.commitTimeout
	rep.Add("", "CommitTimeout", fmtDur(c.CommitTimeout), adapter.SourceOf(given("commit_timeout"), adapter.SourceLibrary),
		"raft.DefaultConfig 50ms: how long the leader waits without new entries before an append that only advances commit")
	c.BatchApplyCh = o.batchApply
	rep.Add("", "BatchApplyCh", strconv.FormatBool(c.BatchApplyCh), adapter.SourceOf(given("batch_apply"), adapter.SourceLibrary),
		"raft.DefaultConfig false; the leader batches whatever Apply calls wait (up to MaxAppendEntries) into one log write either way")

	tc.MaxPool, tc.Timeout = o.maxPool, o.transportTimeout
	rep.Add("", "transport", fmt.Sprintf("NetworkTransport TCP, MaxPool %d, Timeout %s", tc.MaxPool, fmtDur(tc.Timeout)),
		adapter.SourceOf(given("max_pool") || given("transport_timeout"), adapter.SourceProduction),
		"as Consul (agent/consul/server.go) and Nomad (nomad/server.go) create it: MaxPool 3, Timeout 10s; "+
			"msgpack over one pooled TCP connection per RPC, pipeline on its own connection")

	res := resolved{conf: c, transport: tc}
	res.logStore, res.logCache = o.logStore, o.logCache
	switch cfg.Storage {
	case adapter.StorageMemory:
		res.logCache = 0
		rep.Add("", "log store", "raft.InmemStore", adapter.SourceLibrary, "storage memory: the library's in-memory log and stable store, no fsync")
	default:
		store := "raft-boltdb/v2 (bbolt), fsync per append batch"
		note := "what Consul, Nomad and Vault ship by default (Consul's raft_logstore.backend=boltdb)"
		if res.logStore == "wal" {
			store = "raft-wal, fsync per append batch"
			note = "--opt hashicorp.log_store=wal: HashiCorp's newer log store (Consul's raft_logstore.backend=wal)"
		}
		rep.Add("", "log store", store, adapter.SourceOf(given("log_store"), adapter.SourceProduction), note)
		cache := "off"
		if res.logCache > 0 {
			cache = strconv.Itoa(res.logCache) + " entries"
		}
		rep.Add("", "LogCache", cache, adapter.SourceOf(given("log_cache"), adapter.SourceProduction),
			"raft.NewLogCache in front of the durable store, as Consul (agent/consul/server.go) and Vault (physical/raft/raft.go) "+
				"run it with raftLogCacheSize 512: recent entries are replicated from memory; option log_cache, 0 = none")
	}
	rep.Add("", "state machine", "FSM.Apply per entry on the FSM goroutine", adapter.SourceRaftcmp,
		"the digest of applied payloads; Propose returns when Apply's future resolves on the leader")
	rep.Add("", "proposal forwarding", "none", adapter.SourceLibrary, "hashicorp/raft does not forward: a follower returns NotLeaderError with the leader")

	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		return resolved{}, fmt.Errorf("LeaderLeaseTimeout %s exceeds HeartbeatTimeout %s (raft.ValidateConfig): set leader_lease_timeout no higher than the election timeout",
			fmtDur(c.LeaderLeaseTimeout), fmtDur(c.HeartbeatTimeout))
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		return resolved{}, fmt.Errorf("ElectionTimeout %s is below HeartbeatTimeout %s (raft.ValidateConfig): set election_timeout at least the election timeout",
			fmtDur(c.ElectionTimeout), fmtDur(c.HeartbeatTimeout))
	}
	res.report = rep
	return res, nil
}

// resolveSnapshots maps the snapshot knob and the snapshot_threshold and
// snapshot_interval options (threshold and interval as given) onto
// SnapshotThreshold and SnapshotInterval.
func resolveSnapshots(c *raft.Config, def *raft.Config, k adapter.Raft, opts adapter.Options, threshold int, interval time.Duration, rep *adapter.Settings) {
	_, thrGiven := opts["snapshot_threshold"]
	_, ivlGiven := opts["snapshot_interval"]
	switch {
	case thrGiven || ivlGiven:
		// Either option brings the library's periodic snapshot back, with
		// raft.DefaultConfig's value for the one not given.
		c.SnapshotThreshold, c.SnapshotInterval = uint64(threshold), interval
		key := "snapshot_threshold"
		if !thrGiven {
			key = "snapshot_interval"
		}
		if k.SnapshotEntries != 0 {
			rep.Refuse(adapter.KnobSnapshot, k.Value(adapter.KnobSnapshot), adapter.OverriddenBy(key, opts))
		}
		rep.Add(adapter.KnobSnapshot, "SnapshotThreshold", snapshotValue(c.SnapshotThreshold), adapter.SourceOf(thrGiven, adapter.SourceLibrary),
			"snapshot once this many entries since the last, checked every SnapshotInterval (randomised to 1-2x)")
		rep.Add("", "SnapshotInterval", fmtDur(c.SnapshotInterval), adapter.SourceOf(ivlGiven, adapter.SourceLibrary),
			"how often the snapshot threshold is checked")
	case k.SnapshotEntries > 0:
		c.SnapshotThreshold = uint64(k.SnapshotEntries)
		c.SnapshotInterval = snapshotCheckInterval
		rep.Add(adapter.KnobSnapshot, "SnapshotThreshold", strconv.Itoa(k.SnapshotEntries), adapter.SourceRequested, "--raft snapshot")
		rep.Add("", "SnapshotInterval", fmtDur(c.SnapshotInterval), adapter.SourceRaftcmp,
			"raftcmp's, so the entry count rather than the 120s default timer decides when a snapshot comes")
		rep.Refuse(adapter.KnobSnapshot, k.Value(adapter.KnobSnapshot), fmt.Sprintf(
			"hashicorp/raft snapshots only when a timer check (SnapshotInterval, randomised to 1-2x) finds at least SnapshotThreshold new entries; "+
				"ran SnapshotThreshold=%d checked every %s, so a snapshot comes up to %s after the count is reached",
			k.SnapshotEntries, fmtDur(snapshotCheckInterval), fmtDur(2*snapshotCheckInterval)))
	case k.SnapshotEntries == adapter.SnapshotsOff:
		c.SnapshotThreshold = snapshotsOffThreshold
		c.SnapshotInterval = snapshotsOffInterval
		rep.Add(adapter.KnobSnapshot, "SnapshotThreshold", "off", adapter.SourceRequested, "--raft snapshot=off")
		rep.Add("", "SnapshotInterval", fmtDur(c.SnapshotInterval), adapter.SourceRaftcmp, "out of reach of a run: snapshots off")
	default:
		// Production: as Consul runs it, like etcd's adapter runs etcd's
		// server's snapshot policy.
		c.SnapshotThreshold = consulSnapshotThreshold
		c.SnapshotInterval = consulSnapshotInterval
		rep.Add(adapter.KnobSnapshot, "SnapshotThreshold", strconv.Itoa(consulSnapshotThreshold), adapter.SourceProduction, fmt.Sprintf(
			"Consul's raft_snapshot_threshold default (agent/consul/config.go); raft.DefaultConfig %d; snapshot once this many entries since the last, checked every SnapshotInterval", def.SnapshotThreshold))
		rep.Add("", "SnapshotInterval", fmtDur(c.SnapshotInterval), adapter.SourceProduction, fmt.Sprintf(
			"Consul's raft_snapshot_interval default; raft.DefaultConfig %s; randomised by the library to 1-2x, so a check comes 30-60 s apart", fmtDur(def.SnapshotInterval)))
	}
}

// snapshotValue spells a SnapshotThreshold as --raft spells the knob.
func snapshotValue(t uint64) string {
	if t >= snapshotsOffThreshold {
		return "off"
	}
	return strconv.FormatUint(t, 10)
}

// fmtDur spells d as --raft does (1s, 100ms).
func fmtDur(d time.Duration) string { return d.String() }
