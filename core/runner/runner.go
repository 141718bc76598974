// Package runner executes an experiment point by point: for each point it
// starts a fresh cluster, runs the load, checks safety, records the row and
// tears the cluster down, whatever happened. A failed point is recorded as
// failed with its reason and the sweep goes on; nothing measured is lost,
// because every row is on disk before the next point starts.
package runner

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/load"
	"github.com/raftcmp/raftcmp/core/preflight"
	"github.com/raftcmp/raftcmp/faults"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/reports"
)

// Config is one run.
type Config struct {
	// Spec is the validated experiment.
	Spec experiment.Spec
	// Plugins maps each backend of Spec.Impls to its binary.
	Plugins map[string]cluster.Plugin
	// OutDir receives results.csv, timeseries.csv, meta.json, report.md and
	// logs/. It must not hold results of another run.
	OutDir string
	// DataRoot is where clusters keep their data (default per storage mode:
	// cluster.DataRoot).
	DataRoot string
	// KeepData keeps each point's data directories.
	KeepData bool
	// Command is recorded in meta.json.
	Command []string
	// Observer is told about progress; nil means silent.
	Observer Observer
	// Soft, when done, stops the run from starting new points; the point
	// in progress finishes normally. The ctx given to Run, when done,
	// interrupts the point in progress too (it is recorded as failed).
	Soft context.Context
	// ReadyTimeout bounds each cluster's start-up (default 60 s).
	ReadyTimeout time.Duration
	// ConvergeTimeout bounds the safety check's wait for every node to
	// apply the same log (default 5 min); ConvergeStall fails it sooner
	// when no node advances for that long (default 60 s: hashicorp/raft
	// backs off replication to a failing follower for up to ~41 s). A
	// follower that a fault left far behind may need a while to catch up,
	// and that time is recorded (converge_s).
	ConvergeTimeout, ConvergeStall time.Duration
	// HangGrace is how long past its planned end (warm-up + window +
	// op timeout) a load may run before the plugin is declared hung and
	// the point failed (default 1 min).
	HangGrace time.Duration
	// Cgroups places every node in a cgroup of its own; required when a
	// fault of the spec needs cgroups (see NeedsCgroups), unless Launcher
	// runs the nodes elsewhere and says on which machine
	// (faults.Machines): then each node's cgroups and hogs are made on its
	// own machine, and Cgroups is not used.
	Cgroups *cgroup.Manager
	// Resume continues the run recorded in OutDir: points already in its
	// results.csv are skipped (except those cut short by an interrupt,
	// which run again), and the run is refused if the comparable settings
	// differ from the recorded ones (experiment.Spec.Comparable).
	Resume bool
	// Launcher starts the node processes (default cluster.LocalLauncher).
	Launcher cluster.Launcher
	// Hosts, when Launcher runs nodes on remote hosts, is where each node
	// runs, for meta.json.
	Hosts []reports.NodeHost
	// RunID names the run's cgroups (raftcmp-<RunID>-p<point>-n<node>)
	// and network rules, and is recorded in meta.json. Default: the UTC
	// second the run started and a random suffix, so that two runs started
	// in the same second (on one machine, or on hosts sharing one) never
	// share a name.
	RunID string
}

// NewRunID returns a run id for a run started at t: its UTC second and
// four random hex digits, e.g. 20261130t163136-a3f9.
func NewRunID(t time.Time) string {
	b := make([]byte, 2)
	rand.Read(b) // never fails (crypto/rand)
	return t.UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b)
}

// NeedsCgroups reports whether any fault of s acts through cgroups. If so,
// every node of every point, the baseline too, runs in a cgroup of its own.
func NeedsCgroups(s experiment.Spec) bool { return faults.NeedsCgroups(s.Faults) }

// NeedsProxies reports whether any fault of s acts through link proxies. If
// so, every point of the run, the baseline too, goes through the proxies,
// so that the comparison stays fair.
func NeedsProxies(s experiment.Spec) bool { return faults.NeedsProxies(s.Faults) }

// Observer follows a run's progress.
type Observer interface {
	// PointStarted is called before point p (of total) starts.
	PointStarted(p experiment.Point, total int)
	// PointFinished is called once p's row is on disk.
	PointFinished(p experiment.Point, total int, row reports.Row)
}

// Summary is what a run did.
type Summary struct {
	Rows        []reports.Row
	Failed      int
	Interrupted bool
}

