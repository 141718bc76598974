package reports

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// compareRows makes 5 repeats of hashicorp and etcd at 8 threads with
// throughput level·(1 ± about 1%) and p99 near p99.
func compareRows(hashicorpLevel, etcdLevel float64) []Row {
	noise := []float64{-0.012, 0.004, 0.010, -0.003, 0.006}
	var rows []Row
	for rep := 1; rep <= 5; rep++ {
		for _, im := range []struct {
			name  string
			level float64
		}{{"hashicorp", hashicorpLevel}, {"etcd", etcdLevel}} {
			r := sampleRow(im.name, 8, StatusOK)
			r.Fault, r.FaultEffect, r.FaultTargets = "none", "", ""
			r.Point = fmt.Sprintf("%s/none/t8/r%d", im.name, rep)
			r.Repeat = rep
			r.ThroughputOps = im.level * (1 + noise[rep-1])
			r.LatP99Us = int64(6400 * (1 - noise[rep-1]))
			rows = append(rows, r)
		}
	}
	return rows
}

func TestCompare(t *testing.T) {
	before := compareRows(10000, 10000)
	after := compareRows(12000, 10000) // hashicorp +20%, etcd unchanged

	c := Compare(before, after)
	if len(c.Deltas) != 2 || len(c.OnlyA) != 0 || len(c.OnlyB) != 0 {
		t.Fatalf("%d deltas, only A %v, only B %v", len(c.Deltas), c.OnlyA, c.OnlyB)
	}
	for _, d := range c.Deltas {
		switch d.Key.Impl {
		case "hashicorp":
			if !d.ThroughputTest.Significant() || d.ThroughputTest.NA != 5 || d.ThroughputTest.NB != 5 || d.ThroughputChange < 0.199 || d.ThroughputChange > 0.201 {
				t.Errorf("hashicorp +20%%: %+v change %v, want significant", d.ThroughputTest, d.ThroughputChange)
			}
		case "etcd":
			if d.ThroughputTest.Significant() || d.ThroughputChange != 0 {
				t.Errorf("etcd unchanged: %+v change %v, want within noise", d.ThroughputTest, d.ThroughputChange)
			}
		}
	}
	var out bytes.Buffer
	if err := c.Write(&out, "old", "new"); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"hashicorp none t=8", "+20.0% (p<0.001 n=5+5)", "etcd none t=8", "~ (p=1.000 n=5+5)", "Welch's t-test"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}

	if len(c.Notes) != 0 {
		t.Errorf("notes %v for runs of the same setup", c.Notes)
	}
	longer := compareRows(10000, 10000)
	for i := range longer {
		longer[i].DurationS = 30
	}
	if n := Compare(before, longer).Notes; len(n) != 1 || n[0] != "measured window (s) differ: A 20, B 30" {
		t.Errorf("notes %q, want the differing window", n)
	}

	// The same data compared with itself: nothing is significant.
	self := Compare(after, after)
	if sig := self.Significant(); len(sig) != 0 {
		t.Errorf("self-comparison found %d significant changes", len(sig))
	}
	out.Reset()
	self.Write(&out, "a", "a")
	if strings.Count(out.String(), "~ (p=1.000 n=5+5)") != 4 {
		t.Errorf("self-comparison should print ~ for every point and figure:\n%s", out.String())
	}
}

