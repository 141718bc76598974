package faults

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
)

// cpu-contention confines the target and a busy loop (a hog process in a
// cgroup of its own at the default weight, 1024 shares, on the target's
// machine) to one CPU, the target at lower shares. Effect: the CPU share
// the target got.
func init() {
	registerCgroupKind("cpu-contention", cgroupKind{
		controllers: []string{cgroup.ControllerCPU, cgroup.ControllerCPUSet},
		apply: func(ctx context.Context, b Binding, g Cgroup, m *cluster.Member) (func() error, error) {
			shares, _ := strconv.ParseUint(b.Spec.Param("shares"), 10, 64)
			cpu := b.Spec.Param("cpu")
			machine := b.Env.Machine(m.ID)
			all, err := allCPUs(ctx, machine)
			if err != nil {
				return nil, err
			}
			var hog Hog
			var hogGroup Cgroup
			undo := func() error {
				var errs []error
				if hog != nil {
					errs = append(errs, hog.Stop())
				}
				if hogGroup != nil {
					errs = append(errs, hogGroup.Delete())
				}
				return errors.Join(append(errs, g.SetCPUShares(1024), g.SetCPUs(all))...)
			}
			if err := g.SetCPUs(cpu); err != nil {
				return undo, err
			}
			if err := g.SetCPUShares(shares); err != nil {
				return undo, err
			}
			if hogGroup, err = b.Env.NewCgroup(ctx, m.ID, fmt.Sprintf("hog-n%d", m.ID)); err != nil {
				return undo, err
			}
			if err := hogGroup.SetCPUs(cpu); err != nil {
				return undo, err
			}
			if err := hogGroup.SetCPUShares(1024); err != nil {
				return undo, err
			}
			hog, err = machine.StartHog(ctx, HogSpec{Kind: HogCPU, Cgroup: hogGroup})
			return undo, err
		},
		measure: cpuShare,
	})
}
