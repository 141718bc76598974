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
// p50 100 µs. The point reads too, a tenth as slow: the reads' logs hold
// 10 µs latencies where the writes' hold 100 µs, and 100 µs where 1000, so
// the pooled read p99 is 100 µs and the mean of the repeats' read p99s 55.
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
		hr := hdrhistogram.NewPacked(1, time.Hour.Microseconds(), 3)
		for _, v := range vals {
			hr.RecordValues(v[0]/10, v[1])
		}
		readRel, err := WriteHdrLog(dir, ReadsHdrPoint(point), start, []HdrInterval{{Start: 0, Length: time.Second, Histogram: hr}})
		if err != nil {
			t.Fatal(err)
		}
		dr := hdrhistogram.New(1, time.Hour.Microseconds(), 3)
		hr.MergeInto(dr)
		d := hdrhistogram.New(1, time.Hour.Microseconds(), 3)
		h.MergeInto(d)
		r := Row{
			Point: point, Impl: "etcd", Nodes: 3, Storage: "memory", Client: "embedded", Loop: "closed", Fault: "none",
			Threads: 2, PayloadBytes: 64, DurationS: 1, Repeat: rep + 1, Status: StatusOK, Started: start,
			Ops: uint64(d.TotalCount()), ThroughputOps: float64(d.TotalCount()), LatAvgUs: d.Mean(),
			LatP50Us: d.ValueAtPercentile(50), LatP90Us: d.ValueAtPercentile(90), LatP99Us: d.ValueAtPercentile(99),
			LatP999Us: d.ValueAtPercentile(99.9), LatMaxUs: d.Max(), HdrFile: rel,
			ReadRatio: 0.5, ReadMode: "linearizable", ReadFrom: "leader", ReadOps: uint64(dr.TotalCount()),
			ReadThroughputOps: float64(dr.TotalCount()), ReadLatP50Us: dr.ValueAtPercentile(50), ReadLatP90Us: dr.ValueAtPercentile(90),
			ReadLatP99Us: dr.ValueAtPercentile(99), ReadLatP999Us: dr.ValueAtPercentile(99.9), ReadLatMaxUs: dr.Max(), ReadHdrFile: readRel,
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
	// The reads are pooled the same way, from their own logs.
	if p.ReadPooled == nil || p.ReadPooled.Count != 3000 || p.ReadPooled.P99 != 100 || p.ReadP99.Mean != 55 {
		t.Errorf("reads pooled %+v, mean of read p99s %v; want 3000 reads, p99 100, mean 55", p.ReadPooled, p.ReadP99.Mean)
	}
	if v, lo, hi := p.ReadLatFigure(LatP99); v != 100 || lo != 10 || hi != 100 {
		t.Errorf("read p99 figure = %v [%v–%v], want 100 [10–100]", v, lo, hi)
	}
	if _, err := BuildFormats(dir, []Format{FormatMarkdown, FormatJSON, FormatLaTeX}); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, want := range []string{"Latency percentiles over repeats are pooled", "| etcd | 100 [100–100] | 1000 [100–1000] | 1000 [100–1000] |", "| 1000 | 550 |",
		"### Read p99 latency (µs)\n\n| threads | etcd |\n|---:|---:|\n| 2 | 100 [10–100] † |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	js, _ := os.ReadFile(filepath.Join(dir, SummaryFile))
	if !bytes.Contains(js, []byte(`"pooled_lat_us": {`)) || !bytes.Contains(js, []byte(`"p99": 1000,`)) || !bytes.Contains(js, []byte(`"p99": 100,`)) ||
		!bytes.Contains(js, []byte(`"reads": {`)) {
		t.Errorf("summary.json lacks the pooled distributions of writes and reads:\n%s", js)
	}
	tex, _ := os.ReadFile(filepath.Join(dir, LaTeXFile))
	if !bytes.Contains(tex, []byte("Read p99 latency")) || !bytes.Contains(tex, []byte("2 & 100 [10--100]")) {
		t.Errorf("report.tex lacks the pooled read p99:\n%s", tex)
	}

	// Rebuilt from the recorded files alone, byte for byte.
	again := t.TempDir()
	writePooledInput(t, again)
	if _, err := BuildFormats(again, []Format{FormatMarkdown, FormatJSON, FormatLaTeX}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ReportFile, SummaryFile, LaTeXFile} {
		x, _ := os.ReadFile(filepath.Join(dir, name))
		y, _ := os.ReadFile(filepath.Join(again, name))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds of the same files", name)
		}
	}

	// A histogram log that is missing, the reads' too, is refused, naming
	// the point and the log.
	rows, _ := ReadResults(filepath.Join(dir, ResultsFile))
	for _, log := range []string{rows[1].HdrFile, rows[0].ReadHdrFile} {
		os.Remove(filepath.Join(dir, log))
		if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "etcd/none/t2/r1") && !strings.Contains(err.Error(), "etcd/none/t2/r2") || !strings.Contains(err.Error(), filepath.Base(log)) {
			t.Errorf("Load without %s: %v, want an error naming the point and the log", log, err)
		}
	}
	if _, err := BuildFormats(dir, []Format{FormatMarkdown}); err == nil || !strings.Contains(err.Error(), "etcd/none/t2/r1") {
		t.Errorf("report without a read histogram log: %v, want an error naming the point", err)
	}
}
