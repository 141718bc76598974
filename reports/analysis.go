package reports

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// Scenario is everything a point ran under besides its backend, thread
// count and repeat: the fault and the cluster and workload configuration.
// A results directory usually holds one configuration and several faults.
type Scenario struct {
	Fault        string
	Storage      string
	Nodes        int
	PayloadBytes int
	RateOps      float64
	// Payload is the payload size distribution (Row.Payload) when not
	// one size; "" otherwise and in rows of older files.
	Payload string
}

// IsBaseline reports whether s has no fault.
func (s Scenario) IsBaseline() bool { return s.Fault == faultspec.KindNone || s.Fault == "" }

// config is s without its fault.
func (s Scenario) config() Scenario { s.Fault = faultspec.KindNone; return s }

// PointKey identifies a point across its repeats: the same backend, thread
// count and scenario.
type PointKey struct {
	Scenario
	Impl    string
	Threads int
}

// PointStats is one point over its repeats. Every figure is computed from
// the rows with status ok only.
type PointStats struct {
	PointKey
	// Rows are all of the point's rows, ok or not, by repeat; OK those
	// with status ok.
	Rows, OK []Row
	// Throughput is in ops/s; the latencies in µs, each the Summary of
	// the rows' own percentile over the repeats (their mean is the mean of
	// per-repeat p99s, not a pooled p99: see Pooled).
	Throughput                  Summary
	LatAvg, P50, P90, P99, P999 Summary
	Max, Errors                 Summary
	// Pooled is the latency distribution of all the ok repeats together:
	// their recorded histograms (hdr/) added up, and the percentiles taken
	// of the sum. Nil when an ok repeat has no histogram log (files
	// written before raftcmp recorded them); the report then falls back to
	// the mean of per-repeat percentiles, and says so.
	Pooled            *Pooled
	throughputs, p99s []float64
	perRepeat         [5][]float64 // p50, p90, p99, p99.9, max of each ok repeat
	// The reads of a mixed load (Row.Reads), as the figures above are the
	// writes': ReadThroughput in ops/s and ReadP99 the Summary of the
	// rows' own read p99s over the repeats, StaleReads of their stale
	// reads; ReadPooled the reads' latency distribution pooled over the
	// repeats (hdr/POINT+reads.hlog added up), nil when a repeat has no
	// read histogram log or the point did not read (ReadsMeasured).
	ReadThroughput, ReadP99, StaleReads Summary
	ReadPooled                          *Pooled
	readThroughputs, readP99s           []float64
	readPerRepeat                       [5][]float64
}

// ReadsMeasured reports whether the point's ok repeats read.
func (p *PointStats) ReadsMeasured() bool { return len(p.OK) > 0 && p.OK[0].Reads() }

// Pooled is a latency distribution pooled over a point's ok repeats, in
// µs.
type Pooled struct {
	// Count is the number of latencies: the sum of the repeats' ops.
	Count int64
	// Mean is their mean.
	Mean float64
	// P50 ... P999 are the percentiles of the pooled distribution, Max its
	// largest latency.
	P50, P90, P99, P999, Max int64
}

// pooled sums the histograms of the rows (hists by key(point id)) and
// takes their percentiles; nil if a row has none.
func pooled(rows []Row, hists map[string]*hdrhistogram.PackedHistogram, key func(string) string) *Pooled {
	if len(rows) == 0 {
		return nil
	}
	var sum *hdrhistogram.Histogram
	for _, r := range rows {
		h := hists[key(r.Point)]
		if h == nil {
			return nil
		}
		if sum == nil {
			sum = hdrhistogram.New(h.LowestTrackableValue(), h.HighestTrackableValue(), int(h.SignificantFigures()))
		}
		h.MergeInto(sum)
	}
	return &Pooled{
		Count: sum.TotalCount(), Mean: sum.Mean(),
		P50: sum.ValueAtPercentile(50), P90: sum.ValueAtPercentile(90), P99: sum.ValueAtPercentile(99),
		P999: sum.ValueAtPercentile(99.9), Max: sum.Max(),
	}
}

// Latency figures of a point (LatFigure).
const (
	LatP50 = iota
	LatP90
	LatP99
	LatP999
	LatMax
)

