package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/reports"
)

// --nodes and --rate sweep like --threads: a real run gives a row per
// cluster size and per offered load, with the size or rate in the point id,
// payload distributions are recorded, and an open-loop rate sweep draws the
// latency-vs-throughput curve; the report rebuilds identically.
func TestSweepsSizesAndRates(t *testing.T) {
	dir := pluginDir(t)
	base := []string{"run", "--plugin-dir", dir, "--impl", "hashicorp", "--threads", "2", "--duration", "500ms",
		"--warmup", "100ms", "--interval", "250ms", "--storage", "memory"}

	sizes := filepath.Join(t.TempDir(), "sizes")
	code, stdout, stderr := raftcmp(t, append(base, "--nodes", "1,3", "--rate", "0", "--payload", "uniform:64:4096", "--out", sizes)...)
	if code != 0 {
		t.Fatalf("--nodes 1,3: exit %d: %s", code, stderr)
	}
	// The end-of-run table has a nodes column, as the size is swept, and
	// no rate column, as the rate is not.
	if head := strings.Fields(strings.SplitN(stdout, "\n", 2)[0]); !slices.Contains(head, "nodes") || slices.Contains(head, "rate") {
		t.Errorf("--nodes 1,3: table header %q, want a nodes column and no rate column", head)
	}
	if got, want := recordedPoints(t, filepath.Join(sizes, reports.ResultsFile)), "hashicorp/none/n1/t2/r1 hashicorp/none/n3/t2/r1"; got != want {
		t.Errorf("--nodes 1,3 recorded %s, want %s", got, want)
	}
	rows, err := reports.ReadResults(filepath.Join(sizes, reports.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r.Status != reports.StatusOK || r.Nodes != []int{1, 3}[i] || r.Payload != "uniform:64:4096" || r.PayloadMeanBytes <= 64 || r.PayloadMeanBytes >= 4096 {
			t.Errorf("row %s: status %s, nodes %d, payload %q (mean %.0f); want ok, %d nodes, the distribution and its mean",
				r.Point, r.Status, r.Nodes, r.Payload, r.PayloadMeanBytes, []int{1, 3}[i])
		}
	}

	rates := filepath.Join(t.TempDir(), "rates")
	code, stdout, stderr = raftcmp(t, append(base, "--loop", "open", "--rate", "200:600:200", "--out", rates)...)
	if code != 0 {
		t.Fatalf("--rate 200:600:200: exit %d: %s", code, stderr)
	}
	if head := strings.Fields(strings.SplitN(stdout, "\n", 2)[0]); slices.Contains(head, "nodes") || !slices.Contains(head, "rate") {
		t.Errorf("--rate 200:600:200: table header %q, want a rate column and no nodes column", head)
	}
	if got, want := recordedPoints(t, filepath.Join(rates, reports.ResultsFile)), "hashicorp/none/q200/t2/r1 hashicorp/none/q400/t2/r1 hashicorp/none/q600/t2/r1"; got != want {
		t.Errorf("--rate 200:600:200 recorded %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(rates, "plots", "loadcurve-hashicorp.svg")); err != nil {
		t.Errorf("no latency-vs-throughput plot: %v", err)
	}
	report, err := os.ReadFile(filepath.Join(rates, reports.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "Latency vs offered load") {
		t.Errorf("report.md lacks the latency-vs-offered-load section")
	}
	// The sweep reads as one section with the rate as a column.
	if n := strings.Count(string(report), "## Fault: `"); n != 1 || !strings.Contains(string(report), "offered rate swept") ||
		!strings.Contains(string(report), "| offered ops/s | threads | hashicorp |") {
		t.Errorf("report.md has %d fault sections; want one, offered rate swept, with an offered ops/s column", n)
	}
	if code, _, stderr := raftcmp(t, "report", rates); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	if again, _ := os.ReadFile(filepath.Join(rates, reports.ReportFile)); string(again) != string(report) {
		t.Error("raftcmp report did not rebuild the same report.md")
	}
}
