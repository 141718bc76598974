package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/load"
)

// variant is one side of an A/B measurement: the backend's options and
// shared Raft knobs, as -a/-b and -raft-a/-raft-b give them.
type variant struct {
	label   string
	options adapter.Options
	raft    adapter.Raft
}

// parseVariant reads "key=value,key=value" options and a --raft value.
func parseVariant(label, opts, raft string) (variant, error) {
	v := variant{label: label, options: adapter.Options{}}
	for _, kv := range strings.Split(opts, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, val, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return v, fmt.Errorf("-%s %q: want KEY=VALUE[,KEY=VALUE...]", label, opts)
		}
		v.options[k] = val
	}
	_, r, err := adapter.ParseRaft(raft)
	if err != nil {
		return v, fmt.Errorf("-raft-%s %q: %v", label, raft, err)
	}
	v.raft = r
	v.label = fmt.Sprintf("%s: options %q, --raft %s", label, opts, raft)
	return v, nil
}

// abResult is one run's figures.
type abResult struct{ ops, p99 float64 }

// compareVariants runs the same load on the same plugin binary under two
// variants, in rounds that alternate which goes first so that drift of a
// shared machine hits both alike, and prints the medians and their ratios
// (B over A): a before/after of one setting in one sitting.
func compareVariants(ctx context.Context, w io.Writer, plugin cluster.Plugin, storage adapter.Storage, spec load.Spec, rounds int, a, b variant) error {
	var res [2][]abResult
	for r := 0; r < rounds; r++ {
		order := []int{0, 1}
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, i := range order {
			v := []variant{a, b}[i]
			got, err := runVariant(ctx, plugin, storage, spec, v)
			if err != nil {
				return fmt.Errorf("%s, %s: %w", plugin.Name, v.label, err)
			}
			res[i] = append(res[i], got)
		}
	}
	med := func(rs []abResult, f func(abResult) float64) float64 {
		var v []float64
		for _, r := range rs {
			v = append(v, f(r))
		}
		return median(v)
	}
	ops := func(r abResult) float64 { return r.ops }
	p99 := func(r abResult) float64 { return r.p99 }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "impl\tstorage\tthreads\tA ops/s\tB ops/s\tB/A\tA p99 µs\tB p99 µs\tB/A\t\n")
	fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.0f\t%.2f\t%.0f\t%.0f\t%.2f\t\n", plugin.Name, storage, spec.Threads,
		med(res[0], ops), med(res[1], ops), med(res[1], ops)/med(res[0], ops),
		med(res[0], p99), med(res[1], p99), med(res[1], p99)/med(res[0], p99))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "A = %s\nB = %s\n(medians of %d rounds each, alternating order)\n", a.label, b.label, rounds)
	return nil
}

func runVariant(ctx context.Context, p cluster.Plugin, storage adapter.Storage, spec load.Spec, v variant) (abResult, error) {
	c, err := cluster.Start(ctx, cluster.Spec{Plugin: p, Nodes: 3, Storage: storage, GOMAXPROCS: gomaxprocs, Options: v.options, Raft: v.raft})
	if err != nil {
		return abResult{}, err
	}
	defer c.Stop(ctx)
	leader, err := c.Leader(ctx)
	if err != nil {
		return abResult{}, err
	}
	res, err := leader.Node().RunLoad(ctx, spec)
	if err != nil {
		return abResult{}, err
	}
	ops, err := checked(res)
	if err != nil {
		return abResult{}, err
	}
	return abResult{ops: ops, p99: float64(res.Latency.ValueAtQuantile(99))}, nil
}