// Run executes every point of cfg.Spec and writes the results directory.
// It returns an error only when the run itself cannot proceed (the output
// directory cannot be written); failed points are in the Summary.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.Soft == nil {
		cfg.Soft = ctx
	}
	if cfg.DataRoot == "" {
		cfg.DataRoot = cluster.DataRoot(cfg.Spec.Storage)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.ConvergeTimeout == 0 {
		cfg.ConvergeTimeout = 5 * time.Minute
	}
	if cfg.ConvergeStall == 0 {
		cfg.ConvergeStall = time.Minute
	}
	if cfg.HangGrace == 0 {
		cfg.HangGrace = time.Minute
	}
	if NeedsCgroups(cfg.Spec) && cfg.Cgroups == nil && machines(cfg.Launcher) == nil {
		return nil, errors.New("a fault of this experiment needs cgroups, but the run has no cgroup manager")
	}
	if cfg.RunID == "" {
		cfg.RunID = NewRunID(time.Now())
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("create output dir: %w", err)
	}
	comparable, fingerprint := cfg.Spec.Comparable()
	meta := &reports.Meta{
		Command: cfg.Command, Experiment: cfg.Spec, Raftcmp: reports.SelfBuild(), Host: reports.ProbeHost(),
		DataRoot: cfg.DataRoot, DataFS: reports.FSType(cfg.DataRoot), Started: time.Now().UTC(),
		Fingerprint: fingerprint, Comparable: comparable, Hosts: cfg.Hosts,
		Preflight: preflight.Check(ctx, preflight.Options{Nodes: localNodes(cfg), Storage: cfg.Spec.Storage, DataDir: cfg.DataRoot}),
	}
	done := map[string]bool{}
	if cfg.Resume {
		var err error
		if meta, done, err = resume(cfg, meta); err != nil {
			return nil, err
		}
	}
	meta.RunID = cfg.RunID
	for _, impl := range cfg.Spec.Impls {
		meta.Plugins = append(meta.Plugins, describePlugin(ctx, cfg, impl))
	}
	if err := reports.WriteMeta(cfg.OutDir, meta); err != nil {
		return nil, err
	}
	w, err := reports.NewWriter(cfg.OutDir)
	if err != nil {
		return nil, err
	}
	defer w.Close()

	sum := &Summary{}
	points := cfg.Spec.Points()
	for _, p := range points {
		if done[p.ID] {
			continue
		}
		if cfg.Soft.Err() != nil || ctx.Err() != nil {
			sum.Interrupted = true
			break
		}
		if cfg.Observer != nil {
			cfg.Observer.PointStarted(p, len(points))
		}
		row, series := runPoint(ctx, cfg, meta.DataFS, p)
		if err := w.Write(row, series); err != nil {
			return sum, fmt.Errorf("record point %s: %w", p.ID, err)
		}
		sum.Rows = append(sum.Rows, row)
		if row.Status == reports.StatusFailed {
			sum.Failed++
		}
		if cfg.Observer != nil {
			cfg.Observer.PointFinished(p, len(points), row)
		}
	}
	if ctx.Err() != nil {
		// A point cut short by the hard interrupt: even if it was the
		// last, the run did not finish.
		sum.Interrupted = true
	}
	meta.Ended = time.Now().UTC()
	meta.Interrupted = sum.Interrupted
	if err := reports.WriteMeta(cfg.OutDir, meta); err != nil {
		return sum, err
	}
	if err := reports.Build(cfg.OutDir); err != nil {
		return sum, fmt.Errorf("build report: %w", err)
	}
	return sum, nil
}

// localNodes is how many of the run's nodes run on this machine: none
// when they run on the hosts of a hosts file.
func localNodes(cfg Config) int {
	if len(cfg.Hosts) > 0 {
		return 0
	}
	return cfg.Spec.Nodes
}

