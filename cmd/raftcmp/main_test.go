package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/faults/faultspec"
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
		{"unknown impl", []string{"--impl", "zookeeper"}, `unknown implementation "zookeeper" (known: `},
		{"malformed threads", []string{"--threads", "2:x"}, `--threads "2:x": want`},
		{"threads range backwards", []string{"--threads", "20:2:2"}, `--threads "20:2:2"`},
		{"negative rate", []string{"--rate", "-5"}, `--rate "-5": must be 0`},
		{"zero duration", []string{"--duration", "0s"}, `--duration "0s": must be positive`},
		{"zero payload", []string{"--payload", "0"}, `--payload "0": must be from 1 to 1048576`},
		{"payload above max", []string{"--payload", "2000000"}, `--payload "2000000": must be from 1 to 1048576`},
		{"unparsable nodes", []string{"--nodes", "three"}, `--nodes "three": want a cluster size (3) or a list of sizes (3,5,7)`},
		{"bad storage", []string{"--storage", "ssd"}, `--storage "ssd": must be one of disk, tmpfs, memory`},
		{"bad option syntax", []string{"--opt", "hashicorp"}, `--opt "hashicorp": want IMPL.KEY=VALUE`},
		{"read mode the backend does not serve", []string{"--read-ratio", "0.5", "--read-mode", "lease"},
			`--read-mode "lease": hashicorp does not serve it: it declares linearizable, stale; try --read-mode linearizable`},
		{"stray argument", []string{"hashicorp"}, `run takes no arguments`},
		{"unknown flag", []string{"--thread", "2"}, `flag provided but not defined: -thread`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, tc.want, append([]string{"run", "--plugin-dir", dir, "--impl", "hashicorp"}, tc.args...)...)
		})
	}
}

