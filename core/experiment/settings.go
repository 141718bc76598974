package experiment

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/hosts"
	"github.com/raftcmp/raftcmp/core/load"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// kind is how a setting is written: the flag type that declares it and
// what an experiment file may give for it.
type kind int

const (
	kindInt      kind = iota // an int flag; a YAML integer
	kindFloat                // a float flag; a YAML number
	kindDuration             // a duration flag; a YAML string such as 20s
	kindText                 // a string flag in the setting's own syntax; a YAML string, or a list of scalars read as if joined by commas
	kindList                 // a repeatable string flag; a YAML list (or what the setting's set accepts)
)

// setting is one experiment setting, declared once: its flag, its file
// key, its default, how its values are read and checked, and whether it
// belongs to the resume fingerprint. The flags (Settings), experiment
// files (File), Default, Validate and Comparable are all driven from the
// table below.
type setting struct {
	key   string // the experiment file's key, and a file error's name for it
	flag  string // the flag, without dashes
	kind  kind
	def   string // the default as a user would type it; "" is the field's zero value
	usage string
	// field points at the Spec field the setting fills (&s.Nodes).
	field func(s *Spec) any
	// parse reads a kindText value into the field's type; nil stores the
	// text as it is.
	parse func(text string) (any, error)
	// item reads one element of a kindList value, appended to the field.
	item func(n *yaml.Node) (any, error)
	// set, if not nil, stores a value itself instead of field, parse and
	// item: for a setting whose values merge rather than replace (given a
	// *yaml.Node), or that fills more than one field (a kindText setting,
	// given its text).
	set func(s *Spec, v any) error
	// check is the setting's rule, on the whole spec (a check may rely on
	// the settings above it in the table being valid); nil: none.
	check func(s *Spec) *problem
	// fingerprint is the setting's key in the resume fingerprint
	// (Comparable); "" leaves it out (a swept dimension).
	fingerprint string
	// compared is the value the fingerprint records; nil: the field's.
	compared func(s *Spec) any
	// optional leaves the setting out of the fingerprint while its
	// compared value is nil, so that a setting added to the fingerprint
	// later does not change the fingerprints recorded before it existed
	// (runs that did not use it still resume).
	optional bool
	// path marks a file path: in an experiment file, relative to the
	// file's directory.
	path bool
}

