package adapter

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Raft is the Raft configuration every backend understands: the knobs a
// comparison depends on, set once for all backends (--raft). A zero field
// is unset, and the backend runs its production value for it. A backend
// maps each set field onto its library's configuration and, through
// Settings, reports what it applied and which fields it cannot honour as
// given; it never drops one silently.
type Raft struct {
	// ElectionTimeout is the least time a follower waits without hearing
	// from a leader before it stands for election. Every library
	// randomises the actual wait above it (commonly up to twice it).
	ElectionTimeout time.Duration
	// HeartbeatInterval is how often a leader with nothing to send
	// reminds its followers that it leads.
	HeartbeatInterval time.Duration
	// PreVote: a node asks whether it could win before it starts an
	// election that would disrupt a working leader.
	PreVote Switch
	// CheckQuorum: a leader that has not heard from a quorum for an
	// election timeout steps down.
	CheckQuorum Switch
	// MaxAppendEntries is the most log entries one append message
	// carries.
	MaxAppendEntries int
	// MaxInflightAppends is the most append messages a leader has
	// outstanding to one follower (pipelining depth).
	MaxInflightAppends int
	// SnapshotEntries: snapshot the state machine (and compact the log)
	// every this many applied entries; SnapshotsOff never.
	SnapshotEntries int
	// KeepEntries is how many log entries a node keeps behind its latest
	// snapshot when it compacts its log: a follower that lags by more than
	// this (a restarted one, a slow one) can only catch up through a
	// snapshot. It matters only when snapshots are taken.
	KeepEntries int
}

// SnapshotsOff is Raft.SnapshotEntries for "never snapshot".
const SnapshotsOff = -1

// Switch is an on/off knob that may be left unset ("").
type Switch string

// The values of a Switch.
const (
	SwitchUnset Switch = ""
	SwitchOn    Switch = "on"
	SwitchOff   Switch = "off"
)

// Bool is the switch's value, or def when it is unset.
func (s Switch) Bool(def bool) bool {
	switch s {
	case SwitchOn:
		return true
	case SwitchOff:
		return false
	}
	return def
}

// SwitchOf is the Switch that says b.
func SwitchOf(b bool) Switch {
	if b {
		return SwitchOn
	}
	return SwitchOff
}

// The shared knobs' names, as --raft spells them and as Setting.Knob and
// Unhonoured.Knob name them, in the order they are printed.
const (
	KnobElection    = "election"
	KnobHeartbeat   = "heartbeat"
	KnobPreVote     = "prevote"
	KnobCheckQuorum = "checkquorum"
	KnobAppend      = "append"
	KnobInflight    = "inflight"
	KnobSnapshot    = "snapshot"
	KnobKeep        = "keep"
)

// Knobs lists the shared knobs in print order.
var Knobs = []string{KnobElection, KnobHeartbeat, KnobPreVote, KnobCheckQuorum, KnobAppend, KnobInflight, KnobSnapshot, KnobKeep}

// The named profiles of --raft.
const (
	// ProfileProduction leaves every knob unset: each backend runs as its
	// maintainers run it in production (its Settings name the sources).
	ProfileProduction = "production"
	// ProfileUniform sets every knob to the same value for every backend,
	// so that a difference in results is the library's, not its
	// configuration's.
	ProfileUniform = "uniform"
)

// Uniform is the knobs of ProfileUniform: etcd's and hashicorp's common
// timing (a 1 s election timeout, a 100 ms heartbeat), pre-vote and check
// quorum on (what etcd runs and hashicorp/raft has built in), 64 entries per
// append (hashicorp's MaxAppendEntries), 128 appends in flight per follower
// (between hashicorp's 2 and etcd's 512; dragonboat has no such window),
// no snapshots in the measured window, and, where snapshots are asked for
// (uniform,snapshot=N), 5000 entries kept behind a compaction (etcd's
// --snapshot-catchup-entries, between dragonboat's 0 and hashicorp's
// 10240). Where a library cannot take a
// value, its Settings say so and every row records it.
var Uniform = Raft{
	ElectionTimeout:    time.Second,
	HeartbeatInterval:  100 * time.Millisecond,
	PreVote:            SwitchOn,
	CheckQuorum:        SwitchOn,
	MaxAppendEntries:   64,
	MaxInflightAppends: 128,
	SnapshotEntries:    SnapshotsOff,
	KeepEntries:        5000,
}

