package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/reports"
)

var raftcmpBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "raftcmp-cli-test-")
	if err != nil {
		panic(err)
	}
	raftcmpBin = filepath.Join(dir, "raftcmp")
	// Built as make builds it, and with Go's VCS stamping off as on this
	// project's machines (TestBuildRecordsCommit).
	build := exec.Command("make", "-s", "-C", filepath.Join("..", ".."), "BIN="+dir, raftcmpBin)
	build.Env = append(os.Environ(), "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -buildvcs=false"))
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build raftcmp with make: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	adaptertest.RemoveBuilds()
	os.Exit(code)
}

// raftcmp runs the built binary and returns its exit status and output.
func raftcmp(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(raftcmpBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func pluginDir(t *testing.T) string {
	return filepath.Dir(adaptertest.BuildPlugin(t, "hashicorp", "github.com/raftcmp/raftcmp/plugins/hashicorp/plugin").Path)
}

// Bad input: one line naming the flag and what is allowed, status 2, no
// stack trace, nothing started (so no output directory is created).
func TestBadInput(t *testing.T) {
	dir := pluginDir(t)
	tests := []struct {
		name string
		args []string
		want string // substring of the single error line
	}{
		{"unknown impl", []string{"--impl", "zookeeper"}, `unknown implementation "zookeeper" (known: hashicorp`},
		{"malformed threads", []string{"--threads", "2:x"}, `--threads "2:x": want`},
		{"threads range backwards", []string{"--threads", "20:2:2"}, `--threads "20:2:2"`},
		{"negative rate", []string{"--rate", "-5"}, `--rate "-5": must be 0`},
		{"zero duration", []string{"--duration", "0s"}, `--duration "0s": must be positive`},
		{"zero payload", []string{"--payload", "0"}, `--payload "0": must be from 1 to 1048576`},
		{"payload above max", []string{"--payload", "2000000"}, `--payload "2000000": must be from 1 to 1048576`},
		{"unparsable nodes", []string{"--nodes", "three"}, `invalid value "three" for flag -nodes`},
		{"bad storage", []string{"--storage", "ssd"}, `--storage "ssd": must be one of disk, tmpfs, memory`},
		{"bad option syntax", []string{"--opt", "hashicorp"}, `--opt "hashicorp": want IMPL.KEY=VALUE`},
		{"stray argument", []string{"hashicorp"}, `run takes no arguments`},
		{"unknown flag", []string{"--thread", "2"}, `flag provided but not defined: -thread`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			args := append([]string{"run", "--plugin-dir", dir, "--impl", "hashicorp", "--out", out}, tc.args...)
			code, stdout, stderr := raftcmp(t, args...)
			if code != exitUsage {
				t.Errorf("exit status %d, want %d", code, exitUsage)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q: want one line containing %q", stderr, tc.want)
			}
			if strings.Contains(stderr+stdout, "goroutine") {
				t.Errorf("output has a stack trace: %s", stderr)
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("bad input created %s", out)
			}
		})
	}
}

// The whole command path, as a user runs it: a short sweep of a real
// hashicorp cluster writes the CSV row by row, the time series, meta.json
// and a report, and prints the table; list shows the plugin; report
// rebuilds the same report.
func TestRunEndToEnd(t *testing.T) {
	dir := pluginDir(t)
	out := filepath.Join(t.TempDir(), "res")
	code, stdout, stderr := raftcmp(t, "run", "--plugin-dir", dir, "--impl", "hashicorp", "--threads", "1,4",
		"--duration", "1s", "--warmup", "200ms", "--interval", "250ms", "--storage", "memory", "--rate", "0", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	rows, err := reports.ReadResults(filepath.Join(out, reports.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2", len(rows))
	}
	for _, r := range rows {
		if r.Status != reports.StatusOK || r.ThroughputOps <= 0 || r.Errors != 0 || r.ImplVersion == "" || r.LatP99Us <= 0 {
			t.Errorf("row %+v: want ok, throughput > 0, no errors, a version and latencies", r)
		}
		if r.AppliedPayl < r.Acked {
			t.Errorf("row %s: %d acknowledged but %d applied", r.Point, r.Acked, r.AppliedPayl)
		}
	}
	series, err := os.ReadFile(filepath.Join(out, reports.TimeseriesFile))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(series), "\n"); n != 1+2*4 {
		t.Errorf("timeseries.csv has %d lines, want a header and 4 intervals per point", n)
	}
	if !strings.Contains(stdout, "Kops/s") || !strings.Contains(stdout, "hashicorp") {
		t.Errorf("stdout lacks the results table:\n%s", stdout)
	}
	report, err := os.ReadFile(filepath.Join(out, reports.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "## Throughput (Kops/s)") || !strings.Contains(string(report), "github.com/hashicorp/raft") {
		t.Errorf("report.md lacks the tables:\n%s", report)
	}
	if code, _, stderr := raftcmp(t, "report", out); code != 0 {
		t.Fatalf("report: exit %d: %s", code, stderr)
	}
	again, _ := os.ReadFile(filepath.Join(out, reports.ReportFile))
	if !bytes.Equal(report, again) {
		t.Errorf("raftcmp report did not rebuild the same report.md")
	}
	// A second run into the same directory is refused, not mixed in.
	if code, _, stderr := raftcmp(t, "run", "--plugin-dir", dir, "--impl", "hashicorp", "--out", out); code != exitUsage || !strings.Contains(stderr, "--overwrite") {
		t.Errorf("rerun into %s: exit %d, %q; want refusal naming --overwrite", out, code, stderr)
	}
	code, stdout, _ = raftcmp(t, "list", "--plugin-dir", dir)
	if code != 0 || !strings.Contains(stdout, "github.com/hashicorp/raft") || !strings.Contains(stdout, "v1.") {
		t.Errorf("list: exit %d:\n%s", code, stdout)
	}
}

// --resume skips the points already recorded, runs the rest, and refuses
// an experiment whose rows would not be comparable.
func TestResume(t *testing.T) {
	dir := pluginDir(t)
	out := filepath.Join(t.TempDir(), "res")
	base := []string{"run", "--plugin-dir", dir, "--impl", "hashicorp", "--duration", "500ms", "--warmup", "100ms", "--interval", "250ms", "--storage", "memory", "--rate", "0"}
	if code, _, stderr := raftcmp(t, append(base, "--threads", "1,2", "--out", out)...); code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	// Lose the last row, as an interrupted run would have.
	path := filepath.Join(out, reports.ResultsFile)
	b, _ := os.ReadFile(path)
	lines := strings.SplitAfter(strings.TrimRight(string(b), "\n"), "\n")
	os.WriteFile(path, []byte(strings.Join(lines[:len(lines)-1], "")+"\n"), 0o644)

	code, _, stderr := raftcmp(t, "run", "--plugin-dir", dir, "--resume", out, "--threads", "1,2,3")
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "hashicorp/none/t1/r1:") {
		t.Errorf("resume ran the recorded point t1 again:\n%s", stderr)
	}
	if got, want := recordedPoints(t, path), "hashicorp/none/t1/r1 hashicorp/none/t2/r1 hashicorp/none/t3/r1"; got != want {
		t.Errorf("points after resume: %s, want %s", got, want)
	}
	code, _, stderr = raftcmp(t, "run", "--plugin-dir", dir, "--resume", out, "--payload", "100")
	if code != exitUsage || !strings.Contains(stderr, "incomparable") {
		t.Errorf("resume with another payload: exit %d, %q; want a refusal", code, stderr)
	}
}

// recordedPoints returns the point ids of a results.csv, in file order,
// separated by spaces.
func recordedPoints(t *testing.T, path string) string {
	t.Helper()
	rows, err := reports.ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.Point)
	}
	return strings.Join(ids, " ")
}

