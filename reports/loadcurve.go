package reports

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// KneeTolerance is how far below the offered rate the achieved throughput
// may fall for a rate to count as sustained (see LoadCurve.Knee).
const KneeTolerance = 0.05

// LoadCurve is one backend's latency against its achieved throughput over
// an open-loop rate sweep, for one configuration (fault, cluster size,
// storage, payload) and thread count: how open-loop comparisons are read.
type LoadCurve struct {
	Impl    string
	Config  Scenario // RateOps is zero: the rates are the curve's points
	Threads int
	Points  []LoadPoint // by offered rate, ascending
	// Knee is the index in Points of the saturation knee, -1 if even the
	// lowest rate was not sustained. The rule: walking up the offered
	// rates, a rate is sustained when its achieved throughput is within
	// KneeTolerance (5%) of the offered rate and no request waited for an
	// in-flight slot (queued) or was left unsent; the knee is the last
	// rate before the first one that is not (or one that failed). Above
	// it the system no longer keeps up with the schedule, and latency
	// measured from the schedule grows with the backlog. When every rate
	// was sustained the sweep found no knee (Saturated is false), and Knee
	// is the last rate.
	Knee int
}

// Saturated reports whether the sweep went past the knee: some offered
// rate was not sustained. Otherwise the knee lies above the highest rate.
func (c LoadCurve) Saturated() bool { return c.Knee < len(c.Points)-1 }

// LoadPoint is one rate of a LoadCurve: the point's figures over its ok
// repeats (throughput their mean, latency pooled where histograms are).
// The offered rate schedules every operation, so with reads (a mixed
// load) Achieved, Queued and Unsent count reads and writes together, P50
// and P99 are the writes' latency and ReadP99 the reads'.
type LoadPoint struct {
	Offered, Achieved float64 // ops/s
	P50, P99          float64 // µs
	Queued, Unsent    uint64  // summed over the repeats
	OK                bool    // false: no ok repeat; the figures are zero
	Reads             bool    // the point read; ReadP99 is set
	ReadP99           float64 // µs
}

// Sustained reports whether the rate was kept up with (Knee's rule).
func (p LoadPoint) Sustained() bool {
	return p.OK && p.Achieved >= (1-KneeTolerance)*p.Offered && p.Queued == 0 && p.Unsent == 0
}

// curvesOf is the curves of backend impl, in their order.
func curvesOf(curves []LoadCurve, impl string) []LoadCurve {
	var mine []LoadCurve
	for _, c := range curves {
		if c.Impl == impl {
			mine = append(mine, c)
		}
	}
	return mine
}

// LoadCurves are the rate sweeps of the open-loop rows: one curve per
// backend, configuration and thread count that ran at more than one
// offered rate, in scenario, thread and backend order.
func (a *Analysis) LoadCurves() []LoadCurve {
	type key struct {
		impl    string
		config  Scenario
		threads int
	}
	var keys []key
	rates := map[key][]float64{}
	for _, s := range a.Scenarios {
		if s.RateOps <= 0 {
			continue
		}
		cfg := s
		cfg.RateOps = 0
		for _, t := range a.Threads {
			for _, impl := range a.Impls {
				p := a.Point(s, impl, t)
				if p == nil || !slices.ContainsFunc(p.Rows, func(r Row) bool { return r.Loop == "open" }) {
					continue
				}
				k := key{impl, cfg, t}
				if _, seen := rates[k]; !seen {
					keys = append(keys, k)
				}
				rates[k] = append(rates[k], s.RateOps)
			}
		}
	}
	var out []LoadCurve
	for _, k := range keys {
		rs := rates[k]
		if len(rs) < 2 {
			continue
		}
		slices.Sort(rs)
		c := LoadCurve{Impl: k.impl, Config: k.config, Threads: k.threads, Knee: -1}
		sustained := true
		for _, r := range rs {
			s := k.config
			s.RateOps = r
			p := a.Point(s, k.impl, k.threads)
			lp := LoadPoint{Offered: r, OK: len(p.OK) > 0}
			if lp.OK {
				lp.Achieved = p.Throughput.Mean
				lp.P50, _, _ = p.LatFigure(LatP50)
				lp.P99, _, _ = p.LatFigure(LatP99)
				if p.ReadsMeasured() {
					lp.Reads, lp.Achieved, lp.ReadP99 = true, lp.Achieved+p.ReadThroughput.Mean, p.ReadLatP99()
				}
				for _, row := range p.OK {
					// Rows written before read_queued existed counted
					// reads in queued and unsent already, and have 0 there.
					lp.Queued += row.Queued + row.ReadQueued
					lp.Unsent += row.Unsent + row.ReadUnsent
				}
			}
			if sustained = sustained && lp.Sustained(); sustained {
				c.Knee = len(c.Points)
			}
			c.Points = append(c.Points, lp)
		}
		out = append(out, c)
	}
	return out
}

