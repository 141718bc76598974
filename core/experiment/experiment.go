// Package experiment defines what one raftcmp run measures (a Spec), checks
// it before anything starts, and expands it into the ordered list of points
// the runner executes.
package experiment

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

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
// over the same thread counts.
type Spec struct {
	// Impls are the backends, in report order.
	Impls []string
	// Nodes is the cluster size.
	Nodes int
	// Storage is the storage mode of every node.
	Storage adapter.Storage
	// Options holds tuning per backend: Options["etcd"]["max_inflight_msgs"].
	Options map[string]adapter.Options
	// Threads are the client thread counts swept.
	Threads []int
	// Rate is the total target ops/s (0 = unthrottled).
	Rate float64
	// PayloadBytes is the proposal size.
	PayloadBytes int
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
	// CPUs pins node i to CPUs[i] (empty: no pinning).
	CPUs []int
	// Client places the load generator: "embedded" (inside the leader's
	// process, as the original experiment did) or "external" (in raftcmp,
	// following leader changes).
	Client string
	// Loop is the load's model: "closed" or "open" (see core/load).
	Loop string
	// GOMAXPROCS of each plugin process: 0 is auto (NodeGOMAXPROCS), -1
	// leaves it to Go, N sets it.
	GOMAXPROCS int
	// Faults are swept like threads: every backend runs every thread count
	// under each fault. faultspec.None is the baseline.
	Faults []faultspec.Spec
}

// Default is the original experiment: 3 nodes, threads 2..20 step 2, a
// 40000 ops/s target, 2048-byte payloads, 20 s windows.
func Default() Spec {
	return Spec{
		Nodes:        3,
		Storage:      adapter.StorageDisk,
		Options:      map[string]adapter.Options{},
		Threads:      []int{2, 4, 6, 8, 10, 12, 14, 16, 18, 20},
		Rate:         40000,
		PayloadBytes: 2048,
		Warmup:       2 * time.Second,
		Duration:     20 * time.Second,
		Interval:     time.Second,
		OpTimeout:    10 * time.Second,
		Repeat:       1,
		Faults:       []faultspec.Spec{faultspec.None},
		Client:       "embedded",
		Loop:         "closed",
	}
}

// FieldError is a rejected input: the field (as the user wrote it, e.g.
// "--threads"), the value given and what is allowed.
type FieldError struct {
	Field, Value, Allowed string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Allowed)
}

func fieldErr(field string, value any, allowed string, args ...any) error {
	return &FieldError{Field: field, Value: fmt.Sprint(value), Allowed: fmt.Sprintf(allowed, args...)}
}

// Validate checks every field and returns the first problem as a
// *FieldError, so that nothing starts on input that cannot run.
func (s Spec) Validate() error {
	switch {
	case len(s.Impls) == 0:
		return fieldErr("--impl", "", "name at least one backend")
	case s.Nodes < 1 || s.Nodes > MaxNodes:
		return fieldErr("--nodes", s.Nodes, "must be from 1 to %d", MaxNodes)
	case !slices.Contains(adapter.StorageModes, s.Storage):
		return fieldErr("--storage", s.Storage, "must be one of %s", joinStorage())
	case len(s.Threads) == 0:
		return fieldErr("--threads", "", "name at least one thread count")
	case s.Rate < 0:
		return fieldErr("--rate", s.Rate, "must be 0 (unthrottled) or a positive number of ops/s")
	case s.PayloadBytes < 1 || s.PayloadBytes > MaxPayloadBytes:
		return fieldErr("--payload", s.PayloadBytes, "must be from 1 to %d bytes", MaxPayloadBytes)
	case s.Warmup < 0:
		return fieldErr("--warmup", s.Warmup, "must be zero or positive")
	case s.Duration <= 0:
		return fieldErr("--duration", s.Duration, "must be positive, e.g. 20s")
	case s.Interval <= 0 || s.Interval > s.Duration:
		return fieldErr("--interval", s.Interval, "must be positive and at most --duration (%v)", s.Duration)
	case s.OpTimeout <= 0:
		return fieldErr("--op-timeout", s.OpTimeout, "must be positive")
	case s.GOMAXPROCS < -1 || s.GOMAXPROCS > 1024:
		return fieldErr("--gomaxprocs", s.GOMAXPROCS, "must be auto, go, or from 1 to 1024")
	case s.Client != "embedded" && s.Client != "external":
		return fieldErr("--client", s.Client, "must be embedded or external")
	case s.Loop != "closed" && s.Loop != "open":
		return fieldErr("--loop", s.Loop, "must be closed or open")
	case s.Loop == "open" && s.Rate <= 0:
		return fieldErr("--rate", s.Rate, "must be positive with --loop open (requests are issued on a schedule at --rate)")
	case s.Repeat < 1 || s.Repeat > MaxRepeat:
		return fieldErr("--repeat", s.Repeat, "must be from 1 to %d", MaxRepeat)
	}
	seen := map[string]bool{}
	for _, impl := range s.Impls {
		if impl == "" || seen[impl] {
			return fieldErr("--impl", strings.Join(s.Impls, ","), "must be distinct backend names")
		}
		seen[impl] = true
	}
	for _, t := range s.Threads {
		if t < 1 || t > MaxThreads {
			return fieldErr("--threads", t, "each thread count must be from 1 to %d", MaxThreads)
		}
	}
	if len(s.Faults) == 0 {
		return fieldErr("--fault", "", "name at least one fault, or none for the baseline")
	}
	seenFault := map[string]bool{}
	for _, f := range s.Faults {
		if err := f.Validate(); err != nil {
			return fieldErr("--fault", f.String(), "%v", err)
		}
		if seenFault[f.String()] {
			return fieldErr("--fault", f.String(), "given twice")
		}
		seenFault[f.String()] = true
		if f.Target.Role == faultspec.RoleNode && f.Target.Node > uint64(s.Nodes) {
			return fieldErr("--fault", f.String(), "names node %d of a %d-node cluster", f.Target.Node, s.Nodes)
		}
		if f.At+f.For > s.Duration {
			return fieldErr("--fault", f.String(), "at+for (%v) must fit in the measured window (--duration %v)", f.At+f.For, s.Duration)
		}
		if (f.Target.Role == faultspec.RoleFollower || f.Target.Role == faultspec.RoleFollowers) && s.Nodes < 2 {
			return fieldErr("--fault", f.String(), "targets a follower, but a %d-node cluster has none", s.Nodes)
		}
	}
	for impl := range s.Options {
		if !seen[impl] {
			return fieldErr("--opt", impl, "names a backend not in --impl (%s)", strings.Join(s.Impls, ","))
		}
	}
	if len(s.CPUs) > 0 {
		if len(s.CPUs) != s.Nodes {
			return fieldErr("--cpus", joinInts(s.CPUs), "must list one CPU per node (%d)", s.Nodes)
		}
		for _, c := range s.CPUs {
			if c < 0 || c >= runtime.NumCPU() {
				return fieldErr("--cpus", c, "CPUs here are 0 to %d", runtime.NumCPU()-1)
			}
		}
	}
	return nil
}