// resume reads the run recorded in cfg.OutDir, checks that cfg.Spec may
// continue it, and returns its meta (to be updated) and the ids of the
// points already done.
func resume(cfg Config, now *reports.Meta) (*reports.Meta, map[string]bool, error) {
	old, err := reports.ReadMeta(cfg.OutDir)
	if err != nil {
		return nil, nil, fmt.Errorf("resume %s: %w", cfg.OutDir, err)
	}
	if err := cfg.Spec.CheckResume(old.Fingerprint, old.Comparable); err != nil {
		return nil, nil, fmt.Errorf("resume %s: %w", cfg.OutDir, err)
	}
	rows, err := reports.ReadResults(filepath.Join(cfg.OutDir, reports.ResultsFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("resume %s: %w", cfg.OutDir, err)
	}
	done := map[string]bool{}
	for _, r := range rows {
		if !(r.Status == reports.StatusFailed && strings.HasPrefix(r.Error, "interrupted")) {
			done[reports.CanonicalPoint(r.Point)] = true
		}
	}
	old.Experiment = cfg.Spec
	old.Hosts = now.Hosts
	old.Interrupted = false
	old.Plugins = nil // described again below: the binaries may have been rebuilt
	old.Resumes = append(old.Resumes, reports.Resume{Command: cfg.Command, Started: now.Started, Skipped: len(done)})
	return old, done, nil
}

// describePlugin asks impl's plugin what it is and what a node of this
// experiment would run with. A plugin that cannot answer is recorded by
// name and path alone: its points fail with the reason.
func describePlugin(ctx context.Context, cfg Config, impl string) reports.PluginMeta {
	s := cfg.Spec
	pm := reports.PluginMeta{Name: impl, Path: cfg.Plugins[impl].Path}
	node := adapter.Config{Storage: s.Storage, Options: s.Options[impl], Raft: s.RaftKnobs()}
	d, set, err := cluster.Settings(ctx, cfg.Plugins[impl], s.Nodes, node)
	if err != nil {
		var derr error
		if d, derr = cluster.Describe(ctx, cfg.Plugins[impl]); derr != nil {
			return pm
		}
	}
	pm.Module, pm.Version, pm.GoVersion, pm.ForwardsProposals = d.Module, d.Version, d.GoVersion, d.Capabilities.ForwardsProposals
	for _, m := range d.Capabilities.Storage {
		pm.Storage = append(pm.Storage, string(m))
	}
	for _, v := range set.Values {
		pm.Settings = append(pm.Settings, reports.SettingMeta{Knob: v.Knob, Name: v.Name, Value: v.Value, Source: v.Source, Note: v.Note})
	}
	for _, u := range set.Unhonoured {
		pm.Unhonoured = append(pm.Unhonoured, u.String())
	}
	return pm
}

// runPoint runs one point on a fresh cluster and returns its row, failed
// with the reason if anything went wrong. The cluster is always stopped.
func runPoint(ctx context.Context, cfg Config, dataFS string, p experiment.Point) (reports.Row, []reports.Sample) {
	s := cfg.Spec.ForPoint(p) // the point's cluster size and rate
	started := time.Now()
	row := reports.Row{
		Point: p.ID, Impl: p.Impl, Nodes: s.Nodes, Storage: string(s.Storage), DataFS: dataFS,
		Client: s.Client, Loop: s.Loop, Fault: p.Fault.String(), Threads: p.Threads, RateOps: s.Rate,
		PayloadBytes: s.PayloadBytes, WarmupS: s.Warmup.Seconds(), DurationS: s.Duration.Seconds(),
		Repeat: p.Repeat, Status: reports.StatusOK, Started: started.UTC(), GOMAXPROCS: s.NodeGOMAXPROCS(),
		Proxied: NeedsProxies(s), ClientPath: ClientPath(s.Client, len(cfg.Hosts) > 0),
		RaftProfile: s.RaftProfile(), Payload: s.PayloadSizes().String(), PayloadMeanBytes: s.PayloadSizes().Mean(),
	}
	if s.ReadRatio > 0 {
		row.ReadRatio, row.ReadMode, row.ReadFrom = s.ReadRatio, s.ReadMode, s.ReadFrom
	}
	row.SetPlacement(cfg.Hosts, s.NodeCPUs())
	series, err := measure(ctx, cfg, p, &row)
	row.WallS = time.Since(started).Seconds()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		row.Status, row.Error = reports.StatusFailed, "interrupted: "+oneLine(err)
	case errors.Is(err, adapter.ErrUnsupported):
		row.Status, row.Error = reports.StatusUnsupported, oneLine(err)
	default:
		row.Status, row.Error = reports.StatusFailed, oneLine(err)
	}
	if row.Status != reports.StatusOK {
		series = nil
	}
	return row, series
}

