package reports

import (
	"os"
	"path/filepath"
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
	a, b := Markdown(meta, rows), Markdown(meta, rows)
	if string(a) != string(b) {
		t.Fatal("Markdown is not deterministic")
	}
	s := string(a)
	for _, want := range []string{
		"| threads | etcd | hashicorp |", // backends side by side, sorted
		"| 2 | 2.00 | 2.00 |",            // Kops/s
		"| 4 | failed | – |",             // failed point shown as failed, missing as –
		"| 2 | 6400 | 6400 |",            // p99
		"`etcd/t4/r1` failed: start cluster: boom, with a comma",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
}
