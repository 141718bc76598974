// Package preflight inspects the machine for what can distort or
// invalidate a benchmark run before it starts: nodes sharing CPUs, a CPU
// clock that follows load, SMT, transparent huge pages, swap, a "disk" data
// directory on tmpfs, cgroups that faults cannot use, a slow clock source,
// and other processes busy on the machine. Each Finding says what was
// found, what it means for the results, what to change, and how bad it is
// (reports.Severity: ok, warn, bad; bad = a run here would not measure what
// it claims to). `raftcmp doctor` prints the findings; every run records
// them in meta.json (reports.Meta.Preflight).
//
// A file that is not there (no cpufreq in a virtual machine, no SMT
// control) is a finding ("not readable here"), never an error: Check
// always returns one Finding per check. The roots of /sys, /proc and the
// cgroup mount are Options, so tests stand a temporary directory in for
// them.
package preflight

import (
	"context"
	"os"
	"runtime"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/reports"
)

// Finding is one check's result; see reports.Finding.
type Finding = reports.Finding

// Options says what the run will be and where to look.
type Options struct {
	// Nodes is the number of nodes this machine will run (the experiment's
	// cluster size; 0 when every node runs on another host). raftcmp and
	// its client count as one more.
	Nodes int
	// Storage is the run's storage mode (default disk): it decides whether
	// a tmpfs data directory is expected or invalidates the run.
	Storage adapter.Storage
	// DataDir is where node data directories will be made (default: the
	// storage mode's, cluster.DataRoot). It need not exist yet: its nearest
	// existing parent is inspected.
	DataDir string
	// CPUs is the number of CPUs raftcmp may use (default
	// runtime.NumCPU(), which honours the affinity mask).
	CPUs int
	// Sample is how long other processes' CPU use is sampled (default
	// 500 ms).
	Sample time.Duration
	// Self is raftcmp's own process id (default os.Getpid()); it and its
	// descendants are not "other processes".
	Self int
	// SysRoot, ProcRoot and CgroupRoot are where sysfs, procfs and the
	// cgroup file system are mounted (default /sys, /proc and
	// /sys/fs/cgroup).
	SysRoot, ProcRoot, CgroupRoot string
}

// check is one inspection: its name (Finding.Check) and how it runs.
type check struct {
	name string
	run  func(ctx context.Context, o Options) Finding
}

// checks are every inspection, in the order they are reported.
var checks = []check{
	{"cores", checkCores},
	{"governor", checkGovernor},
	{"turbo", checkTurbo},
	{"smt", checkSMT},
	{"thp", checkTHP},
	{"swap", checkSwap},
	{"data-dir", checkDataDir},
	{"cgroups", checkCgroups},
	{"clocksource", checkClocksource},
	{"busy-processes", checkBusy},
}

// Check runs every check against the machine o describes and returns one
// Finding per check, in a fixed order. It takes about o.Sample (the busy
// process sample) and returns early, with that check saying so, when ctx
// ends.
func Check(ctx context.Context, o Options) []Finding {
	o = o.withDefaults()
	out := make([]Finding, 0, len(checks))
	for _, c := range checks {
		f := c.run(ctx, o)
		f.Check = c.name
		out = append(out, f)
	}
	return out
}

// Worst returns the highest severity among fs (SeverityOK for none).
func Worst(fs []Finding) reports.Severity {
	worst := reports.SeverityOK
	for _, f := range fs {
		if rank(f.Severity) > rank(worst) {
			worst = f.Severity
		}
	}
	return worst
}

func rank(s reports.Severity) int {
	switch s {
	case reports.SeverityBad:
		return 2
	case reports.SeverityWarn:
		return 1
	}
	return 0
}

func (o Options) withDefaults() Options {
	if o.Storage == "" {
		o.Storage = adapter.StorageDisk
	}
	if o.DataDir == "" {
		o.DataDir = cluster.DataRoot(o.Storage)
	}
	if o.CPUs <= 0 {
		o.CPUs = runtime.NumCPU()
	}
	if o.Sample <= 0 {
		o.Sample = 500 * time.Millisecond
	}
	if o.Self <= 0 {
		o.Self = os.Getpid()
	}
	if o.SysRoot == "" {
		o.SysRoot = "/sys"
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	if o.CgroupRoot == "" {
		o.CgroupRoot = o.SysRoot + "/fs/cgroup"
	}
	return o
}