// LatFigure is one latency figure of a point over its ok repeats (which:
// LatP50 ... LatMax): Value is the pooled figure (Pooled) or, without
// histograms, the mean of the repeats' own; Lo and Hi are the smallest and
// largest of the repeats' own, the spread over repeats.
func (p *PointStats) LatFigure(which int) (value, lo, hi float64) {
	return latFigure(p.Pooled, p.perRepeat[which], which)
}

// ReadLatFigure is LatFigure of the point's reads.
func (p *PointStats) ReadLatFigure(which int) (value, lo, hi float64) {
	return latFigure(p.ReadPooled, p.readPerRepeat[which], which)
}

// ReadLatP99 is the reads' p99 as reports show it, as LatP99 is the
// writes'.
func (p *PointStats) ReadLatP99() float64 {
	v, _, _ := p.ReadLatFigure(LatP99)
	return v
}

// latFigure is latency figure which of a distribution pooled over repeats
// (nil without histograms) and the repeats' own figures xs.
func latFigure(pooled *Pooled, xs []float64, which int) (value, lo, hi float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	lo, hi = slices.Min(xs), slices.Max(xs)
	if pooled == nil {
		return Summarize(xs).Mean, lo, hi
	}
	return float64([]int64{pooled.P50, pooled.P90, pooled.P99, pooled.P999, pooled.Max}[which]), lo, hi
}

// LatP99 is the point's p99 as reports show it: pooled over the repeats,
// or the mean of the repeats' p99s without histograms.
func (p *PointStats) LatP99() float64 {
	v, _, _ := p.LatFigure(LatP99)
	return v
}

func newPointStats(k PointKey, rows []Row, hists map[string]*hdrhistogram.PackedHistogram) *PointStats {
	p := &PointStats{PointKey: k, Rows: rows}
	var avg, p50, p90, p99, p999, mx, errs, stale []float64
	for _, r := range rows {
		if r.Status == StatusOK && r.Reads() {
			p.readThroughputs = append(p.readThroughputs, r.ReadThroughputOps)
			for i, v := range []int64{r.ReadLatP50Us, r.ReadLatP90Us, r.ReadLatP99Us, r.ReadLatP999Us, r.ReadLatMaxUs} {
				p.readPerRepeat[i] = append(p.readPerRepeat[i], float64(v))
			}
			stale = append(stale, float64(r.StaleReads))
		}
		if r.Status == StatusOK {
			p.OK = append(p.OK, r)
			p.throughputs = append(p.throughputs, r.ThroughputOps)
			avg = append(avg, r.LatAvgUs)
			p50 = append(p50, float64(r.LatP50Us))
			p90 = append(p90, float64(r.LatP90Us))
			p99 = append(p99, float64(r.LatP99Us))
			p999 = append(p999, float64(r.LatP999Us))
			mx = append(mx, float64(r.LatMaxUs))
			errs = append(errs, float64(r.Errors))
		}
	}
	p.p99s = p99
	p.perRepeat = [5][]float64{p50, p90, p99, p999, mx}
	p.Pooled = pooled(p.OK, hists, func(id string) string { return id })
	p.readP99s = p.readPerRepeat[LatP99]
	if p.ReadsMeasured() {
		p.ReadPooled = pooled(p.OK, hists, ReadsHdrPoint)
	}
	p.ReadThroughput, p.ReadP99, p.StaleReads = Summarize(p.readThroughputs), Summarize(p.readP99s), Summarize(stale)
	p.Throughput = Summarize(p.throughputs)
	p.LatAvg, p.P50, p.P90, p.P99, p.P999, p.Max = Summarize(avg), Summarize(p50), Summarize(p90), Summarize(p99), Summarize(p999), Summarize(mx)
	p.Errors = Summarize(errs)
	return p
}

// Noisy reports whether throughput or p99 varies by more than NoisyCV
// over the point's repeats.
func (p *PointStats) Noisy() bool { return p.Throughput.Noisy() || p.P99.Noisy() }

// Interfered reports whether any of the point's ok repeats was disturbed
// by its host (Row.Interfered).
func (p *PointStats) Interfered() bool { return slices.ContainsFunc(p.OK, Row.Interfered) }

// interferenceMeasured reports whether any row has the host's
// interference measured (files before it existed have none).
func (a *Analysis) interferenceMeasured() bool {
	return slices.ContainsFunc(a.Rows, func(r Row) bool { return r.OutsideCPU != nil || r.HostSteal != nil })
}

