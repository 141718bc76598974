package faults

import (
	"errors"
	"os/exec"
	"strconv"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
)

// cpu-contention confines the target and a busy loop (a hog process in a
// cgroup of its own at the default weight, 1024 shares) to one CPU, the
// target at lower shares. Effect: the CPU share the target got.
func init() {
	registerCgroupKind("cpu-contention", cgroupKind{
		apply: func(b Binding, g *cgroup.Group, _ *cluster.Member) (func() error, error) {
			shares, _ := strconv.ParseUint(b.Spec.Param("shares"), 10, 64)
			cpu := b.Spec.Param("cpu")
			var hog *exec.Cmd
			var hogGroup *cgroup.Group
			undo := func() error {
				stopHog(hog)
				var err error
				if hogGroup != nil {
					err = hogGroup.Delete()
				}
				return errors.Join(g.SetCPUShares(1024), g.SetCPUs(allCPUs()), err)
			}
			if err := g.SetCPUs(cpu); err != nil {
				return undo, err
			}
			if err := g.SetCPUShares(shares); err != nil {
				return undo, err
			}
			var err error
			if hogGroup, err = b.Env.NewCgroup("hog"); err != nil {
				return undo, err
			}
			if err := hogGroup.SetCPUs(cpu); err != nil {
				return undo, err
			}
			if err := hogGroup.SetCPUShares(1024); err != nil {
				return undo, err
			}
			if hog, err = startHog("cpu"); err != nil {
				return undo, err
			}
			return undo, hogGroup.AddProcess(hog.Process.Pid)
		},
		measure: cpuShare,
	})
}
