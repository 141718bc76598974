package canonical

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// libraft's defaults (raft.h: raft_init sets them) and what dqlite, the
// library's main user and made by the same maintainers, runs: dqlite__init
// in dqlite's src/server.c calls raft_set_election_timeout(3000),
// raft_set_heartbeat_timeout(500), raft_set_snapshot_threshold(1024),
// raft_set_snapshot_trailing(8192) and raft_set_pre_vote(true).
const (
	libElection  = 1000 * time.Millisecond
	libHeartbeat = 100 * time.Millisecond
	libThreshold = 1024
	libTrailing  = 128
	libRetry     = 1000 * time.Millisecond
	libInstall   = 30000 * time.Millisecond

	dqliteElection  = 3000 * time.Millisecond
	dqliteHeartbeat = 500 * time.Millisecond
	dqliteThreshold = 1024
	dqliteTrailing  = 8192

	// snapshotsOff is the threshold that puts libraft's snapshot out of
	// reach of any run (the threshold is an unsigned int).
	snapshotsOff = math.MaxUint32
)

// resolved is everything Start runs with, computed from the Config alone;
// Settings and Start both call resolve, so what one reports the other runs.
type resolved struct {
	election, heartbeat time.Duration
	preVote             bool
	threshold, trailing uint32
	retry               time.Duration
	install             time.Duration
	nodelay             bool
	report              adapter.Settings
}

