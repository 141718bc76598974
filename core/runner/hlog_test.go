package runner_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/runner"
	"github.com/raftcmp/raftcmp/reports"
)

// A point's histogram log, written from a real plugin's load (embedded:
// across the plugin boundary; external: measured in raftcmp), is read by
// hdrhistogram-go's own log reader: one interval per time-series interval,
// timed from the start of the measured window, each holding that
// interval's ops, and together the point's ops and max latency.
func TestHlogReadableByHdrHistogram(t *testing.T) {
	noop := adaptertest.BuildBackend(t, "noop")
	for _, client := range []string{runner.ClientEmbedded, runner.ClientExternal} {
		t.Run(client, func(t *testing.T) {
			spec := experiment.Default()
			spec.Impls = []string{"noop"}
			spec.Nodes = 1 // noop runs as a one-node cluster
			spec.Threads = []int{2}
			spec.Rate = 2000
			spec.Client = client
			spec.Storage = adapter.StorageMemory
			spec.Warmup, spec.Duration, spec.Interval = 200*time.Millisecond, 2*time.Second, 500*time.Millisecond
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			sum, err := runner.Run(context.Background(), runner.Config{
				Spec: spec, OutDir: out, DataRoot: t.TempDir(),
				Plugins: map[string]cluster.Plugin{"noop": noop},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := sum.Rows[0]
			if r.Status != reports.StatusOK || r.Ops == 0 {
				t.Fatalf("status %s (%s), %d ops; want ok", r.Status, r.Error, r.Ops)
			}
			if want := reports.HdrFile(r.Point); r.HdrFile != want {
				t.Fatalf("row names hdr file %q, want %q", r.HdrFile, want)
			}
			raw, err := os.ReadFile(filepath.Join(out, r.HdrFile))
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`(?m)^#\[BaseTime: ([0-9.]+) `).FindSubmatch(raw)
			if m == nil || !bytes.Contains(raw, []byte("#[StartTime: ")) {
				t.Fatalf("log lacks its StartTime/BaseTime header:\n%s", raw)
			}
			base, _ := strconv.ParseFloat(string(m[1]), 64)
			if started := float64(r.Started.UnixMilli()) / 1000; base < started || base > started+r.WallS {
				t.Errorf("BaseTime %.3f is not within the point (%.3f + %.1f s)", base, started, r.WallS)
			}
			series, err := reports.ReadTimeseries(filepath.Join(out, reports.TimeseriesFile))
			if err != nil {
				t.Fatal(err)
			}

			lr := hdrhistogram.NewHistogramLogReader(bytes.NewReader(raw))
			total := hdrhistogram.New(1, time.Hour.Microseconds(), 3)
			var n int
			for {
				h, err := lr.NextIntervalHistogram()
				if err != nil {
					t.Fatal(err)
				}
				if h == nil {
					break
				}
				if n >= len(series) {
					t.Fatalf("more intervals in the log than the %d of timeseries.csv", len(series))
				}
				wantStart := time.Duration(series[n].TS * float64(time.Second))
				if got := time.Duration(h.StartTimeMs())*time.Millisecond - time.Duration(base*1000)*time.Millisecond; got != wantStart {
					t.Errorf("interval %d starts %v after BaseTime, want %v", n, got, wantStart)
				}
				if got := uint64(h.TotalCount()); got != series[n].Ops {
					t.Errorf("interval %d holds %d latencies, timeseries.csv says %d ops", n, got, series[n].Ops)
				}
				total.Merge(h)
				n++
			}
			if n != len(series) || n != 4 {
				t.Errorf("%d intervals in the log, %d in timeseries.csv; want 4", n, len(series))
			}
			if uint64(total.TotalCount()) != r.Ops || total.Max() != r.LatMaxUs || total.ValueAtQuantile(99) != r.LatP99Us {
				t.Errorf("log adds up to %d latencies, max %d µs, p99 %d µs; the row has %d ops, max %d µs, p99 %d µs",
					total.TotalCount(), total.Max(), total.ValueAtQuantile(99), r.Ops, r.LatMaxUs, r.LatP99Us)
			}
			// The report's reader gets the same distribution.
			if h, err := reports.ReadHdrLog(filepath.Join(out, r.HdrFile)); err != nil || !h.Equals(total) {
				t.Errorf("reports.ReadHdrLog: %v, equal %v", err, err == nil && h.Equals(total))
			}
		})
	}
}
