package remote

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/hosts"
	"github.com/raftcmp/raftcmp/core/runner"
	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/reports"
)

// hogProcs lists, on a host, the processes with the hog's variable in
// their environment. (The name is split so the script does not match
// itself.)
const hogProcs = `v=RAFTCMP_FAULT; for p in /proc/[0-9]*; do tr '\0' '\n' < $p/environ 2>/dev/null | grep -q "^${v}_HOG=" && echo ${p#/proc/}; done; true`

// assertNoFaultLeft checks that no cgroup named with prefix and no hog is
// left on any host (the hosts share this machine's /sys, so each looks at
// the same cgroup tree from its own side).
func assertNoFaultLeft(t *testing.T, hs []hosts.Host, prefix string) {
	t.Helper()
	for _, h := range hs {
		if left := onHost(t, h, "find /sys/fs/cgroup -maxdepth 5 -type d -name "+shellQuote(prefix+"*")+" 2>/dev/null; true"); left != "" {
			t.Errorf("host %s: cgroups left: %s", h.Name, left)
		}
		if left := onHost(t, h, hogProcs); left != "" {
			t.Errorf("host %s: hog processes left: %s", h.Name, left)
		}
	}
}

// effect parses a row's fault_effect into its name=value pairs.
func effect(r reports.Row) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(r.FaultEffect, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}

// A real hashicorp cluster across three hosts, one point per cgroup or
// process fault, each acting on the target's own host: the follower held
// to 5% of a CPU gets about that, a paused one stops and catches up, a
// killed one comes back, a memory limit is applied and reported; after
// each point nothing is left on any host.
func TestFaultsOnHosts(t *testing.T) {
	hs := testHosts(t)
	p := buildPlugin(t, "hashicorp")
	l := newLauncher(t, hs, 3)

	var specs []faultspec.Spec
	for _, f := range []string{
		"cpu-slow:follower,quota=5%,period=100ms",
		"pause:follower",
		"kill:follower,restart_after=300ms",
		"memory:follower,limit=1GiB,oom_kill=false",
	} {
		s, err := faultspec.Parse(f)
		if err != nil {
			t.Fatal(err)
		}
		specs = append(specs, s)
	}
	ctx := context.Background()
	if err := l.CheckFaults(ctx, specs); err != nil {
		t.Fatalf("the testbed's hosts refused the faults: %v", err)
	}
	spec := experiment.Default()
	spec.Impls = []string{"hashicorp"}
	spec.Threads = []int{4}
	spec.Faults = specs
	spec.Storage = adapter.StorageDisk
	spec.Warmup, spec.Duration, spec.Interval = 200*time.Millisecond, 3*time.Second, 500*time.Millisecond
	spec.Rate = 0
	if err := spec.Validate(); err != nil {
		t.Fatal(err)
	}
	runID := "rtest" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	out := t.TempDir()
	sum, err := runner.Run(ctx, runner.Config{
		Spec: spec, OutDir: out, DataRoot: t.TempDir(), Launcher: l, RunID: runID,
		Plugins: map[string]cluster.Plugin{"hashicorp": p},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Rows) != len(specs) {
		t.Fatalf("%d rows, want %d", len(sum.Rows), len(specs))
	}
	for _, r := range sum.Rows {
		t.Logf("%s: %s targets %s effect %s; %.0f ops/s, node cpu %s", r.Fault, r.Status, r.FaultTargets, r.FaultEffect, r.ThroughputOps, r.NodeCPUS)
		if r.Status != reports.StatusOK {
			t.Errorf("%s: %s: %s", r.Fault, r.Status, r.Error)
			continue
		}
		e, n := effect(r), "n"+r.FaultTargets+"_"
		num := func(k string) float64 {
			v, err := strconv.ParseFloat(e[n+k], 64)
			if err != nil {
				t.Errorf("%s: effect %s: %q not a number (effect %s)", r.Fault, n+k, e[n+k], r.FaultEffect)
			}
			return v
		}
		switch kind := strings.SplitN(r.Fault, ":", 2)[0]; kind {
		case "cpu-slow":
			if share := num("cpu_share"); share < 0.03 || share > 0.07 {
				t.Errorf("cpu-slow: the follower got %.1f%% of a CPU under a 5%% quota; want 3-7%%", share*100)
			}
			if th, _, _ := strings.Cut(e[n+"throttled_periods"], "/"); th == "" || th == "0" {
				t.Errorf("cpu-slow: throttled periods %q: want some", e[n+"throttled_periods"])
			}
		case "pause":
			if share := num("cpu_share"); share > 0.01 {
				t.Errorf("pause: the frozen follower used %.1f%% of a CPU", share*100)
			}
		case "kill":
			if e["killed"] != r.FaultTargets || e["catch_up_s"] == "" {
				t.Errorf("kill: effect %s: want the follower killed, restarted and caught up", r.FaultEffect)
			}
		case "memory":
			if peak := num("mem_peak_bytes"); peak <= 0 || peak > 1<<30 {
				t.Errorf("memory: peak %v: want above 0, under the 1 GiB limit", peak)
			}
			if e[n+"oom_kills"] != "0" {
				t.Errorf("memory: oom kills %q under a limit the node stays under", e[n+"oom_kills"])
			}
		default:
			t.Errorf("unexpected fault %s", kind)
		}
	}
	assertNoFaultLeft(t, hs, cgroup.Prefix+runID)
	assertNothingLeft(t, hs)
}

// The memory limit is written to the node's cgroup on its host, and taken
// off again: read back from the kernel's file, through the host.
func TestMemoryLimitOnHost(t *testing.T) {
	hs := testHosts(t)
	l := newLauncher(t, hs, 3)
	ctx := context.Background()
	name := cgroup.Prefix + "rtest-mem-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	m := l.Machine(2)
	g, err := m.NewCgroup(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.Delete()
		assertNoFaultLeft(t, hs, name)
	})
	if err := g.SetMemoryLimit(256<<20, false); err != nil {
		t.Fatal(err)
	}
	limitFile := "$(find /sys/fs/cgroup -maxdepth 5 -type d -name " + name + " | grep -e memory | head -1)"
	read := func() string {
		return onHost(t, hs[1], "d="+limitFile+"; cat $d/memory.limit_in_bytes 2>/dev/null || cat $d/memory.max")
	}
	if got := read(); got != strconv.Itoa(256<<20) {
		t.Errorf("limit on host %s: %s, want %d", hs[1].Name, got, 256<<20)
	}
	if err := g.ClearMemoryLimit(); err != nil {
		t.Fatal(err)
	}
	if got := read(); got == strconv.Itoa(256<<20) {
		t.Errorf("limit on host %s still %s after clearing it", hs[1].Name, got)
	}
	if err := g.Delete(); err != nil {
		t.Fatal(err)
	}
}

