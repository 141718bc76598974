package reports

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
)

// Delta is one point present in both results compared: its figures on
// each side and the change from A to B.
type Delta struct {
	Key PointKey
	// A and B are the point on each side; either may have no ok rows.
	A, B *PointStats
	// ThroughputChange and P99Change are B's mean / A's mean - 1; NaN
	// when a side has no ok rows.
	ThroughputChange, P99Change float64
	// ThroughputTest and P99Test are Welch's t-tests over the repeats.
	ThroughputTest, P99Test TTest
	// The reads' figures likewise, when either side read
	// (PointStats.ReadsMeasured): ReadThroughputChange and ReadP99Change
	// are NaN when a side did not, and their tests then not OK.
	ReadThroughputChange, ReadP99Change float64
	ReadThroughputTest, ReadP99Test     TTest
}

// Reads reports whether either side of the delta measured reads.
func (d Delta) Reads() bool { return d.A.ReadsMeasured() || d.B.ReadsMeasured() }

// Comparison is the outcome of Compare.
type Comparison struct {
	// Deltas are the points in both, in A's order.
	Deltas []Delta
	// OnlyA and OnlyB are the points found on one side only.
	OnlyA, OnlyB []PointKey
	// Notes warn of differences between the runs that points are not
	// matched on (measured window, warm-up, GOMAXPROCS, backend versions).
	Notes       []string
	multiConfig bool
}

// Compare matches the points of two results (same backend, fault, thread
// count, storage, nodes, payload and rate) and tests each change of mean
// throughput and mean p99 over the repeats.
//
// The test is Welch's two-sample t-test, not the Mann–Whitney U test that
// benchstat uses. Raft benchmarks are expensive, so runs have 3 to 5
// repeats per point, and at those sizes Mann–Whitney cannot reach
// significance: its smallest two-sided p-value is 2/C(n+m, n), which is
// 0.10 for 3+3 repeats (so no change at all could ever be reported at
// α = 0.05), 0.029 for 4+4 and 0.008 for 5+5. Welch's test uses the
// magnitudes, so it can detect a clear change with 3 repeats, and does not
// assume equal variances on the two sides. The price is its assumption
// that repeats are roughly normal: one outlier repeat widens its interval
// rather than being discounted as a rank test would. Reports flag such
// points as noisy (CV > 10%) and show every repeat. With fewer than two
// ok repeats on a side there is no test, and the change is shown as
// within noise (~) with its n.
//
// Faults are matched by canonical name (faultspec.CanonicalName), so
// results recorded by an older build, which left a fault's defaults out of
// its name, match today's; each fault is shown as first recorded, A's
// spelling before B's.
func Compare(a, b []Row) Comparison {
	labels := faultLabels{}
	aa, ab := Analyze(nil, labels.relabel(a), nil), Analyze(nil, labels.relabel(b), nil)
	c := Comparison{multiConfig: aa.multiConfig || ab.multiConfig}
	for _, pa := range aa.Points {
		pb := ab.byKey[pa.PointKey]
		if pb == nil {
			c.OnlyA = append(c.OnlyA, pa.PointKey)
			continue
		}
		d := Delta{Key: pa.PointKey, A: pa, B: pb, ThroughputChange: math.NaN(), P99Change: math.NaN()}
		if len(pa.OK) > 0 && len(pb.OK) > 0 {
			d.ThroughputChange = relChange(pa.Throughput.Mean, pb.Throughput.Mean)
			d.P99Change = relChange(pa.P99.Mean, pb.P99.Mean)
		}
		d.ThroughputTest = WelchTest(pa.throughputs, pb.throughputs)
		d.P99Test = WelchTest(pa.p99s, pb.p99s)
		d.ReadThroughputChange, d.ReadP99Change = math.NaN(), math.NaN()
		if pa.ReadsMeasured() && pb.ReadsMeasured() {
			d.ReadThroughputChange = relChange(pa.ReadThroughput.Mean, pb.ReadThroughput.Mean)
			d.ReadP99Change = relChange(pa.ReadP99.Mean, pb.ReadP99.Mean)
		}
		d.ReadThroughputTest = WelchTest(pa.readThroughputs, pb.readThroughputs)
		d.ReadP99Test = WelchTest(pa.readP99s, pb.readP99s)
		c.Deltas = append(c.Deltas, d)
	}
	for _, pb := range ab.Points {
		if aa.byKey[pb.PointKey] == nil {
			c.OnlyB = append(c.OnlyB, pb.PointKey)
		}
	}
	for _, f := range []struct {
		what string
		get  func(Row) string
	}{
		{"measured window (s)", func(r Row) string { return fmtG(r.DurationS) }},
		{"warm-up (s)", func(r Row) string { return fmtG(r.WarmupS) }},
		{"GOMAXPROCS", func(r Row) string { return fmt.Sprint(r.GOMAXPROCS) }},
		{"Raft profiles (--raft)", func(r Row) string { return cmp.Or(r.RaftProfile, "production") }},
		{"Raft knobs applied", func(r Row) string {
			if r.RaftApplied == "" {
				return ""
			}
			return r.Impl + " " + r.RaftApplied
		}},
		{"backend versions", func(r Row) string {
			if r.ImplVersion == "" {
				return ""
			}
			return r.Impl + " " + r.ImplVersion
		}},
	} {
		va, vb := distinctStrings(a, f.get), distinctStrings(b, f.get)
		if !slices.Equal(va, vb) {
			c.Notes = append(c.Notes, fmt.Sprintf("%s differ: A %s, B %s", f.what, strings.Join(va, ", "), strings.Join(vb, ", ")))
		}
	}
	return c
}

