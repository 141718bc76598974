package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/reports"
)

// goldenCopy copies the reports package's fixed results directory.
func goldenCopy(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{reports.ResultsFile, reports.TimeseriesFile, reports.MetaFile} {
		b, err := os.ReadFile(filepath.Join("..", "..", "reports", "testdata", "golden", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// oneLineError checks the CLI failed with status code and one stderr line
// containing want, without a stack trace.
func oneLineError(t *testing.T, code, wantCode int, stderr, want string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit status %d, want %d", code, wantCode)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("stderr %q: want one line containing %q", stderr, want)
	}
	if strings.Contains(stderr, "goroutine") {
		t.Errorf("stack trace: %s", stderr)
	}
}

func TestReportCommand(t *testing.T) {
	dir := goldenCopy(t)
	code, stdout, stderr := raftcmp(t, "report", dir)
	if code != 0 || strings.TrimSpace(stdout) != filepath.Join(dir, reports.ReportFile) {
		t.Fatalf("report: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	md, _ := os.ReadFile(filepath.Join(dir, reports.ReportFile))
	if !strings.Contains(string(md), "## Headline") || !strings.Contains(string(md), "](plots/throughput-none.svg)") {
		t.Errorf("report.md lacks its sections or figures")
	}
	for _, f := range []string{"throughput-none.svg", "throughput-none.png"} {
		if _, err := os.Stat(filepath.Join(dir, reports.PlotsDir, f)); err != nil {
			t.Error(err)
		}
	}
	code, stdout, stderr = raftcmp(t, "report", "--format", "latex,json", dir)
	if code != 0 || !strings.Contains(stdout, reports.LaTeXFile) || !strings.Contains(stdout, reports.SummaryFile) {
		t.Fatalf("report --format latex,json: exit %d, %q %q", code, stdout, stderr)
	}
	tex, _ := os.ReadFile(filepath.Join(dir, reports.LaTeXFile))
	if !strings.Contains(string(tex), `\toprule`) {
		t.Errorf("report.tex lacks booktabs tables")
	}

	code, stdout, stderr = raftcmp(t, "report", "--format", "benchstat", dir)
	if code != 0 || strings.TrimSpace(stdout) != filepath.Join(dir, reports.BenchFile) {
		t.Fatalf("report --format benchstat: exit %d, %q %q", code, stdout, stderr)
	}
	bench, _ := os.ReadFile(filepath.Join(dir, reports.BenchFile))
	if !strings.Contains(string(bench), "\nBenchmarkRaft/impl=etcd/fault=none/threads=8 1 ") {
		t.Errorf("bench.txt lacks benchmark lines:\n%s", bench)
	}

	code, _, stderr = raftcmp(t, "report", "--format", "pdf", dir)
	oneLineError(t, code, exitUsage, stderr, `--format "pdf": want markdown, latex, json or benchstat`)
	code, _, stderr = raftcmp(t, "report")
	oneLineError(t, code, exitUsage, stderr, "report takes one results directory")

	empty := t.TempDir()
	code, _, stderr = raftcmp(t, "report", empty)
	oneLineError(t, code, 1, stderr, filepath.Join(empty, reports.ResultsFile)+": no such file or directory")

	series := filepath.Join(dir, reports.TimeseriesFile)
	b, _ := os.ReadFile(series)
	os.WriteFile(series, append(b, "x,y\n"...), 0o644)
	code, _, stderr = raftcmp(t, "report", dir)
	oneLineError(t, code, 1, stderr, series+":762: wrong number of fields")

	meta := filepath.Join(dir, reports.MetaFile)
	os.WriteFile(series, b, 0o644)
	os.WriteFile(meta, []byte("{\n  \"command\": [1]\n}\n"), 0o644)
	code, _, stderr = raftcmp(t, "report", dir)
	oneLineError(t, code, 1, stderr, meta+":2: ")
}

func TestCompareCommand(t *testing.T) {
	a, b := goldenCopy(t), goldenCopy(t)
	code, stdout, stderr := raftcmp(t, "compare", a, b)
	if code != 0 {
		t.Fatalf("compare: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"throughput (Kops/s)", "p99 latency (µs)", "hashicorp none t=16", "~ (p=1.000 n=2+2)"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("compare output lacks %q:\n%s", want, stdout)
		}
	}
	// --csv FILE: the table on stdout and the same rows in FILE; --csv -:
	// the CSV alone on stdout.
	csvFile := filepath.Join(t.TempDir(), "cmp.csv")
	code, table, stderr := raftcmp(t, "compare", a, b, "--csv", csvFile)
	if code != 0 || table != stdout {
		t.Fatalf("compare --csv FILE: exit %d, stderr %q; stdout differs from without --csv: %v", code, stderr, table != stdout)
	}
	fileCSV, err := os.ReadFile(csvFile)
	if err != nil {
		t.Fatal(err)
	}
	code, stdoutCSV, stderr := raftcmp(t, "compare", "--csv", "-", a, b)
	if code != 0 || stdoutCSV != string(fileCSV) {
		t.Fatalf("compare --csv -: exit %d, stderr %q; stdout differs from the file:\n%s", code, stderr, stdoutCSV)
	}
	lines := strings.Split(strings.TrimSpace(stdoutCSV), "\n")
	if !strings.HasPrefix(lines[0], "point,impl,fault,threads,") || !slices.ContainsFunc(lines, func(l string) bool {
		return strings.HasPrefix(l, "hashicorp none t=16,hashicorp,none,16,") && strings.Contains(l, ",throughput,ops/s,")
	}) {
		t.Errorf("compare CSV lacks its header or a point's row:\n%s", stdoutCSV)
	}
	code, _, stderr = raftcmp(t, "compare", a, b, "--csv", filepath.Join(t.TempDir(), "missing", "cmp.csv"))
	oneLineError(t, code, 1, stderr, "write comparison CSV: ")

	code, _, stderr = raftcmp(t, "compare", a)
	oneLineError(t, code, exitUsage, stderr, "compare takes two results directories, got 1")
	empty := t.TempDir()
	code, _, stderr = raftcmp(t, "compare", a, empty)
	oneLineError(t, code, 1, stderr, filepath.Join(empty, reports.ResultsFile))
}