// settings is every experiment setting. Order matters three ways: it is
// the order of the flags in --help, of Validate's checks, and of the
// settings in the resume fingerprint's JSON, which must stay byte for byte
// what older meta.json files recorded (TestComparableAsRecordedBefore).
// A new compared setting changes every fingerprint: runs recorded before
// it can then no longer be resumed.
var settings = []setting{
	{key: "impls", flag: "impl", kind: kindText, usage: "backends, comma-separated (default: every plugin found)",
		field: func(s *Spec) any { return &s.Impls },
		parse: func(t string) (any, error) { return ParseImpls(t), nil }, check: checkImpls},
	{key: "nodes", flag: "nodes", kind: kindText, def: "3", usage: "cluster size: N, or a list N,M (each size its own set of points)",
		field: func(s *Spec) any { return &s.Nodes }, set: setNodes, check: checkNodes,
		fingerprint: "nodes", compared: comparedNodes},
	{key: "storage", flag: "storage", kind: kindText, def: "disk", usage: "disk, tmpfs (data on /dev/shm) or memory (in-memory log)",
		field: func(s *Spec) any { return &s.Storage }, check: checkStorage, fingerprint: "storage"},
	{key: "options", flag: "opt", kind: kindList, usage: "backend option IMPL.KEY=VALUE (repeatable), e.g. hashicorp.log_store=wal",
		field: func(s *Spec) any { return &s.Options }, set: setOptions, check: checkOptions,
		fingerprint: "options", compared: comparedOptions},
	{key: "raft", flag: "raft", kind: kindText, def: adapter.ProfileProduction,
		usage: "shared Raft knobs: a profile (production: each library as its maintainers run it; uniform: the same values for all), then KNOB=VALUE overrides, e.g. uniform,election=2s; knobs: " + strings.Join(adapter.Knobs, ", "),
		field: func(s *Spec) any { return &s.Raft }, parse: parseRaft,
		fingerprint: "raft", compared: comparedRaft, optional: true},
	{key: "snapshot_every", flag: "snapshot-every", kind: kindText,
		usage: "snapshot (and compact the log) every N applied entries, or off; the same as --raft snapshot=N (default: each library's own interval, recorded in raft_applied)",
		field: func(s *Spec) any { return &s.SnapshotEvery }, parse: parseSnapshotEvery, check: checkSnapshotEvery},
	{key: "threads", flag: "threads", kind: kindText, def: "2:20:2", usage: "client threads: N, a list N,M or a range FROM:TO:STEP",
		field: func(s *Spec) any { return &s.Threads },
		parse: func(t string) (any, error) { return ParseThreads(t) }, check: checkThreads},
	{key: "rate", flag: "rate", kind: kindText, def: "40000",
		usage: "total target ops/s shared by the threads (0 = unthrottled); a list R,S or a range FROM:TO:STEP sweeps it, each rate its own set of points",
		field: func(s *Spec) any { return &s.Rate }, set: setRates, check: checkRate, fingerprint: "rate", compared: comparedRate},
	{key: "client", flag: "client", kind: kindText, def: "embedded",
		usage: "where the load runs: embedded (in the leader's process, as the original experiment) or external (in raftcmp, following leader changes)",
		field: func(s *Spec) any { return &s.Client }, check: checkClient, fingerprint: "client"},
	{key: "loop", flag: "loop", kind: kindText, def: "closed",
		usage: "load model: closed (each thread waits for its proposal) or open (requests on a schedule at --rate, latency from the intended start)",
		field: func(s *Spec) any { return &s.Loop }, check: checkLoop, fingerprint: "loop"},
	{key: "read_ratio", flag: "read-ratio", kind: kindFloat, def: "0",
		usage: "share of operations that are reads, 0 to 1 (0: writes only); reads and writes are measured apart",
		field: func(s *Spec) any { return &s.ReadRatio }, check: checkReadRatio,
		fingerprint: "read_ratio", compared: whenReading(func(s *Spec) any { return s.ReadRatio }), optional: true},
	{key: "read_mode", flag: "read-mode", kind: kindText, def: "linearizable",
		usage: "how reads are served: linearizable (the library's linearizable read), lease (its lease-based read, where it has one) or stale (the node's local state)",
		field: func(s *Spec) any { return &s.ReadMode }, check: checkReadMode,
		fingerprint: "read_mode", compared: whenReading(func(s *Spec) any { return s.ReadMode }), optional: true},
	{key: "read_from", flag: "read-from", kind: kindText, def: "leader",
		usage: "where reads go: leader, followers or any node (followers and any need --client external)",
		field: func(s *Spec) any { return &s.ReadFrom }, check: checkReadFrom,
		fingerprint: "read_from", compared: whenReading(func(s *Spec) any { return s.ReadFrom }), optional: true},
	{key: "payload", flag: "payload", kind: kindText, def: "2048",
		usage: fmt.Sprintf("bytes per proposal (1 to %d), or sizes drawn per proposal: uniform:MIN:MAX or pareto:MIN:ALPHA[:MAX] (heavy-tailed)", MaxPayloadBytes),
		field: func(s *Spec) any { return &s.PayloadBytes }, set: setPayload, check: checkPayload,
		fingerprint: "payload_bytes", compared: comparedPayload},
	{key: "warmup", flag: "warmup", kind: kindDuration, def: "2s", usage: "load before the measured window, not measured",
		field: func(s *Spec) any { return &s.Warmup }, check: checkWarmup, fingerprint: "warmup"},
	{key: "duration", flag: "duration", kind: kindDuration, def: "20s", usage: "measured window per point",
		field: func(s *Spec) any { return &s.Duration }, check: checkDuration, fingerprint: "duration"},
	{key: "interval", flag: "interval", kind: kindDuration, def: "1s", usage: "time-series bucket width",
		field: func(s *Spec) any { return &s.Interval }, check: checkInterval, fingerprint: "interval"},
	{key: "op_timeout", flag: "op-timeout", kind: kindDuration, def: "10s", usage: "deadline of one proposal",
		field: func(s *Spec) any { return &s.OpTimeout }, check: checkOpTimeout, fingerprint: "op_timeout"},
	{key: "repeat", flag: "repeat", kind: kindInt, def: "1", usage: "runs of each point, interleaved across backends",
		field: func(s *Spec) any { return &s.Repeat },
		check: func(s *Spec) *problem { return s.within("repeat", s.Repeat, 1, MaxRepeat, "") }},
	{key: "gomaxprocs", flag: "gomaxprocs", kind: kindText, def: "auto",
		usage: "GOMAXPROCS of each node: auto (its share of the CPUs, CPUs/nodes, at least 2), go (Go's default: all CPUs) or N",
		field: func(s *Spec) any { return &s.GOMAXPROCS },
		parse: func(t string) (any, error) { return ParseGOMAXPROCS(t) }, check: checkGOMAXPROCS,
		fingerprint: "gomaxprocs", compared: func(s *Spec) any { return s.NodeGOMAXPROCS() }},
	{key: "cpus", flag: "cpus", kind: kindText, def: "auto",
		usage: "pin node i to the i-th CPU of this list, e.g. 0,1,1 (as taskset did in the original); auto: each node its own core when this machine has one per node plus one for raftcmp; none: no pinning",
		field: func(s *Spec) any { return &s.CPUs }, parse: parseCPUList, check: checkCPUs, fingerprint: "cpus",
		compared: func(s *Spec) any { return s.NodeCPUs() }},
	{key: "hosts", flag: "hosts", kind: kindText, path: true,
		usage: "run node i on host i of this hosts file, over SSH (docs/hosts.md); only the network fault kinds act there yet",
		field: func(s *Spec) any { return &s.Hosts }, parse: parseHostsPath, check: checkHosts,
		fingerprint: "hosts", compared: comparedHosts, optional: true},
	{key: "faults", flag: "fault", kind: kindList, def: "none",
		usage: "fault KIND[:TARGET][,param=value...] (repeatable; each its own set of points; none = baseline), e.g. cpu-slow:follower,quota=5%",
		field: func(s *Spec) any { return &s.Faults }, check: checkFaults,
		item: func(n *yaml.Node) (any, error) { return faultFromNode(n) }},
}

