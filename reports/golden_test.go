package reports

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var (
	update     = flag.Bool("update", false, "rewrite the expected reports in testdata/golden/want from the current code")
	regenInput = flag.Bool("regen-input", false, "rewrite the input files in testdata/golden from goldenInput (then run with -update)")
)

const goldenDir = "testdata/golden"

// goldenInput is the synthetic experiment behind the golden files: three
// backends, three thread counts, three repeats, the baseline, a pause with
// a window inside the measured window and a whole-window cpu-slow, with a
// failed repeat, a failed point and an unsupported point. Its noise is a
// fixed pseudo-random sequence, so it is the same on every run.
func goldenInput() (*Meta, []Row, []Sample) {
	seed := uint64(42)
	noise := func(amp float64) float64 { // uniform in [-amp, amp]
		seed = seed*6364136223846793005 + 1442695040888963407
		return amp * (float64(seed>>11)/float64(1<<53)*2 - 1)
	}
	type impl struct {
		name, module, version string
		base, p99Base         float64 // ops/s per √thread, µs
		pauseHit, slowHit     float64 // throughput lost inside the fault
	}
	impls := []impl{
		{"dragonboat", "github.com/lni/dragonboat/v4", "v4.0.0-20250723143628-076c7f6497dc", 21000, 420, 0.05, 0.03},
		{"etcd", "go.etcd.io/raft/v3", "v3.7.0", 15000, 520, 0.10, 0.05},
		{"hashicorp", "github.com/hashicorp/raft", "v1.8.0", 12000, 610, 0.45, 0.30},
	}
	fs := []struct {
		spec, targets string
		from, to      float64
	}{
		{"none", "", 0, 0},
		{"pause:follower,at=1s,for=2s", "2", 1, 3},
		{"cpu-slow:follower,quota=5%", "3", 0, 5},
	}
	const duration, interval = 5.0, 0.5
	start := time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)
	var rows []Row
	var series []Sample
	i := 0
	for rep := 1; rep <= 3; rep++ {
		for _, f := range fs {
			for _, t := range []int{2, 8, 16} {
				for _, im := range impls {
					i++
					r := Row{
						Point: fmt.Sprintf("%s/%s/t%d/r%d", im.name, f.spec, t, rep), Impl: im.name, ImplModule: im.module, ImplVersion: im.version,
						Nodes: 3, Storage: "disk", DataFS: "ext4", Client: "embedded", Loop: "closed", Fault: f.spec,
						Threads: t, RateOps: 0, PayloadBytes: 2048, WarmupS: 1, DurationS: duration, Repeat: rep, Status: StatusOK,
						Started: start.Add(time.Duration(i) * 9 * time.Second), WallS: 8.25, GOMAXPROCS: 1, FaultTargets: f.targets,
					}
					switch {
					case im.name == "dragonboat" && f.spec != "none" && strings.HasPrefix(f.spec, "cpu-slow") && t == 16:
						r.Status, r.Error = StatusUnsupported, "cpu-slow: cgroup v2 cpu controller not delegated"
					case im.name == "dragonboat" && strings.HasPrefix(f.spec, "cpu-slow") && t == 8 && rep == 2:
						r.Status, r.Error = StatusFailed, "start cluster: node 2: context deadline exceeded"
					case im.name == "hashicorp" && f.spec == "none" && t == 16 && rep == 3:
						r.Status, r.Error = StatusFailed, "load on leader node 1 (pid 4242): plugin process exited: signal: killed"
					}
					if r.Status != StatusOK {
						r.FaultTargets = ""
						rows = append(rows, r)
						continue
					}
					spread := 0.03
					if im.name == "etcd" && t == 2 {
						spread = 0.25 // a noisy point
					}
					level := im.base * math.Sqrt(float64(t)) * (1 + noise(spread))
					hit := 0.0
					switch {
					case strings.HasPrefix(f.spec, "pause"):
						hit = im.pauseHit
					case strings.HasPrefix(f.spec, "cpu-slow"):
						hit = im.slowHit
					}
					var ops uint64
					for ts := 0.0; ts < duration-1e-9; ts += interval {
						v := level * (1 + noise(0.02))
						if f.spec != "none" && ts >= f.from && ts < f.to {
							v *= 1 - hit
						}
						n := uint64(v * interval)
						ops += n
						series = append(series, Sample{Point: r.Point, Impl: im.name, Threads: t, Repeat: rep, TS: ts, Ops: n,
							ThroughputOps: float64(n) / interval, P50Us: int64(im.p99Base * 0.4), P99Us: int64(im.p99Base * (1 + hit))})
					}
					r.Ops, r.Acked, r.AppliedPayl, r.AppliedIndex = ops, ops+uint64(t), ops+uint64(t), ops+uint64(t)+3
					r.ThroughputOps = math.Round(float64(ops)/duration*10) / 10
					p99 := (im.p99Base + 40*float64(t)) * (1 + 3*hit*(f.to-f.from)/duration) * (1 + noise(0.04))
					r.LatAvgUs = math.Round(p99*4.5) / 10
					r.LatP50Us, r.LatP90Us, r.LatP99Us = int64(p99*0.4), int64(p99*0.7), int64(p99)
					r.LatP999Us, r.LatMaxUs = int64(p99*1.8), int64(p99*4+noise(300))
					r.LeaderID, r.LeaderPID = 1, 4000+i
					switch {
					case strings.HasPrefix(f.spec, "pause"):
						r.FaultEffect = fmt.Sprintf("n2_frozen_s=%.3f", 2+noise(0.002))
					case strings.HasPrefix(f.spec, "cpu-slow"):
						r.FaultEffect = fmt.Sprintf("n3_cpu_share=%.4f;window_s=5.000", 0.05+noise(0.001))
					}
					if im.name == "hashicorp" && strings.HasPrefix(f.spec, "pause") && t == 2 && rep == 1 {
						r.Errors, r.ErrTimeout = 3, 3
					}
					rows = append(rows, r)
				}
			}
		}
	}
	meta := &Meta{
		Command:    []string{"raftcmp", "run", "--impl", "dragonboat,etcd,hashicorp", "--threads", "2,8,16", "--duration", "5s", "--warmup", "1s", "--interval", "500ms", "--repeat", "3", "--rate", "0", "--fault", "none", "--fault", "pause:follower,at=1s,for=2s", "--fault", "cpu-slow:follower,quota=5%", "--out", "results/golden"},
		Experiment: map[string]any{"nodes": 3, "threads": []int{2, 8, 16}},
		Raftcmp:    BuildInfo{Version: "v0.3.0", Commit: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.8"},
		Plugins: []PluginMeta{
			{Name: "dragonboat", Path: "bin/raftcmp-plugin-dragonboat", Module: impls[0].module, Version: impls[0].version, GoVersion: "go1.26.8", Storage: []string{"disk", "tmpfs", "memory"}},
			{Name: "etcd", Path: "bin/raftcmp-plugin-etcd", Module: impls[1].module, Version: impls[1].version, GoVersion: "go1.26.8", ForwardsProposals: true, Storage: []string{"disk", "tmpfs", "memory"}},
			{Name: "hashicorp", Path: "bin/raftcmp-plugin-hashicorp", Module: impls[2].module, Version: impls[2].version, GoVersion: "go1.26.8", Storage: []string{"disk", "tmpfs", "memory"}},
		},
		Host:     Host{Kernel: "Linux 6.8.0", CPUModel: "AMD EPYC 7B13", CPUs: 8, MemoryBytes: 32 << 30, CgroupMode: "v2"},
		DataRoot: "/var/tmp", DataFS: "ext4",
		Started: start, Ended: start.Add(time.Duration(i+1) * 9 * time.Second),
	}
	return meta, rows, series
}