// A plugin binary that no longer matches the manifest beside it is refused,
// naming it and the mismatch; --insecure-plugin is the explicit way around.
func TestTamperedPluginRefused(t *testing.T) {
	src := adaptertest.BuildPlugin(t, "hashicorp", "github.com/raftcmp/raftcmp/plugins/hashicorp/plugin").Path
	dir := t.TempDir()
	dst := filepath.Join(dir, filepath.Base(src))
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := cluster.WriteManifest(dir); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(dst, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte("tampered"))
	f.Close()
	args := []string{"run", "--plugin-dir", dir, "--impl", "hashicorp", "--threads", "1", "--duration", "200ms", "--warmup", "0s", "--interval", "100ms",
		"--storage", "memory", "--out", filepath.Join(t.TempDir(), "out")}
	code, _, stderr := raftcmp(t, args...)
	if code != exitUsage || !strings.Contains(stderr, dst) || !strings.Contains(stderr, "does not match") {
		t.Fatalf("tampered plugin: exit %d, %q; want a refusal naming %s and the checksum mismatch", code, stderr, dst)
	}
	if code, _, stderr := raftcmp(t, append(args, "--insecure-plugin", dst)...); code != 0 {
		t.Fatalf("with --insecure-plugin: exit %d: %s", code, stderr)
	}
}
