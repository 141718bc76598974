package faults

import (
	"context"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
)

// pause freezes every thread of each target (cgroup freezer), then thaws
// it. Effect: the CPU share each got (about 0 while frozen).
func init() {
	registerCgroupKind("pause", cgroupKind{
		controllers: []string{cgroup.ControllerFreezer},
		apply: func(_ context.Context, _ Binding, g Cgroup, _ *cluster.Member) (func() error, error) {
			return g.Thaw, g.Freeze()
		},
		measure: cpuShare,
	})
}
