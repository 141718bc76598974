// Package experiment defines what one raftcmp run measures (a Spec), checks
// it before anything starts, and expands it into the ordered list of points
// the runner executes.
package experiment

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/load"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// Limits on the inputs, stated in the errors that enforce them.
const (
	MaxNodes        = 9
	MaxThreads      = 4096
	MaxPayloadBytes = adapter.MaxPayloadBytes
	MaxRepeat       = 1000
)

// Spec is one experiment: every backend in Impls runs the same workload
// over the same thread counts. Each exported field is one setting of the
// table in settings.go, which gives its flag, file key, default, reader
// and check; its JSON form (meta.json's "experiment") is the field names.
type Spec struct {
	// Impls are the backends, in report order.
	Impls []string
	// Nodes is the cluster size; with several (NodeSweep), the largest,
	// which limits and placement are checked against.
	Nodes int
	// NodeSweep are the cluster sizes swept, in the order given, when more
	// than one is (--nodes 3,5,7); nil for one size, Nodes. Sizes are swept
	// like threads; ForPoint gives a point's spec.
	NodeSweep []int `json:",omitempty"`
	// Storage is the storage mode of every node.
	Storage adapter.Storage
	// Options holds tuning per backend: Options["etcd"]["max_inflight_msgs"].
	Options map[string]adapter.Options
	// Raft is the shared Raft knobs as --raft spells them, canonical: a
	// profile, then overrides ("uniform,election=2s"); RaftKnobs reads it.
	Raft string
	// SnapshotEvery is --snapshot-every: "" (unset: Raft decides, by
	// default each library's own interval), "off", or a number of entries.
	// It is the snapshot knob of Raft spelt apart: RaftKnobs and
	// RaftProfile fold it in, and Validate refuses a Raft that sets the
	// knob to anything else.
	SnapshotEvery string `json:",omitempty"`
	// Threads are the client thread counts swept.
	Threads []int
	// Rate is the total target ops/s (0 = unthrottled); with several
	// (RateSweep), the largest.
	Rate float64
	// RateSweep are the target rates swept, in the order given, when more
	// than one is (--rate 500:4000:500); nil for one rate, Rate.
	RateSweep []float64 `json:",omitempty"`
	// PayloadBytes is the proposal size; with a distribution (Payload),
	// its mean rounded to whole bytes, for readers of the size alone.
	PayloadBytes int
	// Payload is the payload size distribution in load.ParsePayloadSizes's
	// canonical form (uniform:64:4096), or "" for PayloadBytes each.
	Payload string `json:",omitempty"`
	// Warmup precedes each measured window and is not measured.
	Warmup time.Duration
	// Duration is each point's measured window.
	Duration time.Duration
	// Interval is the time-series bucket width.
	Interval time.Duration
	// OpTimeout bounds one proposal.
	OpTimeout time.Duration
	// Repeat is how many times each point runs.
	Repeat int
	// CPUs pins node i to CPUs[i]. nil is auto (NodeCPUs: each node its
	// own core when this machine has enough), an empty list no pinning
	// (--cpus none).
	CPUs []int
	// Client places the load generator: "embedded" (inside the leader's
	// process, as the original experiment did) or "external" (in raftcmp,
	// following leader changes).
	Client string
	// Loop is the load's model: "closed" or "open" (see core/load).
	Loop string
	// ReadRatio is the share of operations that are reads (0: writes only).
	ReadRatio float64 `json:",omitempty"`
	// ReadMode is the reads' adapter.ReadMode.
	ReadMode string `json:",omitempty"`
	// ReadFrom is where reads go: "leader", "followers" or "any".
	ReadFrom string `json:",omitempty"`
	// GOMAXPROCS of each plugin process: 0 is auto (NodeGOMAXPROCS), -1
	// leaves it to Go, N sets it.
	GOMAXPROCS int
	// Faults are swept like threads: every backend runs every thread count
	// under each fault. faultspec.None is the baseline.
	Faults []faultspec.Spec
	// Hosts is the absolute path of a hosts file (docs/hosts.md): node i
	// runs on its host i, over SSH. "" runs every node on this machine.
	Hosts string

	// from records where each setting the user gave came from (a flag, or
	// an experiment file's line), so that Validate names it as given. It
	// is not part of the JSON form.
	from map[string]origin
}

// Default is the original experiment: 3 nodes, threads 2..20 step 2, a
// 40000 ops/s target, 2048-byte payloads, 20 s windows: every setting's
// default from the settings table.
func Default() Spec {
	s := Spec{Options: map[string]adapter.Options{}}
	for i := range settings {
		st := &settings[i]
		v, err := st.fromText(st.def)
		if err == nil {
			err = st.apply(&s, v)
		}
		if err != nil {
			panic(fmt.Sprintf("experiment: default of %s %q: %v", st.key, st.def, err))
		}
	}
	return s
}

