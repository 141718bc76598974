package main

import (
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/reports"
)

func TestLimitsOf(t *testing.T) {
	memOnly := adapter.Capabilities{Storage: []adapter.Storage{adapter.StorageMemory}, MaxNodes: 1}
	durable := adapter.Capabilities{Storage: []adapter.Storage{adapter.StorageDisk, adapter.StorageTmpfs}}
	for _, tc := range []struct {
		name    string
		caps    adapter.Capabilities
		nodes   int
		storage adapter.Storage
		want    string // "" = runs
	}{
		{"fits", memOnly, 1, adapter.StorageMemory, ""},
		{"both limits", memOnly, 3, adapter.StorageDisk, "--impl x: supports storage memory only and 1 node; try --storage memory --nodes 1"},
		{"nodes only", memOnly, 2, adapter.StorageMemory, "--impl x: supports 1 node; try --nodes 1"},
		{"storage only", durable, 9, adapter.StorageMemory, "--impl x: supports storage disk or tmpfs only; try --storage disk"},
		{"several nodes", adapter.Capabilities{Storage: adapter.StorageModes, MaxNodes: 5}, 7, adapter.StorageDisk, "--impl x: supports at most 5 nodes; try --nodes 5"},
		{"no limit", adapter.Capabilities{Storage: adapter.StorageModes}, 9, adapter.StorageTmpfs, ""},
	} {
		err := limitsOf("x", tc.caps, experiment.Spec{Nodes: tc.nodes, Storage: tc.storage})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestNoneRanAndReasons(t *testing.T) {
	ok := reports.Row{Status: reports.StatusOK}
	unsup := reports.Row{Status: reports.StatusUnsupported, Error: "start cluster: storage disk: not supported"}
	failed := reports.Row{Status: reports.StatusFailed, Error: "safety: node 2 applied 3 payloads"}
	for _, tc := range []struct {
		name string
		rows []reports.Row
		want bool
	}{
		{"nothing attempted", nil, false},
		{"one ran", []reports.Row{unsup, ok, failed}, false},
		{"all unsupported", []reports.Row{unsup, unsup}, true},
		{"failed and unsupported", []reports.Row{failed, unsup, unsup}, true},
	} {
		if got := noneRan(tc.rows); got != tc.want {
			t.Errorf("%s: noneRan %v, want %v", tc.name, got, tc.want)
		}
	}
	got := reasons([]reports.Row{unsup, failed, ok, unsup, unsup})
	want := "  unsupported: start cluster: storage disk: not supported (3 points)\n  failed: safety: node 2 applied 3 payloads (1 point)"
	if got != want {
		t.Errorf("reasons:\n%s\nwant:\n%s", got, want)
	}
	if strings.Count(got, "\n") != 1 {
		t.Errorf("reasons: want one line per distinct reason")
	}
}