// measure does the work of one point, filling row's figures.
func measure(ctx context.Context, cfg Config, p experiment.Point, row *reports.Row) (series []reports.Sample, err error) {
	s := cfg.Spec.ForPoint(p)
	logDir := filepath.Join(cfg.OutDir, "logs", strings.ReplaceAll(p.ID, "/", "-"))
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	// The faults' environment (cgroups, link proxies) is made for every
	// fault of the experiment, so that all its points run alike.
	env, err := faults.NewEnv(faults.EnvConfig{
		Faults: s.Faults, Cgroups: cfg.Cgroups, Machines: machines(cfg.Launcher),
		CgroupPrefix: fmt.Sprintf("%s%s-p%d", cgroup.Prefix, cfg.RunID, p.Index),
		NetHosts:     faults.NetHostsOf(cfg.Launcher),
	})
	if err != nil {
		return nil, err
	}
	cs := cluster.Spec{
		Plugin: cfg.Plugins[p.Impl], Nodes: s.Nodes, Storage: s.Storage, Options: s.Options[p.Impl], Raft: s.RaftKnobs(),
		DataRoot: cfg.DataRoot, KeepData: cfg.KeepData, LogDir: logDir, CPUs: s.NodeCPUs(), ReadyTimeout: cfg.ReadyTimeout,
		GOMAXPROCS: s.NodeGOMAXPROCS(), Launcher: cfg.Launcher, Hooks: env.Hooks(),
	}
	if s.ReadRatio > 0 && s.ReadMode != string(adapter.ReadStale) {
		cs.ReadMode = adapter.ReadMode(s.ReadMode)
	}
	c, err := cluster.Start(ctx, cs)
	if err != nil {
		return nil, fmt.Errorf("start cluster: %w", err)
	}
	defer func() {
		if stopErr := c.Stop(ctx); stopErr != nil && err == nil {
			err = fmt.Errorf("teardown: %w", stopErr)
		}
	}()
	d := c.Description()
	row.ImplModule, row.ImplVersion = d.Module, d.Version
	set := c.Settings()
	row.RaftApplied, row.RaftUnhonoured = set.Applied(), set.UnhonouredString()

	lctx, cancel := context.WithTimeout(ctx, cfg.ReadyTimeout)
	leader, err := c.Leader(lctx)
	cancel()
	if err != nil {
		return nil, err
	}
	row.LeaderID, row.LeaderPID = leader.ID, leader.PID()
	if s.ReadRatio > 0 && !leader.Node().Describe().Capabilities.SupportsRead(adapter.ReadMode(s.ReadMode)) {
		return nil, fmt.Errorf("read mode %s: %w", s.ReadMode, adapter.ErrUnsupported)
	}

	fault, err := bindFault(p.Fault, env, c, leader, row)
	if err != nil {
		return nil, err
	}
	obs := observer{env: env, local: machines(cfg.Launcher) == nil && len(cfg.Hosts) == 0}
	windowStart := time.Now().Add(s.Warmup)
	res, err := runLoad(ctx, s, p, c, leader, fault, cfg.HangGrace, &obs)
	row.FaultEffect = fault.Effect().String()
	if err != nil {
		return nil, loadError(ctx, leader, err, cfg.HangGrace)
	}
	obs.end(row, res.Ops)
	fillFigures(row, res)
	if err := checkReads(cfg.OutDir, p, s, res, row); err != nil {
		return nil, err
	}

	cctx, cancel := context.WithTimeout(ctx, cfg.ConvergeTimeout)
	convergeStart := time.Now()
	statuses, err := c.Converge(cctx, cfg.ConvergeStall)
	cancel()
	row.ConvergeS = time.Since(convergeStart).Seconds()
	if err != nil {
		return nil, err
	}
	for _, st := range statuses {
		if st.AppliedPayloads < res.Acked {
			return nil, fmt.Errorf("safety: %d proposals were acknowledged but node %d applied only %d payloads (log index %d)", res.Acked, st.ID, st.AppliedPayloads, st.Applied)
		}
	}
	row.AppliedPayl, row.AppliedIndex = statuses[0].AppliedPayloads, statuses[0].Applied
	if err := writeHlog(cfg.OutDir, p, windowStart, res, row); err != nil {
		return nil, err
	}
	return samples(p, res), nil
}