func TestCompareUnmatchedAndTooFewRepeats(t *testing.T) {
	a := compareRows(10000, 10000)[:2] // one repeat each
	b := compareRows(20000, 10000)
	b = append(b, sampleRow("dragonboat", 8, StatusOK))
	var failed []Row
	for _, r := range compareRows(10000, 10000)[:2] {
		r.Threads, r.Point = 2, strings.Replace(r.Point, "t8", "t2", 1)
		failed = append(failed, r)
	}
	failed[0].Status, failed[0].ThroughputOps = StatusFailed, 0
	a = append(a, failed...)
	c := Compare(a, b)
	var out bytes.Buffer
	c.Write(&out, "A", "B")
	s := out.String()
	for _, want := range []string{"~ (n=1+5)", "Only in A (2)", "Only in B (1)", "dragonboat cpu-slow:follower t=8"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	for _, d := range c.Deltas {
		if d.ThroughputTest.Significant() {
			t.Errorf("%v: a single repeat cannot be significant", d.Key)
		}
	}
}

// withFault returns rows under fault, their point ids renamed to match.
func withFault(rows []Row, fault string) []Row {
	out := slices.Clone(rows)
	for i := range out {
		out[i].Point = strings.Replace(out[i].Point, "/"+out[i].Fault+"/", "/"+fault+"/", 1)
		out[i].Fault = fault
	}
	return out
}

// The same fault named the short way (as older builds recorded it) on one
// side and with every parameter on the other is one point in both.
func TestCompareMatchesCanonicalFaultNames(t *testing.T) {
	tests := []struct{ a, b string }{
		{"cpu-slow:follower", "cpu-slow:follower,period=1s,quota=5%"},
		{"cpu-slow:follower,quota=5%", "cpu-slow,quota=0.05,period=1000ms"},
		{"kill:leader,at=2s", "kill:leader,restart_after=0s,at=2s"},
	}
	for _, tc := range tests {
		c := Compare(withFault(compareRows(10000, 10000), tc.a), withFault(compareRows(10000, 10000), tc.b))
		if len(c.Deltas) != 2 || len(c.OnlyA) != 0 || len(c.OnlyB) != 0 {
			t.Errorf("%s vs %s: %d points in both, only A %v, only B %v; want 2 in both", tc.a, tc.b, len(c.Deltas), c.OnlyA, c.OnlyB)
			continue
		}
		if got := c.Deltas[0].Key.Fault; got != tc.a {
			t.Errorf("%s vs %s: shown as %q, want A's spelling", tc.a, tc.b, got)
		}
	}
	// Different faults still differ.
	c := Compare(withFault(compareRows(1, 1), "cpu-slow:follower"), withFault(compareRows(1, 1), "cpu-slow:follower,quota=10%"))
	if len(c.Deltas) != 0 || len(c.OnlyA) != 2 || len(c.OnlyB) != 2 {
		t.Errorf("5%% vs 10%% quota matched: %d in both", len(c.Deltas))
	}
}

// Rows of one fault recorded under two spellings (a run resumed by a newer
// build) are one scenario in a report, shown as first recorded.
func TestAnalyzeOneScenarioPerFault(t *testing.T) {
	rows := slices.Concat(withFault(compareRows(1, 1)[:2], "cpu-slow:follower"), withFault(compareRows(1, 1)[2:4], "cpu-slow:follower,period=1s,quota=5%"))
	a := Analyze(nil, rows, nil)
	if len(a.Scenarios) != 1 || a.Scenarios[0].Fault != "cpu-slow:follower" {
		t.Errorf("scenarios %+v, want one, cpu-slow:follower", a.Scenarios)
	}
}

func TestCanonicalPoint(t *testing.T) {
	tests := map[string]string{
		"hashicorp/none/t8/r1":                    "hashicorp/none/t8/r1",
		"etcd/cpu-slow:follower/t2/r3":            "etcd/cpu-slow:follower,period=1s,quota=5%/t2/r3",
		"etcd/pause:follower,at=5s,for=10s/t2/r1": "etcd/pause:follower,at=5s,for=10s/t2/r1",
		"etcd/meteor/t2/r1":                       "etcd/meteor/t2/r1",
		"not-a-point":                             "not-a-point",
		"etcd/cpu-slow:follower/n5/q1000/t2/r3":   "etcd/cpu-slow:follower,period=1s,quota=5%/n5/q1000/t2/r3",
		"etcd/none/q2.5/t2/r1":                    "etcd/none/q2.5/t2/r1",
	}
	for in, want := range tests {
		if got := CanonicalPoint(in); got != want {
			t.Errorf("CanonicalPoint(%q) = %q, want %q", in, got, want)
		}
	}
}

// withReads gives compareRows' rows reads: read throughput at level
// (with the same noise as the writes') and read p99 at p99 µs.
func withReads(rows []Row, impl string, level float64, p99 int64) []Row {
	noise := []float64{-0.012, 0.004, 0.010, -0.003, 0.006}
	out := slices.Clone(rows)
	for i := range out {
		r := &out[i]
		r.ReadRatio, r.ReadMode, r.ReadFrom = 0.5, "linearizable", "leader"
		r.ReadOps, r.ReadThroughputOps, r.ReadLatP99Us = 1000, 5000*(1+noise[r.Repeat-1]), 900
		if r.Impl == impl {
			r.ReadThroughputOps = level * (1 + noise[r.Repeat-1])
			r.ReadLatP99Us = p99
		}
	}
	return out
}

// With reads, compare tests the reads' throughput and p99 beside the
// writes', with the same statistics; a write-only comparison has no read
// tables.
func TestCompareReads(t *testing.T) {
	before := withReads(compareRows(10000, 10000), "etcd", 5000, 900)
	after := withReads(compareRows(10000, 10000), "etcd", 4000, 1800) // etcd reads -20%, p99 doubled
	c := Compare(before, after)
	var etcd Delta
	for _, d := range c.Deltas {
		if d.Key.Impl == "etcd" {
			etcd = d
		}
	}
	if !etcd.Reads() || math.Abs(etcd.ReadThroughputChange+0.2) > 1e-9 || !etcd.ReadThroughputTest.Significant() ||
		math.Abs(etcd.ReadP99Change-1) > 1e-9 || etcd.ThroughputTest.Significant() {
		t.Errorf("etcd delta: reads %v, read throughput %+.3f (%+v), read p99 %+.3f, writes significant %v",
			etcd.Reads(), etcd.ReadThroughputChange, etcd.ReadThroughputTest, etcd.ReadP99Change, etcd.ThroughputTest.Significant())
	}
	if sig := c.Significant(); len(sig) != 1 || sig[0].Key.Impl != "etcd" {
		t.Errorf("significant: %v, want etcd's reads", sig)
	}
	var out bytes.Buffer
	if err := c.Write(&out, "a", "b"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"read throughput (Kops/s)", "read p99 latency (µs)", "-20.0% (p"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("comparison lacks %q:\n%s", want, out.String())
		}
	}
	var csvOut bytes.Buffer
	if err := c.WriteCSV(&csvOut); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(csvOut.String(), ",read_p99,us,"); n != 2 {
		t.Errorf("%d read_p99 CSV rows, want 2:\n%s", n, csvOut.String())
	}
	out.Reset()
	if err := Compare(compareRows(1, 1), compareRows(1, 1)).Write(&out, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "read") {
		t.Errorf("a write-only comparison shows reads:\n%s", out.String())
	}
}
