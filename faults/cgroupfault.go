package faults

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
)

// cgroupKind is a kind that acts by changing the limits of its targets'
// own cgroups (every node process is placed in one when it starts, so every
// thread, present and future, is covered). Its Effect is measured from the
// cgroups' own counters over the time the fault was in place.
type cgroupKind struct {
	// controllers are the cgroup controllers (cgroup.Controller* names)
	// the kind needs on its targets' machines, checked before a run.
	controllers []string
	// apply sets the kind's limits on g, the cgroup of target m on m's
	// machine, and returns how to undo them. undo (if not nil) is called
	// on Revert even when apply failed partway, so apply returns it before
	// its first change.
	apply func(ctx context.Context, b Binding, g Cgroup, m *cluster.Member) (undo func() error, err error)
	// measure says what one target's counters show, before and after the
	// fault's window of length wall, as effect names (without the node
	// prefix) and values.
	measure func(before, after cgroup.Stats, wall time.Duration) Effect
}

// registerCgroupKind registers a kind that acts through cgroups.
func registerCgroupKind(kind string, k cgroupKind) {
	register(kind, mechanism{cgroups: true, controllers: k.controllers, new: func(b Binding) (Fault, error) {
		f := &cgroupFault{b: b, kind: k, effect: Effect{}}
		for _, m := range b.Targets {
			f.groups = append(f.groups, b.Env.Cgroup(m.ID))
		}
		return f, nil
	}})
}

// cgroupFault is a cgroupKind bound to its targets.
type cgroupFault struct {
	b      Binding
	kind   cgroupKind
	groups []Cgroup // of b.Targets, in order

	before  []sample // of groups, once the fault is in place
	undo    []undoOn
	effect  Effect
	applied bool
}

// sample is a cgroup's counters and when they were read.
type sample struct {
	at time.Time
	st cgroup.Stats
}

// readStats samples g's counters, dated at the middle of the read: on a
// remote host a read is an SSH exec, and the node runs on meanwhile.
func readStats(g Cgroup) (sample, error) {
	t0 := time.Now()
	st, err := g.Stats()
	return sample{at: t0.Add(time.Since(t0) / 2), st: st}, err
}

// undoOn is how to undo what apply did to one node.
type undoOn struct {
	node uint64
	undo func() error
}

// Inject applies the kind to every target, then samples their counters:
// the effect is measured from the moment the fault is in place (applying
// it on a remote host takes an SSH exec, during which the node runs as
// before).
func (f *cgroupFault) Inject(ctx context.Context) error {
	f.applied = true
	for i, g := range f.groups {
		undo, err := f.kind.apply(ctx, f.b, g, f.b.Targets[i])
		if undo != nil {
			f.undo = append(f.undo, undoOn{f.b.Targets[i].ID, undo})
		}
		if err != nil {
			return fmt.Errorf("%s on node %d: %w", f.b.Spec.Kind, f.b.Targets[i].ID, err)
		}
	}
	for i, g := range f.groups {
		s, err := readStats(g)
		if err != nil {
			return fmt.Errorf("read cgroup stats of node %d: %w", f.b.Targets[i].ID, err)
		}
		f.before = append(f.before, s)
	}
	return nil
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
	for _, u := range f.undo {
		if err := u.undo(); err != nil {
			errs = append(errs, fmt.Errorf("revert %s on node %d: %w", f.b.Spec.Kind, u.node, err))
		}
	}
	f.undo = nil
	return errors.Join(errs...)
}

// measure records what the cgroup counters say the fault did, for every
// target whose counters were sampled once it was in place.
func (f *cgroupFault) measure() {
	for i, before := range f.before {
		prefix := fmt.Sprintf("n%d_", f.b.Targets[i].ID)
		after, err := readStats(f.groups[i])
		if err != nil {
			f.effect[prefix+"error"] = err.Error()
			continue
		}
		wall := after.at.Sub(before.at)
		if i == 0 {
			f.effect["window_s"] = seconds(wall)
		}
		for k, v := range f.kind.measure(before.st, after.st, wall) {
			f.effect[prefix+k] = v
		}
	}
}

func (f *cgroupFault) Effect() Effect { return f.effect }

// cpuShare is the share of one CPU a cgroup used over wall.
func cpuShare(before, after cgroup.Stats, wall time.Duration) Effect {
	share := float64(after.CPUUsage-before.CPUUsage) / float64(wall)
	return Effect{"cpu_share": strconv.FormatFloat(share, 'f', 4, 64)}
}

// allCPUs is the cpuset of every CPU of m, to undo a confinement.
func allCPUs(ctx context.Context, m Machine) (string, error) {
	info, err := m.Info(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("count the CPUs of %s: %w", m.Name(), err)
	}
	return fmt.Sprintf("0-%d", info.CPUs-1), nil
}
