package runner

import (
	"fmt"
	"time"

	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/core/load"
	"github.com/raftcmp/raftcmp/reports"
)

// writeHlog records the latency histograms of an ok point as its
// HdrHistogram interval log in the results directory (reports.WriteHdrLog)
// and names it in row.HdrFile. The log's intervals are the load's
// time-series intervals, timed from windowStart, the start of the measured
// window as raftcmp's clock saw it (within milliseconds of the load's own
// clock, which may run in the leader's process); they add up to the
// point's latency figures. A result without interval histograms (a plugin
// built before they crossed the plugin boundary) gets no log and an empty
// HdrFile, rather than a log that would not add up.
//
// It is called only once the point has passed its safety check, before its
// row is written, so every ok row that names a log has it on disk and no
// failed point has one: a failed point's figures are not reported, and
// neither is its distribution.
//
// The reads of a mixed load get a log of their own, named as the point
// with "/reads" appended (reports.ReadsHdrPoint), in row.ReadHdrFile.
func writeHlog(outDir string, p experiment.Point, windowStart time.Time, res *load.Result, row *reports.Row) error {
	rel, err := writeIntervals(outDir, p.ID, windowStart, res.Intervals, res.Measured)
	if err != nil {
		return fmt.Errorf("record latency histograms: %w", err)
	}
	row.HdrFile = rel
	if res.Reads != nil {
		rel, err := writeIntervals(outDir, reports.ReadsHdrPoint(p.ID), windowStart, res.Reads.Intervals, res.Measured)
		if err != nil {
			return fmt.Errorf("record read latency histograms: %w", err)
		}
		row.ReadHdrFile = rel
	}
	return nil
}

// writeIntervals writes one histogram log of ivs under point's name, or
// nothing (and "") if an interval has no histogram.
func writeIntervals(outDir, point string, windowStart time.Time, intervals []load.Interval, measured time.Duration) (string, error) {
	ivs := make([]reports.HdrInterval, len(intervals))
	for i, iv := range intervals {
		if iv.Histogram == nil {
			return "", nil
		}
		end := measured
		if i+1 < len(intervals) {
			end = intervals[i+1].Start
		}
		ivs[i] = reports.HdrInterval{Start: iv.Start, Length: end - iv.Start, Histogram: iv.Histogram}
	}
	return reports.WriteHdrLog(outDir, point, windowStart, ivs)
}