func checkImpls(s *Spec) *problem {
	if len(s.Impls) == 0 {
		return s.bad("impls", "", "name at least one backend")
	}
	seen := map[string]bool{}
	for _, impl := range s.Impls {
		if impl == "" || seen[impl] {
			return s.bad("impls", strings.Join(s.Impls, ","), "must be distinct backend names")
		}
		seen[impl] = true
	}
	return nil
}

// parseRaft reads --raft into its canonical spelling (ParseRaft's
// profile), which is what Spec.Raft, meta.json and every row record.
func parseRaft(t string) (any, error) {
	profile, _, err := adapter.ParseRaft(cmp.Or(strings.TrimSpace(t), adapter.ProfileProduction))
	if err != nil {
		return nil, fieldErr("--raft", t, "%v", err)
	}
	return profile, nil
}

// comparedRaft keeps the production profile out of the fingerprint, so
// that runs recorded before --raft existed (all production) still resume.
// It is the profile with --snapshot-every folded in, so that
// --snapshot-every N and --raft snapshot=N resume each other's runs.
func comparedRaft(s *Spec) any {
	if p := s.RaftProfile(); p != adapter.ProfileProduction {
		return p
	}
	return nil
}

// parseSnapshotEvery reads --snapshot-every: off or a positive number of
// entries, as --raft's snapshot knob takes it ("" leaves it unset).
func parseSnapshotEvery(t string) (any, error) {
	t = strings.TrimSpace(t)
	if t == "" {
		return "", nil
	}
	_, r, err := adapter.ParseRaft(adapter.KnobSnapshot + "=" + t)
	if err != nil || r.SnapshotEntries == 0 {
		return nil, fieldErr("--snapshot-every", t, "must be off or a positive number of entries")
	}
	return r.Value(adapter.KnobSnapshot), nil
}