// resolve maps cfg (the shared Raft knobs, then this backend's options, which
// win over a knob for the same setting) onto libraft's settings and reports
// each value with its source.
func resolve(cfg adapter.Config) (resolved, error) {
	opts, k := cfg.Options, cfg.Raft
	given := func(key string) bool { _, ok := opts[key]; return ok }
	r := opts.Reader()
	o := struct {
		election, heartbeat, retry, install time.Duration
		threshold, trailing                 int
		nodelay                             bool
	}{
		nodelay:   r.Bool("tcp_nodelay", true),
		election:  r.Duration("election_timeout", dqliteElection, time.Millisecond),
		heartbeat: r.Duration("heartbeat_timeout", dqliteHeartbeat, time.Millisecond),
		retry:     r.Duration("connect_retry_delay", libRetry, time.Millisecond),
		install:   r.Duration("install_snapshot_timeout", 0, time.Millisecond),
		threshold: r.Int("snapshot_threshold", dqliteThreshold, 1, math.MaxUint32-1),
		trailing:  r.Int("snapshot_trailing", dqliteTrailing, 0, math.MaxUint32),
	}
	if err := r.Err(); err != nil {
		return resolved{}, err
	}
	var rep adapter.Settings
	var res resolved

	// election: raft_set_election_timeout, whole milliseconds, randomised
	// by libraft to 1-2x.
	const electionNote = "raft_set_election_timeout, in whole milliseconds; a follower stands after it (randomised to 1-2x) without a leader; a leader that has not heard from a quorum for it steps down"
	electionSet := true
	switch {
	case given("election_timeout"):
		res.election = wholeMillis(o.election)
		rep.Add(adapter.KnobElection, "election_timeout", fmtDur(res.election), adapter.SourceRequested, "--opt canonical.election_timeout; "+electionNote)
		if k.ElectionTimeout != 0 {
			rep.Refuse(adapter.KnobElection, k.Value(adapter.KnobElection), adapter.OverriddenBy("election_timeout", opts))
		}
	case k.ElectionTimeout != 0:
		res.election = wholeMillis(k.ElectionTimeout)
		rep.Add(adapter.KnobElection, "election_timeout", fmtDur(res.election), adapter.SourceRequested, "--raft election; "+electionNote)
		if res.election != k.ElectionTimeout {
			rep.Refuse(adapter.KnobElection, k.Value(adapter.KnobElection), "libraft takes whole milliseconds; ran "+fmtDur(res.election))
		}
	default:
		electionSet = false
		res.election = dqliteElection
		rep.Add(adapter.KnobElection, "election_timeout", fmtDur(res.election), adapter.SourceProduction,
			"dqlite's (src/server.c, dqlite__init: raft_set_election_timeout(3000)); libraft's default "+fmtDur(libElection)+"; "+electionNote)
	}

	// heartbeat: raft_set_heartbeat_timeout; raft_start asserts that it is
	// below the election timeout.
	const heartbeatNote = "raft_set_heartbeat_timeout, in whole milliseconds: a leader with nothing to send appends an empty AppendEntries after it"
	switch {
	case given("heartbeat_timeout"):
		res.heartbeat = wholeMillis(o.heartbeat)
		rep.Add(adapter.KnobHeartbeat, "heartbeat_timeout", fmtDur(res.heartbeat), adapter.SourceRequested, "--opt canonical.heartbeat_timeout; "+heartbeatNote)
		if k.HeartbeatInterval != 0 {
			rep.Refuse(adapter.KnobHeartbeat, k.Value(adapter.KnobHeartbeat), adapter.OverriddenBy("heartbeat_timeout", opts))
		}
	case k.HeartbeatInterval != 0:
		res.heartbeat = wholeMillis(k.HeartbeatInterval)
		rep.Add(adapter.KnobHeartbeat, "heartbeat_timeout", fmtDur(res.heartbeat), adapter.SourceRequested, "--raft heartbeat; "+heartbeatNote)
		if res.heartbeat != k.HeartbeatInterval {
			rep.Refuse(adapter.KnobHeartbeat, k.Value(adapter.KnobHeartbeat), "libraft takes whole milliseconds; ran "+fmtDur(res.heartbeat))
		}
	case electionSet && dqliteHeartbeat >= res.election:
		// dqlite's 500ms would not be below the election timeout asked
		// for: keep dqlite's ratio instead (500ms per 3s).
		res.heartbeat = max(wholeMillis(res.election*dqliteHeartbeat/dqliteElection), time.Millisecond)
		rep.Add(adapter.KnobHeartbeat, "heartbeat_timeout", fmtDur(res.heartbeat), adapter.SourceRaftcmp,
			"dqlite's 500ms is not below the election timeout set, so its ratio (500ms per 3s election timeout); "+heartbeatNote)
	default:
		res.heartbeat = dqliteHeartbeat
		rep.Add(adapter.KnobHeartbeat, "heartbeat_timeout", fmtDur(res.heartbeat), adapter.SourceProduction,
			"dqlite's (raft_set_heartbeat_timeout(500)); libraft's default "+fmtDur(libHeartbeat)+"; "+heartbeatNote)
	}
	if res.heartbeat >= res.election {
		return resolved{}, fmt.Errorf("heartbeat %s is not below the election timeout %s: libraft requires heartbeat_timeout < election_timeout (raft_start asserts it)",
			fmtDur(res.heartbeat), fmtDur(res.election))
	}

	// prevote: raft_set_pre_vote, off in libraft, on in dqlite.
	switch k.PreVote {
	case adapter.SwitchUnset:
		res.preVote = true
		rep.Add(adapter.KnobPreVote, "pre_vote", "on", adapter.SourceProduction, "dqlite's (raft_set_pre_vote(true)); libraft's default is off")
	default:
		res.preVote = k.PreVote.Bool(true)
		rep.Add(adapter.KnobPreVote, "pre_vote", string(k.PreVote), adapter.SourceRequested, "--raft prevote; raft_set_pre_vote")
	}

	// checkquorum: always on in libraft.
	const quorumNote = "always on in libraft: a leader steps down once an election timeout passes without contact with a majority of voters (raft.h, election_timer_start)"
	switch k.CheckQuorum {
	case adapter.SwitchOn:
		rep.Add(adapter.KnobCheckQuorum, "leader step-down", "on", adapter.SourceRequested, "--raft checkquorum; "+quorumNote)
	case adapter.SwitchOff:
		rep.Add(adapter.KnobCheckQuorum, "leader step-down", "on", adapter.SourceLibrary, quorumNote)
		rep.Refuse(adapter.KnobCheckQuorum, "off", "libraft's leader step-down cannot be turned off; ran on")
	default:
		rep.Add(adapter.KnobCheckQuorum, "leader step-down", "on", adapter.SourceLibrary, quorumNote)
	}

	// append and inflight: libraft has neither setting.
	const appendNote = "libraft has no limit: an AppendEntries carries every entry from the follower's next index to the end of the leader's log (replication.c)"
	rep.Add(adapter.KnobAppend, "entries per AppendEntries", "no limit", adapter.SourceLibrary, appendNote)
	if k.MaxAppendEntries != 0 {
		rep.Refuse(adapter.KnobAppend, k.Value(adapter.KnobAppend), appendNote+"; not settable")
	}
	const inflightNote = "libraft has no window: in pipeline mode the leader sends each new batch to a follower without waiting for the previous one (replication.c)"
	rep.Add(adapter.KnobInflight, "appends in flight", "no limit", adapter.SourceLibrary, inflightNote)
	if k.MaxInflightAppends != 0 {
		rep.Refuse(adapter.KnobInflight, k.Value(adapter.KnobInflight), inflightNote+"; not settable")
	}

	// snapshot: raft_set_snapshot_threshold, checked after every apply.
	const thresholdNote = "raft_set_snapshot_threshold: libraft snapshots (and compacts the log) once this many entries were applied since the last snapshot, checked after each apply"
	switch {
	case given("snapshot_threshold"):
		res.threshold = uint32(o.threshold)
		rep.Add(adapter.KnobSnapshot, "snapshot_threshold", strconv.Itoa(o.threshold), adapter.SourceRequested, "--opt canonical.snapshot_threshold; "+thresholdNote)
		if k.SnapshotEntries != 0 {
			rep.Refuse(adapter.KnobSnapshot, k.Value(adapter.KnobSnapshot), adapter.OverriddenBy("snapshot_threshold", opts))
		}
	case k.SnapshotEntries == adapter.SnapshotsOff:
		res.threshold = snapshotsOff
		rep.Add(adapter.KnobSnapshot, "snapshot_threshold", "off", adapter.SourceRequested,
			fmt.Sprintf("--raft snapshot=off: threshold %d, out of reach of a run", uint32(snapshotsOff)))
	case k.SnapshotEntries > 0:
		res.threshold = uint32(min(k.SnapshotEntries, snapshotsOff-1))
		rep.Add(adapter.KnobSnapshot, "snapshot_threshold", strconv.FormatUint(uint64(res.threshold), 10), adapter.SourceRequested, "--raft snapshot; "+thresholdNote)
	default:
		res.threshold = dqliteThreshold
		rep.Add(adapter.KnobSnapshot, "snapshot_threshold", strconv.Itoa(dqliteThreshold), adapter.SourceProduction,
			"dqlite's (raft_set_snapshot_threshold(1024)), also libraft's default; "+thresholdNote)
	}
	// keep: raft_set_snapshot_trailing.
	const trailingNote = "raft_set_snapshot_trailing: log entries kept behind a snapshot, so a follower a little behind gets entries, not a snapshot"
	switch {
	case given("snapshot_trailing"):
		res.trailing = uint32(o.trailing)
		rep.Add(adapter.KnobKeep, "snapshot_trailing", strconv.Itoa(o.trailing), adapter.SourceRequested, "--opt canonical.snapshot_trailing; "+trailingNote)
		if k.KeepEntries != 0 {
			rep.Refuse(adapter.KnobKeep, k.Value(adapter.KnobKeep), adapter.OverriddenBy("snapshot_trailing", opts))
		}
	case k.KeepEntries > 0:
		res.trailing = uint32(min(k.KeepEntries, math.MaxUint32))
		rep.Add(adapter.KnobKeep, "snapshot_trailing", strconv.FormatUint(uint64(res.trailing), 10), adapter.SourceRequested, "--raft keep; "+trailingNote)
	default:
		res.trailing = dqliteTrailing
		rep.Add(adapter.KnobKeep, "snapshot_trailing", strconv.Itoa(dqliteTrailing), adapter.SourceProduction,
			fmt.Sprintf("dqlite's (raft_set_snapshot_trailing(8192)); libraft's default %d; %s", libTrailing, trailingNote))
	}

	// The backend's own settings.
	res.retry = wholeMillis(o.retry)
	rep.Add("", "connect_retry_delay", fmtDur(res.retry), adapter.SourceOf(given("connect_retry_delay"), adapter.SourceLibrary),
		"raft_uv_set_connect_retry_delay; libraft's default 1000ms, which dqlite keeps: after a failed or dropped connection a peer is dialled again after it")
	// install_snapshot_timeout: how long a leader waits for the answer to
	// an InstallSnapshot before it sends the snapshot again. libraft 0.15
	// has a follower that is taking its own snapshot drop an
	// InstallSnapshot without answering (replicationInstallSnapshot fails
	// with RAFT_BUSY, "already taking or installing snapshot", and
	// recv_install_snapshot.c sends nothing), while the leader, waiting for
	// that answer, ignores the follower's AppendEntries rejections: the
	// follower makes no progress for the whole timeout, 30s by default. A
	// follower catching up by entries up to a snapshot threshold, then
	// offered the leader's snapshot, meets it (TestSnapshotInstallCarriesDigest
	// stalled in 2 of 25 traced runs; the leader's trace shows no resend in
	// the 30s). Our snapshots are 16 bytes, so the election timeout, the
	// time in which the cluster already decides a silent peer is gone,
	// bounds the stall and leaves an install ample time to answer; a
	// timeout that fires anyway only costs a resend (traced: "snapshot
	// timed out", the snapshot sent again, installed).
	const installNote = "raft_set_install_snapshot_timeout: a leader sends a snapshot again when its InstallSnapshot has no answer after it; " +
		"libraft 0.15 drops an InstallSnapshot without answer when the follower is taking its own snapshot (RAFT_BUSY), so the follower waits this long"
	if given("install_snapshot_timeout") {
		res.install = wholeMillis(o.install)
		rep.Add("", "install_snapshot_timeout", fmtDur(res.install), adapter.SourceRequested, "--opt canonical.install_snapshot_timeout; "+installNote)
	} else {
		res.install = res.election
		rep.Add("", "install_snapshot_timeout", fmtDur(res.install), adapter.SourceRaftcmp,
			"the election timeout; libraft's default "+fmtDur(libInstall)+", a 30s stall of a follower whose InstallSnapshot was dropped; "+installNote)
	}
	res.nodelay = o.nodelay
	rep.Add("", "TCP_NODELAY", strconv.FormatBool(res.nodelay), adapter.SourceOf(given("tcp_nodelay"), adapter.SourceProduction),
		"Nagle's algorithm off on every connection between nodes (uv_tcp_nodelay), as in dqlite's production use: LXD and go-dqlite dial "+
			"its connections with Go's net package, which sets TCP_NODELAY; libraft's raft_uv_tcp leaves Nagle on, which with several "+
			"appends in flight holds each behind the previous one's ACK; option tcp_nodelay")
	switch cfg.Storage {
	case adapter.StorageDisk, adapter.StorageTmpfs:
		rep.Add("", "log store", "raft_uv segments in DataDir", adapter.SourceLibrary,
			"libraft's libuv disk I/O (raft_uv_init) with its defaults, as dqlite runs it: 8 MiB open segments, each append batch "+
				"written durably before the entries count as stored")
	}
	rep.Add("", "transport", "raft_uv_tcp, peers dialled by id", adapter.SourceRaftcmp,
		"libraft's libuv TCP transport (raft_uv_tcp_init) behind a wrapper that dials each peer at the address in this node's own peer list, "+
			"never the address in the replicated configuration (the contract: raftcmp may proxy every directed link)")
	rep.Add("", "state machine", "raft_fsm.apply on the libuv loop thread", adapter.SourceRaftcmp,
		"fsm version 1; apply folds the payload into the digest in Go (one cgo call per entry); a snapshot is the digest and payload count; "+
			"each entry is the payload padded to a multiple of 8 bytes (1-8 bytes), which libraft 0.15 needs to decode several entries in one AppendEntries or in its disk log")
	rep.Add("", "proposal forwarding", "none", adapter.SourceLibrary, "libraft does not forward: raft_apply on a follower fails with RAFT_NOTLEADER; a follower returns NotLeaderError with the leader it knows")
	rep.Add("", "linearizable read", "raft_barrier per read", adapter.SourceRaftcmp,
		"libraft has no ReadIndex or lease read; a barrier entry, applied by the leader after every earlier entry, is how dqlite makes a read linearizable (leader__barrier): a log write per read")
	res.report = rep
	return res, nil
}

// wholeMillis rounds d down to whole milliseconds, at least one.
func wholeMillis(d time.Duration) time.Duration {
	return max(d.Truncate(time.Millisecond), time.Millisecond)
}

// fmtDur spells d as --raft does (1s, 100ms).
func fmtDur(d time.Duration) string { return d.String() }