// loadError says why the load on leader failed: its process died (with
// its last words), it hung, or the load itself reported an error.
func loadError(ctx context.Context, leader *cluster.Member, err error, grace time.Duration) error {
	if ctx.Err() != nil {
		return err // interrupted: say so without waiting on the process
	}
	p := leader.Process()
	if leader.WaitExit(2 * time.Second) {
		return fmt.Errorf("load on leader node %d (pid %d): plugin process exited: %w%s", leader.ID, p.PID(), err, p.StderrTail())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("load on leader node %d (pid %d): no answer %v after the load's planned end: plugin hung%s", leader.ID, p.PID(), grace, p.StderrTail())
	}
	return fmt.Errorf("load on leader node %d: %w", leader.ID, err)
}

// machines is the machines l places nodes on, if it runs them elsewhere
// than this machine (core/remote's launcher does), else nil: the faults
// act on this machine.
func machines(l cluster.Launcher) faults.Machines {
	m, _ := l.(faults.Machines)
	return m
}

// bindFault resolves the point's fault to its target nodes.
func bindFault(spec faultspec.Spec, env *faults.Env, c *cluster.Cluster, leader *cluster.Member, row *reports.Row) (faults.Fault, error) {
	if spec.IsNone() {
		return faults.New(spec, env, c, nil)
	}
	targets, err := faults.Targets(spec.Target, c, leader)
	if err != nil {
		return nil, err
	}
	row.FaultTargets = faults.IDs(targets)
	return faults.New(spec, env, c, targets)
}

// runLoad runs the embedded load on the leader and, on schedule, the fault:
// injected at warm-up + At into the load, reverted after For, or when the
// load ends. The fault is reverted on every path; a fault that fails to
// apply or to revert fails the point.
func runLoad(ctx context.Context, s experiment.Spec, p experiment.Point, c *cluster.Cluster, leader *cluster.Member, fault faults.Fault, grace time.Duration, obs *observer) (*load.Result, error) {
	// The load ends by itself after warm-up + window; the deadline only
	// catches a plugin that hangs, allowing for proposals in flight.
	lctx, cancel := context.WithTimeout(ctx, s.Warmup+s.Duration+s.OpTimeout+grace)
	defer cancel()
	type outcome struct {
		res *load.Result
		err error
	}
	done := make(chan outcome, 1)
	start := time.Now()
	go func() {
		var res *load.Result
		var err error
		if s.Client == ClientExternal {
			ext := newExternalClient(c, leader, s.ReadFrom)
			res, err = ext.run(lctx, s.LoadSpec(p.Threads))
			obs.redirects = ext.redirects.Load()
		} else {
			res, err = leader.Node().RunLoad(lctx, s.LoadSpec(p.Threads))
		}
		done <- outcome{res, err}
	}()

	// Timers schedule the observer and the fault against the load's clock;
	// they are not used to wait for anything.
	windowAt := time.NewTimer(time.Until(start.Add(s.Warmup)))
	defer windowAt.Stop()
	defer func() {
		if obs.stop != nil {
			obs.stop()
		}
	}()
	injectAt := time.NewTimer(time.Until(start.Add(s.Warmup + p.Fault.At)))
	defer injectAt.Stop()
	var revertAt <-chan time.Time
	var faultErr error
	injected := false
	revert := func() {
		if injected {
			injected = false
			if err := fault.Revert(context.WithoutCancel(ctx)); err != nil && faultErr == nil {
				faultErr = fmt.Errorf("revert fault %s: %w", p.Fault, err)
			}
		}
	}
	defer revert()
	for {
		select {
		case <-windowAt.C:
			obs.begin(lctx, c)
		case <-injectAt.C:
			if p.Fault.IsNone() {
				continue
			}
			injected = true
			if err := fault.Inject(lctx); err != nil {
				faultErr = fmt.Errorf("apply fault %s: %w", p.Fault, err)
				revert()
				cancel()
				continue
			}
			if p.Fault.For > 0 {
				t := time.NewTimer(p.Fault.For)
				defer t.Stop()
				revertAt = t.C
			}
		case <-revertAt:
			revert()
		case o := <-done:
			revert()
			if faultErr != nil {
				return nil, faultErr
			}
			return o.res, o.err
		}
	}
}

