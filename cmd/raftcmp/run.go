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
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/runner"
	"github.com/raftcmp/raftcmp/faults/cgroup"
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
// plan: -f, one flag per experiment setting (experiment.Settings, whose
// defaults are the original experiment's), and where plugins come from.
func experimentFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "file", Aliases: []string{"f"}, Usage: "experiment file (YAML, docs/experiment-format.md); flags override it"},
	}
	for _, st := range experiment.Settings() {
		flags = append(flags, settingFlag(st))
	}
	return append(flags,
		pluginDirFlag(),
		insecurePluginFlag(),
	)
}

// settingFlag declares an experiment setting as the flag its default's
// type says (experiment.Setting.Default).
func settingFlag(st experiment.Setting) cli.Flag {
	switch def := st.Default.(type) {
	case int:
		return &cli.IntFlag{Name: st.Flag, Value: def, Usage: st.Usage}
	case float64:
		return &cli.Float64Flag{Name: st.Flag, Value: def, Usage: st.Usage}
	case time.Duration:
		return &cli.DurationFlag{Name: st.Flag, Value: def, Usage: st.Usage}
	case string:
		return &cli.StringFlag{Name: st.Flag, Value: def, Usage: st.Usage}
	}
	return &cli.StringSliceFlag{Name: st.Flag, Usage: st.Usage}
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
	if err := experiment.ApplyFlags(&s, c); err != nil {
		return s, nil, "", err
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
		if err := spec.CheckResume(meta.Fingerprint, meta.Comparable); err != nil {
			return usageError(fmt.Errorf("--resume %q: %w", resume, err))
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

	launcher, placed, err := remoteNodes(c, spec, plugins)
	if err != nil {
		return err
	}
	if launcher != nil {
		defer launcher.Close()
	}

	var cgroups *cgroup.Manager
	if runner.NeedsCgroups(spec) && launcher == nil { // with --hosts, remoteNodes checked each host
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
	warning, err := checkLimits(soft, spec, plugins)
	if err != nil && soft.Err() == nil {
		return usageError(err)
	}
	if warning != "" {
		fmt.Fprintln(c.App.ErrWriter, "raftcmp: "+warning)
	}
	noticeLeftovers(c.App.ErrWriter, dataRoot)
	noticeHostLeftovers(c.Context, c.App.ErrWriter, launcher, c.String("hosts"))
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
		Launcher: nodeLauncher(launcher), Hosts: placed,
	})
	obs.Done()
	if sum != nil {
		printTable(c.App.Writer, spec, sum.Rows)
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
// latency) with p99, errors and status added, one row per point. A
// cluster size or offered rate that spec sweeps gets a column (nodes,
// rate ops/s) after the fault; with reads, the figures are the writes'
// and the reads' throughput, p99 and stale count follow them.
func printTable(w io.Writer, spec experiment.Spec, rows []reports.Row) {
	nodes, rate, reads := len(spec.NodeSizes()) > 1, len(spec.Rates()) > 1, spec.ReadRatio > 0
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"impl", "fault"}
	if nodes {
		head = append(head, "nodes")
	}
	if rate {
		head = append(head, "rate ops/s")
	}
	head = append(head, "threads", "repeat", "Kops/s", "avg µs", "p99 µs", "errors")
	if reads {
		head = append(head, "read Kops/s", "read p99 µs", "stale")
	}
	fmt.Fprintln(tw, strings.Join(append(head, "status"), "\t")+"\t")
	for _, r := range rows {
		cells := []string{r.Impl, r.Fault}
		if nodes {
			cells = append(cells, strconv.Itoa(r.Nodes))
		}
		if rate {
			cells = append(cells, strconv.FormatFloat(r.RateOps, 'f', -1, 64))
		}
		cells = append(cells, strconv.Itoa(r.Threads), strconv.Itoa(r.Repeat))
		if r.Status != reports.StatusOK {
			figures := 4
			if reads {
				figures += 3
			}
			for range figures {
				cells = append(cells, "-")
			}
		} else {
			cells = append(cells, fmt.Sprintf("%.2f", r.ThroughputOps/1000), fmt.Sprintf("%.0f", r.LatAvgUs), strconv.FormatInt(r.LatP99Us, 10), strconv.FormatUint(r.Errors, 10))
			if reads {
				cells = append(cells, fmt.Sprintf("%.2f", r.ReadThroughputOps/1000), strconv.FormatInt(r.ReadLatP99Us, 10), strconv.FormatUint(r.StaleReads, 10))
			}
		}
		fmt.Fprintln(tw, strings.Join(append(cells, r.Status), "\t")+"\t")
	}
	tw.Flush()
}