// Value is knob's value in r as --raft spells it, "" when unset.
func (r Raft) Value(knob string) string {
	switch knob {
	case KnobElection:
		return formatDuration(r.ElectionTimeout)
	case KnobHeartbeat:
		return formatDuration(r.HeartbeatInterval)
	case KnobPreVote:
		return string(r.PreVote)
	case KnobCheckQuorum:
		return string(r.CheckQuorum)
	case KnobAppend:
		return formatCount(r.MaxAppendEntries)
	case KnobInflight:
		return formatCount(r.MaxInflightAppends)
	case KnobSnapshot:
		if r.SnapshotEntries == SnapshotsOff {
			return "off"
		}
		return formatCount(r.SnapshotEntries)
	case KnobKeep:
		return formatCount(r.KeepEntries)
	}
	return ""
}

// String spells the set knobs as --raft takes them, in Knobs order:
// "election=1s,heartbeat=100ms,prevote=on"; "" when none is set.
func (r Raft) String() string {
	var parts []string
	for _, k := range Knobs {
		if v := r.Value(k); v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, ",")
}

// Over returns r with every knob that o sets replaced by o's value.
func (r Raft) Over(o Raft) Raft {
	if o.ElectionTimeout != 0 {
		r.ElectionTimeout = o.ElectionTimeout
	}
	if o.HeartbeatInterval != 0 {
		r.HeartbeatInterval = o.HeartbeatInterval
	}
	if o.PreVote != SwitchUnset {
		r.PreVote = o.PreVote
	}
	if o.CheckQuorum != SwitchUnset {
		r.CheckQuorum = o.CheckQuorum
	}
	if o.MaxAppendEntries != 0 {
		r.MaxAppendEntries = o.MaxAppendEntries
	}
	if o.MaxInflightAppends != 0 {
		r.MaxInflightAppends = o.MaxInflightAppends
	}
	if o.SnapshotEntries != 0 {
		r.SnapshotEntries = o.SnapshotEntries
	}
	if o.KeepEntries != 0 {
		r.KeepEntries = o.KeepEntries
	}
	return r
}

func formatDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func formatCount(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// ParseRaft reads a --raft value: a profile name, knob=value pairs, or a
// profile followed by pairs that override it ("uniform,election=2s"); pairs
// alone start from production. It returns the profile's canonical name (the
// profile, then the overriding pairs in Knobs order) and the knobs.
func ParseRaft(s string) (profile string, r Raft, err error) {
	base := ProfileProduction
	var over Raft
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		key, val, isPair := strings.Cut(part, "=")
		if !isPair {
			if i != 0 || (part != ProfileProduction && part != ProfileUniform) {
				return "", Raft{}, fmt.Errorf("%q: must be a profile (%s or %s) first, then knob=value pairs with knobs %s",
					part, ProfileProduction, ProfileUniform, strings.Join(Knobs, ", "))
			}
			base = part
			continue
		}
		if err := over.set(strings.TrimSpace(key), strings.TrimSpace(val)); err != nil {
			return "", Raft{}, err
		}
	}
	r = over
	if base == ProfileUniform {
		r = Uniform.Over(over)
	}
	profile = base
	if o := over.String(); o != "" {
		profile += "," + o
	}
	return profile, r, nil
}

// set parses one knob=value pair into r.
func (r *Raft) set(knob, val string) error {
	bad := func(allowed string) error { return fmt.Errorf("%s=%q: must be %s", knob, val, allowed) }
	switch knob {
	case KnobElection, KnobHeartbeat:
		d, err := time.ParseDuration(val)
		if err != nil || d < time.Millisecond || d > time.Minute {
			return bad("a duration from 1ms to 1m (e.g. 1s, 100ms)")
		}
		if knob == KnobElection {
			r.ElectionTimeout = d
		} else {
			r.HeartbeatInterval = d
		}
	case KnobPreVote, KnobCheckQuorum:
		sw := Switch(val)
		if sw != SwitchOn && sw != SwitchOff {
			return bad("on or off")
		}
		if knob == KnobPreVote {
			r.PreVote = sw
		} else {
			r.CheckQuorum = sw
		}
	case KnobAppend, KnobInflight:
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 1<<20 {
			return bad("an integer from 1 to 1048576")
		}
		if knob == KnobAppend {
			r.MaxAppendEntries = n
		} else {
			r.MaxInflightAppends = n
		}
	case KnobSnapshot:
		if val == "off" {
			r.SnapshotEntries = SnapshotsOff
			return nil
		}
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 {
			return bad("off or a positive number of entries")
		}
		r.SnapshotEntries = n
	case KnobKeep:
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 1<<30 {
			return bad("an integer from 1 to 1073741824")
		}
		r.KeepEntries = n
	default:
		return fmt.Errorf("unknown knob %q: knobs are %s", knob, strings.Join(Knobs, ", "))
	}
	return nil
}