// distinctStrings lists f's non-empty values over rows, sorted.
func distinctStrings(rows []Row, f func(Row) string) []string {
	var out []string
	for _, r := range rows {
		if v := f(r); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// name labels a point in the comparison.
func (c Comparison) name(k PointKey) string {
	s := fmt.Sprintf("%s %s t=%d", k.Impl, k.Fault, k.Threads)
	if c.multiConfig {
		rate := "unthrottled"
		if k.RateOps > 0 {
			rate = fmtG(k.RateOps) + "ops/s"
		}
		s += fmt.Sprintf(" [%d nodes, %s, %d B, %s]", k.Nodes, k.Storage, k.PayloadBytes, rate)
	}
	return s
}

// compareMetric is one table of the comparison: a figure of each side and
// its change. The text shows it in a scaled unit (title, scale, prec); the
// CSV in its base unit (name, unit). A reads metric covers only the
// deltas that read (Delta.Reads), and is left out when none does.
type compareMetric struct {
	title, name, unit string
	stat              func(*PointStats) Summary
	change            func(Delta) (float64, TTest)
	scale             float64
	prec              int
	reads             bool
}

// compareMetrics are the figures compared, in output order: with reads,
// the throughput and p99 tables are the writes'.
var compareMetrics = []compareMetric{
	{"throughput (Kops/s)", "throughput", "ops/s", func(p *PointStats) Summary { return p.Throughput }, func(d Delta) (float64, TTest) { return d.ThroughputChange, d.ThroughputTest }, 1000, 2, false},
	{"p99 latency (µs)", "p99", "us", func(p *PointStats) Summary { return p.P99 }, func(d Delta) (float64, TTest) { return d.P99Change, d.P99Test }, 1, 0, false},
	{"read throughput (Kops/s)", "read_throughput", "ops/s", func(p *PointStats) Summary { return p.ReadThroughput }, func(d Delta) (float64, TTest) { return d.ReadThroughputChange, d.ReadThroughputTest }, 1000, 2, true},
	{"read p99 latency (µs)", "read_p99", "us", func(p *PointStats) Summary { return p.ReadP99 }, func(d Delta) (float64, TTest) { return d.ReadP99Change, d.ReadP99Test }, 1, 0, true},
}

// deltasOf are the deltas metric m covers.
func (c Comparison) deltasOf(m compareMetric) []Delta {
	if !m.reads {
		return c.Deltas
	}
	var out []Delta
	for _, d := range c.Deltas {
		if d.Reads() {
			out = append(out, d)
		}
	}
	return out
}

// Write prints the comparison in the manner of benchstat: per point the
// mean on each side ± its 95% confidence interval as a percentage of the
// mean, and the change with its p-value and repeat counts, or ~ when the
// change is within noise (p ≥ Alpha, or too few repeats to test).
func (c Comparison) Write(w io.Writer, nameA, nameB string) error {
	fmt.Fprintf(w, "A: %s\nB: %s\n", nameA, nameB)
	fmt.Fprintf(w, "Means over ok repeats ± 95%% CI (as %% of the mean); delta = B/A - 1, Welch's t-test; ~ = within noise (p >= %.2f or n < 2).\n", Alpha)
	for _, n := range c.Notes {
		fmt.Fprintf(w, "Note: %s.\n", n)
	}
	if len(c.Deltas) == 0 {
		fmt.Fprintln(w, "\nNo point is in both.")
	}
	for _, m := range compareMetrics {
		deltas := c.deltasOf(m)
		if len(deltas) == 0 {
			continue
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tA\tB\tdelta\n", m.title)
		for _, d := range deltas {
			ch, t := m.change(d)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.name(d.Key), sideText(d.A, m.stat(d.A), m.scale, m.prec),
				sideText(d.B, m.stat(d.B), m.scale, m.prec), deltaText(ch, t))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, side := range []struct {
		name string
		keys []PointKey
	}{{"A", c.OnlyA}, {"B", c.OnlyB}} {
		if len(side.keys) == 0 {
			continue
		}
		names := make([]string, len(side.keys))
		for i, k := range side.keys {
			names[i] = c.name(k)
		}
		fmt.Fprintf(w, "\nOnly in %s (%d): %s\n", side.name, len(names), strings.Join(names, "; "))
	}
	return nil
}

func sideText(p *PointStats, s Summary, scale float64, prec int) string {
	if len(p.OK) == 0 {
		return p.Rows[0].Status
	}
	if s.N == 0 {
		return "–" // a figure this side did not measure (reads of a write-only run)
	}
	v := fmt.Sprintf("%.*f", prec, s.Mean/scale)
	if s.N > 1 && s.Mean != 0 {
		v += fmt.Sprintf(" ± %.0f%%", 100*s.CIHalf/math.Abs(s.Mean))
	} else {
		v += " (n=1)"
	}
	return v
}

func deltaText(change float64, t TTest) string {
	if math.IsNaN(change) {
		return "–"
	}
	if !t.OK {
		return fmt.Sprintf("~ (n=%d+%d)", t.NA, t.NB)
	}
	p := fmt.Sprintf("p=%.3f n=%d+%d", t.P, t.NA, t.NB)
	if t.P < 0.001 {
		p = fmt.Sprintf("p<0.001 n=%d+%d", t.NA, t.NB)
	}
	if !t.Significant() {
		return "~ (" + p + ")"
	}
	return fmt.Sprintf("%s (%s)", fmtPct(change), p)
}

// Significant lists the deltas whose throughput or p99 change, of the
// writes or of the reads, is significant.
func (c Comparison) Significant() []Delta {
	return slices.DeleteFunc(slices.Clone(c.Deltas), func(d Delta) bool {
		return !d.ThroughputTest.Significant() && !d.P99Test.Significant() &&
			!d.ReadThroughputTest.Significant() && !d.ReadP99Test.Significant()
	})
}
