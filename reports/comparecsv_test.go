package reports

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestCompareCSV(t *testing.T) {
	before := compareRows(10000, 10000)
	after := compareRows(12000, 10000) // hashicorp +20%, etcd unchanged
	// A point failed in B: no mean, no change, no test on that side.
	failed := sampleRow("dragonboat", 8, StatusFailed)
	failed.Fault, failed.Point = "none", "dragonboat/none/t8/r1"
	ok := sampleRow("dragonboat", 8, StatusOK)
	ok.Fault, ok.Point = "none", "dragonboat/none/t8/r1"
	before, after = append(before, ok), append(after, failed)
	c := Compare(before, after)

	var out bytes.Buffer
	if err := c.WriteCSV(&out); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recs[0], CompareCSVColumns) {
		t.Fatalf("header %q, want %q", recs[0], CompareCSVColumns)
	}
	// The text output's rows: one per metric and point in both.
	want := 0
	for _, m := range compareMetrics {
		want += len(c.deltasOf(m))
	}
	if got := len(recs) - 1; got != want || want != 2*len(c.Deltas) {
		t.Fatalf("%d rows, want %d", got, want)
	}
	col := func(rec []string, name string) string { return rec[slices.Index(CompareCSVColumns, name)] }
	row := func(point, metric string) []string {
		for _, r := range recs[1:] {
			if col(r, "point") == point && col(r, "metric") == metric {
				return r
			}
		}
		t.Fatalf("no row for %s %s", point, metric)
		return nil
	}
	for _, tc := range []struct {
		point, metric          string
		unit, nA, nB           string
		wantChange, wantP, sig bool // whether change and p_value are set; significant
		meanB                  bool // whether mean_b is set
		changeLow, changeHigh  float64
	}{
		{"hashicorp none t=8", "throughput", "ops/s", "5", "5", true, true, true, true, 0.199, 0.201},
		{"etcd none t=8", "throughput", "ops/s", "5", "5", true, true, false, true, -1e-9, 1e-9},
		{"etcd none t=8", "p99", "us", "5", "5", true, true, false, true, -1e-9, 1e-9},
		{"dragonboat none t=8", "throughput", "ops/s", "1", "0", false, false, false, false, 0, 0},
	} {
		r := row(tc.point, tc.metric)
		if col(r, "unit") != tc.unit || col(r, "n_a") != tc.nA || col(r, "n_b") != tc.nB {
			t.Errorf("%s %s: unit %s n %s+%s, want %s %s+%s", tc.point, tc.metric, col(r, "unit"), col(r, "n_a"), col(r, "n_b"), tc.unit, tc.nA, tc.nB)
		}
		if (col(r, "change") != "") != tc.wantChange || (col(r, "p_value") != "") != tc.wantP || (col(r, "mean_b") != "") != tc.meanB {
			t.Errorf("%s %s: change %q p %q mean_b %q, want set: %v %v %v", tc.point, tc.metric, col(r, "change"), col(r, "p_value"), col(r, "mean_b"), tc.wantChange, tc.wantP, tc.meanB)
		}
		if col(r, "significant") != strconv.FormatBool(tc.sig) {
			t.Errorf("%s %s: significant %s, want %v", tc.point, tc.metric, col(r, "significant"), tc.sig)
		}
		if tc.wantChange {
			ch, err := strconv.ParseFloat(col(r, "change"), 64)
			if err != nil || ch < tc.changeLow || ch > tc.changeHigh {
				t.Errorf("%s %s: change %q, want in [%v, %v]", tc.point, tc.metric, col(r, "change"), tc.changeLow, tc.changeHigh)
			}
		}
		if col(r, "impl") != strings.Fields(tc.point)[0] || col(r, "fault") != "none" || col(r, "threads") != "8" {
			t.Errorf("%s: key columns %q", tc.point, r[:8])
		}
	}
	// mean_a is the throughput mean in ops/s, not Kops/s as the text shows.
	if m, _ := strconv.ParseFloat(col(row("etcd none t=8", "throughput"), "mean_a"), 64); m < 9900 || m > 10100 {
		t.Errorf("etcd mean_a %v, want about 10000 ops/s", m)
	}
}
