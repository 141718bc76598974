package faults_test

import (
	"context"
	"io/fs"
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
	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/reports"
)

// reconfigureRun runs one short experiment of the given faults on impls
// under load and returns its rows; the data root is checked empty after.
func reconfigureRun(t *testing.T, impls []string, fault []string, cfg runner.Config) []reports.Row {
	t.Helper()
	spec := experiment.Default()
	spec.Impls = impls
	spec.Threads = []int{4}
	spec.Rate = 0
	spec.Storage = adapter.StorageTmpfs
	spec.Warmup, spec.Duration, spec.Interval = 500*time.Millisecond, 4*time.Second, time.Second
	spec.Faults = nil
	for _, f := range fault {
		s, err := faultspec.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		spec.Faults = append(spec.Faults, s)
	}
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.Spec = spec
	cfg.Plugins = map[string]cluster.Plugin{}
	for _, impl := range impls {
		cfg.Plugins[impl] = adaptertest.BuildBackend(t, impl)
	}
	cfg.OutDir, cfg.DataRoot = t.TempDir(), t.TempDir()
	if _, err := runner.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	rows, err := reports.ReadResults(filepath.Join(cfg.OutDir, reports.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	left, err := os.ReadDir(cfg.DataRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left in the data root after the run: %s", e.Name())
	}
	return rows
}

// effectOf parses a row's fault_effect.
func effectOf(r reports.Row) map[string]string {
	eff := map[string]string{}
	for _, kv := range strings.Split(r.FaultEffect, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			eff[k] = v
		}
	}
	return eff
}

// reconfigure:follower under load on every real backend: each point is ok
// (its safety check passed on the members after the change, the new node
// among them) with the change's figures recorded.
func TestReconfigureFollowerEveryBackend(t *testing.T) {
	rows := reconfigureRun(t, []string{"etcd", "hashicorp", "dragonboat"}, []string{"reconfigure:follower"}, runner.Config{})
	if len(rows) != 3 {
		t.Fatalf("%d rows, want 3", len(rows))
	}
	for _, r := range rows {
		if r.Status != reports.StatusOK {
			t.Errorf("%s: status %s: %s", r.Impl, r.Status, r.Error)
			continue
		}
		eff := effectOf(r)
		for _, k := range []string{"removed", "added", "remove_s", "add_s", "catch_up_s", "total_s", "added_snapshot_installs", "baseline_ops_s", "min_ops_s", "dip_ratio"} {
			if eff[k] == "" {
				t.Errorf("%s: fault_effect %q lacks %s", r.Impl, r.FaultEffect, k)
			}
		}
		if eff["removed"] != r.FaultTargets || eff["added"] != "4" || r.Ops == 0 {
			t.Errorf("%s: removed %s (targets %s), added %s, %d ops: want the target replaced by node 4 under load", r.Impl, eff["removed"], r.FaultTargets, eff["added"], r.Ops)
		}
		// The resource columns count the removed node up to its removal
		// and the added one from its start.
		for _, id := range []string{eff["removed"], "4"} {
			if !strings.Contains(";"+r.NodeCPUS, ";"+id+"=") {
				t.Errorf("%s: node_cpu_s %q lacks node %s", r.Impl, r.NodeCPUS, id)
			}
		}
	}
}

// With a cgroup fault in the same experiment every node, the added one
// too, runs in a cgroup of its own; after the run none is left.
func TestReconfigureCleansUpCgroups(t *testing.T) {
	if err := cgroup.Available(); err != nil {
		t.Skipf("needs cgroups (run as root): %v", err)
	}
	m, err := cgroup.NewManager(cgroup.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	runID := "reconfigtest-" + time.Now().UTC().Format("150405.000")
	rows := reconfigureRun(t, []string{"hashicorp"}, []string{"reconfigure:follower", "pause:follower,for=100ms"}, runner.Config{Cgroups: m, RunID: runID})
	for _, r := range rows {
		if r.Status != reports.StatusOK {
			t.Errorf("%s %s: status %s: %s", r.Impl, r.Fault, r.Status, r.Error)
		}
	}
	filepath.WalkDir(cgroup.DefaultRoot, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && strings.Contains(d.Name(), runID) {
			t.Errorf("cgroup left behind: %s", p)
			return fs.SkipDir
		}
		return nil
	})
}

// What cannot be run is refused before anything starts, in one line.
func TestReconfigureRefusals(t *testing.T) {
	for _, tc := range []struct{ fault, want string }{
		{"reconfigure:leader", "target follower or node:ID"},
		{"reconfigure:followers", "target follower or node:ID"},
	} {
		if _, err := faultspec.Parse(tc.fault); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.fault, err, tc.want)
		}
	}
	for _, tc := range []struct {
		kinds []string
		ok    bool
	}{
		{[]string{"reconfigure", "kill", "cpu-slow"}, true},
		{[]string{"reconfigure", "net-delay"}, false},
		{[]string{"partition", "reconfigure"}, false},
		{[]string{"net-delay", "kill"}, true},
	} {
		var specs []faultspec.Spec
		for _, k := range tc.kinds {
			specs = append(specs, faultspec.Spec{Kind: k})
		}
		err := faults.CheckCombination(specs)
		if (err == nil) != tc.ok || (err != nil && strings.Contains(err.Error(), "\n")) {
			t.Errorf("%v: %v, want ok %v and one line", tc.kinds, err, tc.ok)
		}
	}
	if !faults.NeedsMembership([]faultspec.Spec{{Kind: "reconfigure"}}) || faults.NeedsMembership([]faultspec.Spec{{Kind: "kill"}}) {
		t.Error("NeedsMembership: want true for reconfigure only")
	}
}
