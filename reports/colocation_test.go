package reports

import (
	"fmt"
	"strings"
	"testing"
)

// colocatedRun is etcd's baseline and a cpu-slow follower at 4 threads,
// 3 repeats each, on a 2-CPU machine: the fault raises throughput by 20%,
// as it did on the development machine when the nodes shared its CPUs.
// place sets each row's placement, nodeCPU its node_cpu_s in the baseline.
func colocatedRun(place func(*Row), nodeCPU string) (*Meta, []Row) {
	meta := &Meta{Host: Host{Kernel: "Linux", CPUModel: "x", CPUs: 2}}
	var rows []Row
	for _, fault := range []string{"none", "cpu-slow:follower,quota=5%"} {
		for rep := 1; rep <= 3; rep++ {
			r := sampleRow("etcd", 4, StatusOK)
			r.Point = fmt.Sprintf("etcd/%s/t4/r%d", fault, rep)
			r.Fault, r.Repeat, r.DurationS, r.FaultEffect = fault, rep, 10, ""
			r.ThroughputOps = 1550 + float64(rep)
			r.NodeCPUS = nodeCPU
			if fault != "none" {
				r.ThroughputOps = 1930 + float64(rep)
				r.NodeCPUS = "1=9.100;2=9.000;3=0.500"
			}
			place(&r)
			rows = append(rows, r)
		}
	}
	return meta, rows
}

// Nodes sharing a CPU-bound machine: the report says so next to the fault
// impact and in the headline, instead of "no fault lowered throughput";
// pinned nodes, an idle machine or older rows without placement keep the
// plain report.
func TestReportNotesContention(t *testing.T) {
	local := func(cpus []int) func(*Row) { return func(r *Row) { r.SetPlacement(nil, cpus) } }
	busy, idle := "1=7.100;2=6.000;3=5.900", "1=2.000;2=1.500;3=1.400" // 1.9 and 0.49 of 2 CPUs
	tests := []struct {
		name      string
		place     func(*Row)
		nodeCPU   string
		noted     bool
		placement string // the setup's Placement row; "" for none
	}{
		{"shared and CPU-bound", local(nil), busy, true, "one machine, the nodes sharing its CPUs"},
		{"pinned two to a CPU, CPU-bound", local([]int{0, 1, 1}), busy, true, "one machine, the nodes sharing its CPUs (pinned 1=0;2=1;3=1)"},
		{"shared, not CPU-bound", local(nil), idle, false, "one machine, the nodes sharing its CPUs"},
		{"pinned", local([]int{1, 2, 3}), busy, false, "one machine, each node pinned to a CPU of its own (1=1;2=2;3=3)"},
		{"separate hosts", func(r *Row) {
			r.SetPlacement([]NodeHost{{Node: 1, Host: "a"}, {Node: 2, Host: "b"}, {Node: 3, Host: "c"}}, nil)
		}, busy, false, "each node on a host of its own (1=a;2=b;3=c)"},
		{"hosts that are one machine, CPU-bound", func(r *Row) {
			r.SetPlacement([]NodeHost{{Node: 1, Host: "a", Machine: "k"}, {Node: 2, Host: "b", Machine: "k"}, {Node: 3, Host: "c", Machine: "k"}}, nil)
		}, busy, true, "on hosts that are one machine (1=a;2=b;3=c; one kernel: namespaces or containers), the nodes sharing its CPUs and disk"},
		{"older rows: placement not recorded", func(*Row) {}, busy, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			meta, rows := colocatedRun(tc.place, tc.nodeCPU)
			report := string(Analyze(meta, rows, nil).Markdown())
			impact := section(report, "## Fault impact")
			headline := section(report, "## Headline")
			hasMark := strings.Contains(impact, "| +24.5% ‡ |") || strings.Contains(impact, "~ ‡ |")
			hasNote := strings.Contains(impact, "‡ The nodes shared this machine's CPUs, and the baseline kept them busy (up to 1.90 of 2 CPUs)")
			hasRise := strings.Contains(headline, "- Throughput rose under a fault where the nodes shared this machine's CPUs and the baseline kept them busy: etcd under `cpu-slow:follower,quota=5%` (+24.5%).")
			plain := strings.Contains(headline, "- No fault lowered any backend's mean throughput.\n")
			if hasMark != tc.noted || hasNote != tc.noted || hasRise != tc.noted || plain == tc.noted {
				t.Errorf("mark %v, note %v, headline rise %v, plain headline %v; want the note: %v\n%s%s", hasMark, hasNote, hasRise, plain, tc.noted, headline, impact)
			}
			setup := section(report, "## Setup")
			if got := strings.Contains(setup, "| Placement |"); got != (tc.placement != "") || tc.placement != "" && !strings.Contains(setup, "| Placement | "+tc.placement+" |") {
				t.Errorf("setup:\n%s\nwant placement %q", setup, tc.placement)
			}
		})
	}
}

// section is the part of a Markdown report from heading to the next
// heading of its level.
func section(report, heading string) string {
	_, s, ok := strings.Cut(report, heading+"\n")
	if !ok {
		return ""
	}
	if i := strings.Index(s, "\n## "); i >= 0 {
		s = s[:i]
	}
	return s
}