func joinStorage() string {
	var names []string
	for _, m := range adapter.StorageModes {
		names = append(names, string(m))
	}
	return strings.Join(names, ", ")
}

func joinInts(v []int) string {
	var parts []string
	for _, n := range v {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
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

// LoadSpec is the load every point of s runs, for a thread count.
func (s Spec) LoadSpec(threads int) load.Spec {
	return load.Spec{
		Threads: threads, Rate: s.Rate, PayloadBytes: s.PayloadBytes,
		Warmup: s.Warmup, Duration: s.Duration, Interval: s.Interval, OpTimeout: s.OpTimeout,
		Loop: s.Loop,
	}
}

// Point is one measurement: a backend under a fault at a thread count, one
// repeat.
type Point struct {
	// Index is the point's 1-based position in the plan.
	Index int
	// ID names the point stably across runs of the same spec, e.g.
	// "hashicorp/none/t8/r1": the key results are resumed and compared by.
	ID      string
	Impl    string
	Fault   faultspec.Spec
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
			for _, t := range s.Threads {
				for _, impl := range s.Impls {
					pts = append(pts, Point{
						Index: len(pts) + 1, ID: fmt.Sprintf("%s/%s/t%d/r%d", impl, f, t, r),
						Impl: impl, Fault: f, Threads: t, Repeat: r,
					})
				}
			}
		}
	}
	return pts
}

// Comparable is what must not change between the runs whose rows are put
// side by side (a resumed run and the rows it found): every setting but the
// swept dimensions (backends, faults, thread counts, repeats), which only
// add or remove points.
type Comparable struct {
	Nodes        int                        `json:"nodes"`
	Storage      adapter.Storage            `json:"storage"`
	Options      map[string]adapter.Options `json:"options"`
	Rate         float64                    `json:"rate"`
	Client       string                     `json:"client"`
	Loop         string                     `json:"loop"`
	PayloadBytes int                        `json:"payload_bytes"`
	Warmup       time.Duration              `json:"warmup"`
	Duration     time.Duration              `json:"duration"`
	Interval     time.Duration              `json:"interval"`
	OpTimeout    time.Duration              `json:"op_timeout"`
	GOMAXPROCS   int                        `json:"gomaxprocs"`
	CPUs         []int                      `json:"cpus"`
}

// Comparable returns s's comparable settings and their fingerprint (hex
// SHA-256 of their JSON).
func (s Spec) Comparable() (Comparable, string) {
	c := Comparable{
		Nodes: s.Nodes, Storage: s.Storage, Options: s.Options, Rate: s.Rate, Client: s.Client, Loop: s.Loop, PayloadBytes: s.PayloadBytes,
		Warmup: s.Warmup, Duration: s.Duration, Interval: s.Interval, OpTimeout: s.OpTimeout,
		GOMAXPROCS: s.NodeGOMAXPROCS(), CPUs: s.CPUs,
	}
	if len(c.Options) == 0 {
		c.Options = nil
	}
	b, _ := json.Marshal(c) // map keys are sorted: deterministic
	sum := sha256.Sum256(b)
	return c, hex.EncodeToString(sum[:])
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
