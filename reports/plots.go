package reports

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Figure geometry: one paper column wide, text readable at that size.
const (
	figWidth  = 3.3 * vg.Inch
	figHeight = 2.3 * vg.Inch
	pngDPI    = 300
)

var (
	sansFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	// fontTitle etc. are point sizes at figWidth.
	fontTitle, fontLabel, fontTick, fontLegend vg.Length = 8.5, 8, 7, 7
)

type figureKind int

const (
	figThroughput figureKind = iota // throughput vs threads
	figP99                          // p99 vs threads
	figLatency                      // latency percentiles at one thread count
	figTimeseries                   // throughput over the window at one thread count
	figLoadCurve                    // one backend's latency vs achieved throughput over a rate sweep
)

// figure is one plot of the report, named and titled before it is drawn,
// so report.md can refer to it.
type figure struct {
	name     string // file name in plots/, without extension
	kind     figureKind
	scenario Scenario
	threads  int
	impl     string // figLoadCurve's backend
	// primary figures are embedded in report.md; the others (time series
	// at other thread counts) are linked.
	primary bool
	title   string
}

// figures lists every figure of the report, in report order.
func (a *Analysis) figures() []figure {
	var out []figure
	for _, s := range a.Scenarios {
		out = append(out, a.figuresOf(s)...)
	}
	return append(out, a.loadCurveFigures()...)
}

// figuresOf lists scenario s's figures: throughput and p99 against
// threads, latency percentiles at the highest common thread count, and
// the throughput time series at every thread count with one (the one at
// the highest common thread count is embedded).
func (a *Analysis) figuresOf(s Scenario) []figure {
	if len(a.implsWithData(s)) == 0 {
		return nil
	}
	slug, label := a.Slug(s), a.Label(s)
	out := []figure{
		{name: "throughput-" + slug, kind: figThroughput, scenario: s, primary: true, title: "Throughput vs threads, " + label},
		{name: "p99-" + slug, kind: figP99, scenario: s, primary: true, title: "p99 latency vs threads, " + label},
	}
	common, hasCommon := a.CommonThreads(s)
	if hasCommon {
		out = append(out, figure{name: fmt.Sprintf("latency-%s-t%d", slug, common), kind: figLatency, scenario: s, threads: common,
			primary: true, title: fmt.Sprintf("Latency percentiles, %s, %d threads", label, common)})
	}
	var ts []int
	for _, t := range a.Threads {
		for _, impl := range a.Impls {
			if p := a.okPoint(s, impl, t); p != nil && slices.ContainsFunc(p.OK, func(r Row) bool { return len(a.series[r.Point]) > 0 }) {
				ts = append(ts, t)
				break
			}
		}
	}
	primary := 0
	if len(ts) > 0 {
		primary = ts[len(ts)-1]
		if hasCommon && slices.Contains(ts, common) {
			primary = common
		}
	}
	for _, t := range ts {
		out = append(out, figure{name: fmt.Sprintf("timeseries-%s-t%d", slug, t), kind: figTimeseries, scenario: s, threads: t,
			primary: t == primary, title: fmt.Sprintf("Throughput over time, %s, %d threads", label, t)})
	}
	return out
}

// WritePlots draws every figure into dir as SVG and PNG and removes any
// other SVG or PNG there (figures of an earlier build). The same analysis
// gives byte-identical files.
func (a *Analysis) WritePlots(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	keep := map[string]bool{}
	for _, f := range a.figures() {
		p, err := a.draw(f)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		svg, png, err := render(p)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		for _, out := range []struct {
			ext  string
			data []byte
		}{{".svg", svg}, {".png", png}} {
			if err := writeFileAtomic(filepath.Join(dir, f.name+out.ext), out.data); err != nil {
				return err
			}
			keep[f.name+out.ext] = true
		}
	}
	return removeStalePlots(dir, keep)
}

// removePlots removes the figures of dir/plots and the directory if it is
// then empty.
func removePlots(dir string) error {
	pd := filepath.Join(dir, PlotsDir)
	if err := removeStalePlots(pd, nil); err != nil {
		return err
	}
	if err := os.Remove(pd); err != nil && !os.IsNotExist(err) && !isNotEmpty(pd) {
		return err
	}
	return nil
}

func isNotEmpty(dir string) bool {
	es, err := os.ReadDir(dir)
	return err == nil && len(es) > 0
}

