package reports

import (
	"encoding/json"
	"math"
)

// SummarySchema is summary.json's schema version. Fields are only ever
// added; a change that breaks readers bumps it.
const SummarySchema = 1

// SummaryJSON is summary.json: what report.md says, for scripts.
// Undefined figures (a standard deviation of one repeat, a change against
// a zero baseline) are null.
type SummaryJSON struct {
	Schema int `json:"schema"`
	// Confidence is the level of every interval, NoisyCV the coefficient
	// of variation above which a point is noisy, Alpha the significance
	// level of the tests, Test the test used.
	Confidence float64 `json:"confidence"`
	NoisyCV    float64 `json:"noisy_cv"`
	Alpha      float64 `json:"alpha"`
	Test       string  `json:"test"`
	// Command, Raftcmp and Host are from meta.json.
	Command  []string       `json:"command,omitempty"`
	Raftcmp  *BuildInfo     `json:"raftcmp,omitempty"`
	Host     *Host          `json:"host,omitempty"`
	Backends []BackendJSON  `json:"backends"`
	Points   []PointJSON    `json:"points"`
	Impacts  []ImpactJSON   `json:"impacts"`
	Rankings []RankingJSON  `json:"rankings"`
	Failed   []FailedJSON   `json:"failed"`
	Rows     RowCountsJSON  `json:"rows"`
	Faults   []FaultWinJSON `json:"faults"`
	// LoadCurves are the open-loop rate sweeps (Analysis.LoadCurves):
	// latency against achieved throughput per backend, with the knee.
	LoadCurves []LoadCurveJSON `json:"load_curves"`
}

// LoadCurveJSON is one backend's latency-vs-throughput curve over an
// open-loop rate sweep, for one configuration and thread count.
type LoadCurveJSON struct {
	Impl         string `json:"impl"`
	Fault        string `json:"fault"`
	Storage      string `json:"storage"`
	Nodes        int    `json:"nodes"`
	PayloadBytes int    `json:"payload_bytes"`
	Payload      string `json:"payload,omitempty"`
	Threads      int    `json:"threads"`
	// KneeOps is the offered rate of the saturation knee (LoadCurve.Knee),
	// null when even the lowest rate was not sustained; Saturated is
	// false when every rate was sustained, so the knee lies above the
	// sweep and KneeOps is its highest rate.
	KneeOps   *float64        `json:"knee_offered_ops"`
	Saturated bool            `json:"saturated"`
	Points    []LoadPointJSON `json:"points"`
}

// LoadPointJSON is one offered rate of a curve: achieved throughput (mean
// over the ok repeats, ops/s), p50 and p99 (µs, pooled where histograms
// are), queued and unsent requests summed over the repeats. OK is false,
// and the figures null, when the rate has no ok repeat.
type LoadPointJSON struct {
	OfferedOps  float64  `json:"offered_ops"`
	AchievedOps *float64 `json:"achieved_ops"`
	P50Us       *float64 `json:"p50_us"`
	P99Us       *float64 `json:"p99_us"`
	Queued      uint64   `json:"queued"`
	Unsent      uint64   `json:"unsent"`
	OK          bool     `json:"ok"`
	Sustained   bool     `json:"sustained"`
	// ReadP99Us is the reads' p99 when the point read; achieved_ops,
	// queued and unsent then count reads and writes together (the offered
	// rate schedules both), p50_us and p99_us are the writes'.
	ReadP99Us *float64 `json:"read_p99_us,omitempty"`
}

// BackendJSON names a backend's Raft library.
type BackendJSON struct {
	Impl    string `json:"impl"`
	Module  string `json:"module"`
	Version string `json:"version"`
}

// RowCountsJSON counts results.csv's rows by status.
type RowCountsJSON struct {
	Total       int `json:"total"`
	OK          int `json:"ok"`
	Failed      int `json:"failed"`
	Unsupported int `json:"unsupported"`
}

