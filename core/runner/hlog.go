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
func writeHlog(outDir string, p experiment.Point, windowStart time.Time, res *load.Result, row *reports.Row) error {
	ivs := make([]reports.HdrInterval, len(res.Intervals))
	for i, iv := range res.Intervals {
		if iv.Histogram == nil {
			return nil
		}
		end := res.Measured
		if i+1 < len(res.Intervals) {
			end = res.Intervals[i+1].Start
		}
		ivs[i] = reports.HdrInterval{Start: iv.Start, Length: end - iv.Start, Histogram: iv.Histogram}
	}
	rel, err := reports.WriteHdrLog(outDir, p.ID, windowStart, ivs)
	if err != nil {
		return fmt.Errorf("record latency histograms: %w", err)
	}
	row.HdrFile = rel
	return nil
}