// NodeGOMAXPROCS is the GOMAXPROCS to give each node process, 0 meaning
// leave it to Go: auto is each node's share of this machine's CPUs.
func (s Spec) NodeGOMAXPROCS() int {
	switch {
	case s.GOMAXPROCS == 0:
		return GOMAXPROCSFor(s.Nodes, runtime.NumCPU())
	case s.GOMAXPROCS < 0:
		return 0
	}
	return s.GOMAXPROCS
}

// Values of --cpus besides a CPU list.
const (
	// CPUsAuto pins each node to a core of its own when the nodes run on
	// this machine and it has a core per node plus one (AutoCPUs).
	CPUsAuto = "auto"
	// CPUsNone pins nothing: the nodes share every CPU.
	CPUsNone = "none"
)

// NodeCPUs is the CPU each node is pinned to, in node order, or nil when
// the nodes are not pinned: the CPUs given; nil for none or for nodes on
// other hosts; by default (auto) each node its own core of this machine
// when it has a core per node plus one for raftcmp (AutoCPUs).
func (s Spec) NodeCPUs() []int {
	switch {
	case len(s.CPUs) > 0:
		return s.CPUs
	case s.CPUs != nil || s.Hosts != "":
		return nil
	}
	return AutoCPUs(s.Nodes, machineCPUs())
}

// AutoCPUs is --cpus auto's decision, for nodes sharing a machine whose
// usable CPUs are avail (ascending): when there is a CPU per node plus one,
// node i gets avail[i] (ids 1..nodes), leaving the first to raftcmp and
// the system, as the original experiment pinned its nodes with taskset;
// otherwise nil, no pinning, since nodes pinned two to a core would fare
// worse than nodes the scheduler spreads.
func AutoCPUs(nodes int, avail []int) []int {
	if nodes < 1 || len(avail) < nodes+1 {
		return nil
	}
	return slices.Clone(avail[1 : nodes+1])
}

