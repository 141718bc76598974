package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/runner"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/reports"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run an experiment and write its results directory",
		Description: "Starts a fresh cluster of each backend for every point (backend x thread count x repeat),\n" +
			"runs the load in the leader's process, checks that every node applied the same log,\n" +
			"and writes results.csv, timeseries.csv, meta.json and report.md to --out.\n" +
			"The defaults are the original experiment: 3 nodes, threads 2:20:2, 40000 ops/s, 2048 B, 20 s.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Usage: "results directory (default results/run-<time>, or the file's out)"},
			&cli.BoolFlag{Name: "overwrite", Usage: "replace the results already in --out"},
			&cli.StringFlag{Name: "resume", Usage: "continue the run in this results directory: skip its recorded points, run the rest (the experiment is the recorded one unless flags or -f give it)"},
			&cli.BoolFlag{Name: "keep-data", Usage: "keep node data directories after each point"},
			&cli.StringFlag{Name: "data-dir", Usage: "where node data directories go (default: system temp dir; /dev/shm for tmpfs)"},
		}, experimentFlags()...),
		Action: runAction,
	}
}

// experimentFlags are the flags that state an experiment, shared by run and
// plan. Their defaults are the original experiment's.
func experimentFlags() []cli.Flag {
	def := experiment.Default()
	return []cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "experiment file (YAML, docs/experiment-format.md); flags override it"},
		&cli.StringFlag{Name: "impl", Usage: "backends, comma-separated (default: every plugin found)"},
		&cli.IntFlag{Name: "nodes", Value: def.Nodes, Usage: "cluster size"},
		&cli.StringFlag{Name: "threads", Value: "2:20:2", Usage: "client threads: N, a list N,M or a range FROM:TO:STEP"},
		&cli.Float64Flag{Name: "rate", Value: def.Rate, Usage: "total target ops/s shared by the threads; 0 = unthrottled"},
		&cli.IntFlag{Name: "payload", Value: def.PayloadBytes, Usage: fmt.Sprintf("bytes per proposal (1 to %d)", experiment.MaxPayloadBytes)},
		&cli.DurationFlag{Name: "duration", Value: def.Duration, Usage: "measured window per point"},
		&cli.DurationFlag{Name: "warmup", Value: def.Warmup, Usage: "load before the measured window, not measured"},
		&cli.DurationFlag{Name: "interval", Value: def.Interval, Usage: "time-series bucket width"},
		&cli.DurationFlag{Name: "op-timeout", Value: def.OpTimeout, Usage: "deadline of one proposal"},
		&cli.IntFlag{Name: "repeat", Value: def.Repeat, Usage: "runs of each point, interleaved across backends"},
		&cli.StringFlag{Name: "storage", Value: string(def.Storage), Usage: "disk, tmpfs (data on /dev/shm) or memory (in-memory log)"},
		&cli.StringFlag{Name: "client", Value: "embedded", Usage: "where the load runs: embedded (in the leader's process, as the original experiment) or external (in raftcmp, following leader changes)"},
		&cli.StringFlag{Name: "loop", Value: "closed", Usage: "load model: closed (each thread waits for its proposal) or open (requests on a schedule at --rate, latency from the intended start)"},
		&cli.StringSliceFlag{Name: "opt", Usage: "backend option IMPL.KEY=VALUE (repeatable), e.g. hashicorp.log_store=wal"},
		&cli.StringFlag{Name: "gomaxprocs", Value: "auto", Usage: "GOMAXPROCS of each node: auto (its share of the CPUs, CPUs/nodes, at least 2), go (Go's default: all CPUs) or N"},
		&cli.StringFlag{Name: "cpus", Usage: "pin node i to the i-th CPU of this list, e.g. 0,1,1 (as taskset did in the original)"},
		&cli.StringSliceFlag{Name: "fault", Usage: "fault KIND[:TARGET][,param=value...] (repeatable; each its own set of points; none = baseline), e.g. cpu-slow:follower,quota=5%"},
		pluginDirFlag(),
		insecurePluginFlag(),
	}
}