// checkSnapshotEvery refuses a --raft that sets the snapshot knob to
// something else: the two spell the same knob.
func checkSnapshotEvery(s *Spec) *problem {
	if s.SnapshotEvery == "" {
		return nil
	}
	_, r, err := adapter.ParseRaft(cmp.Or(s.Raft, adapter.ProfileProduction))
	if err != nil {
		return nil // the raft check reported it
	}
	if v := r.Value(adapter.KnobSnapshot); v != "" && v != s.SnapshotEvery {
		key := s.blame("snapshot_every", "raft")
		val := s.SnapshotEvery
		if key == "raft" {
			val = s.Raft
		}
		return s.bad(key, val, "%s sets snapshot=%s and %s sets %s: they name the same knob; give one",
			s.ref("raft", "snapshot_every"), v, s.ref("snapshot_every", "raft"), s.SnapshotEvery)
	}
	return nil
}

func checkStorage(s *Spec) *problem {
	if slices.Contains(adapter.StorageModes, s.Storage) {
		return nil
	}
	var names []string
	for _, m := range adapter.StorageModes {
		names = append(names, string(m))
	}
	return s.bad("storage", s.Storage, "must be one of %s", strings.Join(names, ", "))
}

// setOptions merges backend options, from repeated IMPL.KEY=VALUE flags
// or a file's mapping {impl: {key: value}}, into a copy of s.Options: a
// later source overrides keys, not the whole set.
func setOptions(s *Spec, v any) error {
	n := v.(*yaml.Node)
	opts := map[string]adapter.Options{}
	for impl, kv := range s.Options {
		opts[impl] = maps.Clone(kv)
	}
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if err := ParseOption(opts, deref(item).Value); err != nil {
				return atLine(err, item.Line)
			}
		}
	case yaml.MappingNode:
		var m map[string]map[string]string
		if err := n.Decode(&m); err != nil {
			return err
		}
		for impl, kv := range m {
			if opts[impl] == nil {
				opts[impl] = adapter.Options{}
			}
			maps.Copy(opts[impl], kv)
		}
	default:
		return fieldErr("--opt", n.Value, "want a mapping of backend to options, e.g. {hashicorp: {log_store: wal}}")
	}
	s.Options = opts
	return nil
}

// comparedOptions is nil for no options, as the fingerprint always had it.
func comparedOptions(s *Spec) any {
	if len(s.Options) == 0 {
		return nil
	}
	return s.Options
}

func checkOptions(s *Spec) *problem {
	for _, impl := range slices.Sorted(maps.Keys(s.Options)) {
		if slices.Contains(s.Impls, impl) {
			continue
		}
		if s.blame("options", "impls") == "impls" {
			return s.bad("impls", strings.Join(s.Impls, ","), "leaves out %s, which %s tunes", impl, s.ref("options", "impls"))
		}
		return s.bad("options", impl, "names a backend not in %s (%s)", s.ref("impls", "options"), strings.Join(s.Impls, ","))
	}
	return nil
}

func checkThreads(s *Spec) *problem {
	if len(s.Threads) == 0 {
		return s.bad("threads", "", "name at least one thread count")
	}
	for _, t := range s.Threads {
		if t < 1 || t > MaxThreads {
			return s.bad("threads", t, "each thread count must be from 1 to %d", MaxThreads)
		}
	}
	return nil
}

const nodesAllowed = "want a cluster size (3) or a list of sizes (3,5,7)"

// setNodes reads --nodes: one size, or a list swept like threads. One
// size leaves NodeSweep nil, so that such a spec is what it always was.
func setNodes(s *Spec, v any) error {
	t := strings.TrimSpace(v.(string))
	var sizes []int
	for _, p := range strings.Split(t, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fieldErr("--nodes", t, nodesAllowed)
		}
		if !slices.Contains(sizes, n) {
			sizes = append(sizes, n)
		}
	}
	s.Nodes, s.NodeSweep = slices.Max(sizes), nil
	if len(sizes) > 1 {
		s.NodeSweep = sizes
	}
	return nil
}

func checkNodes(s *Spec) *problem {
	for _, n := range s.NodeSizes() {
		if p := s.within("nodes", n, 1, MaxNodes, ""); p != nil {
			return p
		}
	}
	return nil
}

