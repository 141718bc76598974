package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/perf/benchfmt"
)

// readBench parses bench.txt as benchstat does, failing on any syntax
// error, and returns its results (copied: the reader reuses them) and
// unit metadata.
func readBench(t *testing.T, b []byte) ([]*benchfmt.Result, []*benchfmt.UnitMetadata) {
	t.Helper()
	r := benchfmt.NewReader(bytes.NewReader(b), "bench.txt")
	var results []*benchfmt.Result
	var units []*benchfmt.UnitMetadata
	for r.Scan() {
		switch rec := r.Result().(type) {
		case *benchfmt.Result:
			results = append(results, rec.Clone())
		case *benchfmt.UnitMetadata:
			units = append(units, rec)
		case *benchfmt.SyntaxError:
			t.Errorf("benchfmt: %v", rec)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return results, units
}

func TestBenchstatParsesWithBenchfmt(t *testing.T) {
	a, err := Load(goldenDir)
	if err != nil {
		t.Fatal(err)
	}
	out := a.Benchstat()
	results, units := readBench(t, out)

	ok := 0
	for _, r := range a.Rows {
		if r.Status == StatusOK {
			ok++
		}
	}
	if len(results) != ok {
		t.Fatalf("%d results, want one per ok row (%d)", len(results), ok)
	}

	wantUnits := map[string]string{ // tidied unit -> better
		"ops/s": "higher", "avg-sec": "lower", "p50-sec": "lower", "p90-sec": "lower",
		"p99-sec": "lower", "p99.9-sec": "lower", "max-sec": "lower", "errors": "lower",
	}
	if len(units) != len(wantUnits) {
		t.Errorf("%d unit metadata lines, want %d", len(units), len(wantUnits))
	}
	for _, u := range units {
		if u.Key != "better" || wantUnits[u.Unit] != u.Value {
			t.Errorf("unit metadata %s %s=%s, want better=%s", u.Unit, u.Key, u.Value, wantUnits[u.Unit])
		}
	}

	// Known rows of the golden input: names, configuration, values in
	// benchstat's tidied units (seconds for latencies).
	for _, tc := range []struct {
		name   string
		repeat int // which of the name's results, 0-based
		values map[string]float64
	}{
		{"BenchmarkRaft/impl=dragonboat/fault=none/threads=2", 0,
			map[string]float64{"ops/s": 29581, "p50-sec": 200e-6, "p99-sec": 501e-6, "max-sec": 2256e-6, "avg-sec": 225.5e-6, "errors": 0}},
		{"BenchmarkRaft/impl=etcd/fault=none/threads=2", 1,
			map[string]float64{"ops/s": 17511.4, "p99-sec": 611e-6}},
		{"BenchmarkRaft/impl=hashicorp/fault=pause:follower,at=1s,for=2s/threads=8", 0, nil},
		{"BenchmarkRaft/impl=etcd/fault=cpu-slow:follower,period=1s,quota=5%/threads=16", 2, nil},
	} {
		var got []*benchfmt.Result
		for _, r := range results {
			if "Benchmark"+r.Name.String() == tc.name {
				got = append(got, r)
			}
		}
		if len(got) <= tc.repeat {
			t.Errorf("%s: %d results, want more than %d", tc.name, len(got), tc.repeat)
			continue
		}
		r := got[tc.repeat]
		if r.Iters != 1 {
			t.Errorf("%s: iterations %d, want 1", tc.name, r.Iters)
		}
		for unit, want := range tc.values {
			v, found := r.Value(unit)
			if !found || !near(v, want, 1e-9*max(1, want)) {
				t.Errorf("%s #%d: %s = %v (found %v), want %v", tc.name, tc.repeat, unit, v, found, want)
			}
		}
		if len(r.Values) != len(benchUnits) {
			t.Errorf("%s: %d values, want %d", tc.name, len(r.Values), len(benchUnits))
		}
		base, parts := r.Name.Parts()
		if string(base) != "Raft" || len(parts) != 3 || !strings.HasPrefix(string(parts[1]), "/fault=") {
			t.Errorf("%s: parts %q %q, want Raft and impl, fault, threads", tc.name, base, parts)
		}
		for key, want := range map[string]string{
			"goos": "linux", "cpu": "AMD EPYC 7B13", "raftcmp-commit": "0123456789abcdef0123456789abcdef01234567",
			"etcd-library": "go.etcd.io/raft/v3 v3.7.0", "nodes": "3", "storage": "disk", "payload-bytes": "2048",
			"duration-s": "5", "rate-ops": "0",
		} {
			if got := r.GetConfig(key); got != want {
				t.Errorf("%s: config %s = %q, want %q", tc.name, key, got, want)
			}
		}
	}

	// Failed and unsupported rows are comments, not results.
	for _, r := range a.Rows {
		if r.Status != StatusOK && !bytes.Contains(out, []byte("# "+r.Point+" is not a measurement: "+r.Status)) {
			t.Errorf("no comment line for %s row %s", r.Status, r.Point)
		}
	}

	// Same input, same bytes; and the file matches its golden copy.
	if again := a.Benchstat(); !bytes.Equal(out, again) {
		t.Error("two renderings of the same analysis differ")
	}
	want := filepath.Join(goldenDir, "want", BenchFile)
	if *update {
		if err := os.WriteFile(want, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exp, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(exp, out) {
		t.Errorf("%s differs (run with -update after checking the change):\n%s", want, firstDiff(string(exp), string(out)))
	}
}

func TestBenchName(t *testing.T) {
	for _, tc := range []struct {
		key  PointKey
		want string
	}{
		{PointKey{Scenario: Scenario{Fault: "none"}, Impl: "etcd", Threads: 8}, "BenchmarkRaft/impl=etcd/fault=none/threads=8"},
		// An older build's spelling gets the canonical name, so runs match.
		{PointKey{Scenario: Scenario{Fault: "cpu-slow:follower,quota=0.05"}, Impl: "dragonboat", Threads: 10},
			"BenchmarkRaft/impl=dragonboat/fault=cpu-slow:follower,period=1s,quota=5%/threads=10"},
		// Neither a space nor a slash may split the name.
		{PointKey{Scenario: Scenario{Fault: "none"}, Impl: "my impl/2", Threads: 1}, "BenchmarkRaft/impl=my_impl∕2/fault=none/threads=1"},
	} {
		if got := tc.key.BenchName(); got != tc.want {
			t.Errorf("BenchName(%+v) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

func TestBenchstatConfigChanges(t *testing.T) {
	// A run sweeping storage: the storage line changes between results and
	// every result reads its own.
	row := func(point, storage string) Row {
		return Row{Point: point, Impl: "noop", Nodes: 3, Storage: storage, Fault: "none", Threads: 1, Repeat: 1, Status: StatusOK, ThroughputOps: 100}
	}
	a := Analyze(nil, []Row{row("noop/none/t1/r1", "disk"), row("noop/none/t1/r1", "memory")}, nil)
	results, _ := readBench(t, a.Benchstat())
	if len(results) != 2 {
		t.Fatalf("%d results, want 2", len(results))
	}
	for i, want := range []string{"disk", "memory"} {
		if got := results[i].GetConfig("storage"); got != want {
			t.Errorf("result %d: storage %q, want %q", i, got, want)
		}
	}
}
