package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/reports"
)

// The end-of-run table has a nodes or rate column only when that is swept,
// and the reads' figures only when the run read.
func TestPrintTableColumns(t *testing.T) {
	ok := reports.Row{Impl: "etcd", Fault: "none", Nodes: 5, RateOps: 1500, Threads: 8, Repeat: 1, Status: reports.StatusOK,
		ThroughputOps: 1234, LatAvgUs: 99, LatP99Us: 400, ReadThroughputOps: 2000, ReadLatP99Us: 300, StaleReads: 0}
	failed := reports.Row{Impl: "hashicorp", Fault: "none", Nodes: 5, RateOps: 1500, Threads: 8, Repeat: 1, Status: reports.StatusUnsupported}
	for _, tc := range []struct {
		name string
		spec experiment.Spec
		head []string // the header's words
		ok   []string // the ok row's cells
	}{
		{"no sweep", experiment.Spec{Nodes: 5, Rate: 1500},
			[]string{"impl", "fault", "threads", "repeat", "Kops/s", "avg", "µs", "p99", "µs", "errors", "status"},
			[]string{"etcd", "none", "8", "1", "1.23", "99", "400", "0", "ok"}},
		{"nodes swept", experiment.Spec{NodeSweep: []int{3, 5}, Rate: 1500},
			[]string{"impl", "fault", "nodes", "threads", "repeat", "Kops/s", "avg", "µs", "p99", "µs", "errors", "status"},
			[]string{"etcd", "none", "5", "8", "1", "1.23", "99", "400", "0", "ok"}},
		{"rate swept, reading", experiment.Spec{Nodes: 5, RateSweep: []float64{500, 1500}, ReadRatio: 0.5},
			[]string{"impl", "fault", "rate", "ops/s", "threads", "repeat", "Kops/s", "avg", "µs", "p99", "µs", "errors", "read", "Kops/s", "read", "p99", "µs", "stale", "status"},
			[]string{"etcd", "none", "1500", "8", "1", "1.23", "99", "400", "0", "2.00", "300", "0", "ok"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			printTable(&b, tc.spec, []reports.Row{ok, failed})
			lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("%d lines, want 3:\n%s", len(lines), b.String())
			}
			if got := strings.Fields(lines[0]); strings.Join(got, " ") != strings.Join(tc.head, " ") {
				t.Errorf("header %q, want %q", got, tc.head)
			}
			if got := strings.Fields(lines[1]); strings.Join(got, " ") != strings.Join(tc.ok, " ") {
				t.Errorf("ok row %q, want %q", got, tc.ok)
			}
			if got, want := len(strings.Fields(lines[2])), len(tc.ok); got != want {
				t.Errorf("unsupported row %q has %d cells, want %d", lines[2], got, want)
			}
		})
	}
}