// curveLabel names a curve within its backend's figure: the fault, plus
// the configuration and threads when the figure has more than one.
func (a *Analysis) curveLabel(c LoadCurve, curves []LoadCurve) string {
	label := c.Config.Fault
	if slices.ContainsFunc(curves, func(o LoadCurve) bool { return o.Config.config() != c.Config.config() }) {
		label += fmt.Sprintf(", %d nodes", c.Config.Nodes)
		if slices.ContainsFunc(curves, func(o LoadCurve) bool {
			return o.Config.Storage != c.Config.Storage || o.Config.PayloadBytes != c.Config.PayloadBytes || o.Config.Payload != c.Config.Payload
		}) {
			label += fmt.Sprintf(", %s, %s B", c.Config.Storage, c.Config.payloadText())
		}
	}
	if slices.ContainsFunc(curves, func(o LoadCurve) bool { return o.Threads != c.Threads }) {
		label += fmt.Sprintf(", %d thr", c.Threads)
	}
	return label
}

// loadCurveFigures is a latency-vs-throughput figure per backend with a
// rate sweep.
func (a *Analysis) loadCurveFigures() []figure {
	var out []figure
	curves := a.LoadCurves()
	for _, impl := range a.Impls {
		if slices.ContainsFunc(curves, func(c LoadCurve) bool { return c.Impl == impl }) {
			out = append(out, figure{name: "loadcurve-" + slugify(impl), kind: figLoadCurve, impl: impl, primary: true,
				title: "Latency vs throughput, " + impl + " (open loop, knee ringed)"})
		}
	}
	return out
}

// drawLoadCurve draws one backend's curves: p99 (solid) and p50 (dashed)
// against achieved throughput, a colour per curve, the knee ringed. The y
// axis is log10(µs), as drawPercentiles draws it.
func (a *Analysis) drawLoadCurve(f figure) (*plot.Plot, error) {
	p := newPlot(f.title, "achieved throughput (Kops/s)", "latency (µs, log scale)")
	var curves []LoadCurve
	for _, c := range a.LoadCurves() {
		if c.Impl == f.impl {
			curves = append(curves, c)
		}
	}
	ymin, ymax, xmax := math.Inf(1), math.Inf(-1), 0.0
	for i, c := range curves {
		col := plotutil.Color(i)
		var p50, p99 plotter.XYs
		for _, lp := range c.Points {
			if !lp.OK {
				continue
			}
			x := lp.Achieved / 1000
			p50 = append(p50, plotter.XY{X: x, Y: math.Log10(math.Max(lp.P50, 1))})
			p99 = append(p99, plotter.XY{X: x, Y: math.Log10(math.Max(lp.P99, 1))})
			ymin, ymax = math.Min(ymin, p50[len(p50)-1].Y), math.Max(ymax, p99[len(p99)-1].Y)
			xmax = math.Max(xmax, x)
		}
		if len(p99) == 0 {
			continue
		}
		label := a.curveLabel(c, curves)
		for _, line := range []struct {
			xys    plotter.XYs
			name   string
			dashes []vg.Length
		}{{p99, "p99", nil}, {p50, "p50", []vg.Length{vg.Points(3), vg.Points(2)}}} {
			l, err := plotter.NewLine(line.xys)
			if err != nil {
				return nil, err
			}
			l.Color, l.Width, l.Dashes = col, vg.Points(1.2), line.dashes
			sc, err := plotter.NewScatter(line.xys)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(1.8), Shape: draw.CircleGlyph{}}
			p.Add(l, sc)
			p.Legend.Add(line.name+" "+label, l, sc)
		}
		if c.Knee >= 0 && c.Saturated() && c.Points[c.Knee].OK {
			k := c.Points[c.Knee]
			knee := plotter.XYs{
				{X: k.Achieved / 1000, Y: math.Log10(math.Max(k.P50, 1))},
				{X: k.Achieved / 1000, Y: math.Log10(math.Max(k.P99, 1))},
			}
			sc, err := plotter.NewScatter(knee)
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(4.5), Shape: draw.RingGlyph{}}
			p.Add(sc)
		}
	}
	if math.IsInf(ymin, 1) {
		ymin, ymax = 0, 1
	}
	p.X.Min, p.X.Max = 0, headroom(xmax, 0)
	p.Y.Min = math.Floor(ymin)
	p.Y.Max = math.Max(ymax+0.3+0.3*float64(len(curves)), p.Y.Min+1)
	p.Y.Tick.Marker = logTicks{}
	return p, nil
}

