package faults

import (
	"context"
	"strconv"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
)

// disk-slow throttles each target's I/O on the device holding its data
// directory. Effect: the bytes and operations each wrote meanwhile.
func init() {
	registerCgroupKind("disk-slow", cgroupKind{
		controllers: []string{cgroup.ControllerIO},
		apply: func(ctx context.Context, b Binding, g Cgroup, m *cluster.Member) (func() error, error) {
			major, minor, err := b.Env.Machine(m.ID).DeviceOf(ctx, m.DataDir)
			if err != nil {
				return nil, err
			}
			p := func(name string) uint64 { v, _ := strconv.ParseUint(b.Spec.Param(name), 10, 64); return v }
			undo := func() error { return g.ClearIOLimit(major, minor) }
			return undo, g.SetIOLimit(major, minor, p("read_bps"), p("write_bps"), p("read_iops"), p("write_iops"))
		},
		measure: func(before, after cgroup.Stats, _ time.Duration) Effect {
			return Effect{
				"write_bytes": strconv.FormatUint(after.IOWriteBytes-before.IOWriteBytes, 10),
				"write_ops":   strconv.FormatUint(after.IOWriteOps-before.IOWriteOps, 10),
			}
		},
	})
}
