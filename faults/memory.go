package faults

import (
	"context"
	"strconv"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// memory limits each target's memory; with oom_kill=false the node stalls
// at the limit instead of being killed. Effect: the peak memory and the
// OOM events and kills.
func init() {
	registerCgroupKind("memory", cgroupKind{
		controllers: []string{cgroup.ControllerMemory},
		apply: func(_ context.Context, b Binding, g Cgroup, _ *cluster.Member) (func() error, error) {
			limit, _ := faultspec.ParseBytes(b.Spec.Param("limit"))
			oomKill, _ := strconv.ParseBool(b.Spec.Param("oom_kill"))
			return g.ClearMemoryLimit, g.SetMemoryLimit(limit, !oomKill)
		},
		measure: func(before, after cgroup.Stats, _ time.Duration) Effect {
			return Effect{
				"mem_peak_bytes": strconv.FormatUint(after.MemoryPeak, 10),
				"oom_events":     strconv.FormatUint(after.OOMEvents-before.OOMEvents, 10),
				"oom_kills":      strconv.FormatUint(after.OOMKills-before.OOMKills, 10),
			}
		},
	})
}