// interfered is the ok rows disturbed by their host, in point order.
func (a *Analysis) interfered() []Row {
	var out []Row
	for _, p := range a.Points {
		for _, r := range p.OK {
			if r.Interfered() {
				out = append(out, r)
			}
		}
	}
	return out
}

// Analysis is a results directory digested: its points over repeats, the
// fault impacts and the headline comparisons. Every report format is
// rendered from it, and it depends only on the files read.
type Analysis struct {
	Meta   *Meta
	Rows   []Row
	Series []Sample
	// Impls are the backends, sorted; Threads the thread counts, sorted.
	Impls   []string
	Threads []int
	// Scenarios are in the order results.csv first names them, except
	// that each configuration's baseline comes first.
	Scenarios []Scenario
	// Points are by scenario, thread count and backend.
	Points []*PointStats
	// Repeats is the largest repeat count of any point.
	Repeats int

	byKey       map[PointKey]*PointStats
	series      map[string][]Sample // by point id, in file order
	slugs       map[Scenario]string
	multiConfig bool
}

// Analyze digests a results directory's contents without its histogram
// logs: latency percentiles over repeats are then means of the repeats'
// own. meta may be nil.
func Analyze(meta *Meta, rows []Row, series []Sample) *Analysis {
	return AnalyzeHists(meta, rows, series, nil)
}

// AnalyzeHists is Analyze with the points' latency histograms (by point
// id, as ReadHdrLogs returns them), from which each point's percentiles
// over its repeats are pooled (PointStats.Pooled).
func AnalyzeHists(meta *Meta, rows []Row, series []Sample, hists map[string]*hdrhistogram.PackedHistogram) *Analysis {
	a := &Analysis{Meta: meta, Rows: rows, Series: series, byKey: map[PointKey]*PointStats{},
		series: map[string][]Sample{}, slugs: map[Scenario]string{}}
	var keys []PointKey
	byKey := map[PointKey][]Row{}
	var configs []Scenario
	labels := faultLabels{}
	for _, r := range rows {
		s := Scenario{Fault: labels.of(r.Fault), Storage: r.Storage, Nodes: r.Nodes, PayloadBytes: r.PayloadBytes, RateOps: r.RateOps}
		if r.Payload != strconv.Itoa(r.PayloadBytes) {
			s.Payload = r.Payload
		}
		k := PointKey{Scenario: s, Impl: r.Impl, Threads: r.Threads}
		if _, seen := byKey[k]; !seen {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], r)
		if !slices.Contains(a.Impls, r.Impl) {
			a.Impls = append(a.Impls, r.Impl)
		}
		if !slices.Contains(a.Threads, r.Threads) {
			a.Threads = append(a.Threads, r.Threads)
		}
		if !slices.Contains(a.Scenarios, s) {
			a.Scenarios = append(a.Scenarios, s)
		}
		if !slices.Contains(configs, s.config()) {
			configs = append(configs, s.config())
		}
	}
	slices.Sort(a.Impls)
	slices.Sort(a.Threads)
	a.multiConfig = len(configs) > 1
	slices.SortStableFunc(a.Scenarios, func(x, y Scenario) int {
		if c := cmp.Compare(slices.Index(configs, x.config()), slices.Index(configs, y.config())); c != 0 {
			return c
		}
		return cmp.Compare(boolInt(!x.IsBaseline()), boolInt(!y.IsBaseline()))
	})
	slices.SortStableFunc(keys, func(x, y PointKey) int {
		return cmp.Or(
			cmp.Compare(slices.Index(a.Scenarios, x.Scenario), slices.Index(a.Scenarios, y.Scenario)),
			cmp.Compare(x.Threads, y.Threads),
			cmp.Compare(x.Impl, y.Impl))
	})
	for _, k := range keys {
		rs := byKey[k]
		slices.SortStableFunc(rs, func(x, y Row) int { return cmp.Compare(x.Repeat, y.Repeat) })
		p := newPointStats(k, rs, hists)
		a.Points = append(a.Points, p)
		a.byKey[k] = p
		a.Repeats = max(a.Repeats, len(rs))
	}
	for _, s := range series {
		a.series[s.Point] = append(a.series[s.Point], s)
	}
	used := map[string]bool{}
	for _, s := range a.Scenarios {
		base := slugify(a.Label(s))
		slug := base
		for i := 2; used[slug]; i++ {
			slug = base + "-" + strconv.Itoa(i)
		}
		used[slug] = true
		a.slugs[s] = slug
	}
	return a
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

