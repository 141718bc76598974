package reports

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// sweepRows is an open-loop rate sweep of two backends, two repeats each:
// etcd keeps up with every rate; hashicorp achieves 1200 ops/s of 1500.
func sweepRows() []Row {
	var rows []Row
	for _, rate := range []float64{500, 1000, 1500} {
		for rep := 1; rep <= 2; rep++ {
			for _, impl := range []string{"etcd", "hashicorp"} {
				r := sampleRow(impl, 2, StatusOK)
				r.Fault, r.FaultEffect, r.FaultTargets, r.Loop, r.RateOps, r.Repeat = "none", "", "", "open", rate, rep
				r.Point = fmt.Sprintf("%s/none/q%g/t2/r%d", impl, rate, rep)
				r.ThroughputOps, r.Issued = rate, uint64(rate)*20
				r.LatP50Us, r.LatP99Us = 500+int64(rate)/10, 2000+int64(rate)
				if impl == "hashicorp" && rate == 1500 {
					r.ThroughputOps, r.Queued, r.LatP99Us = 1200, 900, 90000
				}
				rows = append(rows, r)
			}
		}
	}
	return rows
}

// A rate sweep reads as one section with the offered rate as a column,
// not a section per rate; summary.json and report.tex carry its
// latency-vs-throughput curves with the knee.
func TestRateSweepGrouped(t *testing.T) {
	a := Analyze(nil, sweepRows(), nil)
	md := string(a.Markdown())
	if n := strings.Count(md, "## Fault: `"); n != 1 {
		t.Errorf("%d fault sections, want one for the sweep:\n%s", n, md)
	}
	for _, want := range []string{
		"## Fault: `none` (baseline), offered rate swept",
		"### Throughput (Kops/s)\n\n| offered ops/s | threads | etcd | hashicorp |\n|---:|---:|---:|---:|\n| 500 | 2 | 0.50 ± 0.00 | 0.50 ± 0.00 |\n| 1000 | 2 | 1.00 ± 0.00 | 1.00 ± 0.00 |\n| 1500 | 2 | 1.50 ± 0.00 | 1.20 ± 0.00 |",
		"| 1500 | 2 | hashicorp |",
		"### Figures per offered rate",
		"## Latency vs offered load",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}

	var sum SummaryJSON
	b, err := a.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if len(sum.LoadCurves) != 2 {
		t.Fatalf("%d load curves in summary.json, want 2", len(sum.LoadCurves))
	}
	for _, c := range sum.LoadCurves {
		wantKnee, wantSat := 1500.0, false
		if c.Impl == "hashicorp" {
			wantKnee, wantSat = 1000, true
		}
		if c.KneeOps == nil || *c.KneeOps != wantKnee || c.Saturated != wantSat || len(c.Points) != 3 || c.Threads != 2 || c.Fault != "none" {
			t.Errorf("%s curve: knee %v, saturated %v, %d points; want %v, %v, 3", c.Impl, c.KneeOps, c.Saturated, len(c.Points), wantKnee, wantSat)
		}
		if last := c.Points[2]; c.Impl == "hashicorp" && (last.Sustained || *last.AchievedOps != 1200 || last.Queued != 1800) {
			t.Errorf("hashicorp at 1500 ops/s: %+v, want not sustained, 1200 achieved, 1800 queued", last)
		}
	}

	tex := string(a.LaTeX())
	if n := strings.Count(tex, "\\label{tab:raftcmp-throughput-"); n != 1 {
		t.Errorf("report.tex has %d throughput tables, want one for the sweep", n)
	}
	for _, want := range []string{"Throughput (Kops/s) under fault \\texttt{none}, offered rate swept", "\\label{tab:raftcmp-throughput-none-rates}",
		"Offered ops/s & Threads & etcd & hashicorp \\\\", "1500 & 2 & 1.50 $\\pm$ 0.00 & 1.20 $\\pm$ 0.00 \\\\",
		"Latency vs offered load, hashicorp", "none & 1000 & 1000 & 600 & 3000 & knee \\\\", "none & 1500 & 1200 & 650 & 90000 & not sustained \\\\"} {
		if !strings.Contains(tex, want) {
			t.Errorf("report.tex lacks %q:\n%s", want, tex)
		}
	}
}

// With reads, the offered rate schedules reads and writes: a backend that
// keeps up with it achieves it in reads and writes together, and its knee
// is where it was without reads; the reads' p99 is beside the writes'.
func TestLoadCurveWithReads(t *testing.T) {
	rows := sweepRows()
	for i := range rows {
		r := &rows[i]
		r.ReadRatio, r.ReadMode, r.ReadFrom = 0.5, "linearizable", "leader"
		r.ThroughputOps /= 2
		r.ReadThroughputOps, r.ReadOps, r.ReadLatP99Us = r.ThroughputOps, 100, 777
		r.Queued /= 2
		r.ReadQueued = r.Queued
	}
	a := Analyze(nil, rows, nil)
	curves := a.LoadCurves()
	if len(curves) != 2 {
		t.Fatalf("%d curves, want 2", len(curves))
	}
	for _, c := range curves {
		wantKnee, wantSat := 2, false
		if c.Impl == "hashicorp" {
			wantKnee, wantSat = 1, true
		}
		if c.Knee != wantKnee || c.Saturated() != wantSat {
			t.Errorf("%s: knee %d, saturated %v; want %d, %v (achieved %+v)", c.Impl, c.Knee, c.Saturated(), wantKnee, wantSat, c.Points)
		}
		for _, lp := range c.Points {
			if !lp.Reads || lp.ReadP99 != 777 {
				t.Errorf("%s at %v: reads %v, read p99 %v; want 777", c.Impl, lp.Offered, lp.Reads, lp.ReadP99)
			}
		}
	}
	md := string(a.Markdown())
	if want := "| none | 1500 | 1200 | 650 | 90000 | 777 | 1800 | 0 | not sustained |"; !strings.Contains(md, want) {
		t.Errorf("report.md lacks %q:\n%s", want, md)
	}
}