func fillFigures(row *reports.Row, res *load.Result) {
	h := res.Latency
	row.Ops, row.Acked = res.Ops, res.Acked
	row.Issued, row.Queued, row.QueuedS, row.Unsent = res.Issued, res.Queued, res.QueuedTime.Seconds(), res.Unsent
	row.ThroughputOps = res.Throughput()
	if h.TotalCount() > 0 {
		row.LatAvgUs = h.Mean()
		row.LatP50Us = h.ValueAtQuantile(50)
		row.LatP90Us = h.ValueAtQuantile(90)
		row.LatP99Us = h.ValueAtQuantile(99)
		row.LatP999Us = h.ValueAtQuantile(99.9)
		row.LatMaxUs = h.Max()
	}
	row.Errors = res.ErrorCount()
	row.ErrNotLeader = res.Errors["not_leader"]
	row.ErrTimeout = res.Errors[load.ErrKindTimeout]
	row.ErrOther = row.Errors - row.ErrNotLeader - row.ErrTimeout
	if res.Reads != nil {
		fillReadFigures(row, res.Reads, res.Measured)
	}
}

// fillReadFigures fills row's read columns from rr.
func fillReadFigures(row *reports.Row, rr *load.ReadResult, measured time.Duration) {
	h := rr.Latency
	row.ReadOps, row.ReadThroughputOps = rr.Ops, rr.Throughput(measured)
	if h.TotalCount() > 0 {
		row.ReadLatP50Us = h.ValueAtQuantile(50)
		row.ReadLatP90Us = h.ValueAtQuantile(90)
		row.ReadLatP99Us = h.ValueAtQuantile(99)
		row.ReadLatP999Us = h.ValueAtQuantile(99.9)
		row.ReadLatMaxUs = h.Max()
	}
	row.ReadErrors = rr.ErrorCount()
	row.StaleReads = rr.Stale
	row.ReadIssued, row.ReadQueued, row.ReadQueuedS, row.ReadUnsent = rr.Issued, rr.Queued, rr.QueuedTime.Seconds(), rr.Unsent
}

// checkReads records the first stale reads of the point in its stale-read
// file (reports.WriteStaleReads, named in row.StaleFile) and the log, and
// fails the point if its reads were to be linearizable: a linearizable
// read that missed an acknowledged write is a safety violation, and its
// file is the evidence. For lease and stale reads the count is a measured
// figure.
func checkReads(outDir string, p experiment.Point, s experiment.Spec, res *load.Result, row *reports.Row) error {
	rr := res.Reads
	if rr == nil || rr.Stale == 0 {
		return nil
	}
	examples := make([]reports.StaleRead, len(rr.StaleExamples))
	for i, ex := range rr.StaleExamples {
		slog.Warn("stale read", "point", p.ID, "mode", rr.Mode, "read_from", s.ReadFrom,
			"at", ex.At, "acknowledged", ex.Acked, "applied", ex.Applied)
		examples[i] = reports.StaleRead{AtS: ex.At.Seconds(), Acked: ex.Acked, Applied: ex.Applied}
	}
	rel, err := reports.WriteStaleReads(outDir, p.ID, rr.Mode, s.ReadFrom, examples)
	if err != nil {
		return fmt.Errorf("record stale reads: %w", err)
	}
	row.StaleFile = rel
	if rr.Mode != string(adapter.ReadLinearizable) {
		return nil
	}
	ex := rr.StaleExamples[0]
	return fmt.Errorf("safety: %d linearizable reads were stale, the first %v into the window saw %d payloads applied after %d were acknowledged (examples in %s)",
		rr.Stale, ex.At, ex.Applied, ex.Acked, rel)
}

func samples(p experiment.Point, res *load.Result) []reports.Sample {
	out := make([]reports.Sample, 0, len(res.Intervals))
	for i, iv := range res.Intervals {
		width := res.Measured - iv.Start
		if i+1 < len(res.Intervals) {
			width = res.Intervals[i+1].Start - iv.Start
		}
		out = append(out, reports.Sample{
			Point: p.ID, Impl: p.Impl, Threads: p.Threads, Repeat: p.Repeat, TS: iv.Start.Seconds(),
			Ops: iv.Ops, Errors: iv.Errors, ThroughputOps: float64(iv.Ops) / width.Seconds(),
			P50Us: iv.P50Micros, P99Us: iv.P99Micros,
		})
		if res.Reads != nil && i < len(res.Reads.Intervals) {
			out[i].ReadOps, out[i].ReadP99Us = res.Reads.Intervals[i].Ops, res.Reads.Intervals[i].P99Micros
		}
	}
	return out
}

// oneLine keeps a reason on one CSV-friendly line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