var nonSlug = regexp.MustCompile(`[^a-z0-9.]+`)

// slugify makes a file-name-safe name: "cpu-slow:follower,quota=5%" →
// "cpu-slow-follower-quota-5".
func slugify(s string) string {
	s = strings.ReplaceAll(strings.ToLower(s), "%", "pct")
	s = strings.Trim(nonSlug.ReplaceAllString(s, "-"), "-.")
	if s == "" {
		return "scenario"
	}
	return s
}

// Point returns the point of scenario s, backend impl and thread count t,
// or nil.
func (a *Analysis) Point(s Scenario, impl string, t int) *PointStats {
	return a.byKey[PointKey{Scenario: s, Impl: impl, Threads: t}]
}

// okPoint is Point when it has at least one ok row, else nil.
func (a *Analysis) okPoint(s Scenario, impl string, t int) *PointStats {
	if p := a.Point(s, impl, t); p != nil && len(p.OK) > 0 {
		return p
	}
	return nil
}

// Label names a scenario for readers: its fault, plus its configuration
// when the directory holds more than one.
func (a *Analysis) Label(s Scenario) string {
	if !a.multiConfig {
		return s.Fault
	}
	rate := "unthrottled"
	if s.RateOps > 0 {
		rate = strconv.FormatFloat(s.RateOps, 'f', -1, 64) + " ops/s"
	}
	return fmt.Sprintf("%s [%d nodes, %s, %s B, %s]", s.Fault, s.Nodes, s.Storage, s.payloadText(), rate)
}

// Slug is the scenario's name in plot file names.
func (a *Analysis) Slug(s Scenario) string { return a.slugs[s] }

// Baseline returns the no-fault scenario of s's configuration, if the
// directory holds it.
func (a *Analysis) Baseline(s Scenario) (Scenario, bool) {
	b := s.config()
	return b, slices.Contains(a.Scenarios, b)
}

// implsWithData are the backends with at least one ok point in s.
func (a *Analysis) implsWithData(s Scenario) []string {
	var out []string
	for _, impl := range a.Impls {
		for _, t := range a.Threads {
			if a.okPoint(s, impl, t) != nil {
				out = append(out, impl)
				break
			}
		}
	}
	return out
}

// CommonThreads is the highest thread count at which every backend with
// data in each of the given scenarios has an ok point in all of them;
// false if there is none.
func (a *Analysis) CommonThreads(ss ...Scenario) (int, bool) {
	var impls []string
	for _, s := range ss {
		for _, impl := range a.implsWithData(s) {
			if !slices.Contains(impls, impl) {
				impls = append(impls, impl)
			}
		}
	}
	if len(impls) == 0 {
		return 0, false
	}
	for i := len(a.Threads) - 1; i >= 0; i-- {
		t := a.Threads[i]
		all := true
		for _, impl := range impls {
			for _, s := range ss {
				if a.okPoint(s, impl, t) == nil {
					all = false
				}
			}
		}
		if all {
			return t, true
		}
	}
	return 0, false
}

// Impact is a backend's change under a fault against its own no-fault
// baseline at the same thread count: Change = faulted mean / baseline mean
// - 1, with Welch's t-test over the two sets of repeats.
type Impact struct {
	Impl      string
	Scenario  Scenario
	Threads   int
	Base, Hit *PointStats
	// ThroughputChange and P99Change are fractions: -0.031 is -3.1%.
	ThroughputChange, P99Change float64
	ThroughputTest, P99Test     TTest
	// InWindow is the faulted point's throughput over the time-series
	// intervals inside the fault window only (see WindowThroughput), and
	// WindowChange its change against the baseline's whole-window
	// throughput; N == 0 and NaN when the fault covers the whole window or
	// no interval lies inside it.
	InWindow     Summary
	WindowChange float64
	WindowTest   TTest
}

// ImpactAt computes impl's impact under s at t threads; false when either
// the faulted point or its baseline has no ok row.
func (a *Analysis) ImpactAt(s Scenario, impl string, t int) (Impact, bool) {
	b, ok := a.Baseline(s)
	if !ok || s.IsBaseline() {
		return Impact{}, false
	}
	base, hit := a.okPoint(b, impl, t), a.okPoint(s, impl, t)
	if base == nil || hit == nil {
		return Impact{}, false
	}
	return Impact{
		Impl: impl, Scenario: s, Threads: t, Base: base, Hit: hit,
		ThroughputChange: relChange(base.Throughput.Mean, hit.Throughput.Mean),
		P99Change:        relChange(base.LatP99(), hit.LatP99()),
		ThroughputTest:   WelchTest(base.throughputs, hit.throughputs),
		P99Test:          WelchTest(base.p99s, hit.p99s),
		WindowChange:     math.NaN(),
	}.withWindow(a), true
}

