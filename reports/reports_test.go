package reports

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func sampleRow(impl string, threads int, status string) Row {
	r := Row{
		Point: impl + "/t" + string(rune('0'+threads)) + "/r1", Impl: impl, ImplModule: "example.com/" + impl, ImplVersion: "v1.2.3",
		Nodes: 3, Storage: "disk", DataFS: "ext4", Client: "embedded", Loop: "closed", Fault: "none",
		Threads: threads, RateOps: 40000, PayloadBytes: 2048, WarmupS: 2, DurationS: 20, Repeat: 1, Status: status,
		Started: time.Date(2026, 11, 25, 13, 0, 0, 123456789, time.UTC), WallS: 23.5,
	}
	if status == StatusOK {
		r.Ops, r.ThroughputOps, r.LatAvgUs = 40000, 2000, 3999.5
		r.LatP50Us, r.LatP90Us, r.LatP99Us, r.LatP999Us, r.LatMaxUs = 3900, 5100, 6400, 7100, 7900
		r.Acked, r.AppliedPayl, r.AppliedIndex, r.LeaderID, r.LeaderPID = 44000, 44000, 44003, 2, 4242
		r.Fault, r.FaultTargets, r.FaultEffect, r.Proxied = "cpu-slow:follower", "3", "n3_cpu_share=0.0502;window_s=20.000", true
	} else {
		r.Error = "start cluster: boom, with a comma"
	}
	return r
}

func TestResultsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{sampleRow("etcd", 2, StatusOK), sampleRow("hashicorp", 2, StatusFailed)}
	for _, r := range want {
		if err := w.Write(r, []Sample{{Point: r.Point, Impl: r.Impl, Threads: 2, Repeat: 1, TS: 0, Ops: 10, ThroughputOps: 10}}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	// Reopening appends without a second header.
	w, err = NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	third := sampleRow("dragonboat", 4, StatusUnsupported)
	if err := w.Write(third, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	want = append(want, third)

	got, err := ReadResults(filepath.Join(dir, ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestReadResultsErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ResultsFile)
	w, _ := NewWriter(dir)
	w.Write(sampleRow("etcd", 2, StatusOK), nil)
	w.Close()
	b, _ := os.ReadFile(path)
	bad := strings.Replace(string(b), ",2000.0,", ",fast,", 1)
	os.WriteFile(path, []byte(bad), 0o644)
	_, err := ReadResults(path)
	if err == nil || !strings.Contains(err.Error(), path+":2: column throughput_ops") {
		t.Fatalf("err = %v, want it to name %s:2 and the column", err, path)
	}
	os.WriteFile(path, []byte("point,impl\n"), 0o644)
	if _, err := ReadResults(path); err == nil || !strings.Contains(err.Error(), path+":1: header lacks column") {
		t.Fatalf("err = %v, want a header error naming line 1", err)
	}
}

func TestMarkdownDeterministicAndComplete(t *testing.T) {
	meta := &Meta{Command: []string{"raftcmp", "run"}, Started: time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)}
	rows := []Row{sampleRow("hashicorp", 2, StatusOK), sampleRow("etcd", 2, StatusOK), sampleRow("etcd", 4, StatusFailed)}
	for i := range rows {
		rows[i].Fault = "none"
	}
	a, b := Analyze(meta, rows, nil).Markdown(), Analyze(meta, rows, nil).Markdown()
	if string(a) != string(b) {
		t.Fatal("Markdown is not deterministic")
	}
	s := string(a)
	for _, want := range []string{
		"| threads | etcd | hashicorp |", // backends side by side, sorted
		"| 2 | 2.00 | 2.00 |",            // Kops/s, one repeat: no interval
		"| 4 | failed | – |",             // failed point shown as failed, missing as –
		"| 2 | 6400 | 6400 |",            // p99
		"`etcd/t4/r1` failed: start cluster: boom, with a comma",
		"## Throughput (Kops/s)",
		"example.com/etcd v1.2.3",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}

// Older results.csv files lack the columns added since the first schema;
// they still read, the new columns as zero.
func TestReadResultsWithoutNewerColumns(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ResultsFile)
	r := sampleRow("etcd", 2, StatusOK)
	rec := r.record()[:requiredColumns]
	content := strings.Join(Columns[:requiredColumns], ",") + "\n" + csvLine(rec)
	os.WriteFile(path, []byte(content), 0o644)
	rows, err := ReadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].ThroughputOps != r.ThroughputOps || rows[0].FaultEffect != r.FaultEffect {
		t.Errorf("read %+v", rows)
	}
}

func csvLine(rec []string) string {
	for i, f := range rec {
		if strings.ContainsAny(f, ",\"\n") {
			rec[i] = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
		}
	}
	return strings.Join(rec, ",") + "\n"
}

// Every input file's errors name the file and, for bad content, the line.
func TestLoadErrorsNameFileAndLine(t *testing.T) {
	good := copyInputs(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(good, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	results, series, meta := read(ResultsFile), read(TimeseriesFile), read(MetaFile)
	for _, tc := range []struct {
		name    string
		file    string // the file to break
		content string // "" removes it
		want    string // after the directory
	}{
		{"missing results", ResultsFile, "", "/" + ResultsFile + ": no such file"},
		{"missing timeseries", TimeseriesFile, "", "/" + TimeseriesFile + ": no such file"},
		{"missing meta", MetaFile, "", "/" + MetaFile + ": no such file"},
		{"results bad number", ResultsFile, strings.Replace(results, ",ok,,", ",ok,,x", 1), "/" + ResultsFile + ":2: column ops"},
		{"results short line", ResultsFile, results + "a,b,c\n", "/" + ResultsFile + ":83: wrong number of fields"},
		{"results bad quote", ResultsFile, results + "a,\"b\n", "/" + ResultsFile + ":83"},
		{"timeseries empty", TimeseriesFile, "\n", "/" + TimeseriesFile + ":1: empty file"},
		{"timeseries header", TimeseriesFile, "point,impl\n", "/" + TimeseriesFile + ":1: header lacks column \"threads\""},
		{"timeseries bad number", TimeseriesFile, breakField(series, 3, 2, "eight"), "/" + TimeseriesFile + ":3: column threads"},
		{"timeseries short line", TimeseriesFile, series + "x,y\n", "/" + TimeseriesFile + ":762: wrong number of fields"},
		{"meta syntax", MetaFile, strings.Replace(meta, `"kernel":`, `"kernel" 7`, 1), "/" + MetaFile + ":"},
		{"meta type", MetaFile, strings.Replace(meta, `"cpus": 8`, `"cpus": "eight"`, 1), "/" + MetaFile + ":"},
		{"meta truncated", MetaFile, meta[:40], "/" + MetaFile + ":"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range map[string]string{ResultsFile: results, TimeseriesFile: series, MetaFile: meta} {
				if name == tc.file {
					content = tc.content
					if content == "" {
						continue
					}
				}
				os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), dir+tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, dir+tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
		})
	}
	// The JSON errors give a line number.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, MetaFile), []byte("{\n  \"command\": [\"x\"],\n  \"host\": {\"cpus\": \"eight\"}\n}\n"), 0o644)
	if _, err := ReadMeta(dir); err == nil || !strings.Contains(err.Error(), MetaFile+":3: ") {
		t.Errorf("err = %v, want line 3", err)
	}
}

func TestFaultWindow(t *testing.T) {
	for _, tc := range []struct {
		fault     string
		ok, whole bool
		from, to  float64
	}{
		{"none", false, false, 0, 0},
		{"cpu-slow:follower,quota=5%", true, true, 0, 20},
		{"pause:follower,at=5s,for=10s", true, false, 5, 15},
		{"pause:follower,at=5s", true, false, 5, 20},
		{"pause:follower,for=30s", true, false, 0, 20},
		{"no-such-kind:leader", true, true, 0, 20},
	} {
		w, ok := FaultWindow(tc.fault, 20)
		if ok != tc.ok || w.Whole != tc.whole || w.From != tc.from || w.To != tc.to {
			t.Errorf("FaultWindow(%q) = %+v, %v; want from %v to %v whole=%v ok=%v", tc.fault, w, ok, tc.from, tc.to, tc.whole, tc.ok)
		}
	}
}

// The figures of the golden input, computed by hand from its rows.
func TestAnalysisFigures(t *testing.T) {
	a := Analyze(goldenInput())
	if !slices.Equal(a.Impls, []string{"dragonboat", "etcd", "hashicorp"}) || !slices.Equal(a.Threads, []int{2, 8, 16}) || a.Repeats != 3 {
		t.Fatalf("impls %v threads %v repeats %d", a.Impls, a.Threads, a.Repeats)
	}
	if a.Scenarios[0].Fault != "none" || len(a.Scenarios) != 3 {
		t.Fatalf("scenarios %v: want the baseline first", a.Scenarios)
	}
	base, pause, slow := a.Scenarios[0], a.Scenarios[1], a.Scenarios[2]
	// A point's cell is the mean of its ok rows.
	p := a.Point(base, "hashicorp", 16)
	var sum float64
	var n int
	for _, r := range a.Rows {
		if r.Impl == "hashicorp" && r.Fault == "none" && r.Threads == 16 && r.Status == StatusOK {
			sum += r.ThroughputOps
			n++
		}
	}
	if n != 2 || p.Throughput.N != 2 || math.Abs(p.Throughput.Mean-sum/2) > 1e-9 || len(p.Rows) != 3 {
		t.Errorf("hashicorp none t16: %+v, want the mean of its %d ok rows, %v", p.Throughput, n, sum/2)
	}
	// dragonboat has no data under cpu-slow at 16 threads: the common
	// thread count there is 8, and 16 elsewhere.
	if th, ok := a.CommonThreads(slow); !ok || th != 8 {
		t.Errorf("CommonThreads(cpu-slow) = %d, %v; want 8", th, ok)
	}
	if th, ok := a.CommonThreads(pause); !ok || th != 16 {
		t.Errorf("CommonThreads(pause) = %d, %v; want 16", th, ok)
	}
	if th, ok := a.ImpactThreads(slow); !ok || th != 8 {
		t.Errorf("ImpactThreads(cpu-slow) = %d, %v; want 8", th, ok)
	}
	// The impact is the ratio of the means.
	im, ok := a.ImpactAt(slow, "hashicorp", 8)
	b, h := a.Point(base, "hashicorp", 8), a.Point(slow, "hashicorp", 8)
	if !ok || math.Abs(im.ThroughputChange-(h.Throughput.Mean/b.Throughput.Mean-1)) > 1e-12 || !im.ThroughputTest.Significant() {
		t.Errorf("impact %+v", im)
	}
	if im.ThroughputChange > -0.25 || im.ThroughputChange < -0.35 || im.InWindow.N != 0 {
		t.Errorf("hashicorp cpu-slow t8 change %v, want about -30%% and no window figure", im.ThroughputChange)
	}
	// The pause halves hashicorp inside its window (45%), much less over
	// the whole window.
	im, _ = a.ImpactAt(pause, "hashicorp", 16)
	if im.InWindow.N != 3 || im.WindowChange > -0.40 || im.WindowChange < -0.50 || im.ThroughputChange < -0.25 {
		t.Errorf("pause in window %+v change %v, whole %v", im.InWindow, im.WindowChange, im.ThroughputChange)
	}
	// Ranking: dragonboat first, hashicorp last.
	r, ok := a.Rank(base)
	if !ok || r.Threads != 16 || r.ByThroughput[0].Impl != "dragonboat" || r.ByThroughput[2].Impl != "hashicorp" || !r.ThroughputTest.Significant() {
		t.Errorf("ranking %+v", r)
	}
	// etcd at 2 threads is the noisy one.
	if !a.Point(base, "etcd", 2).Noisy() || a.Point(base, "etcd", 8).Noisy() {
		t.Errorf("noisy flags wrong")
	}
}

func TestLaTeX(t *testing.T) {
	tex := string(Analyze(goldenInput()).LaTeX())
	for _, env := range []string{"table", "tabular"} {
		if b, e := strings.Count(tex, `\begin{`+env+`}`), strings.Count(tex, `\end{`+env+`}`); b != e || b == 0 {
			t.Errorf("%d \\begin{%s} and %d \\end{%s}", b, env, e, env)
		}
	}
	tables := strings.Count(tex, `\begin{tabular}`)
	for _, rule := range []string{`\toprule`, `\midrule`, `\bottomrule`} {
		if n := strings.Count(tex, rule); n != tables {
			t.Errorf("%d %s for %d tables", n, rule, tables)
		}
	}
	// 3 faults × 2 tables + the impact table.
	if tables != 7 {
		t.Errorf("%d tables, want 7", tables)
	}
	if !strings.Contains(tex, `\texttt{cpu-slow:follower,quota=5\%}`) || strings.Contains(strings.ReplaceAll(tex, `\%`, ""), "quota=5%}") {
		t.Errorf("%% not escaped in the fault name")
	}
	// Outside comment lines, every %, _, & (outside tabular column
	// separators), # and $ (outside math) is escaped.
	for i, line := range strings.Split(tex, "\n") {
		if strings.HasPrefix(line, "%") {
			continue
		}
		for j := 0; j < len(line); j++ {
			if (line[j] == '%' || line[j] == '_' || line[j] == '#') && (j == 0 || line[j-1] != '\\') {
				t.Errorf("line %d: unescaped %q: %s", i+1, line[j], line)
			}
		}
	}
	if got := texEscape(`a_b%c&d#e$f{g}h~i^j\k`); got != `a\_b\%c\&d\#e\$f\{g\}h\textasciitilde{}i\textasciicircum{}j\textbackslash{}k` {
		t.Errorf("texEscape = %s", got)
	}
	if !strings.Contains(tex, `$-$29.1\%`) {
		t.Errorf("negative changes should set a minus sign: %s", tex)
	}
}

func TestJSONSummary(t *testing.T) {
	a := Analyze(goldenInput())
	b, err := a.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var s SummaryJSON
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Schema != SummarySchema || len(s.Points) != len(a.Points) || s.Rows.Total != len(a.Rows) || s.Rows.Unsupported != 3 || s.Rows.Failed != 2 {
		t.Errorf("summary counts: %+v", s.Rows)
	}
	// A point without ok rows has null figures, not NaN.
	for _, p := range s.Points {
		if p.Impl == "dragonboat" && p.Threads == 16 && strings.HasPrefix(p.Fault, "cpu-slow") {
			if p.OKRepeats != 0 || p.ThroughputOps.Mean != nil || p.ThroughputOps.SD != nil {
				t.Errorf("unsupported point: %+v", p)
			}
		}
	}
	if len(s.Rankings) != 3 || s.Rankings[0].ByThroughput[0] != "dragonboat" {
		t.Errorf("rankings %+v", s.Rankings)
	}
	var head int
	for _, im := range s.Impacts {
		if im.Headline {
			head++
		}
	}
	if head != 6 {
		t.Errorf("%d headline impacts, want one per backend and fault (6)", head)
	}
}

// breakField sets field f (0-based) of line n (1-based) of a CSV text.
func breakField(text string, n, f int, v string) string {
	lines := strings.Split(text, "\n")
	fields := strings.Split(lines[n-1], ",")
	fields[f] = v
	lines[n-1] = strings.Join(fields, ",")
	return strings.Join(lines, "\n")
}

// A run whose every point failed, or that wrote no point, still reports.
func TestBuildWithoutFigures(t *testing.T) {
	dir := t.TempDir()
	w, err := NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	WriteMeta(dir, &Meta{Command: []string{"raftcmp", "run"}})
	if _, err := BuildFormats(dir, []Format{FormatMarkdown, FormatLaTeX, FormatJSON}); err != nil {
		t.Fatalf("empty results: %v", err)
	}
	w, _ = NewWriter(dir)
	w.Write(sampleRow("etcd", 2, StatusFailed), nil)
	w.Close()
	if _, err := BuildFormats(dir, []Format{FormatMarkdown, FormatLaTeX, FormatJSON}); err != nil {
		t.Fatalf("only a failed point: %v", err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, ReportFile))
	if !strings.Contains(string(md), "`etcd/t2/r1` failed: start cluster: boom") {
		t.Errorf("report lacks the failure:\n%s", md)
	}
	if es, _ := os.ReadDir(filepath.Join(dir, PlotsDir)); len(es) != 0 {
		t.Errorf("%d figures without data", len(es))
	}
}

// Rows of several configurations are kept apart, each fault compared
// with its own configuration's baseline.
func TestSeveralConfigurations(t *testing.T) {
	var rows []Row
	for _, storage := range []string{"disk", "memory"} {
		for _, fault := range []string{"none", "cpu-slow:follower"} {
			r := sampleRow("etcd", 2, StatusOK)
			r.Storage, r.Fault = storage, fault
			r.Point = "etcd/" + fault + "/t2/r1"
			if storage == "memory" {
				r.ThroughputOps *= 2
			}
			if fault != "none" {
				r.ThroughputOps /= 2
			}
			rows = append(rows, r)
		}
	}
	a := Analyze(nil, rows, nil)
	if len(a.Scenarios) != 4 || !a.Scenarios[0].IsBaseline() || !a.Scenarios[2].IsBaseline() {
		t.Fatalf("scenarios %+v", a.Scenarios)
	}
	if got := a.Label(a.Scenarios[3]); got != "cpu-slow:follower [3 nodes, memory, 2048 B, 40000 ops/s]" {
		t.Errorf("label %q", got)
	}
	for _, s := range []Scenario{a.Scenarios[1], a.Scenarios[3]} {
		im, ok := a.ImpactAt(s, "etcd", 2)
		if !ok || im.ThroughputChange != -0.5 {
			t.Errorf("%s: impact %v, %v; want -50%% against its own configuration", a.Label(s), im.ThroughputChange, ok)
		}
	}
	if a.Slug(a.Scenarios[1]) == a.Slug(a.Scenarios[3]) {
		t.Errorf("two scenarios share the slug %s", a.Slug(a.Scenarios[1]))
	}
}