func writeGoldenInput(t *testing.T, dir string) {
	t.Helper()
	meta, rows, series := goldenInput()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ResultsFile, TimeseriesFile} {
		os.Remove(filepath.Join(dir, name))
	}
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		var mine []Sample
		for _, s := range series {
			if s.Point == r.Point {
				mine = append(mine, s)
			}
		}
		if err := w.Write(r, mine); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := WriteMeta(dir, meta); err != nil {
		t.Fatal(err)
	}
}

// copyInputs copies the golden input files into a fresh directory.
func copyInputs(t *testing.T) string {
	t.Helper()
	if *regenInput {
		writeGoldenInput(t, goldenDir)
	}
	dir := t.TempDir()
	for _, name := range []string{ResultsFile, TimeseriesFile, MetaFile} {
		b, err := os.ReadFile(filepath.Join(goldenDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The reports built from the fixed input files are the expected ones,
// byte for byte. After an intended change: go test ./reports -run Golden
// -update, and read the diff.
func TestGoldenReports(t *testing.T) {
	dir := copyInputs(t)
	written, err := BuildFormats(dir, []Format{FormatMarkdown, FormatLaTeX, FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 3 {
		t.Fatalf("wrote %v, want report.md, report.tex and summary.json", written)
	}
	for _, name := range []string{ReportFile, LaTeXFile, SummaryFile} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(goldenDir, "want", name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(want, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		exp, err := os.ReadFile(want)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, exp) {
			t.Errorf("%s differs from %s (run with -update after checking the change):\n%s", name, want, firstDiff(string(exp), string(got)))
		}
	}
	// Every figure report.md embeds or links exists.
	report, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	for _, f := range Analyze(goldenInput()).figures() {
		for _, ext := range []string{".svg", ".png"} {
			if _, err := os.Stat(filepath.Join(dir, PlotsDir, f.name+ext)); err != nil {
				t.Errorf("figure %s: %v", f.name, err)
			}
		}
		if !strings.Contains(string(report), PlotsDir+"/"+f.name+".svg") {
			t.Errorf("report.md does not refer to %s.svg", f.name)
		}
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant %q\n got %q", i+1, w, g)
		}
	}
	return "(no line differs)"
}

// Two builds of the same files give byte-identical reports and figures.
func TestBuildDeterministic(t *testing.T) {
	a, b := copyInputs(t), copyInputs(t)
	all := []Format{FormatMarkdown, FormatLaTeX, FormatJSON}
	if _, err := BuildFormats(a, all); err != nil {
		t.Fatal(err)
	}
	if _, err := BuildFormats(b, all); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, name := range []string{ReportFile, LaTeXFile, SummaryFile} {
		files = append(files, name)
	}
	plots, err := os.ReadDir(filepath.Join(a, PlotsDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(plots) < 10 {
		t.Fatalf("only %d files in plots/", len(plots))
	}
	for _, e := range plots {
		files = append(files, filepath.Join(PlotsDir, e.Name()))
	}
	for _, name := range files {
		x, errA := os.ReadFile(filepath.Join(a, name))
		y, errB := os.ReadFile(filepath.Join(b, name))
		if errA != nil || errB != nil {
			t.Fatalf("%s: %v %v", name, errA, errB)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two builds of the same input", name)
		}
	}
	// Rebuilding in place keeps the same figures and drops stale ones.
	stale := filepath.Join(a, PlotsDir, "old-figure.svg")
	os.WriteFile(stale, []byte("<svg/>"), 0o644)
	if err := Build(a); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale figure %s kept", stale)
	}
}