func (im Impact) withWindow(a *Analysis) Impact {
	in := a.WindowThroughput(im.Hit)
	im.InWindow = Summarize(in)
	if len(in) > 0 {
		im.WindowChange = relChange(im.Base.Throughput.Mean, im.InWindow.Mean)
		im.WindowTest = WelchTest(im.Base.throughputs, in)
	}
	return im
}

// WindowThroughput returns, per ok repeat of a point under a fault that
// covers part of the measured window, its mean throughput (ops/s) over
// the timeseries.csv intervals that lie wholly inside the fault window.
// It is empty for a baseline, a whole-window fault, or when no interval
// lies inside the window.
func (a *Analysis) WindowThroughput(p *PointStats) []float64 {
	w, ok := FaultWindow(p.Fault, a.durationOf(p.Scenario))
	if !ok || w.Whole {
		return nil
	}
	var out []float64
	for _, r := range p.OK {
		ss := a.seriesOf(r)
		var sum float64
		var n int
		for i, smp := range ss {
			end := r.DurationS
			if i+1 < len(ss) {
				end = ss[i+1].TS
			}
			if smp.TS >= w.From-1e-9 && end <= w.To+1e-9 {
				sum += smp.ThroughputOps
				n++
			}
		}
		if n > 0 {
			out = append(out, sum/float64(n))
		}
	}
	return out
}

// partialWindow reports whether s's fault covers only part of the
// measured window.
func (a *Analysis) partialWindow(s Scenario) bool {
	w, ok := FaultWindow(s.Fault, a.durationOf(s))
	return ok && !w.Whole
}

func relChange(from, to float64) float64 {
	if from == 0 {
		return math.NaN()
	}
	return to/from - 1
}

// ImpactThreads is the thread count the fault-impact table uses for
// scenario s: the highest at which every backend has ok points both under
// s and in its baseline (CommonThreads of the two). When no count is
// common to all backends, each backend falls back to its own highest
// (perImpl reports that).
func (a *Analysis) ImpactThreads(s Scenario) (t int, common bool) {
	b, ok := a.Baseline(s)
	if !ok {
		return 0, false
	}
	return a.CommonThreads(s, b)
}

// HeadlineImpact is impl's impact under s at ImpactThreads(s), or at the
// backend's own highest thread count with both points when no count is
// common to all backends.
func (a *Analysis) HeadlineImpact(s Scenario, impl string) (Impact, bool) {
	if t, ok := a.ImpactThreads(s); ok {
		return a.ImpactAt(s, impl, t)
	}
	for i := len(a.Threads) - 1; i >= 0; i-- {
		if im, ok := a.ImpactAt(s, impl, a.Threads[i]); ok {
			return im, true
		}
	}
	return Impact{}, false
}

// Ranking compares the backends under one scenario at one thread count.
type Ranking struct {
	Scenario Scenario
	Threads  int
	// ByThroughput is by mean throughput, highest first; ByP99 by p99
	// (LatP99), lowest first. Both hold every backend with ok rows there.
	ByThroughput, ByP99 []*PointStats
	// ThroughputTest and P99Test compare the first with the second
	// (Welch's t-test); not OK when fewer than two backends or repeats.
	ThroughputTest, P99Test TTest
}

// Rank ranks the backends under s at CommonThreads(s); false if no thread
// count has data for every backend.
func (a *Analysis) Rank(s Scenario) (Ranking, bool) {
	t, ok := a.CommonThreads(s)
	if !ok {
		return Ranking{}, false
	}
	r := Ranking{Scenario: s, Threads: t}
	for _, impl := range a.Impls {
		if p := a.okPoint(s, impl, t); p != nil {
			r.ByThroughput = append(r.ByThroughput, p)
			r.ByP99 = append(r.ByP99, p)
		}
	}
	// Stable sorts over impl-sorted input: ties go to the name first in
	// alphabetical order, deterministically.
	slices.SortStableFunc(r.ByThroughput, func(x, y *PointStats) int { return cmp.Compare(y.Throughput.Mean, x.Throughput.Mean) })
	slices.SortStableFunc(r.ByP99, func(x, y *PointStats) int { return cmp.Compare(x.LatP99(), y.LatP99()) })
	if len(r.ByThroughput) > 1 {
		r.ThroughputTest = WelchTest(r.ByThroughput[0].throughputs, r.ByThroughput[1].throughputs)
		r.P99Test = WelchTest(r.ByP99[0].p99s, r.ByP99[1].p99s)
	}
	return r, true
}

