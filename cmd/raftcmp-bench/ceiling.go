package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
)

// ceiling measures raftcmp's own limits with the noop backend (a one-node
// cluster that commits instantly): the load generator's throughput in the
// embedded and external placements, and the CPU the harness spends per
// operation (generator, plugin plumbing, digest), which is the floor under
// every backend's own CPU per operation.
func ceiling(ctx context.Context, w io.Writer, pluginDir string, threads int, d time.Duration) error {
	p, err := cluster.Find("noop", []string{pluginDir})
	if err != nil {
		return err
	}
	c, err := cluster.Start(ctx, cluster.Spec{Plugin: p, Nodes: 1, Storage: adapter.StorageMemory})
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	m := c.Member(1)
	spec := load.Spec{Threads: threads, PayloadBytes: 16, Warmup: 500 * time.Millisecond, Duration: d}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "noop client\tthreads\tops/s\tharness CPU ns/op (plugin)\tharness CPU ns/op (raftcmp)\t\n")
	for _, mode := range []string{"embedded", "external"} {
		pb, sb := procCPU(m), selfCPU()
		var res *load.Result
		if mode == "embedded" {
			res, err = m.Node().RunLoad(ctx, spec)
		} else {
			client, ok := m.Node().(*adapter.Client)
			if !ok {
				return fmt.Errorf("node 1 is not a plugin process")
			}
			sp, perr := client.Proposer(ctx)
			if perr != nil {
				return perr
			}
			res, err = load.Run(ctx, spec, sp.Propose)
			sp.Close()
		}
		if err != nil {
			return fmt.Errorf("%s noop load: %w", mode, err)
		}
		// CPU over warm-up and window, per op completed in that time.
		ops := float64(res.Acked)
		plug := float64(procCPU(m)-pb) / ops
		self := float64(selfCPU()-sb) / ops
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t\n", mode, threads, res.Throughput(), plug, self)
	}
	return tw.Flush()
}

// procCPU is a member's process's user+system CPU time (0 if unreadable).
func procCPU(m *cluster.Member) time.Duration {
	u, _ := m.Process().Usage()
	return u.CPU
}

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