// StatJSON is a Summary: mean, sample standard deviation and 95%
// confidence interval over N repeats; CV is sd/mean.
type StatJSON struct {
	N      int      `json:"n"`
	Mean   *float64 `json:"mean"`
	SD     *float64 `json:"sd"`
	CILow  *float64 `json:"ci_low"`
	CIHigh *float64 `json:"ci_high"`
	CV     *float64 `json:"cv"`
	Noisy  bool     `json:"noisy"`
}

// PointJSON is one point over its repeats.
type PointJSON struct {
	Impl         string   `json:"impl"`
	Fault        string   `json:"fault"`
	Threads      int      `json:"threads"`
	Storage      string   `json:"storage"`
	Nodes        int      `json:"nodes"`
	PayloadBytes int      `json:"payload_bytes"`
	RateOps      float64  `json:"rate_ops"`
	Repeats      int      `json:"repeats"`
	OKRepeats    int      `json:"ok_repeats"`
	Rows         []string `json:"rows"` // point ids of its results.csv rows
	// Throughput in ops/s; latencies in µs (statistics of the rows' own
	// percentiles over the repeats: mean of per-repeat p99s, not pooled;
	// see Pooled); errors per repeat.
	ThroughputOps StatJSON `json:"throughput_ops"`
	LatAvgUs      StatJSON `json:"lat_avg_us"`
	LatP50Us      StatJSON `json:"lat_p50_us"`
	LatP90Us      StatJSON `json:"lat_p90_us"`
	LatP99Us      StatJSON `json:"lat_p99_us"`
	LatP999Us     StatJSON `json:"lat_p999_us"`
	LatMaxUs      StatJSON `json:"lat_max_us"`
	Errors        StatJSON `json:"errors"`
	// Pooled is the latency distribution of the ok repeats pooled (their
	// histograms added up, percentiles of the sum), in µs; absent when a
	// repeat has no histogram log.
	Pooled *PooledJSON `json:"pooled_lat_us,omitempty"`
	// FaultEffects are the rows' fault_effect values, by repeat.
	FaultEffects []string `json:"fault_effects,omitempty"`
	// Reads is set when the point read (a mixed load): the figures above
	// are then the writes'.
	Reads *PointReadsJSON `json:"reads,omitempty"`
}

// PointReadsJSON is a point's reads over its repeats, as PointJSON's
// figures are its writes': read throughput in ops/s, the statistics of
// the repeats' own read p99s (µs), the reads' latency distribution pooled
// over the repeats (absent when a repeat has no read histogram log) and
// the stale reads per repeat.
type PointReadsJSON struct {
	Ratio         float64     `json:"read_ratio"`
	Mode          string      `json:"read_mode"`
	From          string      `json:"read_from"`
	ThroughputOps StatJSON    `json:"throughput_ops"`
	LatP99Us      StatJSON    `json:"lat_p99_us"`
	Pooled        *PooledJSON `json:"pooled_lat_us,omitempty"`
	StaleReads    StatJSON    `json:"stale_reads"`
}

// PooledJSON is a Pooled distribution.
type PooledJSON struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p999"`
	Max   int64   `json:"max"`
}

// TestJSON is a Welch's t-test outcome; P is null when a side has fewer
// than two repeats.
type TestJSON struct {
	P           *float64 `json:"p"`
	NA          int      `json:"n_a"`
	NB          int      `json:"n_b"`
	Significant bool     `json:"significant"`
}

// ImpactJSON is a backend's change under a fault against its own
// baseline at the same thread count: faulted mean / baseline mean - 1.
type ImpactJSON struct {
	Impl             string   `json:"impl"`
	Fault            string   `json:"fault"`
	Threads          int      `json:"threads"`
	Headline         bool     `json:"headline"` // the thread count of report.md's impact table
	ThroughputChange *float64 `json:"throughput_change"`
	ThroughputTest   TestJSON `json:"throughput_test"`
	P99Change        *float64 `json:"p99_change"`
	P99Test          TestJSON `json:"p99_test"`
	// InWindowOps and WindowChange are set for a fault covering part of
	// the window: throughput over the intervals inside it, and its change
	// against the baseline's whole-window throughput.
	InWindowOps  *StatJSON `json:"in_window_ops,omitempty"`
	WindowChange *float64  `json:"window_change,omitempty"`
	WindowTest   *TestJSON `json:"window_test,omitempty"`
}

