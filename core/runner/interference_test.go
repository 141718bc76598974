package runner_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/runner"
	"github.com/raftcmp/raftcmp/reports"
)

// A point run while a busy loop outside the experiment takes a CPU is
// flagged, with outside_cpu clearly above zero; a point on a quiet machine
// is not, though the experiment's own processes kept the CPUs busy.
func TestInterferenceFlagsOutsideLoad(t *testing.T) {
	noop := adaptertest.BuildBackend(t, "noop")
	spec := experiment.Default()
	spec.Impls = []string{"noop"}
	spec.Nodes = 1 // noop runs as a one-node cluster
	spec.Threads = []int{1}
	spec.Rate = 500 // light: the busy loop gets a CPU of its own
	spec.Storage = adapter.StorageMemory
	spec.Warmup, spec.Duration, spec.Interval = 0, 2*time.Second, time.Second
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	point := func(t *testing.T, spec experiment.Spec) reports.Row {
		t.Helper()
		r := runOKPoint(t, spec, noop)
		if r.OutsideCPU == nil || r.HostCPUUtil == nil || r.HostSteal == nil || r.ProcsRunning == nil {
			t.Fatalf("interference columns not measured: outside %v, host %v, steal %v, running %v", r.OutsideCPU, r.HostCPUUtil, r.HostSteal, r.ProcsRunning)
		}
		return r
	}

	t.Run("busy loop outside", func(t *testing.T) {
		// A child of this process, as raftcmp's nodes are, but none of
		// the experiment's: it must count as outside.
		hog := exec.Command("sh", "-c", "while :; do :; done")
		if err := hog.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			hog.Process.Kill()
			hog.Wait()
		}()
		deadline := time.Now().Add(10 * time.Second)
		for u, _ := cluster.ProcUsage(hog.Process.Pid); u.CPU == 0; u, _ = cluster.ProcUsage(hog.Process.Pid) {
			if time.Now().After(deadline) {
				t.Fatal("the busy loop used no CPU in 10 s")
			}
			time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
		}
		r := point(t, spec)
		if !r.Interfered() || *r.OutsideCPU < 2*reports.OutsideCPULimit {
			t.Errorf("outside_cpu %.3f, interfered %v: want the busy loop seen (above %.1f CPU) and the point flagged", *r.OutsideCPU, r.Interfered(), 2*reports.OutsideCPULimit)
		}
	})

	t.Run("quiet", func(t *testing.T) {
		// Other work on a shared machine (a build, another test) is
		// outside load too and rightly flags a point; a point is tried
		// up to five times for one the machine left alone. The point is
		// unthrottled, so that its own processes use far more CPU than
		// the limit: counted as outside, they would flag every attempt.
		heavy := spec
		heavy.Rate, heavy.Threads = 0, []int{4}
		var seen []float64
		for range 5 {
			r := point(t, heavy)
			if !r.Interfered() {
				t.Logf("not flagged: outside_cpu %.3f, host busy %.3f, node CPU %s", *r.OutsideCPU, *r.HostCPUUtil, r.NodeCPUS)
				return
			}
			t.Logf("flagged: outside_cpu %.3f, host busy %.3f, node CPU %s", *r.OutsideCPU, *r.HostCPUUtil, r.NodeCPUS)
			seen = append(seen, *r.OutsideCPU)
		}
		// Five flagged attempts mean the machine was busy throughout (under
		// make test, other packages' tests run beside this one) or the
		// experiment's own CPU counted as outside; the arithmetic that rules
		// out the second is tested on a fixed /proc (hostload_test.go).
		t.Skipf("skipped: every attempt at a quiet point met outside load (outside_cpu %v); the machine was not quiet enough to check it", seen)
	})
}

// runOKPoint runs spec, one point, on plugin in temporary directories and
// returns its row, failing the test unless the point is ok.
func runOKPoint(t *testing.T, spec experiment.Spec, plugin cluster.Plugin) reports.Row {
	t.Helper()
	sum, err := runner.Run(context.Background(), runner.Config{
		Spec: spec, OutDir: t.TempDir(), DataRoot: t.TempDir(),
		Plugins: map[string]cluster.Plugin{plugin.Name: plugin},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := sum.Rows[0]
	if r.Status != reports.StatusOK {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	return r
}
