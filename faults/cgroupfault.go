package faults

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// cgroupFault changes the limits of the targets' own cgroups (every node
// process is placed in one when the cluster starts, so every thread,
// present and future, is covered): cpu-slow, cpu-contention, memory,
// disk-slow and pause. Its Effect is measured from the cgroups' own
// counters over the time the fault was in place.
type cgroupFault struct {
	spec    faultspec.Spec
	c       *cluster.Cluster
	targets []*cluster.Member
	groups  []*cgroup.Group

	injected time.Time
	before   []cgroup.Stats
	effect   Effect
	applied  bool

	hog      *exec.Cmd     // cpu-contention
	hogGroup *cgroup.Group // cpu-contention
	devMajor uint64        // disk-slow
	devMinor uint64
}

func newCgroupFault(spec faultspec.Spec, c *cluster.Cluster, targets []*cluster.Member) (Fault, error) {
	f := &cgroupFault{spec: spec, c: c, targets: targets, effect: Effect{}}
	for _, m := range targets {
		g := m.Cgroup()
		if g == nil {
			return nil, fmt.Errorf("%s needs node %d in a cgroup, but the cluster was started without cgroups", spec.Kind, m.ID)
		}
		f.groups = append(f.groups, g)
	}
	return f, nil
}

func (f *cgroupFault) Inject(ctx context.Context) error {
	f.before = make([]cgroup.Stats, len(f.groups))
	for i, g := range f.groups {
		st, err := g.Stats()
		if err != nil {
			return fmt.Errorf("read cgroup stats of node %d: %w", f.targets[i].ID, err)
		}
		f.before[i] = st
	}
	f.injected = time.Now()
	f.applied = true
	for i, g := range f.groups {
		if err := f.apply(g, f.targets[i]); err != nil {
			return fmt.Errorf("%s on node %d: %w", f.spec.Kind, f.targets[i].ID, err)
		}
	}
	return nil
}

func (f *cgroupFault) apply(g *cgroup.Group, m *cluster.Member) error {
	s := f.spec
	switch s.Kind {
	case "cpu-slow":
		quota, _ := faultspec.ParsePercent(s.Param("quota"))
		period, _ := time.ParseDuration(s.Param("period"))
		return g.SetCPUQuota(time.Duration(float64(period)*quota), period)
	case "cpu-contention":
		shares, _ := strconv.ParseUint(s.Param("shares"), 10, 64)
		cpu := s.Param("cpu")
		if err := g.SetCPUs(cpu); err != nil {
			return err
		}
		if err := g.SetCPUShares(shares); err != nil {
			return err
		}
		return f.startCPUHog(cpu)
	case "memory":
		limit, _ := faultspec.ParseBytes(s.Param("limit"))
		oomKill, _ := strconv.ParseBool(s.Param("oom_kill"))
		return g.SetMemoryLimit(limit, !oomKill)
	case "disk-slow":
		major, minor, err := cgroup.DeviceOf(m.DataDir)
		if err != nil {
			return err
		}
		f.devMajor, f.devMinor = major, minor
		p := func(name string) uint64 { v, _ := strconv.ParseUint(s.Param(name), 10, 64); return v }
		return g.SetIOLimit(major, minor, p("read_bps"), p("write_bps"), p("read_iops"), p("write_iops"))
	case "pause":
		return g.Freeze()
	}
	return fmt.Errorf("not a cgroup fault")
}

// startCPUHog starts a busy loop in a cgroup of its own at the default
// weight (1024 shares), confined to the victim's CPU.
func (f *cgroupFault) startCPUHog(cpu string) error {
	g, err := f.c.NewCgroup("hog")
	if err != nil {
		return err
	}
	f.hogGroup = g
	if err := g.SetCPUs(cpu); err != nil {
		return err
	}
	if err := g.SetCPUShares(1024); err != nil {
		return err
	}
	f.hog, err = startHog("cpu")
	if err != nil {
		return err
	}
	return g.AddProcess(f.hog.Process.Pid)
}

// Revert undoes every limit, even after a partial Inject, and measures the
// effect from the counters first.
func (f *cgroupFault) Revert(ctx context.Context) error {
	if !f.applied {
		return nil
	}
	f.applied = false
	f.measure()
	var errs []error
	for i, g := range f.groups {
		if err := f.undo(g); err != nil {
			errs = append(errs, fmt.Errorf("revert %s on node %d: %w", f.spec.Kind, f.targets[i].ID, err))
		}
	}
	if f.hog != nil {
		stopHog(f.hog)
		f.hog = nil
	}
	if f.hogGroup != nil {
		if err := f.hogGroup.Delete(); err != nil {
			errs = append(errs, err)
		}
		f.hogGroup = nil
	}
	return errors.Join(errs...)
}

func (f *cgroupFault) undo(g *cgroup.Group) error {
	switch f.spec.Kind {
	case "cpu-slow":
		return g.ClearCPUQuota()
	case "cpu-contention":
		return errors.Join(g.SetCPUShares(1024), g.SetCPUs(allCPUs()))
	case "memory":
		return g.ClearMemoryLimit()
	case "disk-slow":
		if f.devMajor == 0 && f.devMinor == 0 {
			return nil
		}
		return g.ClearIOLimit(f.devMajor, f.devMinor)
	case "pause":
		return g.Thaw()
	}
	return nil
}

// measure records what the cgroup counters say the fault did.
func (f *cgroupFault) measure() {
	wall := time.Since(f.injected)
	f.effect["window_s"] = seconds(wall)
	for i, g := range f.groups {
		after, err := g.Stats()
		if err != nil {
			f.effect[fmt.Sprintf("n%d_error", f.targets[i].ID)] = err.Error()
			continue
		}
		b := f.before[i]
		key := func(name string) string { return fmt.Sprintf("n%d_%s", f.targets[i].ID, name) }
		switch f.spec.Kind {
		case "cpu-slow", "cpu-contention", "pause":
			share := float64(after.CPUUsage-b.CPUUsage) / float64(wall)
			f.effect[key("cpu_share")] = strconv.FormatFloat(share, 'f', 4, 64)
			if f.spec.Kind == "cpu-slow" {
				f.effect[key("throttled_periods")] = fmt.Sprintf("%d/%d", after.NrThrottled-b.NrThrottled, after.NrPeriods-b.NrPeriods)
			}
		case "memory":
			f.effect[key("mem_peak_bytes")] = strconv.FormatUint(after.MemoryPeak, 10)
			f.effect[key("oom_events")] = strconv.FormatUint(after.OOMEvents-b.OOMEvents, 10)
			f.effect[key("oom_kills")] = strconv.FormatUint(after.OOMKills-b.OOMKills, 10)
		case "disk-slow":
			f.effect[key("write_bytes")] = strconv.FormatUint(after.IOWriteBytes-b.IOWriteBytes, 10)
			f.effect[key("write_ops")] = strconv.FormatUint(after.IOWriteOps-b.IOWriteOps, 10)
		}
	}
}

func (f *cgroupFault) Effect() Effect { return f.effect }

// allCPUs is the cpuset of every CPU, to undo a confinement.
func allCPUs() string { return fmt.Sprintf("0-%d", runtime.NumCPU()-1) }
