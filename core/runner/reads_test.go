package runner_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/load"
	"github.com/raftcmp/raftcmp/core/runner"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/reports"
)

// readSpec is a short mixed load on every real backend.
func readSpec(t *testing.T, mode, from, client string) (experiment.Spec, map[string]cluster.Plugin) {
	spec := experiment.Default()
	spec.Impls = []string{"etcd", "hashicorp", "dragonboat"}
	spec.Threads = []int{4}
	spec.Storage = adapter.StorageTmpfs
	spec.Warmup, spec.Duration, spec.Interval = time.Second, 2*time.Second, time.Second
	spec.ReadRatio, spec.ReadMode, spec.ReadFrom, spec.Client = 0.5, mode, from, client
	plugins := map[string]cluster.Plugin{}
	for _, impl := range spec.Impls {
		plugins[impl] = adaptertest.BuildBackend(t, impl)
	}
	return spec, plugins
}

// runReads runs cfg into a temporary results directory and returns its
// rows and the directory.
func runReads(t *testing.T, cfg runner.Config) ([]reports.Row, string) {
	t.Helper()
	if err := cfg.Spec.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.OutDir, cfg.DataRoot = t.TempDir(), t.TempDir()
	if _, err := runner.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	rows, err := reports.ReadResults(filepath.Join(cfg.OutDir, reports.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	return rows, cfg.OutDir
}

// checkStaleFile checks that a row names its stale-read file if and only
// if it had stale reads, and that the file lists the first of them: each
// read missed writes acknowledged before it began.
func checkStaleFile(t *testing.T, dir string, r reports.Row) {
	t.Helper()
	if r.StaleReads == 0 {
		if r.StaleFile != "" {
			t.Errorf("%s: no stale read, but stale_file %q", r.Point, r.StaleFile)
		}
		return
	}
	if r.StaleFile != reports.StaleFile(r.Point) {
		t.Fatalf("%s: %d stale reads, stale_file %q, want %q", r.Point, r.StaleReads, r.StaleFile, reports.StaleFile(r.Point))
	}
	exs, err := reports.ReadStaleReads(filepath.Join(dir, r.StaleFile))
	if err != nil {
		t.Fatal(err)
	}
	if want := min(r.StaleReads, load.MaxStaleExamples); uint64(len(exs)) != want {
		t.Errorf("%s: %d examples in %s, want %d", r.Point, len(exs), r.StaleFile, want)
	}
	for _, ex := range exs {
		// A read counts if it is answered in the window, so it may have
		// begun in the warm-up (a negative at_s), never after the window.
		if ex.Applied >= ex.Acked || ex.AtS < -r.WarmupS || ex.AtS > r.DurationS {
			t.Errorf("%s: example %+v is not a stale read of the window", r.Point, ex)
		}
	}
}

// Linearizable reads on the leader, on every backend: reads and writes
// are measured apart and no read misses an acknowledged write.
func TestLinearizableReadsAreNeverStale(t *testing.T) {
	spec, plugins := readSpec(t, "linearizable", "leader", runner.ClientEmbedded)
	rows, dir := runReads(t, runner.Config{Spec: spec, Plugins: plugins})
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	for _, r := range rows {
		if r.Status != reports.StatusOK || r.Ops == 0 || r.ReadOps == 0 || r.StaleReads != 0 || r.ReadMode != "linearizable" {
			t.Errorf("%s: status %s (%s), %d writes, %d reads, %d stale, mode %q", r.Impl, r.Status, r.Error, r.Ops, r.ReadOps, r.StaleReads, r.ReadMode)
		}
		// The closed loop offers what it sends in the window, writes and
		// reads apart, across the plugin boundary (the embedded client):
		// each within the threads in flight at either end of the window
		// of what completed in it.
		near := func(issued, done uint64) bool {
			return issued+uint64(r.Threads) >= done && done+uint64(r.Threads) >= issued
		}
		if !near(r.Issued, r.Ops) || !near(r.ReadIssued, r.ReadOps) || r.ReadIssued == 0 {
			t.Errorf("%s: issued %d writes (%d applied), %d reads (%d answered)", r.Impl, r.Issued, r.Ops, r.ReadIssued, r.ReadOps)
		}
		checkStaleFile(t, dir, r)
	}
}

// Stale reads from followers while one follower is held to 5% of a CPU:
// reads of its local state miss acknowledged writes, which is measured,
// not a failure. Needs cgroups (root).
func TestStaleReadsFromASlowFollower(t *testing.T) {
	if err := cgroup.Available(); err != nil {
		t.Skipf("needs cgroups for the cpu-slow fault (run as root): %v", err)
	}
	m, err := cgroup.NewManager(cgroup.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	spec, plugins := readSpec(t, "stale", "followers", runner.ClientExternal)
	fault, err := faultspec.Parse("cpu-slow:follower")
	if err != nil {
		t.Fatal(err)
	}
	spec.Faults = []faultspec.Spec{fault}
	rows, dir := runReads(t, runner.Config{Spec: spec, Plugins: plugins, Cgroups: m, RunID: "readstest"})
	var stale uint64
	for _, r := range rows {
		if r.Status != reports.StatusOK || r.ReadOps == 0 {
			t.Errorf("%s: status %s (%s), %d reads", r.Impl, r.Status, r.Error, r.ReadOps)
		}
		checkStaleFile(t, dir, r)
		t.Logf("%s: %d of %d reads stale", r.Impl, r.StaleReads, r.ReadOps)
		stale += r.StaleReads
	}
	if stale == 0 {
		t.Error("no stale read from a follower held to 5% of a CPU on any backend")
	}
}
