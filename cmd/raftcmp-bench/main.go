// Command raftcmp-bench measures what raftcmp's architecture costs: for
// each backend it runs the same load on the same adapter code twice, once
// as raftcmp runs it (three plugin processes, the embedded client in the
// leader's process) and once with all three nodes in this one process
// (core/inproc, started and driven by the same cluster code), and prints
// both throughputs and their ratio. Rounds alternate the order so drift of
// a shared machine hits both alike.
//
// With -a/-b (backend options) or -raft-a/-raft-b (shared Raft knobs) it
// instead compares two configurations of one backend as plugin processes,
// alternating in the same way: a before/after of one setting in one sitting.
//
// It links every backend in, which raftcmp itself never does.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/inproc"
	"github.com/raftcmp/raftcmp/core/load"
	"github.com/raftcmp/raftcmp/plugins/dragonboat"
	"github.com/raftcmp/raftcmp/plugins/etcd"
	"github.com/raftcmp/raftcmp/plugins/hashicorp"
)

// gomaxprocs is the plugin processes' GOMAXPROCS.
var gomaxprocs int

// backends are the adapters linked into this binary.
var backends = map[string]func() adapter.Node{
	"hashicorp":  func() adapter.Node { return hashicorp.New() },
	"etcd":       func() adapter.Node { return etcd.New() },
	"dragonboat": func() adapter.Node { return dragonboat.New() },
}

func main() {
	impls := flag.String("impl", "", "backends, comma-separated (default: all linked in)")
	storage := flag.String("storage", "memory", "storage mode")
	threads := flag.Int("threads", 8, "client threads")
	payload := flag.Int("payload", 2048, "payload bytes")
	warmup := flag.Duration("warmup", time.Second, "warm-up")
	duration := flag.Duration("duration", 5*time.Second, "measured window")
	rounds := flag.Int("rounds", 2, "rounds per backend; each round runs both modes")
	pluginDir := flag.String("plugin-dir", "bin", "where the raftcmp-plugin-* binaries are")
	flag.IntVar(&gomaxprocs, "gomaxprocs", experiment.GOMAXPROCSFor(3, runtime.NumCPU()), "GOMAXPROCS of each plugin process (0: Go's default); the in-process run keeps this process's")
	optsA := flag.String("a", "", "A/B mode: backend options KEY=VALUE,... of variant A (one backend, plugins only)")
	optsB := flag.String("b", "", "A/B mode: backend options of variant B")
	raftA := flag.String("raft-a", adapter.ProfileProduction, "A/B mode: shared Raft knobs of variant A, as raftcmp run --raft")
	raftB := flag.String("raft-b", adapter.ProfileProduction, "A/B mode: shared Raft knobs of variant B")
	noopCeiling := flag.Bool("ceiling", false, "measure raftcmp's own ceiling and CPU per op with the noop backend, then exit")
	flag.Parse()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))

	names := slices.Sorted(func(yield func(string) bool) {
		for k := range backends {
			if !yield(k) {
				return
			}
		}
	})
	if *impls != "" {
		names = strings.Split(*impls, ",")
	}
	spec := load.Spec{Threads: *threads, PayloadBytes: *payload, Warmup: *warmup, Duration: *duration}
	ctx := context.Background()
	if *noopCeiling {
		if err := ceiling(ctx, os.Stdout, *pluginDir, *threads, *duration); err != nil {
			fmt.Fprintln(os.Stderr, "raftcmp-bench:", err)
			os.Exit(1)
		}
		return
	}
	if *optsA != "" || *optsB != "" || *raftA != adapter.ProfileProduction || *raftB != adapter.ProfileProduction {
		if len(names) != 1 {
			fmt.Fprintln(os.Stderr, "raftcmp-bench: A/B mode measures one backend: give -impl NAME")
			os.Exit(2)
		}
		a, errA := parseVariant("a", *optsA, *raftA)
		b, errB := parseVariant("b", *optsB, *raftB)
		plugin, errP := cluster.Find(names[0], []string{*pluginDir})
		for _, err := range []error{errA, errB, errP} {
			if err != nil {
				fmt.Fprintln(os.Stderr, "raftcmp-bench:", err)
				os.Exit(2)
			}
		}
		if err := compareVariants(ctx, os.Stdout, plugin, adapter.Storage(*storage), spec, *rounds, a, b); err != nil {
			fmt.Fprintln(os.Stderr, "raftcmp-bench:", err)
			os.Exit(1)
		}
		return
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "impl\tstorage\tthreads\tplugins ops/s\tin-process ops/s\tratio\t\n")
	for _, name := range names {
		newNode, ok := backends[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "raftcmp-bench: unknown backend %q\n", name)
			os.Exit(2)
		}
		plugin, err := cluster.Find(name, []string{*pluginDir})
		if err != nil {
			fmt.Fprintln(os.Stderr, "raftcmp-bench:", err)
			os.Exit(2)
		}
		var viaPlugins, inProcess []float64
		for r := 0; r < *rounds; r++ {
			modes := []func() (float64, error){
				func() (float64, error) { return runPlugins(ctx, plugin, adapter.Storage(*storage), spec) },
				func() (float64, error) { return runInProcess(ctx, name, newNode, adapter.Storage(*storage), spec) },
			}
			if r%2 == 1 {
				slices.Reverse(modes)
			}
			for i, m := range modes {
				v, err := m()
				if err != nil {
					fmt.Fprintf(os.Stderr, "raftcmp-bench: %s: %v\n", name, err)
					os.Exit(1)
				}
				if (i == 0) == (r%2 == 0) {
					viaPlugins = append(viaPlugins, v)
				} else {
					inProcess = append(inProcess, v)
				}
			}
		}
		p, q := median(viaPlugins), median(inProcess)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.0f\t%.2f\t\n", name, *storage, *threads, p, q, p/q)
	}
	tw.Flush()
}

func runPlugins(ctx context.Context, p cluster.Plugin, storage adapter.Storage, spec load.Spec) (float64, error) {
	return run(ctx, cluster.Spec{Plugin: p, Nodes: 3, Storage: storage, GOMAXPROCS: gomaxprocs}, spec)
}

func runInProcess(ctx context.Context, name string, newNode func() adapter.Node, storage adapter.Storage, spec load.Spec) (float64, error) {
	return run(ctx, cluster.Spec{Plugin: cluster.Plugin{Name: name}, Launcher: inproc.Launcher{New: newNode}, Nodes: 3, Storage: storage}, spec)
}

// run starts the cluster cs, runs the load in its leader's process (the
// embedded client) and returns the throughput.
func run(ctx context.Context, cs cluster.Spec, spec load.Spec) (float64, error) {
	c, err := cluster.Start(ctx, cs)
	if err != nil {
		return 0, err
	}
	defer c.Stop(ctx)
	leader, err := c.Leader(ctx)
	if err != nil {
		return 0, err
	}
	res, err := leader.Node().RunLoad(ctx, spec)
	if err != nil {
		return 0, err
	}
	return checked(res)
}

func checked(res *load.Result) (float64, error) {
	if res.ErrorCount() > 0 {
		return 0, fmt.Errorf("load had errors: %v", res.Errors)
	}
	return res.Throughput(), nil
}

func median(v []float64) float64 {
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
