package reports

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func ptr(v float64) *float64 { return &v }

// A row is flagged when outside CPU or steal exceeds its threshold, and
// never when neither was measured.
func TestRowInterfered(t *testing.T) {
	tests := []struct {
		name           string
		outside, steal *float64
		want           bool
	}{
		{"not measured", nil, nil, false},
		{"quiet", ptr(0.05), ptr(0.001), false},
		{"at the limits", ptr(OutsideCPULimit), ptr(StealLimit), false},
		{"outside load", ptr(0.9), ptr(0), true},
		{"steal", ptr(0), ptr(0.08), true},
		{"steal only measured", nil, ptr(0.2), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Row{OutsideCPU: tc.outside, HostSteal: tc.steal}
			if got := r.Interfered(); got != tc.want {
				t.Errorf("Interfered() = %v, want %v", got, tc.want)
			}
		})
	}
}

// A disturbed point is marked § in the throughput and p99 tables, with the
// legend under them, a line in "How to read" and its row listed under Host
// interference; a quiet point is not marked; rows without the columns
// (older files) change nothing.
func TestMarkdownInterferenceFlag(t *testing.T) {
	quiet, noisy := sampleRow("etcd", 2, StatusOK), sampleRow("hashicorp", 2, StatusOK)
	quiet.OutsideCPU, quiet.HostSteal, quiet.HostCPUUtil = ptr(0.03), ptr(0), ptr(0.61)
	noisy.OutsideCPU, noisy.HostSteal, noisy.HostCPUUtil, noisy.CPUPressure = ptr(0.93), ptr(0), ptr(0.99), ptr(0.4)
	md := string(Analyze(nil, []Row{quiet, noisy}, nil).Markdown())
	for _, want := range []string{
		"| 2 | 2.00 | 2.00 § |", // throughput: etcd quiet, hashicorp marked
		"| 2 | 6400 | 6400 § |", // p99
		"§ Disturbed by the host",
		"- § marks a point disturbed by its host",
		"## Host interference",
		"| `hashicorp/t2/r1` | 0.93 | 0.0% | 99.0% | 40.0% |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "`etcd/t2/r1` | 0.03") {
		t.Errorf("quiet row listed under Host interference:\n%s", md)
	}

	quiet.OutsideCPU, quiet.HostSteal, quiet.HostCPUUtil = nil, nil, nil
	noisy.OutsideCPU, noisy.HostSteal, noisy.HostCPUUtil, noisy.CPUPressure = nil, nil, nil, nil
	if md := string(Analyze(nil, []Row{quiet, noisy}, nil).Markdown()); strings.Contains(md, "§") || strings.Contains(md, "Host interference") {
		t.Errorf("rows without interference columns are marked:\n%s", md)
	}
}

// The columns round-trip: empty stays nil (not measured), a zero stays a
// measured zero.
func TestInterferenceColumnsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	measured, unmeasured := sampleRow("etcd", 2, StatusOK), sampleRow("etcd", 4, StatusOK)
	measured.HostCPUUtil, measured.HostSteal, measured.OutsideCPU, measured.CPUPressure, measured.ProcsRunning = ptr(0.5), ptr(0), ptr(0.25), ptr(0.125), ptr(2.5)
	for _, r := range []Row{measured, unmeasured} {
		if err := w.Write(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	at := slices.Index(Columns, "host_cpu_util")
	if got := recs[1][at : at+5]; !slices.Equal(got, []string{"0.5000", "0.0000", "0.250", "0.1250", "2.50"}) {
		t.Errorf("measured interference columns written as %q", got)
	}
	if got := recs[2][at : at+5]; !slices.Equal(got, []string{"", "", "", "", ""}) {
		t.Errorf("unmeasured interference columns written as %q", got)
	}
	rows, err := ReadResults(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if r := rows[0]; r.HostSteal == nil || *r.HostSteal != 0 || r.OutsideCPU == nil || *r.OutsideCPU != 0.25 {
		t.Errorf("measured row read back as steal %v, outside %v", r.HostSteal, r.OutsideCPU)
	}
	if r := rows[1]; r.HostCPUUtil != nil || r.HostSteal != nil || r.OutsideCPU != nil || r.CPUPressure != nil || r.ProcsRunning != nil {
		t.Errorf("unmeasured row read back with values: %+v", r)
	}
}