// RankingJSON orders the backends under one fault at the highest thread
// count with data for all; the tests compare the first two.
type RankingJSON struct {
	Fault          string   `json:"fault"`
	Threads        int      `json:"threads"`
	ByThroughput   []string `json:"by_throughput"`
	ThroughputTest TestJSON `json:"throughput_test"`
	ByP99          []string `json:"by_p99"`
	P99Test        TestJSON `json:"p99_test"`
}

// FailedJSON is a row without figures.
type FailedJSON struct {
	Point  string `json:"point"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// FaultWinJSON is when a fault acted, in seconds of the measured window.
type FaultWinJSON struct {
	Fault string  `json:"fault"`
	From  float64 `json:"from_s"`
	To    float64 `json:"to_s"`
	Whole bool    `json:"whole_window"`
}

func num(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func statJSON(s Summary) StatJSON {
	return StatJSON{N: s.N, Mean: num(s.Mean), SD: num(s.SD), CILow: num(s.CILow()), CIHigh: num(s.CIHigh()), CV: num(s.CV()), Noisy: s.Noisy()}
}

func testJSON(t TTest) TestJSON {
	return TestJSON{P: num(t.P), NA: t.NA, NB: t.NB, Significant: t.Significant()}
}

// JSONSummary gathers summary.json's content.
func (a *Analysis) JSONSummary() SummaryJSON {
	out := SummaryJSON{Schema: SummarySchema, Confidence: Confidence, NoisyCV: NoisyCV, Alpha: Alpha, Test: "welch",
		Backends: []BackendJSON{}, Points: []PointJSON{}, Impacts: []ImpactJSON{}, Rankings: []RankingJSON{},
		Failed: []FailedJSON{}, Faults: []FaultWinJSON{}}
	if m := a.Meta; m != nil {
		out.Command, out.Raftcmp, out.Host = m.Command, &m.Raftcmp, &m.Host
	}
	for _, impl := range a.Impls {
		bj := BackendJSON{Impl: impl}
		for _, r := range a.Rows {
			if r.Impl == impl && r.ImplModule != "" {
				bj.Module, bj.Version = r.ImplModule, r.ImplVersion
				break
			}
		}
		out.Backends = append(out.Backends, bj)
	}
	for _, r := range a.Rows {
		out.Rows.Total++
		switch r.Status {
		case StatusOK:
			out.Rows.OK++
		case StatusUnsupported:
			out.Rows.Unsupported++
		default:
			out.Rows.Failed++
		}
	}
	for _, p := range a.Points {
		pj := PointJSON{Impl: p.Impl, Fault: p.Fault, Threads: p.Threads, Storage: p.Storage, Nodes: p.Nodes,
			PayloadBytes: p.PayloadBytes, RateOps: p.RateOps, Repeats: len(p.Rows), OKRepeats: len(p.OK),
			ThroughputOps: statJSON(p.Throughput), LatAvgUs: statJSON(p.LatAvg), LatP50Us: statJSON(p.P50),
			LatP90Us: statJSON(p.P90), LatP99Us: statJSON(p.P99), LatP999Us: statJSON(p.P999), LatMaxUs: statJSON(p.Max),
			Errors: statJSON(p.Errors)}
		pj.Pooled = pooledJSON(p.Pooled)
		if p.ReadsMeasured() {
			r := p.OK[0]
			pj.Reads = &PointReadsJSON{Ratio: r.ReadRatio, Mode: r.ReadMode, From: r.ReadFrom,
				ThroughputOps: statJSON(p.ReadThroughput), LatP99Us: statJSON(p.ReadP99), Pooled: pooledJSON(p.ReadPooled),
				StaleReads: statJSON(p.StaleReads)}
		}
		for _, r := range p.Rows {
			pj.Rows = append(pj.Rows, r.Point)
			if !p.IsBaseline() && r.Status == StatusOK {
				pj.FaultEffects = append(pj.FaultEffects, r.FaultEffect)
			}
		}
		out.Points = append(out.Points, pj)
	}
	for _, s := range a.Scenarios {
		if w, ok := FaultWindow(s.Fault, a.durationOf(s)); ok {
			out.Faults = append(out.Faults, FaultWinJSON{Fault: a.Label(s), From: w.From, To: w.To, Whole: w.Whole})
		}
		if r, ok := a.Rank(s); ok {
			rj := RankingJSON{Fault: a.Label(s), Threads: r.Threads, ThroughputTest: testJSON(r.ThroughputTest), P99Test: testJSON(r.P99Test)}
			for i := range r.ByThroughput {
				rj.ByThroughput = append(rj.ByThroughput, r.ByThroughput[i].Impl)
				rj.ByP99 = append(rj.ByP99, r.ByP99[i].Impl)
			}
			out.Rankings = append(out.Rankings, rj)
		}
		if s.IsBaseline() {
			continue
		}
		for _, impl := range a.Impls {
			head, hasHead := a.HeadlineImpact(s, impl)
			for _, t := range a.Threads {
				im, ok := a.ImpactAt(s, impl, t)
				if !ok {
					continue
				}
				ij := ImpactJSON{Impl: impl, Fault: a.Label(s), Threads: t, Headline: hasHead && head.Threads == t,
					ThroughputChange: num(im.ThroughputChange), ThroughputTest: testJSON(im.ThroughputTest),
					P99Change: num(im.P99Change), P99Test: testJSON(im.P99Test)}
				if im.InWindow.N > 0 {
					st, tj := statJSON(im.InWindow), testJSON(im.WindowTest)
					ij.InWindowOps, ij.WindowChange, ij.WindowTest = &st, num(im.WindowChange), &tj
				}
				out.Impacts = append(out.Impacts, ij)
			}
		}
	}
	for _, r := range a.failures() {
		out.Failed = append(out.Failed, FailedJSON{Point: r.Point, Status: r.Status, Error: r.Error})
	}
	out.LoadCurves = []LoadCurveJSON{}
	for _, c := range a.LoadCurves() {
		cj := LoadCurveJSON{Impl: c.Impl, Fault: c.Config.Fault, Storage: c.Config.Storage, Nodes: c.Config.Nodes,
			PayloadBytes: c.Config.PayloadBytes, Payload: c.Config.Payload, Threads: c.Threads, Saturated: c.Saturated()}
		if c.Knee >= 0 {
			cj.KneeOps = num(c.Points[c.Knee].Offered)
		}
		for _, lp := range c.Points {
			pj := LoadPointJSON{OfferedOps: lp.Offered, Queued: lp.Queued, Unsent: lp.Unsent, OK: lp.OK, Sustained: lp.Sustained()}
			if lp.OK {
				pj.AchievedOps, pj.P50Us, pj.P99Us = num(math.Round(lp.Achieved*1000)/1000), num(lp.P50), num(lp.P99)
				if lp.Reads {
					pj.ReadP99Us = num(lp.ReadP99)
				}
			}
			cj.Points = append(cj.Points, pj)
		}
		out.LoadCurves = append(out.LoadCurves, cj)
	}
	return out
}

// pooledJSON is q for summary.json, nil if q is.
func pooledJSON(q *Pooled) *PooledJSON {
	if q == nil {
		return nil
	}
	return &PooledJSON{Count: q.Count, Mean: math.Round(q.Mean*1000) / 1000, P50: q.P50, P90: q.P90, P99: q.P99, P999: q.P999, Max: q.Max}
}

// JSON renders summary.json, indented, with a final newline.
func (a *Analysis) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(a.JSONSummary(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