// A host lacking a controller a fault needs is refused before anything
// starts, one line naming the host, the controller and the fault (a
// controller no kernel has stands in for a missing one).
func TestMissingControllerRefused(t *testing.T) {
	hs := testHosts(t)
	l := newLauncher(t, hs, 3)
	err := l.CheckControllers(context.Background(), map[string][]string{"nosuch": {"made-up-fault"}, cgroup.ControllerCPU: {"cpu-slow"}})
	if err == nil {
		t.Fatal("a host without controller nosuch was not refused")
	}
	for _, h := range hs {
		want := "host " + h.Name + " (" + h.SSH + `): cgroup controller "nosuch" not available: made-up-fault cannot run there`
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q: want %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q: want one line", err)
	}
}

// A hog on a host dies with raftcmp's SSH connection, whatever ended it:
// here the connection is closed under it, as when raftcmp is killed.
func TestHogDiesWithConnection(t *testing.T) {
	hs := testHosts(t)
	l := newLauncher(t, hs, 3)
	ctx := context.Background()
	h, err := l.Machine(1).StartHog(ctx, faults.HogSpec{Kind: faults.HogCPU})
	if err != nil {
		t.Fatal(err)
	}
	if left := onHost(t, hs[0], hogProcs); left == "" {
		t.Fatal("no hog runs on the host after StartHog")
	}
	l.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = cluster.Poll(ctx, "the hog to die with the connection", func(context.Context) (bool, string, error) {
		left := onHost(t, hs[0], hogProcs)
		return left == "", "hogs " + left, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Stop()
}
