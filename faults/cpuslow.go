package faults

import (
	"context"
	"fmt"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// cpu-slow holds each target to a CPU quota per period (CFS bandwidth
// control). Effect: the CPU share each got and its throttled periods.
func init() {
	registerCgroupKind("cpu-slow", cgroupKind{
		controllers: []string{cgroup.ControllerCPU},
		apply: func(_ context.Context, b Binding, g Cgroup, _ *cluster.Member) (func() error, error) {
			quota, _ := faultspec.ParsePercent(b.Spec.Param("quota"))
			period, _ := time.ParseDuration(b.Spec.Param("period"))
			return g.ClearCPUQuota, g.SetCPUQuota(time.Duration(float64(period)*quota), period)
		},
		measure: func(before, after cgroup.Stats, wall time.Duration) Effect {
			e := cpuShare(before, after, wall)
			e["throttled_periods"] = fmt.Sprintf("%d/%d", after.NrThrottled-before.NrThrottled, after.NrPeriods-before.NrPeriods)
			return e
		},
	})
}
