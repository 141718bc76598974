package reports

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// writePooledInput writes a results directory with one point of two
// repeats: repeat 1 has 1000 latencies of 100 µs, repeat 2 has 1000 of
// 100 µs and 1000 of 1000 µs. Repeat 1's p99 is 100 µs, repeat 2's
// 1000 µs: their mean is 550 µs. Pooled, 3000 latencies of which 1000 are
// 1000 µs, the p99 is 1000 µs (1000.5 within 3 significant digits) and the
// p50 100 µs.
func writePooledInput(t *testing.T, dir string) {
	t.Helper()
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	for rep, vals := range [][][2]int64{{{100, 1000}}, {{100, 1000}, {1000, 1000}}} {
		point := "etcd/none/t2/r" + string(rune('1'+rep))
		h := hdrhistogram.NewPacked(1, time.Hour.Microseconds(), 3)
		for _, v := range vals {
			h.RecordValues(v[0], v[1])
		}
		rel, err := WriteHdrLog(dir, point, start, []HdrInterval{{Start: 0, Length: time.Second, Histogram: h}})
		if err != nil {
			t.Fatal(err)
		}
		d := hdrhistogram.New(1, time.Hour.Microseconds(), 3)
		h.MergeInto(d)
		r := Row{
			Point: point, Impl: "etcd", Nodes: 3, Storage: "memory", Client: "embedded", Loop: "closed", Fault: "none",
			Threads: 2, PayloadBytes: 64, DurationS: 1, Repeat: rep + 1, Status: StatusOK, Started: start,
			Ops: uint64(d.TotalCount()), ThroughputOps: float64(d.TotalCount()), LatAvgUs: d.Mean(),
			LatP50Us: d.ValueAtPercentile(50), LatP90Us: d.ValueAtPercentile(90), LatP99Us: d.ValueAtPercentile(99),
			LatP999Us: d.ValueAtPercentile(99.9), LatMaxUs: d.Max(), HdrFile: rel,
		}
		if err := w.Write(r, []Sample{{Point: point, Impl: "etcd", Threads: 2, Repeat: rep + 1, Ops: r.Ops, ThroughputOps: r.ThroughputOps}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := WriteMeta(dir, &Meta{Started: start}); err != nil {
		t.Fatal(err)
	}
}

// Percentiles over repeats are those of the repeats' histograms added up,
// not the mean of the repeats' percentiles; the report shows the pooled
// figure with the spread over repeats, and the mean of p99s only as a
// labelled secondary figure.
func TestPercentilesArePooled(t *testing.T) {
	dir := t.TempDir()
	writePooledInput(t, dir)
	a, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Points) != 1 {
		t.Fatalf("%d points, want 1", len(a.Points))
	}
	p := a.Points[0]
	if p.Pooled == nil {
		t.Fatal("no pooled distribution")
	}
	if p.P99.Mean != 550 { // (100 + 1000) / 2
		t.Errorf("mean of per-repeat p99s = %v, want 550", p.P99.Mean)
	}
	if got := *p.Pooled; got.Count != 3000 || got.P50 != 100 || got.P99 != 1000 || got.Max != 1000 {
		t.Errorf("pooled = %+v, want 3000 latencies, p50 100, p99 1000, max 1000 (µs, 3 significant digits)", got)
	}
	if v, lo, hi := p.LatFigure(LatP99); v != 1000 || lo != 100 || hi != 1000 {
		t.Errorf("p99 figure = %v [%v–%v], want 1000 [100–1000]", v, lo, hi)
	}
	if _, err := BuildFormats(dir, []Format{FormatMarkdown, FormatJSON}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, want := range []string{"Latency percentiles over repeats are pooled", "| etcd | 100 [100–100] | 1000 [100–1000] | 1000 [100–1000] |", "| 1000 | 550 |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	js, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	if !bytes.Contains(js, []byte(`"pooled_lat_us": {`)) || !bytes.Contains(js, []byte(`"p99": 1000,`)) {
		t.Errorf("summary.json lacks the pooled distribution:\n%s", js)
	}

	// Rebuilt from the recorded files alone, byte for byte.
	again := t.TempDir()
	writePooledInput(t, again)
	if _, err := BuildFormats(again, []Format{FormatMarkdown, FormatJSON, FormatLaTeX}); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildFormats(dir, []Format{FormatLaTeX}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ReportFile, SummaryFile, LaTeXFile} {
		x, _ := os.ReadFile(filepath.Join(dir, name))
		y, _ := os.ReadFile(filepath.Join(again, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds of the same files", name)
		}
	}

	// A histogram log that does not match its row is refused, naming it.
	rows, _ := ReadResults(filepath.Join(dir, ResultsFile))
	os.Remove(filepath.Join(dir, rows[1].HdrFile))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "etcd/none/t2/r2") {
		t.Errorf("Load with a missing histogram log: %v, want an error naming the point", err)
	}
}