// Setting is one value of a node's configuration, as the backend runs it.
type Setting struct {
	// Knob is the shared Raft knob this setting realises, or "" for a
	// setting of the backend's own.
	Knob string
	// Name is what the library calls it ("ElectionTick", "HeartbeatTimeout").
	Name string
	// Value is the effective value. For a Knob it is spelt as --raft spells
	// it (1s, on, 64, off), converted from the library's units, so that
	// backends compare side by side.
	Value string
	// Source says where the value comes from: one of the Source constants.
	Source string
	// Note cites the source (a flag default, a file and line, a product's
	// configuration) or gives raftcmp's reason.
	Note string
}

// Where a Setting's value comes from.
const (
	// SourceLibrary: the library's own default, untouched.
	SourceLibrary = "library default"
	// SourceProduction: what the library's maintainers run in production
	// (etcd's server, Consul, ...), where that differs from the default.
	SourceProduction = "production"
	// SourceRaftcmp: raftcmp's choice; Note gives the reason.
	SourceRaftcmp = "raftcmp"
	// SourceRequested: set by the experiment (--raft or --opt).
	SourceRequested = "requested"
)

// Unhonoured is a requested knob the backend cannot apply as given, with
// what it does instead.
type Unhonoured struct {
	Knob      string
	Requested string
	Reason    string
}

// String reads "checkquorum=off: <reason>".
func (u Unhonoured) String() string { return u.Knob + "=" + u.Requested + ": " + u.Reason }

// Settings is what a node runs with: the values a comparison depends on,
// each with its source, and the requested knobs it cannot honour.
type Settings struct {
	Values     []Setting
	Unhonoured []Unhonoured
}

// Applied spells the shared knobs as applied, in Knobs order
// ("election=1s,heartbeat=100ms,..."), from the Values that name a knob.
func (s Settings) Applied() string {
	var parts []string
	for _, k := range Knobs {
		i := slices.IndexFunc(s.Values, func(v Setting) bool { return v.Knob == k })
		if i >= 0 && s.Values[i].Value != "" {
			parts = append(parts, k+"="+s.Values[i].Value)
		}
	}
	return strings.Join(parts, ",")
}

// UnhonouredString joins the unhonoured knobs with "; ", "" when none.
func (s Settings) UnhonouredString() string {
	parts := make([]string, len(s.Unhonoured))
	for i, u := range s.Unhonoured {
		parts[i] = u.String()
	}
	return strings.Join(parts, "; ")
}

// NoEquivalent lists every knob r sets as Unhonoured with the same reason: for a
// backend that has no equivalent of any of them (the noop backend has no
// Raft at all).
func (r Raft) NoEquivalent(reason string) []Unhonoured {
	var s Settings
	for _, k := range Knobs {
		if v := r.Value(k); v != "" {
			s.Refuse(k, v, reason)
		}
	}
	return s.Unhonoured
}

// Add appends one value to the report; see Setting for the fields.
func (s *Settings) Add(knob, name, value, source, note string) {
	s.Values = append(s.Values, Setting{Knob: knob, Name: name, Value: value, Source: source, Note: note})
}

// Refuse records that knob, asked as requested, was not honoured, and why.
func (s *Settings) Refuse(knob, requested, reason string) {
	s.Unhonoured = append(s.Unhonoured, Unhonoured{Knob: knob, Requested: requested, Reason: reason})
}

// OverriddenBy is the reason a knob is not honoured when the backend option
// key, given in opts, sets the same library setting: an explicit option
// wins over a knob ("overridden by option election_tick=20").
func OverriddenBy(key string, opts Options) string {
	return "overridden by option " + key + "=" + opts[key]
}

// SourceOf is SourceRequested when an option set the value, else src.
func SourceOf(optionGiven bool, src string) string {
	if optionGiven {
		return SourceRequested
	}
	return src
}