// faultLabels maps recorded fault names to the name a report shows: the
// first spelling recorded of the same fault (same faultspec.CanonicalName).
// Rows of one fault recorded under two spellings (a run recorded by an
// older build, which left defaults out, and resumed by a newer one) thus
// form one scenario, and a report shows the names its directory recorded.
type faultLabels map[string]string

func (l faultLabels) of(fault string) string {
	if fault == "" {
		fault = faultspec.KindNone
	}
	if label, ok := l[fault]; ok {
		return label
	}
	canonical := faultspec.CanonicalName(fault)
	label, ok := l[canonical]
	if !ok {
		label = fault
		l[canonical] = label
	}
	l[fault] = label
	return label
}

// relabel returns a copy of rows with each fault name replaced by its
// label.
func (l faultLabels) relabel(rows []Row) []Row {
	out := slices.Clone(rows)
	for i := range out {
		out[i].Fault = l.of(out[i].Fault)
	}
	return out
}

// Window is when a fault acted, in seconds from the start of the measured
// window.
type Window struct {
	From, To float64
	// Whole is set for a fault without at/for: it covers the window.
	Whole bool
	// Err is set when the fault spec could not be parsed (a kind this
	// build does not know); the window is then taken as whole.
	Err error
}

// FaultWindow returns when fault acted inside a measured window of
// durationS seconds; false for the baseline.
func FaultWindow(fault string, durationS float64) (Window, bool) {
	if fault == "" || fault == faultspec.KindNone {
		return Window{}, false
	}
	spec, err := faultspec.Parse(fault)
	if err != nil {
		return Window{From: 0, To: durationS, Whole: true, Err: err}, true
	}
	w := Window{From: spec.At.Seconds(), To: durationS}
	if spec.For > 0 {
		w.To = math.Min(durationS, (spec.At + spec.For).Seconds())
	}
	w.Whole = spec.At == 0 && spec.For == 0
	return w, true
}

// describe says the window in words.
func (w Window) describe() string {
	var s string
	switch {
	case w.Whole:
		s = fmt.Sprintf("the whole measured window (0–%g s)", w.To)
	default:
		s = fmt.Sprintf("from %g s to %g s of the measured window", w.From, w.To)
	}
	if w.Err != nil {
		s += fmt.Sprintf(" (spec not understood by this build: %v)", w.Err)
	}
	return s
}

// durationOf is the measured window of scenario s's rows (the longest, if
// they differ).
func (a *Analysis) durationOf(s Scenario) float64 {
	var d float64
	for _, p := range a.Points {
		if p.Scenario == s {
			for _, r := range p.Rows {
				d = math.Max(d, r.DurationS)
			}
		}
	}
	return d
}

// seriesOf returns the time series of one ok row, in time order.
func (a *Analysis) seriesOf(r Row) []Sample {
	ss := slices.Clone(a.series[r.Point])
	slices.SortStableFunc(ss, func(x, y Sample) int { return cmp.Compare(x.TS, y.TS) })
	return ss
}

// failures are the rows without figures, in file order.
func (a *Analysis) failures() []Row {
	var out []Row
	for _, r := range a.Rows {
		if r.Status != StatusOK {
			out = append(out, r)
		}
	}
	return out
}

// span describes the run's start and end from meta.json.
func (a *Analysis) span() string {
	m := a.Meta
	if m == nil || m.Started.IsZero() {
		return "unknown"
	}
	s := m.Started.UTC().Format(time.RFC3339)
	if !m.Ended.IsZero() {
		s += " to " + m.Ended.UTC().Format(time.RFC3339) + fmt.Sprintf(" (%s)", m.Ended.Sub(m.Started).Round(time.Second))
	}
	if m.Interrupted {
		s += ", interrupted before its last point"
	}
	return s
}