func removeStalePlots(dir string, keep map[string]bool) error {
	es, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range es {
		n := e.Name()
		if e.Type().IsRegular() && (strings.HasSuffix(n, ".svg") || strings.HasSuffix(n, ".png")) && !keep[n] {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// render draws p as SVG and as a PNG at pngDPI.
func render(p *plot.Plot) (svg, png []byte, err error) {
	sc := vgsvg.New(figWidth, figHeight)
	p.Draw(draw.New(sc))
	var sb bytes.Buffer
	if _, err := sc.WriteTo(&sb); err != nil {
		return nil, nil, fmt.Errorf("svg: %w", err)
	}
	// The SVG names the font without embedding it. Liberation Sans has
	// Arial's and Helvetica's metrics, so the text keeps its layout where
	// only those are installed, instead of falling back to a serif.
	svg = bytes.ReplaceAll(sb.Bytes(), []byte("font-family:Liberation Sans;"),
		[]byte("font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"))
	ic := vgimg.NewWith(vgimg.UseWH(figWidth, figHeight), vgimg.UseDPI(pngDPI))
	p.Draw(draw.New(ic))
	var pb bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: ic}).WriteTo(&pb); err != nil {
		return nil, nil, fmt.Errorf("png: %w", err)
	}
	return svg, pb.Bytes(), nil
}

func (a *Analysis) draw(f figure) (*plot.Plot, error) {
	switch f.kind {
	case figThroughput:
		return a.drawVsThreads(f, "throughput (Kops/s)", func(p *PointStats) (float64, float64, float64) { return ciBars(scaled(p.Throughput, 1000)) })
	case figP99:
		unit, scale := latencyUnit(a, f.scenario)
		return a.drawVsThreads(f, "p99 latency ("+unit+")", func(p *PointStats) (float64, float64, float64) {
			v, lo, hi := latBars(p, LatP99)
			return v / scale, lo / scale, hi / scale
		})
	case figLatency:
		return a.drawPercentiles(f)
	case figTimeseries:
		return a.drawTimeseries(f)
	case figLoadCurve:
		return a.drawLoadCurve(f)
	}
	return nil, fmt.Errorf("unknown figure kind %d", f.kind)
}

// ciBars is a figure with whiskers from a Summary: the mean and its
// confidence interval (none for one repeat).
func ciBars(s Summary) (v, lo, hi float64) {
	half := s.CIHalf
	if math.IsNaN(half) {
		half = 0
	}
	return s.Mean, s.Mean - half, s.Mean + half
}

// latBars is latency figure which of p with whiskers: pooled, with the
// spread over repeats (LatFigure); without histograms, the mean of the
// repeats' own with its confidence interval.
func latBars(p *PointStats, which int) (v, lo, hi float64) {
	if p.Pooled == nil {
		return ciBars(Summarize(p.perRepeat[which]))
	}
	return p.LatFigure(which)
}

func scaled(s Summary, by float64) Summary {
	s.Mean, s.SD, s.CIHalf = s.Mean/by, s.SD/by, s.CIHalf/by
	return s
}

// latencyUnit picks µs, or ms when p99s reach 10 ms, for s's p99 plot.
func latencyUnit(a *Analysis, s Scenario) (string, float64) {
	for _, p := range a.Points {
		if p.Scenario == s && len(p.OK) > 0 && p.LatP99() >= 10000 {
			return "ms", 1000
		}
	}
	return "µs", 1
}

// implStyle is how one backend is drawn in every figure: colour (the
// Okabe–Ito palette, safe for colour-blind readers), glyph and dashes
// (so the lines differ in greyscale print too). The known backends keep
// the same look in every report.
type implStyle struct {
	color  color.RGBA
	glyph  draw.GlyphDrawer
	dashes []vg.Length
}

var okabeIto = []color.RGBA{
	{0x00, 0x9E, 0x73, 0xff}, // bluish green
	{0x00, 0x72, 0xB2, 0xff}, // blue
	{0xD5, 0x5E, 0x00, 0xff}, // vermillion
	{0xCC, 0x79, 0xA7, 0xff}, // reddish purple
	{0xE6, 0x9F, 0x00, 0xff}, // orange
	{0x56, 0xB4, 0xE9, 0xff}, // sky blue
	{0x00, 0x00, 0x00, 0xff}, // black
}

var (
	glyphs = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}, draw.RingGlyph{}, draw.BoxGlyph{}, draw.CrossGlyph{}}
	dashes = [][]vg.Length{nil, {vg.Points(4), vg.Points(2)}, {vg.Points(1.2), vg.Points(1.5)}, {vg.Points(5), vg.Points(2), vg.Points(1), vg.Points(2)}}
)

