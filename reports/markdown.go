package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// Build reads dir's results.csv, timeseries.csv and meta.json and writes
// dir/report.md and its figures in dir/plots. It depends on nothing but
// those files, so a report can be rebuilt at any time (raftcmp report DIR).
func Build(dir string) error {
	_, err := BuildFormats(dir, []Format{FormatMarkdown})
	return err
}

// Markdown renders report.md. The output depends only on the analysis;
// the figures it embeds are the ones WritePlots writes.
func (a *Analysis) Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# raftcmp report\n\n")
	a.writeSetup(&b)
	a.writeHowToRead(&b)
	a.writeHeadline(&b)
	a.writeImpact(&b)
	for _, sec := range a.sections() {
		if len(sec) == 1 {
			a.writeScenario(&b, sec[0])
		} else {
			a.writeSweep(&b, sec)
		}
	}
	a.writeLoadCurves(&b)
	a.writeCost(&b)
	a.writeStats(&b)
	a.writeInterference(&b)
	a.writeFailures(&b)
	a.writeRows(&b)
	return b.Bytes()
}

// distinct lists f's distinct values over rows, in first-seen order.
func distinct[T comparable](rows []Row, f func(Row) T) []T {
	var out []T
	for _, r := range rows {
		if v := f(r); !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

func joinAny[T any](vs []T, f func(T) string) string {
	ss := make([]string, len(vs))
	for i, v := range vs {
		ss[i] = f(v)
	}
	return strings.Join(ss, ", ")
}

// backends describes each backend's Raft library, from meta.json's plugins
// or, failing that, the rows.
func (a *Analysis) backends() []string {
	var out []string
	for _, impl := range a.Impls {
		module, version := "", ""
		if a.Meta != nil {
			for _, p := range a.Meta.Plugins {
				if p.Name == impl && p.Module != "" {
					module, version = p.Module, p.Version
				}
			}
		}
		for _, r := range a.Rows {
			if module == "" && r.Impl == impl && r.ImplModule != "" {
				module, version = r.ImplModule, r.ImplVersion
			}
		}
		if module == "" {
			out = append(out, impl)
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s %s", impl, module, version))
	}
	return out
}

// payloadsText is the rows' payload sizes for the setup: "2048-byte
// payloads" as always when every row had one size, else each spec with
// its mean.
func payloadsText(rows []Row) string {
	if !slices.ContainsFunc(rows, func(r Row) bool { return r.PayloadSpec() != strconv.Itoa(r.PayloadBytes) }) {
		return joinAny(distinct(rows, func(r Row) int { return r.PayloadBytes }), strconv.Itoa) + "-byte payloads"
	}
	return "payloads " + joinAny(distinct(rows, func(r Row) string {
		if r.PayloadSpec() == strconv.Itoa(r.PayloadBytes) {
			return r.PayloadSpec() + " B"
		}
		return fmt.Sprintf("%s B (drawn per proposal, mean %.0f B)", r.PayloadSpec(), r.PayloadMeanBytes)
	}), func(s string) string { return s })
}

func rateText(r float64) string {
	if r <= 0 {
		return "unthrottled (closed loop as fast as acknowledged)"
	}
	return strconv.FormatFloat(r, 'f', -1, 64) + " ops/s target"
}

func (a *Analysis) writeSetup(b *bytes.Buffer) {
	b.WriteString("## Setup\n\n")
	if len(a.Rows) == 0 {
		b.WriteString("No point finished: results.csv has no rows.\n\n")
	}
	rows := a.Rows
	b.WriteString("| | |\n|---|---|\n")
	row := func(k, v string) { fmt.Fprintf(b, "| %s | %s |\n", k, cellEscape(v)) }
	row("Backends", strings.Join(a.backends(), "; "))
	nodes := joinAny(distinct(rows, func(r Row) int { return r.Nodes }), strconv.Itoa)
	storage := joinAny(distinct(rows, func(r Row) string { return r.Storage + " on " + r.DataFS }), func(s string) string { return s })
	procs := joinAny(distinct(rows, func(r Row) int { return r.GOMAXPROCS }), func(n int) string {
		if n == 0 {
			return "Go's default"
		}
		return strconv.Itoa(n)
	})
	row("Cluster", fmt.Sprintf("%s nodes, storage %s, GOMAXPROCS %s per node", nodes, storage, procs))
	if p := placementText(rows); p != "" {
		row("Placement", p)
	}
	row("Client", joinAny(distinct(rows, func(r Row) string { return r.Client + " client, " + r.Loop + " loop" }), func(s string) string { return s }))
	row("Workload", fmt.Sprintf("threads %s; %s; %s",
		joinAny(a.Threads, strconv.Itoa),
		joinAny(distinct(rows, func(r Row) float64 { return r.RateOps }), rateText),
		payloadsText(rows)))
	var fs []string
	for _, s := range a.Scenarios {
		if !slices.Contains(fs, s.Fault) {
			fs = append(fs, s.Fault)
		}
	}
	row("Faults", "`"+strings.Join(fs, "`, `")+"`")
	row("Timing", fmt.Sprintf("%s s warm-up, %s s measured per point; up to %d repeats per point, interleaved across backends",
		joinAny(distinct(rows, func(r Row) float64 { return r.WarmupS }), fmtG),
		joinAny(distinct(rows, func(r Row) float64 { return r.DurationS }), fmtG), a.Repeats))
	if m := a.Meta; m != nil {
		h := m.Host
		row("Host", fmt.Sprintf("%s; %d × %s; %.1f GiB; cgroup %s", h.Kernel, h.CPUs, h.CPUModel, float64(h.MemoryBytes)/(1<<30), h.CgroupMode))
		row("Data directories", fmt.Sprintf("%s (%s)", m.DataRoot, m.DataFS))
		if p := preflightText(m.Preflight); p != "" {
			row("Preflight", p)
		}
		row("raftcmp", m.Raftcmp.describe(shortCommit(m.Raftcmp.Commit)))
		row("Run", a.span())
		if len(m.Command) > 0 {
			row("Reproduce", "`"+strings.Join(m.Command, " ")+"`")
		}
	}
	row("Rebuild this report", "`raftcmp report DIR` (reads results.csv, timeseries.csv and meta.json only)")
	b.WriteString("\n")
	a.writeRaftSettings(b)
}

// writeRaftSettings shows, per backend and profile, the shared Raft knobs
// as the backend applied them and those it could not honour: what a reader
// needs to tell a library's behaviour from its configuration. Rows of runs
// before --raft existed record none, and the section is left out.
func (a *Analysis) writeRaftSettings(b *bytes.Buffer) {
	type key struct{ impl, profile, applied, unhonoured string }
	var seen []key
	for _, r := range a.Rows {
		if r.RaftProfile == "" || r.Status != StatusOK {
			continue
		}
		k := key{r.Impl, r.RaftProfile, r.RaftApplied, r.RaftUnhonoured}
		if !slices.Contains(seen, k) {
			seen = append(seen, k)
		}
	}
	if len(seen) == 0 {
		return
	}
	b.WriteString("### Raft settings\n\n")
	b.WriteString("The shared knobs (`--raft`) as each backend applied them; `production` is each library as its maintainers run it, `uniform` the same values everywhere (docs/backends.md has every value with its source).\n\n")
	b.WriteString("| backend | profile | applied | not honoured |\n|---|---|---|---|\n")
	for _, k := range seen {
		fmt.Fprintf(b, "| %s | `%s` | %s | %s |\n", k.impl, k.profile, cellEscape(strings.ReplaceAll(k.applied, ",", ", ")), cellEscape(cmp.Or(k.unhonoured, "—")))
	}
	b.WriteString("\n")
}

// preflightText lists the findings that were not ok when the run started
// ("warn cores: ...; bad data-dir: ..."), for the setup; "" when all were
// ok or none were recorded (older runs).
func preflightText(fs []Finding) string {
	var parts []string
	for _, f := range fs {
		if f.Severity != SeverityOK {
			parts = append(parts, fmt.Sprintf("%s %s: %s", f.Severity, f.Check, f.Found))
		}
	}
	return strings.Join(parts, "; ")
}

func fmtG(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func shortCommit(c string) string {
	if c == "" {
		return "unknown"
	}
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func (a *Analysis) writeHowToRead(b *bytes.Buffer) {
	b.WriteString("## How to read this report\n\n")
	fmt.Fprintf(b, "- Every figure comes from `results.csv`. A table cell is the mean over the rows with status `ok` for that backend, fault and thread count (n rows: %d unless marked `(n=…)`); `±` is the half-width of the 95%% confidence interval of that mean (Student's t, n−1 degrees of freedom), shown when n > 1.\n", a.Repeats)
	pooled, unpooled := a.pooledPoints()
	switch {
	case pooled > 0:
		b.WriteString("- Latency percentiles over repeats are pooled: the repeats' recorded latency histograms (`hdr/`, HdrHistogram interval logs) are added up and the percentile is taken of the sum, so a p99 is the p99 of every proposal measured at that point, not a mean of p99s. `[lo–hi]` beside it is the spread over the repeats: the smallest and largest of the repeats' own percentile. The mean of the per-repeat p99s, a secondary figure, is under Statistics per point.\n")
		if unpooled > 0 {
			fmt.Fprintf(b, "- %s marks a latency figure of a point with a repeat that has no histogram log: it is the mean of the repeats' own percentiles (`lat_p99_us` …) ± its 95%% confidence interval, not pooled.\n", strings.TrimSpace(unpooledMarkText))
		}
	default:
		b.WriteString("- This directory has no latency histograms (`hdr/`; older runs did not record them), so latency percentiles over repeats are each row's own percentile (`lat_p99_us` …) averaged over the repeats, not pooled.\n")
	}
	b.WriteString("- Throughput is in thousands of proposals applied per second of the measured window.\n")
	fmt.Fprintf(b, "- † marks a noisy point: the coefficient of variation (sd/mean) of its throughput or p99 over the repeats exceeds %.0f%%.\n", NoisyCV*100)
	fmt.Fprintf(b, "- Differences are tested with Welch's t-test over the repeats: `~` marks a difference within noise (p ≥ %.2f, or fewer than 2 repeats on a side).\n", Alpha)
	if a.interferenceMeasured() {
		fmt.Fprintf(b, "- %s marks a point disturbed by its host: in at least one repeat, processes outside the experiment used more than %.1f CPU (`outside_cpu`) or the hypervisor stole more than %.0f%% of the CPUs (`host_steal`), measured on raftcmp's machine over the window; such rows are listed under Host interference.\n", strings.TrimSpace(interferenceMarkText), OutsideCPULimit, StealLimit*100)
	}
	b.WriteString("- Plots are in `plots/` (SVG, PNG alongside); the time series come from `timeseries.csv`, joined to `results.csv` by the `point` column.\n\n")
}

// fmtPct formats a fraction as a signed percentage: -3.1%, +240%.
func fmtPct(x float64) string {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		return "–"
	case math.Abs(x) >= 1:
		return fmt.Sprintf("%+.0f%%", x*100)
	}
	return fmt.Sprintf("%+.1f%%", x*100)
}

// fmtP formats a p-value with the sample sizes.
func fmtP(t TTest) string {
	if !t.OK {
		return fmt.Sprintf("n=%d+%d, too few repeats to test", t.NA, t.NB)
	}
	if t.P < 0.001 {
		return fmt.Sprintf("p<0.001, n=%d+%d", t.NA, t.NB)
	}
	return fmt.Sprintf("p=%.3f, n=%d+%d", t.P, t.NA, t.NB)
}

// tilde is " ~" for a difference within noise.
func tilde(t TTest) string {
	if t.Significant() {
		return ""
	}
	return " ~"
}

func kops(v float64) string { return fmt.Sprintf("%.2f", v/1000) }
func us(v float64) string   { return fmt.Sprintf("%.0f", v) }

// cell renders a Summary scaled by scale with prec decimals: "12.34 ±
// 0.56", "†" when noisy, "(n=2)" when short of the usual repeats.
func (a *Analysis) cell(s Summary, noisy bool, scale float64, prec int) string {
	v := strconv.FormatFloat(s.Mean/scale, 'f', prec, 64)
	if s.N > 1 {
		v += " ± " + strconv.FormatFloat(s.CIHalf/scale, 'f', prec, 64)
	}
	if noisy {
		v += " †"
	}
	if s.N < a.Repeats {
		v += fmt.Sprintf(" (n=%d)", s.N)
	}
	return v
}

// unpooledMarkText marks a latency figure that is a mean of per-repeat
// percentiles in a directory whose other points are pooled.
const unpooledMarkText = " °"

// pooledPoints counts the points with ok repeats whose latency figures are
// pooled and those whose are not.
func (a *Analysis) pooledPoints() (pooled, unpooled int) {
	for _, p := range a.Points {
		switch {
		case len(p.OK) == 0:
		case p.Pooled != nil:
			pooled++
		default:
			unpooled++
		}
	}
	return pooled, unpooled
}

// latCell renders latency figure which of p (LatFigure): pooled, "812
// [790–845]" with the spread over repeats; without histograms, the mean of
// the repeats' own ± its confidence interval, like cell, marked when other
// points are pooled. "†" when noisy, "(n=2)" when short of the usual
// repeats.
func (a *Analysis) latCell(p *PointStats, which int, noisy bool) string {
	return a.latCellOf(p.Pooled, p.perRepeat[which], which, noisy)
}

// readLatCell is latCell of the point's reads.
func (a *Analysis) readLatCell(p *PointStats, which int, noisy bool) string {
	return a.latCellOf(p.ReadPooled, p.readPerRepeat[which], which, noisy)
}

// latCellOf renders latency figure which of a distribution pooled over
// the ok repeats (nil without histograms) and the repeats' own figures xs
// (one per ok repeat).
func (a *Analysis) latCellOf(pooled *Pooled, xs []float64, which int, noisy bool) string {
	if pooled == nil {
		v := a.cell(Summarize(xs), noisy, 1, 0)
		if n, _ := a.pooledPoints(); n > 0 {
			v += unpooledMarkText
		}
		return v
	}
	val, lo, hi := latFigure(pooled, xs, which)
	v := us(val)
	if len(xs) > 1 {
		v += " [" + us(lo) + "–" + us(hi) + "]"
	}
	if noisy {
		v += " †"
	}
	if len(xs) < a.Repeats {
		v += fmt.Sprintf(" (n=%d)", len(xs))
	}
	return v
}

// statusCell is what a table shows for a point without figures.
func statusCell(p *PointStats) string {
	if p == nil {
		return "–"
	}
	return p.Rows[0].Status
}

func (a *Analysis) writeHeadline(b *bytes.Buffer) {
	b.WriteString("## Headline\n\n")
	if len(a.Points) == 0 {
		b.WriteString("No data.\n\n")
		return
	}
	b.WriteString("Per fault, at the highest thread count at which every backend has data; figures are means over repeats, the first two backends tested against each other with Welch's t-test:\n\n")
	for _, s := range a.Scenarios {
		r, ok := a.Rank(s)
		if !ok {
			fmt.Fprintf(b, "- `%s`: no thread count with data for every backend.\n", a.Label(s))
			continue
		}
		fmt.Fprintf(b, "- `%s`, %d threads: %s\n", a.Label(s), r.Threads, headlineText(r))
	}
	var worstThr, worstP99, worstWin *Impact
	var rises []string // throughput gains under a fault on a CPU-bound shared machine
	anyImpact := false
	for _, s := range a.Scenarios {
		for _, impl := range a.Impls {
			im, ok := a.HeadlineImpact(s, impl)
			if !ok {
				continue
			}
			anyImpact = true
			if _, contended := a.Contended(im); contended && im.ThroughputChange > 0 {
				rises = append(rises, fmt.Sprintf("%s under `%s` (%s)", im.Impl, a.Label(s), fmtPct(im.ThroughputChange)))
			}
			if im.ThroughputChange < 0 && (worstThr == nil || im.ThroughputChange < worstThr.ThroughputChange) {
				worstThr = &im
			}
			if im.P99Change > 0 && (worstP99 == nil || im.P99Change > worstP99.P99Change) {
				worstP99 = &im
			}
			if im.InWindow.N > 0 && im.WindowChange < 0 && (worstWin == nil || im.WindowChange < worstWin.WindowChange) {
				worstWin = &im
			}
		}
	}
	switch {
	case worstThr != nil:
		fmt.Fprintf(b, "- Largest throughput degradation: **%s** under `%s`: %s (%s → %s Kops/s at %d threads; %s%s).\n",
			worstThr.Impl, a.Label(worstThr.Scenario), fmtPct(worstThr.ThroughputChange),
			kops(worstThr.Base.Throughput.Mean), kops(worstThr.Hit.Throughput.Mean), worstThr.Threads,
			fmtP(worstThr.ThroughputTest), sigWord(worstThr.ThroughputTest))
	case anyImpact && len(rises) > 0:
		b.WriteString("- No fault lowered any backend's mean throughput, which here does not show the backends unaffected (next point).\n")
	case anyImpact:
		b.WriteString("- No fault lowered any backend's mean throughput.\n")
	}
	if len(rises) > 0 {
		fmt.Fprintf(b, "- Throughput rose under a fault where the nodes shared this machine's CPUs and the baseline kept them busy: %s. A fault that slows one node frees CPU for the others, so this is relief from contention, not a gain from the fault (‡ in Fault impact).\n", strings.Join(rises, ", "))
	}
	if worstWin != nil {
		fmt.Fprintf(b, "- Largest throughput degradation inside a fault window (faults covering part of the measured window): **%s** under `%s`: %s (%s → %s Kops/s at %d threads; %s%s).\n",
			worstWin.Impl, a.Label(worstWin.Scenario), fmtPct(worstWin.WindowChange),
			kops(worstWin.Base.Throughput.Mean), kops(worstWin.InWindow.Mean), worstWin.Threads,
			fmtP(worstWin.WindowTest), sigWord(worstWin.WindowTest))
	}
	switch {
	case worstP99 != nil:
		fmt.Fprintf(b, "- Largest p99 increase: **%s** under `%s`: %s (%s → %s µs at %d threads; %s%s).\n",
			worstP99.Impl, a.Label(worstP99.Scenario), fmtPct(worstP99.P99Change),
			us(worstP99.Base.LatP99()), us(worstP99.Hit.LatP99()), worstP99.Threads,
			fmtP(worstP99.P99Test), sigWord(worstP99.P99Test))
	case anyImpact:
		b.WriteString("- No fault raised any backend's mean p99.\n")
	}
	b.WriteString("\n")
}

func sigWord(t TTest) string {
	if t.Significant() {
		return ""
	}
	return "; within noise"
}

func headlineText(r Ranking) string {
	if len(r.ByThroughput) == 1 {
		p := r.ByThroughput[0]
		return fmt.Sprintf("only **%s** has data: %s Kops/s, p99 %s µs.", p.Impl, kops(p.Throughput.Mean), us(p.LatP99()))
	}
	t0, t1 := r.ByThroughput[0], r.ByThroughput[1]
	l0, l1 := r.ByP99[0], r.ByP99[1]
	thr := fmt.Sprintf("%s vs %s %s Kops/s (%s", kops(t0.Throughput.Mean), t1.Impl, kops(t1.Throughput.Mean),
		fmtPct(relChange(t1.Throughput.Mean, t0.Throughput.Mean)))
	if r.ThroughputTest.Significant() {
		thr = fmt.Sprintf("throughput highest for **%s**, %s, %s)", t0.Impl, thr, fmtP(r.ThroughputTest))
	} else {
		thr = fmt.Sprintf("throughput %s %s), within noise (%s)", t0.Impl, thr, fmtP(r.ThroughputTest))
	}
	lat := fmt.Sprintf("%s vs %s %s µs (%s", us(l0.LatP99()), l1.Impl, us(l1.LatP99()), fmtPct(relChange(l1.LatP99(), l0.LatP99())))
	if r.P99Test.Significant() {
		lat = fmt.Sprintf("p99 lowest for **%s**, %s, %s)", l0.Impl, lat, fmtP(r.P99Test))
	} else {
		lat = fmt.Sprintf("p99 %s %s), within noise (%s)", l0.Impl, lat, fmtP(r.P99Test))
	}
	return thr + "; " + lat + "."
}

func (a *Analysis) writeImpact(b *bytes.Buffer) {
	var faulted []Scenario
	for _, s := range a.Scenarios {
		if !s.IsBaseline() {
			faulted = append(faulted, s)
		}
	}
	if len(faulted) == 0 {
		return
	}
	b.WriteString("## Fault impact\n\n")
	b.WriteString("Each backend under each fault against its own no-fault baseline at the same thread count: the highest thread count at which every backend has ok points both under the fault and in the baseline (a backend falls back to its own highest when there is none). Change = faulted mean / baseline mean − 1; `~` = within noise. Every thread count is in the fault's own section.\n\n")
	window := slices.ContainsFunc(faulted, a.partialWindow)
	if window {
		b.WriteString("For a fault that covers part of the measured window, *in window* is the throughput over the `timeseries.csv` intervals inside the fault window only, against the baseline's whole-window throughput; the whole-window figures dilute such a fault.\n\n")
	}
	writeHeading(b, text("backend"), text("fault"), number("threads"), number("Kops/s baseline → faulted"), number("throughput"),
		number("in window").only(window), number("p99 µs baseline → faulted"), number("p99"))
	var contended *Contention // the busiest baseline of a marked impact
	for _, impl := range a.Impls {
		for _, s := range faulted {
			im, ok := a.HeadlineImpact(s, impl)
			if !ok {
				why := "no baseline"
				if _, hasBase := a.Baseline(s); hasBase {
					why = "no common thread count with data"
				}
				cols := " |"
				if window {
					cols = " | |"
				}
				fmt.Fprintf(b, "| %s | `%s` | – | %s |%s | |\n", impl, a.Label(s), why, cols)
				continue
			}
			mark := ""
			if c, ok := a.Contended(im); ok {
				mark = contentionMark
				if contended == nil || c.Busy/float64(c.CPUs) > contended.Busy/float64(contended.CPUs) {
					contended = &c
				}
			}
			fmt.Fprintf(b, "| %s | `%s` | %d | %s → %s | %s%s%s |", impl, a.Label(s), im.Threads,
				kops(im.Base.Throughput.Mean), kops(im.Hit.Throughput.Mean), fmtPct(im.ThroughputChange), tilde(im.ThroughputTest), mark)
			if window {
				if im.InWindow.N > 0 {
					fmt.Fprintf(b, " %s%s |", fmtPct(im.WindowChange), tilde(im.WindowTest))
				} else {
					b.WriteString(" – |")
				}
			}
			fmt.Fprintf(b, " %s → %s | %s%s |\n", us(im.Base.LatP99()), us(im.Hit.LatP99()), fmtPct(im.P99Change), tilde(im.P99Test))
		}
	}
	b.WriteString("\n")
	if contended != nil {
		b.WriteString(contentionNote(*contended))
	}
}

func (a *Analysis) writeScenario(b *bytes.Buffer, s Scenario) {
	a.writeScenarioHeading(b, s, a.Label(s), "")
	figs := a.figuresOf(s)
	embed := func(kind figureKind) {
		for _, f := range figs {
			if f.kind == kind && f.primary {
				fmt.Fprintf(b, "![%s](%s/%s.svg)\n\n", f.title, PlotsDir, f.name)
			}
		}
	}
	b.WriteString("### Throughput (Kops/s)\n\n")
	a.writeMatrix(b, s, func(p *PointStats) string {
		return a.cell(p.Throughput, p.Throughput.Noisy(), 1000, 2) + interferenceMark(p)
	})
	embed(figThroughput)
	b.WriteString("### p99 latency (µs)\n\n")
	a.writeMatrix(b, s, func(p *PointStats) string { return a.latCell(p, LatP99, p.P99.Noisy()) + interferenceMark(p) })
	if slices.ContainsFunc(a.Points, func(p *PointStats) bool { return p.Scenario == s && p.Interfered() }) {
		b.WriteString(interferenceNote)
	}
	embed(figP99)
	a.writeReads(b, s)
	a.writeSnapshots(b, s)
	if t, ok := a.CommonThreads(s); ok {
		fmt.Fprintf(b, "### Latency percentiles at %d threads (µs)\n\n", t)
		b.WriteString("| backend | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|\n")
		for _, impl := range a.Impls {
			if p := a.okPoint(s, impl, t); p != nil {
				fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", impl,
					a.latCell(p, LatP50, false), a.latCell(p, LatP90, false), a.latCell(p, LatP99, false),
					a.latCell(p, LatP999, false), a.latCell(p, LatMax, false))
			}
		}
		b.WriteString("\n")
		embed(figLatency)
	}
	var others []string
	for _, f := range figs {
		if f.kind == figTimeseries && !f.primary {
			others = append(others, fmt.Sprintf("[%d threads](%s/%s.svg)", f.threads, PlotsDir, f.name))
		}
	}
	if slices.ContainsFunc(figs, func(f figure) bool { return f.kind == figTimeseries }) {
		b.WriteString("### Throughput over time\n\n")
		b.WriteString("Per interval of `timeseries.csv`: the line is the mean over repeats, the band their range")
		if !s.IsBaseline() {
			b.WriteString(", the grey area the fault window")
		}
		b.WriteString(".\n\n")
		embed(figTimeseries)
		if len(others) > 0 {
			fmt.Fprintf(b, "Other thread counts: %s.\n\n", strings.Join(others, ", "))
		}
	}
	if !s.IsBaseline() {
		a.writeImpactByThreads(b, s)
		if a.partialWindow(s) {
			b.WriteString("### Throughput inside the fault window (Kops/s)\n\n")
			b.WriteString("Mean over repeats of each repeat's throughput over the `timeseries.csv` intervals wholly inside the fault window, and its change against the baseline's whole-window throughput.\n\n")
			a.writeMatrix(b, s, a.windowCell)
		}
		a.writeEffects(b, s)
	}
}

// windowCell is a point's throughput inside its fault window and the
// change against its baseline, for the in-window table.
func (a *Analysis) windowCell(p *PointStats) string {
	im, ok := a.ImpactAt(p.Scenario, p.Impl, p.Threads)
	switch {
	case ok && im.InWindow.N > 0:
		return fmt.Sprintf("%s (%s%s)", a.cell(im.InWindow, im.InWindow.Noisy(), 1000, 2), fmtPct(im.WindowChange), tilde(im.WindowTest))
	case ok:
		return "no interval inside"
	}
	if in := Summarize(a.WindowThroughput(p)); in.N > 0 {
		return a.cell(in, in.Noisy(), 1000, 2) + " (no baseline)"
	}
	return "–"
}

// writeScenarioHeading writes a scenario's section heading, labelled
// label with suffix after the baseline's or fault's name, and for a fault
// what it does and when.
func (a *Analysis) writeScenarioHeading(b *bytes.Buffer, s Scenario, label, suffix string) {
	if s.IsBaseline() {
		fmt.Fprintf(b, "## Fault: `%s` (baseline)%s\n\n", label, suffix)
		return
	}
	fmt.Fprintf(b, "## Fault: `%s`%s\n\n", label, suffix)
	spec, err := faultspec.Parse(s.Fault)
	if err == nil {
		fmt.Fprintf(b, "Kind `%s`, target %s", spec.Kind, spec.Target)
		if k, ok := faultspec.Kinds[spec.Kind]; ok && k.Doc != "" {
			fmt.Fprintf(b, ": %s", k.Doc)
		}
		b.WriteString(".")
	}
	if w, ok := FaultWindow(s.Fault, a.durationOf(s)); ok {
		fmt.Fprintf(b, " Fault window: %s.", w.describe())
	}
	b.WriteString("\n\n")
}

// writeCost writes what each backend spent per operation: CPU time of all
// nodes and bytes they wrote to storage (and sent to each other, in
// proxied runs), means over the ok repeats, per fault and thread count.
func (a *Analysis) writeCost(b *bytes.Buffer) {
	mean := func(rows []Row, f func(Row) float64) float64 {
		var sum float64
		for _, r := range rows {
			sum += f(r)
		}
		return sum / float64(len(rows))
	}
	b.WriteString("## Resource cost per operation\n\n")
	b.WriteString("What each backend spent for the same work, over the measured window, per proposal applied in it: CPU time of all nodes (user+system, from /proc), of the leader alone (which also runs the embedded client), and bytes written to storage by all nodes (`/proc/PID/io` write_bytes). Means over the ok repeats (`cpu_us_per_op`, `leader_cpu_us_per_op`, `write_bytes_per_op`, `net_bytes_per_op`, `peak_rss_bytes`).\n\n")
	proxied := slices.ContainsFunc(a.Rows, func(r Row) bool { return r.Proxied })
	writeHeading(b, text("fault"), number("threads"), text("backend"), number("CPU µs/op"), number("leader CPU µs/op"), number("bytes written/op"),
		number("bytes between nodes/op").only(proxied), number("peak RSS MiB"))
	for _, sc := range a.Scenarios {
		for _, t := range a.Threads {
			for _, impl := range a.Impls {
				p := a.okPoint(sc, impl, t)
				if p == nil {
					continue
				}
				fmt.Fprintf(b, "| `%s` | %d | %s | %.1f | %.1f | %.0f |", a.Label(sc), t, impl,
					mean(p.OK, func(r Row) float64 { return r.CPUUsPerOp }),
					mean(p.OK, func(r Row) float64 { return r.LeaderCPUUsPerOp }),
					mean(p.OK, func(r Row) float64 { return r.WriteBytesPerOp }))
				if proxied {
					fmt.Fprintf(b, " %.0f |", mean(p.OK, func(r Row) float64 { return r.NetBytesPerOp }))
				}
				fmt.Fprintf(b, " %.0f |\n", mean(p.OK, func(r Row) float64 { return float64(r.PeakRSSBytes) })/(1<<20))
			}
		}
	}
	b.WriteString("\n")
}

// writeReads writes the reads' tables of scenario s, when its points read:
// throughput, p99 and stale reads, each the mean over the ok repeats. The
// throughput and latency tables above are then the writes' alone.
func (a *Analysis) writeReads(b *bytes.Buffer, s Scenario) {
	a.writeReadsOf(b, []Scenario{s}, func(cell func(*PointStats) string) { a.writeMatrix(b, s, cell) })
}

// writeReadsOf writes the reads' tables of the scenarios ss of one
// section, each table by matrix.
func (a *Analysis) writeReadsOf(b *bytes.Buffer, ss []Scenario, matrix func(cell func(*PointStats) string)) {
	var first *Row
	for _, p := range a.Points {
		if slices.Contains(ss, p.Scenario) && len(p.OK) > 0 && p.OK[0].Reads() {
			first = &p.OK[0]
			break
		}
	}
	if first == nil {
		return
	}
	fmt.Fprintf(b, "With reads (%s of operations, %s, from the %s), the two tables above are the writes'; the reads' follow, their p99 pooled from the reads' own histogram logs (`hdr/…+reads.hlog`) as the writes' is. A stale read missed a write acknowledged before it began; a stale linearizable read fails its point.\n\n",
		fmt.Sprintf("%.0f%%", first.ReadRatio*100), first.ReadMode, first.ReadFrom)
	b.WriteString("### Read throughput (Kops/s)\n\n")
	matrix(func(p *PointStats) string {
		return a.cell(p.ReadThroughput, p.ReadThroughput.Noisy(), 1000, 2) + interferenceMark(p)
	})
	b.WriteString("### Read p99 latency (µs)\n\n")
	matrix(func(p *PointStats) string {
		return a.readLatCell(p, LatP99, p.ReadP99.Noisy()) + interferenceMark(p)
	})
	b.WriteString("### Stale reads (per point)\n\n")
	b.WriteString("Stale reads of all the ok repeats, of the reads they answered; `stale/` lists the first of each repeat (`stale_file`).\n\n")
	matrix(func(p *PointStats) string {
		var stale, reads uint64
		for _, r := range p.OK {
			stale, reads = stale+r.StaleReads, reads+r.ReadOps
		}
		return fmt.Sprintf("%d of %d", stale, reads)
	})
}

func (a *Analysis) writeMatrix(b *bytes.Buffer, s Scenario, cell func(*PointStats) string) {
	b.WriteString("| threads |")
	for _, impl := range a.Impls {
		fmt.Fprintf(b, " %s |", impl)
	}
	b.WriteString("\n|---:|" + strings.Repeat("---:|", len(a.Impls)) + "\n")
	for _, t := range a.Threads {
		fmt.Fprintf(b, "| %d |", t)
		for _, impl := range a.Impls {
			if p := a.okPoint(s, impl, t); p != nil {
				fmt.Fprintf(b, " %s |", cell(p))
			} else {
				fmt.Fprintf(b, " %s |", statusCell(a.Point(s, impl, t)))
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func (a *Analysis) writeImpactByThreads(b *bytes.Buffer, s Scenario) {
	if _, ok := a.Baseline(s); !ok {
		return
	}
	b.WriteString("### Impact by thread count\n\n")
	b.WriteString("Throughput / p99 change against the backend's own baseline at the same thread count.\n\n")
	a.writeMatrix(b, s, func(p *PointStats) string {
		im, ok := a.ImpactAt(s, p.Impl, p.Threads)
		if !ok {
			return "no baseline"
		}
		return fmt.Sprintf("%s%s / %s%s", fmtPct(im.ThroughputChange), tilde(im.ThroughputTest), fmtPct(im.P99Change), tilde(im.P99Test))
	})
}

func (a *Analysis) writeEffects(b *bytes.Buffer, ss ...Scenario) {
	b.WriteString("### Fault effect\n\n")
	b.WriteString("What the fault was measured to do (`fault_targets`, `fault_effect`), per repeat.\n\n")
	swept := len(ss) > 1
	writeHeading(b, text("backend"), number("offered ops/s").only(swept), number("threads"), number("repeat"), text("targets"), text("observed effect"))
	for _, p := range a.Points {
		if !slices.Contains(ss, p.Scenario) {
			continue
		}
		for _, r := range p.OK {
			effect := "(not recorded)"
			if r.FaultEffect != "" {
				effect = "`" + r.FaultEffect + "`"
			}
			targets := r.FaultTargets
			if targets == "" {
				targets = "–"
			}
			fmt.Fprintf(b, "| %s |", p.Impl)
			if swept {
				fmt.Fprintf(b, " %s |", rateCell(p.RateOps))
			}
			fmt.Fprintf(b, " %d | %d | %s | %s |\n", p.Threads, r.Repeat, cellEscape(targets), cellEscape(effect))
		}
	}
	b.WriteString("\n")
}

func fmtOpt(v float64, prec int, scale float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return strconv.FormatFloat(v/scale, 'f', prec, 64)
}

func fmtCV(s Summary) string {
	cv := s.CV()
	if math.IsNaN(cv) {
		return "–"
	}
	v := fmt.Sprintf("%.1f%%", cv*100)
	if s.Noisy() {
		v += " †"
	}
	return v
}

func (a *Analysis) writeStats(b *bytes.Buffer) {
	if len(a.Points) == 0 {
		return
	}
	b.WriteString("## Statistics per point\n\n")
	b.WriteString("Over the ok repeats of each point: n, mean, sample standard deviation, 95% confidence interval of the mean and coefficient of variation. For the p99, these describe the repeats' own p99s (their mean is the mean of per-repeat p99s, a secondary figure); the pooled p99, from the repeats' histograms added up, is beside them, – where a repeat has no histogram log.\n\n")
	b.WriteString("| backend | fault | threads | n | Kops/s | sd | 95% CI | CV | pooled p99 µs | mean of repeat p99s µs | sd | 95% CI | CV | errors/repeat |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|\n")
	for _, p := range a.Points {
		n := strconv.Itoa(len(p.OK))
		if len(p.OK) < len(p.Rows) {
			n += fmt.Sprintf(" of %d", len(p.Rows))
		}
		if len(p.OK) == 0 {
			fmt.Fprintf(b, "| %s | `%s` | %d | %s | %s | | | | | | | | | |\n", p.Impl, a.Label(p.Scenario), p.Threads, n, p.Rows[0].Status)
			continue
		}
		ci := func(s Summary, scale float64, prec int) string {
			if s.N < 2 {
				return "–"
			}
			return "[" + fmtOpt(s.CILow(), prec, scale) + ", " + fmtOpt(s.CIHigh(), prec, scale) + "]"
		}
		pooledP99 := "–"
		if p.Pooled != nil {
			pooledP99 = strconv.FormatInt(p.Pooled.P99, 10)
		}
		fmt.Fprintf(b, "| %s | `%s` | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			p.Impl, a.Label(p.Scenario), p.Threads, n,
			kops(p.Throughput.Mean), fmtOpt(p.Throughput.SD, 2, 1000), ci(p.Throughput, 1000, 2), fmtCV(p.Throughput),
			pooledP99, us(p.P99.Mean), fmtOpt(p.P99.SD, 0, 1), ci(p.P99, 1, 0), fmtCV(p.P99),
			fmtOpt(p.Errors.Mean, 1, 1))
	}
	b.WriteString("\n")
}

// interferenceMarkText marks a figure of a point its host disturbed
// (PointStats.Interfered), as † marks a noisy one.
const interferenceMarkText = " §"

// interferenceNote explains interferenceMarkText under a table that has it.
var interferenceNote = fmt.Sprintf("§ Disturbed by the host: in at least one repeat, processes outside the experiment used more than %.1f CPU or steal exceeded %.0f%% during the window (see Host interference); the figure may be slowed by something other than the backend.\n\n", OutsideCPULimit, StealLimit*100)

// interferenceMark is interferenceMarkText if p was disturbed, else "".
func interferenceMark(p *PointStats) string {
	if p.Interfered() {
		return interferenceMarkText
	}
	return ""
}

// writeInterference lists the rows their host disturbed, with what was
// measured; nothing when none was.
func (a *Analysis) writeInterference(b *bytes.Buffer) {
	rows := a.interfered()
	if len(rows) == 0 {
		return
	}
	b.WriteString("## Host interference\n\n")
	fmt.Fprintf(b, "Repeats during which processes outside the experiment used more than %.1f CPU or steal exceeded %.0f%%, measured on raftcmp's machine over the window (`results.csv` columns `outside_cpu`, `host_steal`, `host_cpu_util`, `cpu_pressure`). Run them again on a quiet machine before drawing conclusions from them.\n\n", OutsideCPULimit, StealLimit*100)
	writeHeading(b, text("point"), number("outside CPU"), number("steal"), number("host CPU busy"), number("CPU pressure"))
	pct := func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", *v*100)
	}
	for _, r := range rows {
		outside := "–"
		if r.OutsideCPU != nil {
			outside = fmt.Sprintf("%.2f", *r.OutsideCPU)
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", r.Point, outside, pct(r.HostSteal), pct(r.HostCPUUtil), pct(r.CPUPressure))
	}
	b.WriteString("\n")
}

func (a *Analysis) writeFailures(b *bytes.Buffer) {
	bad := a.failures()
	if len(bad) == 0 {
		return
	}
	b.WriteString("## Points without figures\n\n")
	for _, r := range bad {
		fmt.Fprintf(b, "- `%s` %s: %s\n", r.Point, r.Status, strings.Join(strings.Fields(r.Error), " "))
	}
	b.WriteString("\n")
}

// writeRows lists every row, so each figure above can be traced.
func (a *Analysis) writeRows(b *bytes.Buffer) {
	if len(a.Rows) == 0 {
		return
	}
	b.WriteString("## Appendix: every row of results.csv\n\n")
	b.WriteString("| point | status | Kops/s | avg µs | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | errors |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range a.Points {
		for _, r := range p.Rows {
			if r.Status != StatusOK {
				fmt.Fprintf(b, "| `%s` | %s | | | | | | | | |\n", r.Point, r.Status)
				continue
			}
			fmt.Fprintf(b, "| `%s` | ok | %s | %.0f | %d | %d | %d | %d | %d | %d |\n",
				r.Point, kops(r.ThroughputOps), r.LatAvgUs, r.LatP50Us, r.LatP90Us, r.LatP99Us, r.LatP999Us, r.LatMaxUs, r.Errors)
		}
	}
	b.WriteString("\n")
}

// cellEscape keeps s inside one Markdown table cell.
func cellEscape(s string) string {
	return strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "|", `\|`)
}

// RemoveResults deletes the files a run writes in dir (not the directory or
// anything else in it), for a run told to overwrite.
func RemoveResults(dir string) error {
	for _, name := range []string{ResultsFile, TimeseriesFile, MetaFile, ReportFile, LaTeXFile, SummaryFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if err := removePlots(dir); err != nil {
		return err
	}
	// hdr/ and stale/ are named by rows: an older run's files left beside
	// a new run's rows would be read as the new run's evidence.
	for _, sub := range []string{"logs", HdrDir, StaleDir} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return err
		}
	}
	return nil
}

// heading is one column of a Markdown table: its title, and whether its
// cells are numbers (right-aligned).
type heading struct {
	title   string
	numeric bool
}

func text(title string) heading   { return heading{title: title} }
func number(title string) heading { return heading{title: title, numeric: true} }

// only keeps the column if cond holds; writeHeading skips it otherwise.
func (h heading) only(cond bool) heading {
	if !cond {
		return heading{}
	}
	return h
}

// writeHeading writes a Markdown table's header and alignment rows.
func writeHeading(b *bytes.Buffer, hs ...heading) {
	var align strings.Builder
	for _, h := range hs {
		if h.title == "" {
			continue
		}
		b.WriteString("| " + h.title + " ")
		if h.numeric {
			align.WriteString("|---:")
		} else {
			align.WriteString("|---")
		}
	}
	b.WriteString("|\n" + align.String() + "|\n")
}