// comparedNodes is the size, as the fingerprint always had it, or the
// sizes of a sweep.
func comparedNodes(s *Spec) any {
	if len(s.NodeSweep) > 0 {
		return s.NodeSweep
	}
	return s.Nodes
}

const ratesAllowed = "want ops/s (1000, 0 = unthrottled), a list (500,1000) or a range FROM:TO:STEP (500:4000:500)"

// setRates reads --rate: one rate, a list or a range, swept like
// threads. One rate leaves RateSweep nil.
func setRates(s *Spec, v any) error {
	t := strings.TrimSpace(v.(string))
	bad := func() error { return fieldErr("--rate", t, ratesAllowed) }
	num := func(p string) (float64, error) {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, bad()
		}
		return f, nil
	}
	var rates []float64
	if strings.Contains(t, ":") {
		parts := strings.Split(t, ":")
		if len(parts) != 3 {
			return bad()
		}
		var v [3]float64
		for i, p := range parts {
			f, err := num(p)
			if err != nil {
				return err
			}
			v[i] = f
		}
		from, to, step := v[0], v[1], v[2]
		if from <= 0 || step <= 0 || from > to || (to-from)/step >= 1000 {
			return fieldErr("--rate", t, "range FROM:TO:STEP must run upwards from a positive FROM by a positive STEP, at most 1000 rates")
		}
		// Each rate is FROM + i*STEP, not a running sum, so no error
		// accumulates; TO is in when it lies on the grid.
		for i := 0; ; i++ {
			r := from + float64(i)*step
			if r > to*(1+1e-12) {
				break
			}
			rates = append(rates, r)
		}
	} else {
		for _, p := range strings.Split(t, ",") {
			f, err := num(p)
			if err != nil {
				return err
			}
			if !slices.Contains(rates, f) {
				rates = append(rates, f)
			}
		}
	}
	s.Rate, s.RateSweep = slices.Max(rates), nil
	if len(rates) > 1 {
		s.RateSweep = rates
	}
	return nil
}

func checkRate(s *Spec) *problem {
	for _, r := range s.Rates() {
		if !(r >= 0) || math.IsInf(r, 1) { // also refuses NaN
			return s.bad("rate", r, "must be 0 (unthrottled) or a positive number of ops/s")
		}
	}
	return nil
}

// comparedRate is the rate, as the fingerprint always had it, or the
// rates of a sweep.
func comparedRate(s *Spec) any {
	if len(s.RateSweep) > 0 {
		return s.RateSweep
	}
	return s.Rate
}

// setPayload reads --payload: a size in bytes, as always, or a size
// distribution, recorded in its canonical form with its mean (rounded) as
// PayloadBytes.
func setPayload(s *Spec, v any) error {
	t := strings.TrimSpace(v.(string))
	if n, err := strconv.Atoi(t); err == nil { // range checked by checkPayload, as before
		s.PayloadBytes, s.Payload = n, ""
		return nil
	}
	p, err := load.ParsePayloadSizes(t, MaxPayloadBytes)
	if err != nil {
		return fieldErr("--payload", t, "%v", err)
	}
	s.PayloadBytes, s.Payload = int(math.Round(p.Mean())), p.String()
	return nil
}

func checkPayload(s *Spec) *problem {
	if s.Payload == "" {
		return s.within("payload", s.PayloadBytes, 1, MaxPayloadBytes, " bytes")
	}
	if _, err := load.ParsePayloadSizes(s.Payload, MaxPayloadBytes); err != nil {
		return s.bad("payload", s.Payload, "%v", err)
	}
	return nil
}

// comparedPayload is the size, as the fingerprint always had it, or the
// distribution's spec.
func comparedPayload(s *Spec) any {
	if s.Payload != "" {
		return s.Payload
	}
	return s.PayloadBytes
}

func checkClient(s *Spec) *problem {
	if s.Client == "embedded" || s.Client == "external" {
		return nil
	}
	return s.bad("client", s.Client, "must be embedded or external")
}

