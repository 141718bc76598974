package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
)

// CompareCSVColumns is the header of the comparison's CSV export, in file
// order (docs/results-format.md describes each).
var CompareCSVColumns = []string{
	"point", "impl", "fault", "threads", "storage", "nodes", "payload_bytes", "rate_ops",
	"metric", "unit", "mean_a", "mean_b", "n_a", "n_b", "change", "p_value", "significant",
}

// WriteCSV writes the comparison as RFC 4180 CSV with a header line: the
// same rows as Write's tables (each metric's table in turn, the points in
// A's order; read_throughput and read_p99 only for points that read), with the figures in their base units and full precision.
// point is the label Write shows; the columns after it are the point's
// key. mean_a and mean_b are means over the ok repeats, empty for a side
// without any; n_a and n_b count those repeats; change is B/A - 1 as a
// fraction, empty when a side has no ok repeats or A's mean is zero;
// p_value is Welch's t-test's, empty when a side has fewer than two; and
// significant is true when p_value < Alpha. Points found on one side only
// have no row.
func (c Comparison) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CompareCSVColumns); err != nil {
		return err
	}
	for _, m := range compareMetrics {
		for _, d := range c.deltasOf(m) {
			k := d.Key
			ch, t := m.change(d)
			p := ""
			if t.OK {
				p = csvFloat(t.P)
			}
			if err := cw.Write([]string{
				c.name(k), k.Impl, k.Fault, strconv.Itoa(k.Threads), k.Storage, strconv.Itoa(k.Nodes),
				strconv.Itoa(k.PayloadBytes), fmtG(k.RateOps),
				m.name, m.unit, csvMean(d.A, m.stat(d.A)), csvMean(d.B, m.stat(d.B)),
				strconv.Itoa(len(d.A.OK)), strconv.Itoa(len(d.B.OK)), csvFloat(ch), p,
				strconv.FormatBool(t.Significant()),
			}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write comparison CSV: %w", err)
	}
	return nil
}

// csvMean is a side's mean, or "" when it has no ok repeats.
func csvMean(p *PointStats, s Summary) string {
	if len(p.OK) == 0 {
		return ""
	}
	return csvFloat(s.Mean)
}

// csvFloat writes v in full precision, or "" when it is not a number.
func csvFloat(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
