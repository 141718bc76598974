package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/reports"
)

// Flags are parsed wherever they stand on the command line, for every
// subcommand; "--" still ends them; a command that takes no positional
// arguments refuses one, naming it.
func TestFlagsAnywhere(t *testing.T) {
	dir, other := goldenCopy(t), goldenCopy(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring of stdout, when code is 0
		stderr string // substring of the one stderr line, otherwise
	}{
		{"report flag after dir", []string{"report", dir, "--format", "latex"}, 0, reports.LaTeXFile, ""},
		{"report flag=value after dir", []string{"report", dir, "--format=json"}, 0, reports.SummaryFile, ""},
		{"report flag before dir", []string{"report", "--format", "latex", dir}, 0, reports.LaTeXFile, ""},
		{"report -- ends flags", []string{"report", "--format", "json", "--", dir}, 0, reports.SummaryFile, ""},
		{"report flag without its value", []string{"report", dir, "--format"}, exitUsage, "", "flag needs an argument: -format"},
		{"report help after dir", []string{"report", dir, "--help"}, 0, "raftcmp report - rebuild", ""},
		{"report two dirs", []string{"report", dir, "--format", "json", other}, exitUsage, "", "report takes one results directory, got 2 arguments"},
		{"compare unknown flag after dirs", []string{"compare", dir, other, "--bogus"}, exitUsage, "", "flag provided but not defined: -bogus"},
		{"compare help after dirs", []string{"compare", dir, other, "-h"}, 0, "raftcmp compare - compare", ""},
		{"conformance flag after stray argument", []string{"conformance", "stray", "--plugin", "/nonexistent"}, exitUsage, "", `conformance takes no arguments (got "stray")`},
		{"run flag after stray argument", []string{"run", "stray", "--impl", "hashicorp"}, exitUsage, "", `run takes no arguments (got "stray")`},
		{"plan flag after stray argument", []string{"plan", "stray", "--impl", "hashicorp"}, exitUsage, "", `plan takes no arguments (got "stray")`},
		{"list stray argument", []string{"list", "stray"}, exitUsage, "", `list takes no arguments (got "stray")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := raftcmp(t, tc.args...)
			if tc.code != 0 {
				oneLineError(t, code, tc.code, stderr, tc.stderr)
				return
			}
			if code != 0 || !strings.Contains(stdout, tc.stdout) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0 and stdout containing %q", code, stdout, stderr, tc.stdout)
			}
		})
	}
}

// raftcmp built as make builds it, with GOFLAGS=-buildvcs=false as on this
// project's machines (TestMain), records the commit it was built from and
// whether the tree had uncommitted changes, as meta.json and every report
// do (reports.SelfBuild).
func TestBuildRecordsCommit(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	status, err := exec.Command("git", "status", "--porcelain").Output()
	if err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := raftcmp(t, "--version")
	commit := strings.TrimSpace(string(head))
	if code != 0 || len(commit) != 40 || !strings.Contains(stdout, "commit "+commit) {
		t.Fatalf("--version: exit %d, %q %q; want commit %s", code, stdout, stderr, commit)
	}
	modified := len(bytes.TrimSpace(status)) > 0
	if got := strings.Contains(stdout, "(with uncommitted changes)"); got != modified {
		t.Errorf("--version %q says modified %v; git status says %v", stdout, got, modified)
	}
}

// The same fault recorded under its short name by an older build and under
// its canonical name by a newer one compares point for point.
func TestCompareOlderFaultNames(t *testing.T) {
	older, newer := goldenCopy(t), goldenCopy(t)
	renameFault(t, newer, "cpu-slow:follower,quota=5%", "cpu-slow:follower,period=1s,quota=5%")
	code, stdout, stderr := raftcmp(t, "compare", older, newer)
	if code != 0 || strings.Contains(stdout, "Only in") || strings.Contains(stdout, "No point is in both") ||
		!strings.Contains(stdout, "hashicorp cpu-slow:follower,quota=5% t=8") {
		t.Errorf("compare: exit %d, stderr %q; want every point in both:\n%s", code, stderr, stdout)
	}
}

// renameFault rewrites a fault name in a results directory's recorded
// files, as another build would have recorded it: in the point ids of
// results.csv and timeseries.csv, and in the names of the histogram logs
// (and results.csv's hdr_file column naming them).
func renameFault(t *testing.T, dir, from, to string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, reports.HdrDir, "*.hlog"))
	var renames []string // old, new relative names
	for _, old := range logs {
		rel, _ := filepath.Rel(dir, old)
		point, err := reports.HdrPoint(rel)
		if err != nil || !strings.Contains(point, from) {
			continue
		}
		renamed := reports.HdrFile(strings.Replace(point, from, to, 1))
		if err := os.Rename(old, filepath.Join(dir, renamed)); err != nil {
			t.Fatal(err)
		}
		renames = append(renames, rel, renamed)
	}
	if b, err := os.ReadFile(filepath.Join(dir, reports.ResultsFile)); err == nil {
		os.WriteFile(filepath.Join(dir, reports.ResultsFile), []byte(strings.NewReplacer(renames...).Replace(string(b))), 0o644)
	}
	for _, name := range []string{reports.ResultsFile, reports.TimeseriesFile} {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(from)) {
			t.Fatalf("%s does not name fault %s", path, from)
		}
		if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte(from), []byte(to)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A run recorded by an older build, whose point ids name a fault without
// its defaults, resumes without running those points again.
func TestResumeMatchesOlderFaultNames(t *testing.T) {
	dir := pluginDir(t)
	out := filepath.Join(t.TempDir(), "res")
	base := []string{"run", "--plugin-dir", dir, "--impl", "hashicorp", "--threads", "1", "--duration", "500ms", "--warmup", "100ms",
		"--interval", "250ms", "--storage", "memory", "--rate", "0"}
	if code, _, stderr := raftcmp(t, append(base, "--out", out)...); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	// Make its one point a kill:follower point, as an older build named it.
	renameFault(t, out, "hashicorp/none/", "hashicorp/kill:follower/")
	path := filepath.Join(out, reports.ResultsFile)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(b, []byte(",closed,none,"), []byte(",closed,kill:follower,"), 1), 0o644)

	code, _, stderr := raftcmp(t, "run", "--plugin-dir", dir, "--resume", out, "--fault", "kill:follower", "--fault", "none")
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	if got, want := recordedPoints(t, path), "hashicorp/kill:follower/t1/r1 hashicorp/none/t1/r1"; got != want {
		t.Errorf("points after resume: %s, want %s (the recorded kill point not run again)", got, want)
	}
}