// specFromFlags reads the experiment: the defaults (the original
// experiment) or, with --resume, the recorded experiment; then the file
// given with -f; then every flag the user set.
// It validates the result and resolves each backend's plugin. It also
// returns the output directory the file names, if any.
func specFromFlags(c *cli.Context) (experiment.Spec, map[string]cluster.Plugin, string, error) {
	s := experiment.Default()
	if dir := c.String("resume"); dir != "" {
		recorded, err := recordedSpec(dir)
		if err != nil {
			return s, nil, "", err
		}
		s = recorded
	}
	var outFromFile string
	if path := c.String("file"); path != "" {
		f, err := experiment.LoadFile(path)
		if err != nil {
			return s, nil, "", err
		}
		if err := f.Apply(&s, c.IsSet); err != nil {
			return s, nil, "", err
		}
		outFromFile = f.OutDir()
	}
	var err error
	if c.IsSet("threads") {
		if s.Threads, err = experiment.ParseThreads(c.String("threads")); err != nil {
			return s, nil, "", err
		}
	}
	if c.IsSet("nodes") {
		s.Nodes = c.Int("nodes")
	}
	if c.IsSet("rate") {
		s.Rate = c.Float64("rate")
	}
	if c.IsSet("client") {
		s.Client = c.String("client")
	}
	if c.IsSet("loop") {
		s.Loop = c.String("loop")
	}
	if c.IsSet("payload") {
		s.PayloadBytes = c.Int("payload")
	}
	if c.IsSet("duration") {
		s.Duration = c.Duration("duration")
	}
	if c.IsSet("warmup") {
		s.Warmup = c.Duration("warmup")
	}
	if c.IsSet("interval") {
		s.Interval = c.Duration("interval")
	}
	if c.IsSet("op-timeout") {
		s.OpTimeout = c.Duration("op-timeout")
	}
	if c.IsSet("repeat") {
		s.Repeat = c.Int("repeat")
	}
	if c.IsSet("storage") {
		s.Storage = adapter.Storage(c.String("storage"))
	}
	if c.IsSet("gomaxprocs") {
		if s.GOMAXPROCS, err = experiment.ParseGOMAXPROCS(c.String("gomaxprocs")); err != nil {
			return s, nil, "", err
		}
	}
	for _, o := range c.StringSlice("opt") {
		if err := experiment.ParseOption(s.Options, o); err != nil {
			return s, nil, "", err
		}
	}
	if c.IsSet("cpus") {
		if s.CPUs, err = experiment.ParseCPUs(c.String("cpus")); err != nil {
			return s, nil, "", err
		}
	}
	if c.IsSet("fault") {
		s.Faults = nil
		for _, f := range c.StringSlice("fault") {
			spec, err := faultspec.Parse(f)
			if err != nil {
				return s, nil, "", err
			}
			s.Faults = append(s.Faults, spec)
		}
	}
	plugins, err := resolveBackends(c, &s)
	if err != nil {
		return s, nil, "", err
	}
	return s, plugins, outFromFile, nil
}

// recordedSpec reads the experiment a results directory's meta.json holds.
func recordedSpec(dir string) (experiment.Spec, error) {
	meta, err := reports.ReadMeta(dir)
	if err != nil {
		return experiment.Spec{}, fmt.Errorf("--resume %q: %v", dir, err)
	}
	b, err := json.Marshal(meta.Experiment)
	if err != nil {
		return experiment.Spec{}, fmt.Errorf("--resume %q: %v", dir, err)
	}
	var s experiment.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return experiment.Spec{}, fmt.Errorf("--resume %q: meta.json's experiment: %v", dir, err)
	}
	return s, nil
}

func runAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageError(fmt.Errorf("run takes no arguments (got %q); flags start with --", c.Args().First()))
	}
	spec, plugins, fileOut, err := specFromFlags(c)
	if err != nil {
		return usageError(err)
	}
	out := c.String("out")
	resume := c.String("resume")
	if resume != "" {
		if out != "" && out != resume {
			return usageError(fmt.Errorf("--out %q: a resumed run writes to its own directory (--resume %q)", out, resume))
		}
		if _, err := os.Stat(filepath.Join(resume, reports.MetaFile)); err != nil {
			return usageError(fmt.Errorf("--resume %q: not a results directory (no %s)", resume, reports.MetaFile))
		}
		out = resume
		meta, err := reports.ReadMeta(resume)
		if err != nil {
			return usageError(fmt.Errorf("--resume %q: %v", resume, err))
		}
		if _, fp := spec.Comparable(); fp != meta.Fingerprint {
			now, _ := spec.Comparable()
			was, _ := json.Marshal(meta.Comparable)
			is, _ := json.Marshal(now)
			return usageError(fmt.Errorf("--resume %q: the experiment changed in a way that makes the recorded rows incomparable: recorded %s, now %s", resume, was, is))
		}
	}
	if out == "" {
		out = fileOut
	}
	if out == "" {
		out = filepath.Join("results", "run-"+time.Now().Format("20060102-150405"))
	}
	if _, err := os.Stat(filepath.Join(out, reports.ResultsFile)); err == nil && resume == "" {
		if !c.Bool("overwrite") {
			return usageError(fmt.Errorf("--out %q: already holds %s; choose another directory or pass --overwrite", out, reports.ResultsFile))
		}
		if err := reports.RemoveResults(out); err != nil {
			return cli.Exit(fmt.Sprintf("clear %s: %v", out, err), 1)
		}
	}
	dataRoot := c.String("data-dir")
	if dataRoot == "" {
		dataRoot = cluster.DataRoot(spec.Storage)
	}
	if fi, err := os.Stat(dataRoot); err != nil || !fi.IsDir() {
		return usageError(fmt.Errorf("--data-dir %q: must be an existing directory", dataRoot))
	}

	var cgroups *cgroup.Manager
	if runner.NeedsCgroups(spec) {
		// Checked before anything starts: a cgroup fault cannot be faked.
		if err := cgroup.Available(); err != nil {
			return usageError(fmt.Errorf("--fault: this experiment's faults need cgroups: %v", err))
		}
		if cgroups, err = cgroup.NewManager(cgroup.DefaultRoot); err != nil {
			return usageError(fmt.Errorf("--fault: %v", err))
		}
	}

	soft, hard, stopSignals := interrupts(c.App.ErrWriter)
	defer stopSignals()
	if err := checkLimits(soft, spec, plugins); err != nil && soft.Err() == nil {
		return usageError(err)
	}
	noticeLeftovers(c.App.ErrWriter, dataRoot)
	var faultNames []string
	for _, f := range spec.Faults {
		faultNames = append(faultNames, f.String())
	}
	fmt.Fprintf(c.App.ErrWriter, "raftcmp: %d points (%s; faults %s; threads %v; %d nodes; storage %s), results in %s\n",
		len(spec.Points()), strings.Join(spec.Impls, ", "), strings.Join(faultNames, " | "), spec.Threads, spec.Nodes, spec.Storage, out)
	total := len(spec.Points())
	obs := newProgress(c.App.ErrWriter, total)
	sum, err := runner.Run(hard, runner.Config{
		Spec: spec, Plugins: plugins, OutDir: out, DataRoot: dataRoot, KeepData: c.Bool("keep-data"),
		Command: os.Args, Observer: obs, Soft: soft, Cgroups: cgroups, Resume: resume != "",
	})
	obs.Done()
	if sum != nil {
		printTable(c.App.Writer, sum.Rows)
		fmt.Fprintf(c.App.ErrWriter, "raftcmp: report in %s\n", filepath.Join(out, reports.ReportFile))
	}
	switch {
	case err != nil:
		return cli.Exit(err.Error(), 1)
	case sum.Interrupted:
		return cli.Exit(fmt.Sprintf("interrupted after %d of %d points; finished points are in %s", len(sum.Rows), len(spec.Points()), out), exitInterrupted)
	case noneRan(sum.Rows):
		return cli.Exit(fmt.Sprintf("no point ran: %d of %d failed or unsupported, for these reasons:\n%s", len(sum.Rows), len(spec.Points()), reasons(sum.Rows)), exitFailedPoints)
	case sum.Failed > 0:
		return cli.Exit(fmt.Sprintf("%d of %d points failed; reasons in %s", sum.Failed, len(sum.Rows), filepath.Join(out, reports.ReportFile)), exitFailedPoints)
	}
	return nil
}

// noneRan reports whether rows, the points a run attempted, hold none that
// ran (every one failed or unsupported). A run that attempted nothing (a
// resumed run with nothing left) is not one of them.
func noneRan(rows []reports.Row) bool {
	return len(rows) > 0 && !slices.ContainsFunc(rows, func(r reports.Row) bool { return r.Status == reports.StatusOK })
}

// reasons lists the distinct reasons of the points that did not run, one
// line each with its status and how many points it stopped, in the order
// first met.
func reasons(rows []reports.Row) string {
	var order []string
	count := map[string]int{}
	for _, r := range rows {
		if r.Status == reports.StatusOK {
			continue
		}
		key := r.Status + ": " + r.Error
		if count[key] == 0 {
			order = append(order, key)
		}
		count[key]++
	}
	lines := make([]string, len(order))
	for i, key := range order {
		lines[i] = fmt.Sprintf("  %s (%s)", key, plural(count[key], "point"))
	}
	return strings.Join(lines, "\n")
}

// interrupts returns two contexts: soft ends at the first SIGINT/SIGTERM
// (no new point starts, the current one finishes), hard at the second (the
// current point is cut short; clusters are still torn down).
func interrupts(w io.Writer) (soft, hard context.Context, stop func()) {
	soft, softCancel := context.WithCancel(context.Background())
	hard, hardCancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-ch:
				n++
				if n == 1 {
					fmt.Fprintln(w, "raftcmp: interrupt: finishing the current point, then writing the report (interrupt again to cut it short)")
					softCancel()
				} else {
					fmt.Fprintln(w, "raftcmp: interrupt: cutting the current point short; tearing down")
					hardCancel()
				}
			case <-done:
				return
			}
		}
	}()
	return soft, hard, func() {
		signal.Stop(ch)
		close(done)
		softCancel()
		hardCancel()
	}
}

// printTable prints the original experiment's table (threads, Kops/s, avg
// latency) with p99, errors and status added, one row per point.
func printTable(w io.Writer, rows []reports.Row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "impl\tfault\tthreads\trepeat\tKops/s\tavg µs\tp99 µs\terrors\tstatus\t")
	for _, r := range rows {
		if r.Status != reports.StatusOK {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t-\t-\t-\t-\t%s\t\n", r.Impl, r.Fault, r.Threads, r.Repeat, r.Status)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.2f\t%.0f\t%d\t%d\t%s\t\n", r.Impl, r.Fault, r.Threads, r.Repeat, r.ThroughputOps/1000, r.LatAvgUs, r.LatP99Us, r.Errors, r.Status)
	}
	tw.Flush()
}