func checkLoop(s *Spec) *problem {
	switch {
	case s.Loop != "closed" && s.Loop != "open":
		return s.bad("loop", s.Loop, "must be closed or open")
	case s.Loop == "closed" || !slices.Contains(s.Rates(), 0):
		return nil
	case s.blame("rate", "loop") == "loop":
		return s.bad("loop", s.Loop, "needs a positive %s: requests are issued on a schedule at that rate", s.ref("rate", "loop"))
	}
	return s.bad("rate", 0.0, "must be positive with %s open (requests are issued on a schedule at %s)", s.ref("loop", "rate"), s.ref("rate", "rate"))
}

// whenReading is a read setting's fingerprint value: nil for a write-only
// experiment, so that fingerprints recorded before reads existed still
// match.
func whenReading(v func(s *Spec) any) func(s *Spec) any {
	return func(s *Spec) any {
		if s.ReadRatio == 0 {
			return nil
		}
		return v(s)
	}
}

func checkReadRatio(s *Spec) *problem {
	if s.ReadRatio >= 0 && s.ReadRatio <= 1 {
		return nil
	}
	return s.bad("read_ratio", s.ReadRatio, "must be from 0 to 1")
}

func checkReadMode(s *Spec) *problem {
	if _, err := adapter.ParseReadMode(s.ReadMode); err != nil {
		return s.bad("read_mode", s.ReadMode, "must be linearizable, lease or stale")
	}
	return nil
}

func checkReadFrom(s *Spec) *problem {
	switch {
	case s.ReadFrom != "leader" && s.ReadFrom != "followers" && s.ReadFrom != "any":
		return s.bad("read_from", s.ReadFrom, "must be leader, followers or any")
	case s.ReadFrom != "leader" && s.Client != "external":
		return s.bad("read_from", s.ReadFrom, "needs %s external: the embedded client runs inside the leader and reads from it", s.ref("client", "read_from"))
	}
	return nil
}

func checkWarmup(s *Spec) *problem {
	if s.Warmup >= 0 {
		return nil
	}
	return s.bad("warmup", s.Warmup, "must be zero or positive")
}

func checkDuration(s *Spec) *problem {
	if s.Duration > 0 {
		return nil
	}
	return s.bad("duration", s.Duration, "must be positive, e.g. 20s")
}

func checkInterval(s *Spec) *problem {
	switch {
	case s.Interval > 0 && s.Interval <= s.Duration:
		return nil
	case s.Interval > 0 && s.blame("interval", "duration") == "duration":
		return s.bad("duration", s.Duration, "must be at least %s (%v)", s.ref("interval", "duration"), s.Interval)
	}
	return s.bad("interval", s.Interval, "must be positive and at most %s (%v)", s.ref("duration", "interval"), s.Duration)
}

func checkOpTimeout(s *Spec) *problem {
	if s.OpTimeout > 0 {
		return nil
	}
	return s.bad("op_timeout", s.OpTimeout, "must be positive")
}

func checkGOMAXPROCS(s *Spec) *problem {
	if s.GOMAXPROCS >= -1 && s.GOMAXPROCS <= 1024 {
		return nil
	}
	return s.bad("gomaxprocs", s.GOMAXPROCS, "must be auto, go, or from 1 to 1024")
}

// parseCPUList reads --cpus: auto (or empty, so that a flag can clear a
// file's pinning) is nil, none an empty list, else a CPU per node.
func parseCPUList(t string) (any, error) {
	switch strings.TrimSpace(t) {
	case "", CPUsAuto:
		return []int(nil), nil
	case CPUsNone:
		return []int{}, nil
	}
	return ParseCPUs(t)
}

func checkCPUs(s *Spec) *problem {
	if len(s.CPUs) == 0 {
		return nil
	}
	if len(s.CPUs) != s.Nodes {
		if s.blame("cpus", "nodes") == "nodes" {
			return s.bad("nodes", s.Nodes, "must match %s, which lists %d CPUs, one per node", s.ref("cpus", "nodes"), len(s.CPUs))
		}
		return s.bad("cpus", joinInts(s.CPUs), "must list one CPU per node (%d)", s.Nodes)
	}
	for _, c := range s.CPUs {
		if c < 0 || c >= runtime.NumCPU() {
			return s.bad("cpus", c, "CPUs here are 0 to %d", runtime.NumCPU()-1)
		}
	}
	return nil
}

