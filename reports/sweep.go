package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// sections groups the scenarios into the report's sections, in the order
// of their first scenario: each scenario alone, except those of one fault
// and configuration that differ only in offered rate (a --rate sweep),
// which form one section, by rate ascending, read as one table per figure
// with the rate as a column (writeSweep), as a thread sweep is.
func (a *Analysis) sections() [][]Scenario {
	var out [][]Scenario
	at := map[Scenario]int{}
	for _, s := range a.Scenarios {
		k := s
		k.RateOps = 0
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], s)
	}
	for _, sec := range out {
		slices.SortStableFunc(sec, func(x, y Scenario) int { return cmp.Compare(x.RateOps, y.RateOps) })
	}
	return out
}

// sweepLabel names a rate sweep's section: its fault, plus its
// configuration but the rate when the directory holds configurations that
// differ otherwise.
func (a *Analysis) sweepLabel(s Scenario) string {
	norate := func(x Scenario) Scenario { x = x.config(); x.RateOps = 0; return x }
	if !slices.ContainsFunc(a.Scenarios, func(o Scenario) bool { return norate(o) != norate(s) }) {
		return s.Fault
	}
	return fmt.Sprintf("%s [%d nodes, %s, %s B]", s.Fault, s.Nodes, s.Storage, s.payloadText())
}

// rateCell is an offered rate in a table: ops/s, or "unthrottled".
func rateCell(r float64) string {
	if r <= 0 {
		return "unthrottled"
	}
	return fmtG(r)
}

// sweepRows are the offered rates and thread counts of a rate sweep that
// have a point of some backend, by rate then threads.
func (a *Analysis) sweepRows(sec []Scenario, each func(s Scenario, t int)) {
	for _, s := range sec {
		for _, t := range a.Threads {
			if slices.ContainsFunc(a.Impls, func(impl string) bool { return a.Point(s, impl, t) != nil }) {
				each(s, t)
			}
		}
	}
}

// writeSweepMatrix is writeMatrix for a rate sweep: a row per offered
// rate and thread count, a column per backend.
func (a *Analysis) writeSweepMatrix(b *bytes.Buffer, sec []Scenario, cell func(*PointStats) string) {
	b.WriteString("| offered ops/s | threads |")
	for _, impl := range a.Impls {
		fmt.Fprintf(b, " %s |", impl)
	}
	b.WriteString("\n|---:|---:|" + strings.Repeat("---:|", len(a.Impls)) + "\n")
	a.sweepRows(sec, func(s Scenario, t int) {
		fmt.Fprintf(b, "| %s | %d |", rateCell(s.RateOps), t)
		for _, impl := range a.Impls {
			if p := a.okPoint(s, impl, t); p != nil {
				fmt.Fprintf(b, " %s |", cell(p))
			} else {
				fmt.Fprintf(b, " %s |", statusCell(a.Point(s, impl, t)))
			}
		}
		b.WriteString("\n")
	})
	b.WriteString("\n")
}

// writeSweep writes one section for the scenarios of a rate sweep (sec,
// by rate): the tables writeScenario writes for one scenario, with the
// offered rate as a column, and links to each rate's figures. The
// latency-vs-throughput curves of the sweep are under Latency vs offered
// load.
func (a *Analysis) writeSweep(b *bytes.Buffer, sec []Scenario) {
	first := sec[0]
	a.writeScenarioHeading(b, first, a.sweepLabel(first), ", offered rate swept")
	rates := make([]float64, len(sec))
	for i, s := range sec {
		rates[i] = s.RateOps
	}
	fmt.Fprintf(b, "Offered rates %s ops/s: a row per rate and thread count. The latency-vs-throughput curves of this sweep, with the saturation knee, are under Latency vs offered load.\n\n", joinAny(rates, rateCell))
	matrix := func(cell func(*PointStats) string) { a.writeSweepMatrix(b, sec, cell) }
	b.WriteString("### Throughput (Kops/s)\n\n")
	matrix(func(p *PointStats) string {
		return a.cell(p.Throughput, p.Throughput.Noisy(), 1000, 2) + interferenceMark(p)
	})
	b.WriteString("### p99 latency (µs)\n\n")
	matrix(func(p *PointStats) string { return a.latCell(p, LatP99, p.P99.Noisy()) + interferenceMark(p) })
	if slices.ContainsFunc(a.Points, func(p *PointStats) bool { return slices.Contains(sec, p.Scenario) && p.Interfered() }) {
		b.WriteString(interferenceNote)
	}
	a.writeReadsOf(b, sec, matrix)

	b.WriteString("### Latency percentiles (µs)\n\n")
	b.WriteString("Per offered rate, at the highest thread count at which every backend has data.\n\n")
	writeHeading(b, number("offered ops/s"), number("threads"), text("backend"), number("p50"), number("p90"), number("p99"), number("p99.9"), number("max"))
	for _, s := range sec {
		t, ok := a.CommonThreads(s)
		if !ok {
			continue
		}
		for _, impl := range a.Impls {
			if p := a.okPoint(s, impl, t); p != nil {
				fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s |\n", rateCell(s.RateOps), t, impl,
					a.latCell(p, LatP50, false), a.latCell(p, LatP90, false), a.latCell(p, LatP99, false),
					a.latCell(p, LatP999, false), a.latCell(p, LatMax, false))
			}
		}
	}
	b.WriteString("\n")

	var links []string
	for _, s := range sec {
		var figs []string
		for _, f := range a.figuresOf(s) {
			if f.primary {
				figs = append(figs, fmt.Sprintf("[%s](%s/%s.svg)", strings.SplitN(f.title, ",", 2)[0], PlotsDir, f.name))
			}
		}
		if len(figs) > 0 {
			links = append(links, fmt.Sprintf("- %s ops/s: %s", rateCell(s.RateOps), strings.Join(figs, ", ")))
		}
	}
	if len(links) > 0 {
		b.WriteString("### Figures per offered rate\n\n" + strings.Join(links, "\n") + "\n\n")
	}

	if first.IsBaseline() {
		return
	}
	if _, ok := a.Baseline(first); ok {
		b.WriteString("### Impact by thread count\n\n")
		b.WriteString("Throughput / p99 change against the backend's own baseline at the same offered rate and thread count.\n\n")
		matrix(func(p *PointStats) string {
			im, ok := a.ImpactAt(p.Scenario, p.Impl, p.Threads)
			if !ok {
				return "no baseline"
			}
			return fmt.Sprintf("%s%s / %s%s", fmtPct(im.ThroughputChange), tilde(im.ThroughputTest), fmtPct(im.P99Change), tilde(im.P99Test))
		})
	}
	if a.partialWindow(first) {
		b.WriteString("### Throughput inside the fault window (Kops/s)\n\n")
		b.WriteString("Mean over repeats of each repeat's throughput over the `timeseries.csv` intervals wholly inside the fault window, and its change against the baseline's whole-window throughput at the same offered rate.\n\n")
		matrix(func(p *PointStats) string { return a.windowCell(p) })
	}
	a.writeEffects(b, sec...)
}