func (a *Analysis) style(impl string) implStyle {
	i := 0
	switch impl {
	case "hashicorp":
		i = 0
	case "etcd":
		i = 1
	case "dragonboat":
		i = 2
	default:
		i = 3 + slices.Index(a.Impls, impl)
	}
	return implStyle{color: okabeIto[i%len(okabeIto)], glyph: glyphs[i%len(glyphs)], dashes: dashes[i%len(dashes)]}
}

// newPlot makes an empty plot in the report's style.
func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = wrapTitle(title)
	p.Title.TextStyle.Font = font.From(sansFont, fontTitle)
	p.Title.Padding = vg.Points(3)
	p.X.Label.Text, p.Y.Label.Text = xlabel, ylabel
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		ax.Label.TextStyle.Font = font.From(sansFont, fontLabel)
		ax.Tick.Label.Font = font.From(sansFont, fontTick)
		ax.Label.Padding = vg.Points(2)
		ax.Padding = vg.Points(2)
	}
	p.Legend.TextStyle.Font = font.From(sansFont, fontLegend)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(4), vg.Points(-2)
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.Legend.Padding = vg.Points(1)
	grid := plotter.NewGrid()
	grid.Vertical.Color = color.Gray{Y: 0xe0}
	grid.Horizontal.Color = color.Gray{Y: 0xe0}
	grid.Vertical.Width, grid.Horizontal.Width = vg.Points(0.4), vg.Points(0.4)
	p.Add(grid)
	return p
}

// wrapTitle breaks a title too long for a column-wide figure after its
// first comma: "Throughput over time," then the fault and thread count.
func wrapTitle(t string) string {
	const maxChars = 46
	if len([]rune(t)) <= maxChars {
		return t
	}
	if what, rest, ok := strings.Cut(t, ", "); ok {
		return what + "\n" + rest
	}
	return t
}

// niceTicks marks a linear axis at 1, 2 or 5 times a power of ten, about
// five marks over the range, labelled without trailing zeros.
type niceTicks struct{}

// Ticks implements plot.Ticker.
func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return nil
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	decimals := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	var out []plot.Tick
	for i := math.Ceil(lo/step - 1e-9); i*step <= hi+step*1e-9; i++ {
		v := i * step
		if v == 0 {
			v = 0 // not -0
		}
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
		if half := v + step/2; half < hi {
			out = append(out, plot.Tick{Value: half})
		}
	}
	return out
}

// headroom raises the y axis so the legend of n entries, at the top left,
// sits above the data.
func headroom(ymax float64, n int) float64 {
	if ymax <= 0 || math.IsNaN(ymax) {
		ymax = 1
	}
	return ymax * (1.1 + 0.12*float64(n))
}

// threadTicks marks each thread count when there are few enough to label.
func (a *Analysis) threadTicks(ax *plot.Axis) {
	if len(a.Threads) > 12 {
		return
	}
	var ts plot.ConstantTicks
	for _, t := range a.Threads {
		ts = append(ts, plot.Tick{Value: float64(t), Label: strconv.Itoa(t)})
	}
	ax.Tick.Marker = ts
	lo, hi := float64(a.Threads[0]), float64(a.Threads[len(a.Threads)-1])
	pad := math.Max(0.5, (hi-lo)*0.04)
	ax.Min, ax.Max = lo-pad, hi+pad
}

func (a *Analysis) lineFor(impl string, xys plotter.XYs, withGlyphs bool) (*plotter.Line, *plotter.Scatter, error) {
	st := a.style(impl)
	l, err := plotter.NewLine(xys)
	if err != nil {
		return nil, nil, err
	}
	l.Color, l.Width, l.Dashes = st.color, vg.Points(1.2), st.dashes
	if !withGlyphs {
		return l, nil, nil
	}
	sc, err := plotter.NewScatter(xys)
	if err != nil {
		return nil, nil, err
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: st.color, Radius: vg.Points(2.2), Shape: st.glyph}
	return l, sc, nil
}

// addSeries adds one backend's line, glyphs and error bars to p and the
// legend.
func (a *Analysis) addSeries(p *plot.Plot, impl string, xys plotter.XYs, errs plotter.YErrors) error {
	l, sc, err := a.lineFor(impl, xys, true)
	if err != nil {
		return err
	}
	eb, err := plotter.NewYErrorBars(struct {
		plotter.XYs
		plotter.YErrors
	}{xys, errs})
	if err != nil {
		return err
	}
	eb.Color, eb.Width, eb.CapWidth = a.style(impl).color, vg.Points(0.8), vg.Points(4)
	p.Add(eb, l, sc)
	p.Legend.Add(impl, l, sc)
	return nil
}