// machineCPUs lists the CPUs this process may run on, ascending; a
// variable so that tests can stand in another machine.
var machineCPUs = func() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		cpus := make([]int, runtime.NumCPU())
		for i := range cpus {
			cpus[i] = i
		}
		return cpus
	}
	var cpus []int
	for i := 0; len(cpus) < set.Count(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// LoadSpec is the load every point of s runs, for a thread count; for a
// point of a rate sweep, call it on ForPoint's spec.
func (s Spec) LoadSpec(threads int) load.Spec {
	return load.Spec{
		Threads: threads, Rate: s.Rate, PayloadBytes: s.PayloadBytes, PayloadSizes: s.Payload,
		Warmup: s.Warmup, Duration: s.Duration, Interval: s.Interval, OpTimeout: s.OpTimeout,
		Loop: s.Loop, ReadRatio: s.ReadRatio, ReadMode: s.ReadMode,
	}
}

// PayloadSizes is the payload sizes of every proposal: Payload, or
// PayloadBytes each.
func (s Spec) PayloadSizes() load.PayloadSizes {
	if s.Payload != "" {
		if p, err := load.ParsePayloadSizes(s.Payload, MaxPayloadBytes); err == nil {
			return p
		}
	}
	return load.FixedPayload(s.PayloadBytes)
}

// NodeSizes is the cluster sizes swept: NodeSweep, or Nodes alone.
func (s Spec) NodeSizes() []int {
	if len(s.NodeSweep) > 0 {
		return s.NodeSweep
	}
	return []int{s.Nodes}
}

// Rates is the target rates swept: RateSweep, or Rate alone.
func (s Spec) Rates() []float64 {
	if len(s.RateSweep) > 0 {
		return s.RateSweep
	}
	return []float64{s.Rate}
}

// ForPoint is s as point p runs it: its cluster size and rate in Nodes
// and Rate, without sweeps, and an explicit CPU list cut to the size (a
// sweep's list names a CPU per node of the largest size). GOMAXPROCS and
// CPU placement on auto are then decided for p's size.
func (s Spec) ForPoint(p Point) Spec {
	if p.Nodes > 0 {
		s.Nodes = p.Nodes
		if len(s.CPUs) > p.Nodes {
			s.CPUs = s.CPUs[:p.Nodes]
		}
	}
	if len(s.RateSweep) > 0 {
		s.Rate = p.Rate
	}
	s.NodeSweep, s.RateSweep = nil, nil
	return s
}

// RaftKnobs is the knobs Raft names, with SnapshotEvery's snapshot knob
// over them; production (all unset) when both are empty. Both were
// checked when they were set, so they parse.
func (s Spec) RaftKnobs() adapter.Raft {
	_, r, err := adapter.ParseRaft(s.RaftProfile())
	if err != nil {
		return adapter.Raft{}
	}
	return r
}

// RaftProfile is Raft in its canonical spelling with SnapshotEvery folded
// in as the snapshot knob ("production,snapshot=1000"), or production when
// both are empty (specs recorded before --raft existed). It is what
// meta.json and every row record as the profile.
func (s Spec) RaftProfile() string {
	profile := cmp.Or(s.Raft, adapter.ProfileProduction)
	if s.SnapshotEvery == "" {
		return profile
	}
	canonical, _, err := adapter.ParseRaft(profile + "," + adapter.KnobSnapshot + "=" + s.SnapshotEvery)
	if err != nil {
		return profile
	}
	return canonical
}

// Point is one measurement: a backend under a fault, with a cluster size
// and a target rate, at a thread count, one repeat.
type Point struct {
	// Index is the point's 1-based position in the plan.
	Index int
	// ID names the point stably across runs of the same spec, e.g.
	// "hashicorp/none/t8/r1": the key results are resumed and compared by.
	// The cluster size (n5) and the rate (q1000) are in it only when
	// more than one is swept, so that ids stay what runs before those
	// sweeps recorded: "etcd/none/n5/q1000/t8/r1".
	ID      string
	Impl    string
	Fault   faultspec.Spec
	Nodes   int
	Rate    float64
	Threads int
	Repeat  int
}

// Points expands s into the run order. Repeats are the outer loop and
// backends the inner one, so a drift of the machine during the run (thermal,
// a noisy neighbour) hits every backend alike rather than one backend's
// whole sweep.
func (s Spec) Points() []Point {
	var pts []Point
	for r := 1; r <= s.Repeat; r++ {
		for _, f := range s.Faults {
			for _, n := range s.NodeSizes() {
				for _, q := range s.Rates() {
					for _, t := range s.Threads {
						for _, impl := range s.Impls {
							id := impl + "/" + f.String()
							if len(s.NodeSweep) > 1 {
								id += fmt.Sprintf("/n%d", n)
							}
							if len(s.RateSweep) > 1 {
								id += "/q" + strconv.FormatFloat(q, 'f', -1, 64)
							}
							pts = append(pts, Point{
								Index: len(pts) + 1, ID: fmt.Sprintf("%s/t%d/r%d", id, t, r),
								Impl: impl, Fault: f, Nodes: n, Rate: q, Threads: t, Repeat: r,
							})
						}
					}
				}
			}
		}
	}
	return pts
}

// Comparable returns what must not change between the runs whose rows are
// put side by side (a resumed run and the rows it found), as a JSON object,
// and its fingerprint (hex SHA-256 of that JSON): every setting the table
// marks as compared, which is all but the swept dimensions (backends,
// faults, thread counts, repeats) that only add or remove points. The JSON
// is what meta.json records as "comparable", byte for byte as older
// versions wrote it, so that their runs can still be resumed.
func (s Spec) Comparable() (json.RawMessage, string) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range settings {
		st := &settings[i]
		if st.fingerprint == "" {
			continue
		}
		value := st.comparedValue(&s)
		if st.optional && value == nil {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(st.fingerprint)
		v, err := json.Marshal(value)
		if err != nil { // not a finite number: Validate refuses it
			v = []byte("null")
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	sum := sha256.Sum256(b.Bytes())
	return b.Bytes(), hex.EncodeToString(sum[:])
}

// CheckResume reports whether s may continue a run that recorded
// fingerprint and the comparable settings recorded (meta.json's
// "fingerprint" and "comparable"): nil if their rows can be put side by
// side, or else an error naming the settings that changed.
func (s Spec) CheckResume(fingerprint string, recorded any) error {
	now, fp := s.Comparable()
	if fp == fingerprint {
		return nil
	}
	var was, is map[string]json.RawMessage
	b, _ := json.Marshal(recorded)
	_ = json.Unmarshal(now, &is)
	var changed []string
	if json.Unmarshal(b, &was) == nil && was != nil {
		for i := range settings {
			st := &settings[i]
			if k := st.fingerprint; k != "" && !bytes.Equal(compact(was[k]), compact(is[k])) {
				changed = append(changed, fmt.Sprintf("%s recorded %s, now %s", st.key, cmp.Or(string(was[k]), "nothing"), cmp.Or(string(is[k]), "nothing")))
			}
		}
	}
	if len(changed) == 0 { // an older or damaged record: show it whole
		changed = []string{fmt.Sprintf("recorded %s, now %s", b, now)}
	}
	return fmt.Errorf("the experiment changed in a way that makes the recorded rows incomparable: %s", strings.Join(changed, "; "))
}

// compact is JSON without insignificant space, for comparing values.
func compact(b []byte) []byte {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return b
	}
	return out.Bytes()
}

// GOMAXPROCSFor is raftcmp's default GOMAXPROCS for the nodes of a cluster
// sharing one machine: each node its share of the CPUs, but at least two
// (and at most every CPU). Left to Go, each of N processes runs NumCPU
// schedulers, so on a large machine N×NumCPU of them contend and their idle
// spinning steals time from the nodes' work. One scheduler per node is
// worse: a node blocked in fsync must hand its only P to another thread,
// which cost dragonboat on disk 23% here (0.69 against 0.90 of a
// one-process run) while etcd in memory gained 19%; two is the least that
// keeps a blocking syscall off the critical path. Measured figures are in
// docs/architecture.md.
func GOMAXPROCSFor(nodes, cpus int) int {
	return min(cpus, max(2, cpus/max(nodes, 1)))
}
