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
	"github.com/raftcmp/raftcmp/reports"
)

func TestMain(m *testing.M) {
	code := m.Run()
	adaptertest.RemoveBuilds()
	os.Exit(code)
}

// A plugin that panics, exits or hangs in the middle of a point fails that
// point with the reason; the cluster is torn down and the sweep goes on to
// the next point, which succeeds.
func TestCrashIsolation(t *testing.T) {
	broken := adaptertest.BuildPlugin(t, "broken", "github.com/raftcmp/raftcmp/core/adapter/adaptertest/testdata/brokenplugin")
	good := adaptertest.BuildPlugin(t, "hashicorp", "github.com/raftcmp/raftcmp/plugins/hashicorp/plugin")
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
