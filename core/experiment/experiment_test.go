package experiment

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

func TestParseThreads(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr bool
	}{
		{in: "8", want: []int{8}},
		{in: "2,4,8", want: []int{2, 4, 8}},
		{in: " 2, 4 ,8 ", want: []int{2, 4, 8}},
		{in: "8,2,8", want: []int{8, 2}},
		{in: "2:20:2", want: []int{2, 4, 6, 8, 10, 12, 14, 16, 18, 20}},
		{in: "1:5:3", want: []int{1, 4}},
		{in: "4:4:1", want: []int{4}},
		{in: "", wantErr: true},
		{in: "x", wantErr: true},
		{in: "0", wantErr: true},
		{in: "-2", wantErr: true},
		{in: "2,,4", wantErr: true},
		{in: "2:20", wantErr: true},
		{in: "2:20:0", wantErr: true},
		{in: "20:2:2", wantErr: true},
		{in: "2:x:2", wantErr: true},
		{in: "1:100000000:1", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseThreads(tc.in)
			if tc.wantErr {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != "--threads" {
					t.Fatalf("ParseThreads(%q) = %v, %v; want a --threads error", tc.in, got, err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ParseThreads(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestParseOption(t *testing.T) {
	opts := map[string]adapter.Options{}
	for _, s := range []string{"etcd.max_inflight_msgs=256", "etcd.pre_vote=false", "hashicorp.log_store=wal", "hashicorp.x=a=b"} {
		if err := ParseOption(opts, s); err != nil {
			t.Fatalf("ParseOption(%q): %v", s, err)
		}
	}
	if opts["etcd"]["max_inflight_msgs"] != "256" || opts["hashicorp"]["log_store"] != "wal" || opts["hashicorp"]["x"] != "a=b" {
		t.Fatalf("parsed %v", opts)
	}
	for _, bad := range []string{"etcd", "etcd=1", ".k=v", "etcd.=v", "k=v"} {
		if err := ParseOption(opts, bad); err == nil || !strings.HasPrefix(err.Error(), "--opt") {
			t.Errorf("ParseOption(%q) = %v, want a --opt error", bad, err)
		}
	}
}

func TestValidate(t *testing.T) {
	valid := Default()
	valid.Impls = []string{"hashicorp", "etcd"}
	tests := []struct {
		name   string
		mutate func(*Spec)
		field  string // "" = valid
	}{
		{"default with impls", func(*Spec) {}, ""},
		{"no impl", func(s *Spec) { s.Impls = nil }, "--impl"},
		{"duplicate impl", func(s *Spec) { s.Impls = []string{"etcd", "etcd"} }, "--impl"},
		{"zero nodes", func(s *Spec) { s.Nodes = 0 }, "--nodes"},
		{"too many nodes", func(s *Spec) { s.Nodes = MaxNodes + 1 }, "--nodes"},
		{"bad storage", func(s *Spec) { s.Storage = "ssd" }, "--storage"},
		{"negative rate", func(s *Spec) { s.Rate = -1 }, "--rate"},
		{"unthrottled", func(s *Spec) { s.Rate = 0 }, ""},
		{"zero payload", func(s *Spec) { s.PayloadBytes = 0 }, "--payload"},
		{"payload above max", func(s *Spec) { s.PayloadBytes = MaxPayloadBytes + 1 }, "--payload"},
		{"payload at max", func(s *Spec) { s.PayloadBytes = MaxPayloadBytes }, ""},
		{"zero duration", func(s *Spec) { s.Duration = 0 }, "--duration"},
		{"negative warmup", func(s *Spec) { s.Warmup = -time.Second }, "--warmup"},
		{"interval above duration", func(s *Spec) { s.Interval = time.Minute }, "--interval"},
		{"zero repeat", func(s *Spec) { s.Repeat = 0 }, "--repeat"},
		{"thread count too big", func(s *Spec) { s.Threads = []int{MaxThreads + 1} }, "--threads"},
		{"option for absent impl", func(s *Spec) { s.Options = map[string]adapter.Options{"dragonboat": {"a": "b"}} }, "--opt"},
		{"cpus per node", func(s *Spec) { s.CPUs = []int{0, 0} }, "--cpus"},
		{"cpu out of range", func(s *Spec) { s.CPUs = []int{0, 0, 4096} }, "--cpus"},
		{"no fault", func(s *Spec) { s.Faults = nil }, "--fault"},
		{"fault twice", func(s *Spec) { s.Faults = []faultspec.Spec{faultspec.None, faultspec.None} }, "--fault"},
		{"fault on absent node", func(s *Spec) { s.Faults = []faultspec.Spec{mustFault("pause:node:4")} }, "--fault"},
		{"fault window too long", func(s *Spec) { s.Faults = []faultspec.Spec{mustFault("pause,at=15s,for=10s")} }, "--fault"},
		{"fault on a follower of one node", func(s *Spec) { s.Nodes = 1; s.Faults = []faultspec.Spec{mustFault("pause")} }, "--fault"},
		{"faults", func(s *Spec) { s.Faults = []faultspec.Spec{faultspec.None, mustFault("cpu-slow")} }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := valid
			tc.mutate(&s)
			err := s.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want a %s error", err, tc.field)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
}

func TestPointsInterleaveBackends(t *testing.T) {
	s := Default()
	s.Impls = []string{"a", "b"}
	s.Threads = []int{2, 8}
	s.Repeat = 2
	var got []string
	for i, p := range s.Points() {
		if p.Index != i+1 {
			t.Fatalf("point %d has index %d", i, p.Index)
		}
		got = append(got, p.ID)
	}
	want := []string{"a/none/t2/r1", "b/none/t2/r1", "a/none/t8/r1", "b/none/t8/r1", "a/none/t2/r2", "b/none/t2/r2", "a/none/t8/r2", "b/none/t8/r2"}
	if !slices.Equal(got, want) {
		t.Fatalf("points %v, want %v", got, want)
	}
}

func mustFault(s string) faultspec.Spec {
	f, err := faultspec.Parse(s)
	if err != nil {
		panic(err)
	}
	return f
}

// The original experiment, spelled out: the table's defaults must keep it.
func TestDefaultIsTheOriginalExperiment(t *testing.T) {
	want := Spec{
		Nodes:        3,
		Storage:      adapter.StorageDisk,
		Options:      map[string]adapter.Options{},
		Raft:         adapter.ProfileProduction,
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
		ReadMode:     "linearizable",
		ReadFrom:     "leader",
	}
	if got := Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Default() = %+v, want %+v", got, want)
	}
}

// The table and Spec stay in step: each setting fills its own field, every
// field of Spec has a setting, and keys, flags and fingerprint keys are
// distinct.
func TestSettingsCoverSpec(t *testing.T) {
	var s Spec
	fieldOf := map[uintptr]string{}
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		if f := v.Type().Field(i); f.IsExported() {
			fieldOf[v.Field(i).Addr().Pointer()] = f.Name
		}
	}
	seen := map[string]string{}
	for _, st := range settings {
		name, ok := fieldOf[reflect.ValueOf(st.field(&s)).Pointer()]
		if !ok {
			t.Errorf("setting %s fills no exported field of Spec", st.key)
		}
		for _, id := range []string{"field " + name, "key " + st.key, "flag " + st.flag, "fingerprint " + st.fingerprint} {
			if other, dup := seen[id]; dup && id != "fingerprint " {
				t.Errorf("settings %s and %s share %s", other, st.key, id)
			}
			seen[id] = st.key
		}
		listReaders := st.item != nil || st.set != nil && st.kind == kindList
		if (st.kind == kindList) != listReaders || st.parse != nil && st.kind != kindText || st.set != nil && st.kind != kindList && st.kind != kindText {
			t.Errorf("setting %s: its readers do not fit its kind", st.key)
		}
	}
	// Fields a setting's set fills beside its own.
	for name, key := range map[string]string{"NodeSweep": "nodes", "RateSweep": "rate", "Payload": "payload"} {
		if byKey[key].set == nil {
			t.Errorf("setting %s has no set to fill Spec.%s", key, name)
		}
		seen["field "+name] = key
	}
	for _, name := range fieldOf {
		if _, ok := seen["field "+name]; !ok {
			t.Errorf("Spec.%s has no setting in the table", name)
		}
	}
	for _, st := range Settings() {
		if st.Default == nil && byKey[st.Key].kind != kindList {
			t.Errorf("setting %s has no typed default", st.Key)
		}
	}
}

// settingCases give every setting a value other than its default, as a
// file writes it and as the spec holds it.
var settingCases = []struct {
	key, yaml string
	want      func(*Spec)
}{
	{"impls", "impls: [etcd, hashicorp]", func(s *Spec) { s.Impls = []string{"etcd", "hashicorp"} }},
	{"nodes", "nodes: 5", func(s *Spec) { s.Nodes = 5 }},
	{"storage", "storage: memory", func(s *Spec) { s.Storage = adapter.StorageMemory }},
	{"options", "options: {etcd: {max_inflight_msgs: 256}}", func(s *Spec) {
		s.Options = map[string]adapter.Options{"etcd": {"max_inflight_msgs": "256"}}
	}},
	{"raft", "raft: [uniform, election=2s]", func(s *Spec) { s.Raft = "uniform,election=2s" }},
	{"snapshot_every", "snapshot_every: 1000", func(s *Spec) { s.SnapshotEvery = "1000" }},
	{"threads", "threads: [1, 4]", func(s *Spec) { s.Threads = []int{1, 4} }},
	{"rate", "rate: 1500.5", func(s *Spec) { s.Rate = 1500.5 }},
	{"client", "client: external", func(s *Spec) { s.Client = "external" }},
	{"loop", "loop: open", func(s *Spec) { s.Loop = "open" }},
	{"read_ratio", "read_ratio: 0.5", func(s *Spec) { s.ReadRatio = 0.5 }},
	{"read_mode", "read_mode: stale", func(s *Spec) { s.ReadMode = "stale" }},
	{"read_from", "read_from: any", func(s *Spec) { s.ReadFrom = "any" }},
	{"payload", "payload: 100", func(s *Spec) { s.PayloadBytes = 100 }},
	{"warmup", "warmup: 500ms", func(s *Spec) { s.Warmup = 500 * time.Millisecond }},
	{"duration", "duration: 7s", func(s *Spec) { s.Duration = 7 * time.Second }},
	{"interval", "interval: 250ms", func(s *Spec) { s.Interval = 250 * time.Millisecond }},
	{"op_timeout", "op_timeout: 3s", func(s *Spec) { s.OpTimeout = 3 * time.Second }},
	{"repeat", "repeat: 4", func(s *Spec) { s.Repeat = 4 }},
	{"gomaxprocs", "gomaxprocs: go", func(s *Spec) { s.GOMAXPROCS = -1 }},
	{"cpus", "cpus: [0, 0, 0]", func(s *Spec) { s.CPUs = []int{0, 0, 0} }},
	{"hosts", "hosts: lab/hosts.yaml", func(s *Spec) { s.Hosts = mustAbs("lab/hosts.yaml") }}, // relative to x.yaml's directory
	{"faults", "faults: [none, pause:leader]", func(s *Spec) { s.Faults = []faultspec.Spec{faultspec.None, mustFault("pause:leader")} }},
}

// Every setting read from a file lands in its field, and only there.
func TestFileRoundTrip(t *testing.T) {
	var keys []string
	for _, tc := range settingCases {
		keys = append(keys, tc.key)
		t.Run(tc.key, func(t *testing.T) {
			f, err := ParseFile("x.yaml", []byte(tc.yaml+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			got, want := Default(), Default()
			if err := f.Apply(&got, func(string) bool { return false }); err != nil {
				t.Fatal(err)
			}
			tc.want(&want)
			got.from = nil
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s gave %+v, want %+v", tc.yaml, got, want)
			}
			// Overridden by its flag, the file's value is not applied.
			kept := Default()
			if err := f.Apply(&kept, func(flag string) bool { return flag == byKey[tc.key].flag }); err != nil {
				t.Fatal(err)
			}
			kept.from = nil
			if !reflect.DeepEqual(kept, Default()) {
				t.Errorf("with its flag set, %s still changed the spec: %+v", tc.yaml, kept)
			}
		})
	}
	for _, st := range settings {
		if !slices.Contains(keys, st.key) {
			t.Errorf("setting %s has no round-trip case", st.key)
		}
	}
}

// fakeFlags is a command line: flag name to its typed value.
type fakeFlags map[string]any

func (f fakeFlags) IsSet(name string) bool { _, ok := f[name]; return ok }
func (f fakeFlags) Int(name string) int    { v, _ := f[name].(int); return v }
func (f fakeFlags) Float64(name string) float64 {
	v, _ := f[name].(float64)
	return v
}
func (f fakeFlags) Duration(name string) time.Duration {
	v, _ := f[name].(time.Duration)
	return v
}
func (f fakeFlags) String(name string) string { v, _ := f[name].(string); return v }
func (f fakeFlags) StringSlice(name string) []string {
	v, _ := f[name].([]string)
	return v
}

// A bad value in an experiment file is reported with the file, the line
// and the file's key, never as a flag the user did not type; a check
// involving two settings names the one the user set, as they set it.
func TestErrorsNameTheSource(t *testing.T) {
	tests := []struct {
		name, yaml string
		flags      fakeFlags
		want       string // the whole error
	}{
		{"nodes", "nodes: 20", nil, `x.yaml:1: nodes "20": must be from 1 to 9`},
		{"raft", "raft: [election=2s, uniform]", nil, `x.yaml:1: raft "election=2s,uniform": "uniform": must be a profile (production or uniform) first, then knob=value pairs with knobs election, heartbeat, prevote, checkquorum, append, inflight, snapshot, keep`},
		{"raft knob", "raft: uniform,prevote=maybe", nil, `x.yaml:1: raft "uniform,prevote=maybe": prevote="maybe": must be on or off`},
		{"storage", "\nstorage: ssd", nil, `x.yaml:2: storage "ssd": must be one of disk, tmpfs, memory`},
		{"loop", "loop: spiral", nil, `x.yaml:1: loop "spiral": must be closed or open`},
		{"client", "client: remote", nil, `x.yaml:1: client "remote": must be embedded or external`},
		{"read ratio", "read_ratio: 1.5", nil, `x.yaml:1: read_ratio "1.5": must be from 0 to 1`},
		{"read mode", "read_mode: eventual", nil, `x.yaml:1: read_mode "eventual": must be linearizable, lease or stale`},
		{"read from", "read_from: followers", nil, `x.yaml:1: read_from "followers": needs client external: the embedded client runs inside the leader and reads from it`},
		{"payload", "payload: 0", nil, `x.yaml:1: payload "0": must be from 1 to 1048576 bytes`},
		{"repeat", "nodes: 3\nrepeat: 0", nil, `x.yaml:2: repeat "0": must be from 1 to 1000`},
		{"rate", "rate: -1", nil, `x.yaml:1: rate "-1": must be 0 (unthrottled) or a positive number of ops/s`},
		{"thread count", "threads: [2, 5000]", nil, `x.yaml:1: threads "5000": each thread count must be from 1 to 4096`},
		{"gomaxprocs", "gomaxprocs: 2000", nil, `x.yaml:1: gomaxprocs "2000": must be auto, go, or from 1 to 1024`},
		{"warmup", "warmup: -1s", nil, `x.yaml:1: warmup "-1s": must be zero or positive`},
		{"op_timeout", "op_timeout: 0s", nil, `x.yaml:1: op_timeout "0s": must be positive`},
		{"impls twice", "impls: [etcd, etcd]", nil, `x.yaml:1: impls "etcd,etcd": must be distinct backend names`},
		{"duration form", "duration: 20", nil, `x.yaml:1: duration "20": want a duration such as 20s`},
		{"fault twice", "faults:\n  - none\n  - none", nil, `x.yaml:3: faults "none": given twice`},
		{"option form", "options: [etcd]", nil, `x.yaml:1: options "etcd": want IMPL.KEY=VALUE, e.g. hashicorp.max_append_entries=128`},
		// Two settings: the one the user set is named.
		{"duration below interval", "duration: 500ms", nil, `x.yaml:1: duration "500ms": must be at least interval (1s)`},
		{"interval above duration", "interval: 30s", nil, `x.yaml:1: interval "30s": must be positive and at most duration (20s)`},
		{"interval from file, duration from flag", "interval: 15s", fakeFlags{"duration": 10 * time.Second},
			`x.yaml:1: interval "15s": must be positive and at most --duration (10s)`},
		{"duration flag below default interval", "", fakeFlags{"duration": 500 * time.Millisecond},
			`--duration "500ms": must be at least --interval (1s)`},
		{"open loop without rate", "loop: open\nrate: 0", nil,
			`x.yaml:2: rate "0": must be positive with loop open (requests are issued on a schedule at rate)`},
		{"open loop from file, rate from flag", "loop: open", fakeFlags{"rate": "0"},
			`--rate "0": must be positive with loop open (requests are issued on a schedule at --rate)`},
		{"fault on absent node", "faults:\n  - none\n  - pause:node:4", nil, `x.yaml:3: faults "pause:node:4": names node 4 of a 3-node cluster`},
		{"nodes below a fault's node", "faults: [pause:node:3]", fakeFlags{"nodes": "2"},
			`x.yaml:1: faults "pause:node:3": names node 3 of a 2-node cluster`},
		{"follower fault, one node from file", "nodes: 1", nil, ""},
		{"follower fault, one node", "nodes: 1\nfaults: [pause:follower]", nil,
			`x.yaml:2: faults "pause:follower": targets a follower, but a 1-node cluster has none`},
		{"fault beyond the window", "duration: 10s\nfaults: [none, 'pause,at=5s,for=10s']", nil,
			`x.yaml:2: faults "pause:follower,at=5s,for=10s": at+for (15s) must fit in the measured window (duration 10s)`},
		{"disk fault, tmpfs from flag", "faults: [disk-slow]", fakeFlags{"storage": "tmpfs"},
			`x.yaml:1: faults "disk-slow:follower,read_bps=0,read_iops=0,write_bps=0,write_iops=100": acts on the block device holding the log; with --storage tmpfs the log is on none: use disk`},
		{"disk fault on memory", "storage: memory\nfaults: [none, disk-contention]", nil,
			`x.yaml:2: faults "disk-contention:follower,block=4KiB,writers=1": acts on the block device holding the log; with storage memory the log is on none: use disk`},
		{"storage memory with the default faults", "storage: memory", nil, ""},
		{"cpus per node", "cpus: [0]", nil, `x.yaml:1: cpus "0": must list one CPU per node (3)`},
		{"nodes against cpus", "", fakeFlags{"nodes": "2", "cpus": "0,0,0"}, `--cpus "0,0,0": must list one CPU per node (2)`},
		{"option for another backend", "options: {dragonboat: {a: b}}", nil,
			`x.yaml:1: options "dragonboat": names a backend not in impls (etcd)`},
		// From flags alone, errors name flags, as they always did.
		{"nodes flag", "", fakeFlags{"nodes": "20"}, `--nodes "20": must be from 1 to 9`},
		{"snapshot_every", "snapshot_every: often", nil, `x.yaml:1: snapshot_every "often": must be off or a positive number of entries`},
		{"snapshot_every against raft", "raft: snapshot=500\nsnapshot_every: 1000", nil,
			`x.yaml:2: snapshot_every "1000": raft sets snapshot=500 and snapshot_every sets 1000: they name the same knob; give one`},
		{"snapshot_every flag against a file's raft", "raft: uniform", fakeFlags{"snapshot-every": "1000"},
			`--snapshot-every "1000": raft sets snapshot=off and --snapshot-every sets 1000: they name the same knob; give one`},
		{"snapshot_every agreeing with raft", "raft: uniform\nsnapshot_every: 'off'", nil, ""},
		{"raft flag", "", fakeFlags{"raft": "fast"}, `--raft "fast": "fast": must be a profile (production or uniform) first, then knob=value pairs with knobs election, heartbeat, prevote, checkquorum, append, inflight, snapshot, keep`},
		{"threads flag", "", fakeFlags{"threads": "2:x"}, `--threads "2:x": want a count (8), a list (2,4,8) or a range FROM:TO:STEP (2:20:2) of positive integers`},
		{"fault flag", "", fakeFlags{"fault": []string{"meteor"}}, `--fault "meteor": unknown kind "meteor"; kinds: ` + strings.Join(faultspec.KindNames(), ", ")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Default()
			s.Impls = []string{"etcd"}
			f, err := ParseFile("x.yaml", []byte(tc.yaml))
			if err == nil {
				err = f.Apply(&s, tc.flags.IsSet)
			}
			if err == nil {
				err = ApplyFlags(&s, tc.flags)
			}
			if err == nil {
				err = s.Validate()
			}
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected %v", err)
				}
				return
			}
			var fe *FieldError
			if err == nil || err.Error() != tc.want || !errors.As(err, &fe) {
				t.Fatalf("err = %v\nwant   %s", err, tc.want)
			}
		})
	}
}

// The fingerprint is byte for byte what earlier versions recorded (their
// Comparable struct), so that their runs can still be resumed.
func TestComparableAsRecordedBefore(t *testing.T) {
	onMachine(t, 0, 1) // too small to pin by default, as every machine was before auto pinning
	base := Default()
	base.GOMAXPROCS = 4
	tuned := Default()
	tuned.Options = map[string]adapter.Options{"etcd": {"b": "2", "a": "1"}}
	tuned.CPUs = []int{0, 1, 1}
	tuned.Rate = 1234.5
	tuned.Loop = "open"
	tuned.Warmup = 1500 * time.Millisecond
	tuned.GOMAXPROCS = -1
	tests := []struct {
		spec              Spec
		json, fingerprint string
	}{
		{base, `{"nodes":3,"storage":"disk","options":null,"rate":40000,"client":"embedded","loop":"closed","payload_bytes":2048,"warmup":2000000000,"duration":20000000000,"interval":1000000000,"op_timeout":10000000000,"gomaxprocs":4,"cpus":null}`,
			"ed5bf7bc39e07a81c3a8860b414e15abe5e572cdcff81273313ac1431c8bbf4a"},
		{tuned, `{"nodes":3,"storage":"disk","options":{"etcd":{"a":"1","b":"2"}},"rate":1234.5,"client":"embedded","loop":"open","payload_bytes":2048,"warmup":1500000000,"duration":20000000000,"interval":1000000000,"op_timeout":10000000000,"gomaxprocs":0,"cpus":[0,1,1]}`,
			"f32f3ff789fb9b6d70be001a9f43fcbab870a031cb886136dcda0c5158db0b05"},
	}
	for _, tc := range tests {
		c, fp := tc.spec.Comparable()
		if string(c) != tc.json || fp != tc.fingerprint {
			t.Errorf("Comparable() = %s, %s\nwant          %s, %s", c, fp, tc.json, tc.fingerprint)
		}
	}
}

// CheckResume, the one check of a resumed run (the command and the runner
// both call it), accepts what meta.json recorded for the same experiment
// and names what changed otherwise.
func TestCheckResume(t *testing.T) {
	recorded := Default()
	c, fp := recorded.Comparable()
	var asRead any // as reports.ReadMeta gives it back
	if err := json.Unmarshal(c, &asRead); err != nil {
		t.Fatal(err)
	}
	same := Default()
	same.Threads, same.Repeat, same.Impls = []int{1}, 3, []string{"x"} // swept: not compared
	if err := same.CheckResume(fp, asRead); err != nil {
		t.Errorf("same experiment: %v", err)
	}
	changed := Default()
	changed.PayloadBytes = 100
	err := changed.CheckResume(fp, asRead)
	if err == nil || !strings.Contains(err.Error(), "incomparable: payload recorded 2048, now 100") {
		t.Errorf("changed payload: %v", err)
	}
	if err := same.CheckResume("", nil); err == nil || !strings.Contains(err.Error(), "recorded null, now {") {
		t.Errorf("no record: %v", err)
	}
}

// The shipped examples and the documented file are read as they are
// written, so that the documentation stays true.
func TestExamplesAndDocs(t *testing.T) {
	examples, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(examples) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, path := range examples {
		f, err := LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := Default()
		if err := f.Apply(&s, func(string) bool { return false }); err != nil {
			t.Fatal(err)
		}
		if slices.Equal(s.Impls, []string{"all"}) { // resolved by plugin discovery
			s.Impls = []string{"etcd"}
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	doc, err := os.ReadFile("../../docs/experiment-format.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, _ := strings.Cut(string(doc), "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	if _, err := ParseFile("docs/experiment-format.md", []byte(block)); err != nil || !strings.Contains(block, "faults:") {
		t.Errorf("the documented file: %v", err)
	}
}

// --snapshot-every is the snapshot knob of --raft spelt apart: the nodes
// run it, rows record it in the profile, and a run with either spelling
// resumes the other's.
func TestSnapshotEveryIsTheSnapshotKnob(t *testing.T) {
	tests := []struct {
		raft, every, profile string
		entries              int
	}{
		{"", "", "production", 0},
		{"", "1000", "production,snapshot=1000", 1000},
		{"uniform", "off", "uniform,snapshot=off", adapter.SnapshotsOff},
		{"uniform,snapshot=200", "200", "uniform,snapshot=200", 200},
		{"production,keep=10", "50", "production,snapshot=50,keep=10", 50},
	}
	for _, tt := range tests {
		s := Default()
		s.Raft, s.SnapshotEvery = tt.raft, tt.every
		if got := s.RaftProfile(); got != tt.profile {
			t.Errorf("raft %q, snapshot-every %q: profile %q, want %q", tt.raft, tt.every, got, tt.profile)
		}
		if got := s.RaftKnobs().SnapshotEntries; got != tt.entries {
			t.Errorf("raft %q, snapshot-every %q: SnapshotEntries %d, want %d", tt.raft, tt.every, got, tt.entries)
		}
	}
	every, knob := Default(), Default()
	every.SnapshotEvery, knob.Raft = "1000", "production,snapshot=1000"
	a, _ := every.Comparable()
	b, _ := knob.Comparable()
	if string(a) != string(b) {
		t.Errorf("fingerprints differ: %s against %s", a, b)
	}
}