// refused runs raftcmp with args and --out, and checks that it refused
// them as bad input: status 2, one line containing want, no stack trace,
// nothing started (so no output directory). It returns stderr.
func refused(t *testing.T, want string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	code, stdout, stderr := raftcmp(t, append(args, "--out", out)...)
	if code != exitUsage {
		t.Errorf("exit status %d, want %d", code, exitUsage)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Errorf("stderr %q: want one line containing %q", stderr, want)
	}
	if strings.Contains(stderr+stdout, "goroutine") {
		t.Errorf("output has a stack trace: %s", stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("bad input created %s", out)
	}
	return stderr
}

// The whole command path, as a user runs it: a short sweep of a real
// hashicorp cluster writes the CSV row by row, the time series, meta.json
// and a report, and prints the table; list shows the plugin; report
// rebuilds the same report.
func TestRunEndToEnd(t *testing.T) {
	dir := pluginDir(t)
	out := filepath.Join(t.TempDir(), "res")
	code, stdout, stderr := raftcmp(t, "run", "--plugin-dir", dir, "--impl", "hashicorp", "--threads", "1,4",
		"--duration", "1s", "--warmup", "200ms", "--interval", "250ms", "--storage", "memory", "--rate", "0", "--out", out,
		"--raft", "uniform")
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
		// Every knob of the profile is recorded: applied, or not honoured with why.
		for _, k := range adapter.Knobs {
			if !strings.Contains(r.RaftApplied, k+"=") && !strings.Contains(r.RaftUnhonoured, k+"=") {
				t.Errorf("row %s: knob %s neither applied (%q) nor not honoured (%q)", r.Point, k, r.RaftApplied, r.RaftUnhonoured)
			}
		}
		if r.RaftProfile != adapter.ProfileUniform {
			t.Errorf("row %s: raft_profile %q, want uniform", r.Point, r.RaftProfile)
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
	if !strings.Contains(string(report), "### Raft settings") || !strings.Contains(string(report), "| hashicorp | `uniform` |") {
		t.Errorf("report.md lacks the Raft settings:\n%s", report)
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

// list --settings asks each plugin what it would run, in text or as the
// Markdown tables of docs/backends.md, and accounts for every knob asked.
func TestListSettings(t *testing.T) {
	dir := pluginDir(t)
	code, stdout, stderr := raftcmp(t, "list", "--plugin-dir", dir, "--settings", "--raft", "uniform,election=2s")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "hashicorp (github.com/hashicorp/raft v1.") || !strings.Contains(stdout, "profile uniform,election=2s, storage disk") {
		t.Errorf("list --settings lacks its heading:\n%s", stdout)
	}
	for _, k := range adapter.Knobs {
		if !regexp.MustCompile(`(?m)^` + k + ` |^not honoured: ` + k + `=`).MatchString(stdout) {
			t.Errorf("knob %s is neither listed nor reported not honoured:\n%s", k, stdout)
		}
	}
	code, stdout, stderr = raftcmp(t, "list", "--plugin-dir", dir, "--settings", "--format", "markdown", "--storage", "memory")
	if code != 0 || !regexp.MustCompile(`\| knob \|.* hashicorp \|`).MatchString(stdout) || !strings.Contains(stdout, "profile `production`, storage `memory`") {
		t.Errorf("list --settings --format markdown: exit %d, %s\n%s", code, stderr, stdout)
	}
	for _, bad := range [][]string{{"--raft", "fast"}, {"--storage", "ssd"}, {"--format", "html"}} {
		code, _, stderr := raftcmp(t, append([]string{"list", "--plugin-dir", dir, "--settings"}, bad...)...)
		if code != exitUsage || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, bad[0]+" ") {
			t.Errorf("list --settings %v: exit %d, %q; want one line naming %s, exit %d", bad, code, stderr, bad[0], exitUsage)
		}
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

// Every experiment setting's flag, parsed by urfave/cli as run and plan
// declare it, lands in its Spec field and changes nothing else.
func TestExperimentFlagsRoundTrip(t *testing.T) {
	cpuSlow, err := faultspec.Parse("cpu-slow:follower,quota=5%")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		flag string
		args []string
		want func(*experiment.Spec)
	}{
		{"", nil, func(*experiment.Spec) {}},
		{"impl", []string{"--impl", "etcd,hashicorp"}, func(s *experiment.Spec) { s.Impls = []string{"etcd", "hashicorp"} }},
		{"nodes", []string{"--nodes", "5"}, func(s *experiment.Spec) { s.Nodes = 5 }},
		{"storage", []string{"--storage", "memory"}, func(s *experiment.Spec) { s.Storage = adapter.StorageMemory }},
		{"opt", []string{"--opt", "etcd.a=1", "--opt", "etcd.b=x,y"}, func(s *experiment.Spec) {
			s.Options = map[string]adapter.Options{"etcd": {"a": "1", "b": "x,y"}}
		}},
		{"raft", []string{"--raft", "uniform,election=2s"}, func(s *experiment.Spec) { s.Raft = "uniform,election=2s" }},
		{"snapshot-every", []string{"--snapshot-every", "1000"}, func(s *experiment.Spec) { s.SnapshotEvery = "1000" }},
		{"threads", []string{"--threads", "1,4"}, func(s *experiment.Spec) { s.Threads = []int{1, 4} }},
		{"rate", []string{"--rate", "1500.5"}, func(s *experiment.Spec) { s.Rate = 1500.5 }},
		{"client", []string{"--client", "external"}, func(s *experiment.Spec) { s.Client = "external" }},
		{"loop", []string{"--loop", "open"}, func(s *experiment.Spec) { s.Loop = "open" }},
		{"read-ratio", []string{"--read-ratio", "0.5"}, func(s *experiment.Spec) { s.ReadRatio = 0.5 }},
		{"read-mode", []string{"--read-mode", "stale"}, func(s *experiment.Spec) { s.ReadMode = "stale" }},
		{"read-from", []string{"--read-from", "any"}, func(s *experiment.Spec) { s.ReadFrom = "any" }},
		{"payload", []string{"--payload", "100"}, func(s *experiment.Spec) { s.PayloadBytes = 100 }},
		{"warmup", []string{"--warmup", "500ms"}, func(s *experiment.Spec) { s.Warmup = 500 * time.Millisecond }},
		{"duration", []string{"--duration", "7s"}, func(s *experiment.Spec) { s.Duration = 7 * time.Second }},
		{"interval", []string{"--interval", "250ms"}, func(s *experiment.Spec) { s.Interval = 250 * time.Millisecond }},
		{"op-timeout", []string{"--op-timeout", "3s"}, func(s *experiment.Spec) { s.OpTimeout = 3 * time.Second }},
		{"repeat", []string{"--repeat", "4"}, func(s *experiment.Spec) { s.Repeat = 4 }},
		{"gomaxprocs", []string{"--gomaxprocs", "go"}, func(s *experiment.Spec) { s.GOMAXPROCS = -1 }},
		{"cpus", []string{"--cpus", "0,0,0"}, func(s *experiment.Spec) { s.CPUs = []int{0, 0, 0} }},
		{"hosts", []string{"--hosts", "/lab/hosts.yaml"}, func(s *experiment.Spec) { s.Hosts = "/lab/hosts.yaml" }},
		{"fault", []string{"--fault", "none", "--fault", "cpu-slow:follower,quota=5%"}, func(s *experiment.Spec) {
			s.Faults = []faultspec.Spec{faultspec.None, cpuSlow}
		}},
	}
	var covered []string
	for _, tc := range tests {
		covered = append(covered, tc.flag)
		t.Run(tc.flag, func(t *testing.T) {
			var got experiment.Spec
			app := &cli.App{
				Name: "raftcmp", Flags: experimentFlags(), DisableSliceFlagSeparator: true,
				Action: func(c *cli.Context) error {
					got = experiment.Default()
					return experiment.ApplyFlags(&got, c)
				},
			}
			if err := app.Run(append([]string{"raftcmp"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			want := experiment.Default()
			tc.want(&want)
			// The JSON form (meta.json's) holds every setting.
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if !bytes.Equal(g, w) {
				t.Errorf("%v gave\n%s\nwant\n%s", tc.args, g, w)
			}
		})
	}
	for _, st := range experiment.Settings() {
		if !slices.Contains(covered, st.Flag) {
			t.Errorf("--%s has no round-trip case", st.Flag)
		}
	}
}

// A bad value in an experiment file is reported with the file, line and
// key, not as a flag the user never typed; nothing starts.
func TestBadExperimentFile(t *testing.T) {
	dir := pluginDir(t)
	tests := []struct {
		name, yaml string
		want       string // after FILE:
	}{
		{"nodes", "# too many\nnodes: 20\n", `2: nodes "20": must be from 1 to 9`},
		{"storage", "storage: ssd\n", `1: storage "ssd": must be one of disk, tmpfs, memory`},
		{"loop", "nodes: 3\nloop: spiral\n", `2: loop "spiral": must be closed or open`},
		{"client", "client: remote\n", `1: client "remote": must be embedded or external`},
		{"payload", "payload: 2000000\n", `1: payload "2000000": must be from 1 to 1048576 bytes`},
		{"repeat", "threads: [1]\nrepeat: 0\n", `2: repeat "0": must be from 1 to 1000`},
		{"interval", "duration: 500ms\n", `1: duration "500ms": must be at least interval (1s)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "x.yaml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			stderr := refused(t, file+":"+tc.want, "run", "--plugin-dir", dir, "--impl", "hashicorp", "-f", file)
			if strings.Contains(stderr, "--"+tc.name) {
				t.Errorf("stderr %q names a flag the user did not give", stderr)
			}
		})
	}
}

// plan takes the same flags as run: -f, then flags override the file.
func TestPlanFileThenFlags(t *testing.T) {
	dir := pluginDir(t)
	file := filepath.Join(t.TempDir(), "x.yaml")
	if err := os.WriteFile(file, []byte("threads: [1, 2]\nrepeat: 2\nduration: 5s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := raftcmp(t, "plan", "--plugin-dir", dir, "--impl", "hashicorp", "-f", file, "--threads", "4")
	if code != 0 {
		t.Fatalf("plan: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"hashicorp/none/t4/r1", "hashicorp/none/t4/r2", "2 points", "window 5s"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("plan output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Contains(stdout, "/t1/") {
		t.Errorf("--threads did not override the file's threads:\n%s", stdout)
	}
}