// dodge shifts the i-th backend's points sideways by a small fraction of
// an x axis spanning xrange, so error bars at the same x do not overlap.
func (a *Analysis) dodge(i int, xrange float64) float64 {
	return (float64(i) - float64(len(a.Impls)-1)/2) * 0.012 * xrange
}

// drawVsThreads plots one figure per backend against thread count, with
// the confidence interval as error bars when there are repeats.
func (a *Analysis) drawVsThreads(f figure, ylabel string, get func(*PointStats) (v, lo, hi float64)) (*plot.Plot, error) {
	p := newPlot(f.title, "client threads", ylabel)
	a.threadTicks(&p.X)
	ymax := 0.0
	var n int
	xrange := math.Max(1, float64(a.Threads[len(a.Threads)-1]-a.Threads[0]))
	for i, impl := range a.Impls {
		var xys plotter.XYs
		var errs plotter.YErrors
		for _, t := range a.Threads {
			pt := a.okPoint(f.scenario, impl, t)
			if pt == nil {
				continue
			}
			v, lo, hi := get(pt)
			xys = append(xys, plotter.XY{X: float64(t) + a.dodge(i, xrange), Y: v})
			errs = append(errs, struct{ Low, High float64 }{v - lo, hi - v})
			ymax = math.Max(ymax, hi)
		}
		if len(xys) == 0 {
			continue
		}
		if err := a.addSeries(p, impl, xys, errs); err != nil {
			return nil, err
		}
		n++
	}
	p.Y.Min, p.Y.Max = 0, headroom(ymax, n)
	return p, nil
}

// percentile positions on a "nines" axis: -log10(1-q); max one step past
// p99.9.
var percentileTicks = []struct {
	label string
	x     float64
}{{"p50", -math.Log10(0.5)}, {"p90", 1}, {"p99", 2}, {"p99.9", 3}, {"max", 4}}

func (a *Analysis) drawPercentiles(f figure) (*plot.Plot, error) {
	p := newPlot(f.title, "percentile (nines scale)", "latency (µs, log scale)")
	var ticks plot.ConstantTicks
	for _, t := range percentileTicks {
		ticks = append(ticks, plot.Tick{Value: t.x, Label: t.label})
	}
	p.X.Tick.Marker = ticks
	p.X.Min, p.X.Max = 0.1, 4.2
	// The y axis is log10(µs) on a linear scale with labels in µs: gonum's
	// LogScale centres the axis label by data value, which pushes it off a
	// log axis.
	ymin, ymax := math.Inf(1), math.Inf(-1)
	var n int
	for i, impl := range a.Impls {
		pt := a.okPoint(f.scenario, impl, f.threads)
		if pt == nil {
			continue
		}
		var xys plotter.XYs
		var errs plotter.YErrors
		for j := range percentileTicks {
			v, lo, hi := latBars(pt, j)
			y := math.Max(v, 1)
			lo = math.Max(math.Min(lo, y), y/10) // a negative bound cannot be drawn on a log axis
			hi = math.Max(hi, y)
			ly := math.Log10(y)
			xys = append(xys, plotter.XY{X: percentileTicks[j].x + a.dodge(i, 4.1), Y: ly})
			errs = append(errs, struct{ Low, High float64 }{ly - math.Log10(lo), math.Log10(hi) - ly})
			ymin, ymax = math.Min(ymin, math.Log10(lo)), math.Max(ymax, math.Log10(hi))
		}
		if err := a.addSeries(p, impl, xys, errs); err != nil {
			return nil, err
		}
		n++
	}
	if n == 0 {
		ymin, ymax = 0, 1
	}
	p.Y.Min = math.Floor(ymin)
	p.Y.Max = math.Max(ymax+0.2+0.25*float64(n), p.Y.Min+1)
	p.Y.Tick.Marker = logTicks{}
	return p, nil
}

// logTicks marks a log10 axis: labels, in the original unit, at 1, 2 and
// 5 times each power of ten when the axis spans few decades and at the
// powers otherwise; unlabelled minor ticks fill in 1–9.
type logTicks struct{}

// Ticks implements plot.Ticker; lo and hi are log10 values.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if hi <= lo {
		return nil
	}
	few := hi-lo <= 2.5
	var out []plot.Tick
	for e := math.Floor(lo); e <= math.Ceil(hi); e++ {
		for m := 1; m < 10; m++ {
			v := e + math.Log10(float64(m))
			if v < lo-1e-9 || v > hi+1e-9 {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || few && (m == 2 || m == 5) {
				t.Label = strconv.FormatFloat(float64(m)*math.Pow(10, e), 'f', -1, 64)
			}
			out = append(out, t)
		}
	}
	return out
}

