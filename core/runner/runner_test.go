package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/runner"
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/reports"
)

func TestMain(m *testing.M) { adaptertest.Main(m) }

// A plugin that panics, exits or hangs in the middle of a point fails that
// point with the reason; the cluster is torn down and the sweep goes on to
// the next point, which succeeds.
func TestCrashIsolation(t *testing.T) {
	broken := adaptertest.BuildPlugin(t, "broken", "github.com/raftcmp/raftcmp/core/adapter/adaptertest/testdata/brokenplugin")
	good := adaptertest.BuildBackend(t, "hashicorp")
	tests := []struct {
		mode string
		want string // in the failed point's reason
	}{
		{"panic", "deliberate panic"},
		{"exit", "deliberate exit"},
		{"hang", "plugin hung"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			spec := experiment.Default()
			spec.Impls = []string{"crashy", "hashicorp"}
			spec.Threads = []int{2}
			spec.Storage = adapter.StorageMemory
			spec.Warmup, spec.Duration, spec.Interval, spec.OpTimeout = 0, time.Second, time.Second, time.Second
			spec.Options = map[string]adapter.Options{"crashy": {"broken": tc.mode, "broken_after": "50"}}
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			data := t.TempDir()
			sum, err := runner.Run(context.Background(), runner.Config{
				Spec: spec, OutDir: out, DataRoot: data, HangGrace: 2 * time.Second,
				Plugins: map[string]cluster.Plugin{"crashy": {Name: "crashy", Path: broken.Path}, "hashicorp": good},
			})
			if err != nil {
				t.Fatal(err)
			}
			rows, err := reports.ReadResults(filepath.Join(out, reports.ResultsFile))
			if err != nil {
				t.Fatal(err)
			}
			// The machine's preflight is recorded when the run starts.
			if m, err := reports.ReadMeta(out); err != nil || len(m.Preflight) == 0 || m.Preflight[0].Check != "cores" {
				t.Errorf("meta.json preflight: %v (%v); want the findings, cores first", m, err)
			}
			if len(rows) != 2 || sum.Failed != 1 {
				t.Fatalf("%d rows, %d failed; want 2 rows, 1 failed", len(rows), sum.Failed)
			}
			if r := rows[0]; r.Status != reports.StatusFailed || !strings.Contains(r.Error, tc.want) {
				t.Errorf("crashing point: status %s, reason %q; want failed with %q", r.Status, r.Error, tc.want)
			}
			if r := rows[1]; r.Status != reports.StatusOK || r.Ops == 0 {
				t.Errorf("the next point: status %s (%s), %d ops; want ok", r.Status, r.Error, r.Ops)
			}
			if left, _ := os.ReadDir(data); len(left) != 0 {
				t.Errorf("data dirs left: %v", left)
			}
			for _, p := range []string{broken.Path, good.Path} {
				if pids := pidsOf(p); len(pids) > 0 {
					t.Errorf("processes of %s left: %v", p, pids)
				}
			}
		})
	}
}

// pidsOf lists running processes whose executable is path.
func pidsOf(path string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == path {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// The safety check fails a point whose nodes did not apply the same log:
// here an adapter whose third node "loses" every 1000th payload.
func TestSafetyCheckCatchesLostWrite(t *testing.T) {
	broken := adaptertest.BuildPlugin(t, "broken", "github.com/raftcmp/raftcmp/core/adapter/adaptertest/testdata/brokenplugin")
	spec := experiment.Default()
	spec.Impls = []string{"lossy"}
	spec.Threads = []int{8}
	spec.Rate = 0
	spec.Storage = adapter.StorageMemory
	spec.Warmup, spec.Duration, spec.Interval = 0, time.Second, time.Second
	spec.Options = map[string]adapter.Options{"lossy": {"broken": "lossy"}}
	out := t.TempDir()
	sum, err := runner.Run(context.Background(), runner.Config{
		Spec: spec, OutDir: out, DataRoot: t.TempDir(), ConvergeTimeout: 5 * time.Second, ConvergeStall: 3 * time.Second,
		Plugins: map[string]cluster.Plugin{"lossy": {Name: "lossy", Path: broken.Path}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Rows) != 1 {
		t.Fatalf("%d rows", len(sum.Rows))
	}
	r := sum.Rows[0]
	if r.Status != reports.StatusFailed || !strings.Contains(r.Error, "safety: nodes applied different logs") || !strings.Contains(r.Error, "node 3") {
		t.Fatalf("status %s, reason %q; want a failed safety check naming node 3", r.Status, r.Error)
	}
}

// With the external client, killing the leader mid-window does not kill
// the client: it follows the new leader (redirects counted), throughput
// dips and recovers, and the safety check passes on the survivors.
func TestExternalClientSurvivesLeaderKill(t *testing.T) {
	good := adaptertest.BuildBackend(t, "hashicorp")
	spec := experiment.Default()
	spec.Impls = []string{"hashicorp"}
	spec.Threads = []int{4}
	spec.Rate = 0
	spec.Storage = adapter.StorageMemory
	spec.Client = runner.ClientExternal
	spec.Warmup, spec.Duration, spec.Interval = 0, 6*time.Second, time.Second
	kill, err := faultspec.Parse("kill:leader,at=1s")
	if err != nil {
		t.Fatal(err)
	}
	spec.Faults = []faultspec.Spec{kill}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	sum, err := runner.Run(context.Background(), runner.Config{
		Spec: spec, OutDir: out, DataRoot: t.TempDir(),
		Plugins: map[string]cluster.Plugin{"hashicorp": good},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := sum.Rows[0]
	if r.Status != reports.StatusOK {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	if r.Redirects == 0 || r.LeaderChanges == 0 || !strings.Contains(r.FaultEffect, "leader_back_s=") {
		t.Errorf("redirects %d, leader changes %d, effect %q: want the client to have followed a new leader", r.Redirects, r.LeaderChanges, r.FaultEffect)
	}
	series, err := reports.ReadTimeseries(filepath.Join(out, reports.TimeseriesFile))
	if err != nil {
		t.Fatal(err)
	}
	var low, recovered bool
	for _, s := range series {
		if s.TS >= 1 && s.TS < 3 && s.Ops < uint64(0.5*r.ThroughputOps) {
			low = true
		}
		if s.TS >= 4 && s.Ops > 0 {
			recovered = true
		}
	}
	if !low || !recovered {
		t.Errorf("time series %+v: want a dip after the kill at 1s and throughput again from 4s", series)
	}
}