// parseHostsPath reads --hosts: a path, made absolute so that meta.json
// records one a resumed run finds from any directory; "" is none.
func parseHostsPath(t string) (any, error) {
	if t == "" {
		return "", nil
	}
	abs, err := filepath.Abs(t)
	if err != nil {
		return nil, fieldErr("--hosts", t, "want a hosts file's path: %v", err)
	}
	return abs, nil
}

// checkHosts reads the hosts file, so that a missing or malformed one is
// refused where the user named it.
func checkHosts(s *Spec) *problem {
	if s.Hosts == "" {
		return nil
	}
	if _, err := hosts.Load(s.Hosts); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return s.bad("hosts", s.Hosts, "no such file (in an experiment file, a path is relative to the file's directory)")
		}
		return s.bad("hosts", s.Hosts, "%v", err)
	}
	return nil
}

// comparedHosts is the host name of each node, in node order, for the
// fingerprint: where the nodes ran, not the file's path; the path itself
// if the file cannot be read (Validate refuses that). nil without hosts:
// the setting then stays out of the fingerprint (optional).
func comparedHosts(s *Spec) any {
	if s.Hosts == "" {
		return nil
	}
	f, err := hosts.Load(s.Hosts)
	if err != nil {
		return s.Hosts
	}
	pl, err := hosts.Place(f.Hosts, max(s.Nodes, 1))
	if err != nil {
		return s.Hosts
	}
	names := make([]string, pl.Nodes())
	for i := range names {
		names[i] = pl.Host(i + 1).Name
	}
	return names
}

func joinInts(v []int) string {
	var parts []string
	for _, n := range v {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
}

func checkFaults(s *Spec) *problem {
	if len(s.Faults) == 0 {
		return s.bad("faults", "", "name at least one fault, or none for the baseline")
	}
	seen := map[string]bool{}
	for i, f := range s.Faults {
		item := i + 1
		if err := f.Validate(); err != nil {
			return s.bad("faults", f, "%v", err).at(item)
		}
		if seen[f.String()] {
			return s.bad("faults", f, "given twice").at(item)
		}
		seen[f.String()] = true
		switch {
		case f.Target.Role == faultspec.RoleNode && f.Target.Node > uint64(s.Nodes):
			if s.blame("faults", "nodes") == "nodes" {
				return s.bad("nodes", s.Nodes, "must be at least %d: fault %s names node %d", f.Target.Node, f, f.Target.Node)
			}
			return s.bad("faults", f, "names node %d of a %d-node cluster", f.Target.Node, s.Nodes).at(item)
		case f.At+f.For > s.Duration:
			if s.blame("faults", "duration") == "duration" {
				return s.bad("duration", s.Duration, "must be at least %v: fault %s runs until then", f.At+f.For, f)
			}
			return s.bad("faults", f, "at+for (%v) must fit in the measured window (%s %v)", f.At+f.For, s.ref("duration", "faults"), s.Duration).at(item)
		case faultspec.Kinds[f.Kind].OnDisk && s.Storage != adapter.StorageDisk:
			// tmpfs and memory keep the log off any block device: a disk
			// fault there would throttle or compete with nothing, and its
			// points would read as a disk fault that did not matter.
			if s.blame("faults", "storage") == "storage" {
				return s.bad("storage", s.Storage, "must be disk: fault %s acts on the block device holding the log", f)
			}
			return s.bad("faults", f, "acts on the block device holding the log; with %s %s the log is on none: use disk", s.ref("storage", "faults"), s.Storage).at(item)
		case (f.Target.Role == faultspec.RoleFollower || f.Target.Role == faultspec.RoleFollowers) && slices.Min(s.NodeSizes()) < 2:
			if s.blame("faults", "nodes") == "nodes" {
				return s.bad("nodes", slices.Min(s.NodeSizes()), "must be at least 2: fault %s targets a follower", f)
			}
			return s.bad("faults", f, "targets a follower, but a %d-node cluster has none", slices.Min(s.NodeSizes())).at(item)
		}
	}
	return nil
}