// windowShade shades a fault window across the plot's full height, like
// Jepsen's nemesis intervals.
type windowShade struct{ from, to float64 }

var shadeColor = color.NRGBA{R: 0x80, G: 0x80, B: 0x80, A: 0x40}

// Plot implements plot.Plotter.
func (w windowShade) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x0, x1 := trX(w.from), trX(w.to)
	c.FillPolygon(shadeColor, c.ClipPolygonX([]vg.Point{{X: x0, Y: c.Min.Y}, {X: x1, Y: c.Min.Y}, {X: x1, Y: c.Max.Y}, {X: x0, Y: c.Max.Y}}))
}

// Thumbnail implements plot.Thumbnailer for the legend.
func (w windowShade) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(shadeColor, []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Min.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Min.X, Y: c.Max.Y}})
}

// band fills between a lower and an upper step line.
type band struct {
	lower, upper plotter.XYs
	color        color.Color
}

// Plot implements plot.Plotter.
func (b band) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	var pts []vg.Point
	for _, xy := range b.upper {
		pts = append(pts, vg.Point{X: trX(xy.X), Y: trY(xy.Y)})
	}
	for i := len(b.lower) - 1; i >= 0; i-- {
		pts = append(pts, vg.Point{X: trX(b.lower[i].X), Y: trY(b.lower[i].Y)})
	}
	c.FillPolygon(b.color, c.ClipPolygonXY(pts))
}

// steps turns per-interval values into the corners of a step line:
// each value holds from its interval's start to the next's.
func steps(starts, ys []float64, end float64) plotter.XYs {
	var out plotter.XYs
	for i := range starts {
		stop := end
		if i+1 < len(starts) {
			stop = starts[i+1]
		}
		out = append(out, plotter.XY{X: starts[i], Y: ys[i]}, plotter.XY{X: stop, Y: ys[i]})
	}
	return out
}

func (a *Analysis) drawTimeseries(f figure) (*plot.Plot, error) {
	p := newPlot(f.title, "time in measured window (s)", "throughput (Kops/s)")
	dur := a.durationOf(f.scenario)
	var n int
	if w, ok := FaultWindow(f.scenario.Fault, dur); ok {
		p.Add(windowShade{w.From, w.To})
		p.Legend.Add("fault", windowShade{})
		n++
	}
	ymax := 0.0
	type impl struct {
		name         string
		mean, lo, hi plotter.XYs
	}
	var lines []impl
	for _, name := range a.Impls {
		pt := a.okPoint(f.scenario, name, f.threads)
		if pt == nil {
			continue
		}
		// Per interval start: the values of every repeat.
		var starts []float64
		vals := map[float64][]float64{}
		end := dur
		for _, r := range pt.OK {
			for _, s := range a.seriesOf(r) {
				if _, ok := vals[s.TS]; !ok {
					starts = append(starts, s.TS)
				}
				vals[s.TS] = append(vals[s.TS], s.ThroughputOps/1000)
			}
			end = math.Max(end, r.DurationS)
		}
		if len(starts) == 0 {
			continue
		}
		slices.Sort(starts)
		means, los, his := make([]float64, len(starts)), make([]float64, len(starts)), make([]float64, len(starts))
		for i, ts := range starts {
			vs := vals[ts]
			means[i] = Summarize(vs).Mean
			los[i], his[i] = slices.Min(vs), slices.Max(vs)
			ymax = math.Max(ymax, his[i])
		}
		lines = append(lines, impl{name, steps(starts, means, end), steps(starts, los, end), steps(starts, his, end)})
	}
	for _, l := range lines {
		c := a.style(l.name).color
		p.Add(band{lower: l.lo, upper: l.hi, color: color.NRGBA{R: c.R, G: c.G, B: c.B, A: 0x40}})
	}
	for _, l := range lines {
		line, _, err := a.lineFor(l.name, l.mean, false)
		if err != nil {
			return nil, err
		}
		p.Add(line)
		p.Legend.Add(l.name, line)
		n++
	}
	p.X.Min, p.X.Max = 0, math.Max(dur, 1e-9)
	p.X.Tick.Marker = niceTicks{}
	p.Y.Min, p.Y.Max = 0, headroom(ymax, n)
	return p, nil
}