// writeLoadCurves writes, per backend with an open-loop rate sweep, its
// latency-vs-throughput figure and the table beside it.
func (a *Analysis) writeLoadCurves(b *bytes.Buffer) {
	curves := a.LoadCurves()
	if len(curves) == 0 {
		return
	}
	b.WriteString("## Latency vs offered load\n\n")
	fmt.Fprintf(b, "Open loop, offered rate swept. Each curve is p99 (solid) and p50 (dashed) against the achieved throughput; "+
		"the ring marks the saturation knee: the last offered rate, walking up, up to which every rate was sustained "+
		"(achieved within %.0f%% of offered, no request queued for an in-flight slot, none left unsent). "+
		"Past the knee latency is measured from the schedule, so it includes the backlog. A curve that sustained every rate has no knee in the sweep and no ring.\n\n", KneeTolerance*100)
	figs := a.loadCurveFigures()
	for _, impl := range a.Impls {
		mine := curvesOf(curves, impl)
		if len(mine) == 0 {
			continue
		}
		fmt.Fprintf(b, "### %s\n\n", impl)
		if i := slices.IndexFunc(figs, func(f figure) bool { return f.impl == impl }); i >= 0 {
			fmt.Fprintf(b, "![%s](%s/%s.svg)\n\n", figs[i].title, PlotsDir, figs[i].name)
		}
		reads := slices.ContainsFunc(mine, func(c LoadCurve) bool {
			return slices.ContainsFunc(c.Points, func(lp LoadPoint) bool { return lp.Reads })
		})
		if reads {
			b.WriteString("With reads, the offered rate schedules reads and writes: achieved, queued and unsent count both, p50 and p99 are the writes' latency and read p99 the reads'.\n\n")
		}
		writeHeading(b, text("curve"), number("offered ops/s"), number("achieved ops/s"), number("p50 µs"), number("p99 µs"),
			number("read p99 µs").only(reads), number("queued"), number("unsent"), text("knee"))
		for _, c := range mine {
			label := a.curveLabel(c, mine)
			for i, lp := range c.Points {
				knee := ""
				switch {
				case i == c.Knee && !c.Saturated():
					knee = "sustained to the end: no knee in range"
				case i == c.Knee:
					knee = "knee"
				case !lp.OK:
					knee = "failed"
				case !lp.Sustained():
					knee = "not sustained"
				case i > c.Knee:
					knee = "past the knee"
				}
				readCell := ""
				if reads {
					readCell = " – |"
					if lp.Reads {
						readCell = " " + us(lp.ReadP99) + " |"
					}
				}
				if !lp.OK {
					if reads {
						readCell = " |"
					}
					fmt.Fprintf(b, "| %s | %s | | | |%s | | %s |\n", cellEscape(label), fmtG(lp.Offered), readCell, knee)
					continue
				}
				fmt.Fprintf(b, "| %s | %s | %.0f | %s | %s |%s %d | %d | %s |\n", cellEscape(label), fmtG(lp.Offered), lp.Achieved,
					us(lp.P50), us(lp.P99), readCell, lp.Queued, lp.Unsent, knee)
			}
		}
		b.WriteString("\n")
	}
}

// payloadText is the scenario's payload as reports show it: the size, or
// the distribution's spec.
func (s Scenario) payloadText() string {
	return cmp.Or(s.Payload, strconv.Itoa(s.PayloadBytes))
}
