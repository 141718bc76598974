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

// A read mode no backend of the experiment serves is refused, naming the
// setting, each backend and what it declares; one that some serve runs,
// with a warning naming the others.
func TestReadModeWarning(t *testing.T) {
	lin, lease, stale := adapter.ReadLinearizable, adapter.ReadLease, adapter.ReadStale
	declared := map[string][]adapter.ReadMode{
		"etcd": {lin, lease, stale}, "hashicorp": {lin, stale}, "dragonboat": {lin, stale}, "old": nil,
	}
	for _, tc := range []struct {
		name          string
		impls         []string
		ratio         float64
		mode          string
		warning, fail string
	}{
		{"served by all", []string{"etcd", "hashicorp"}, 0.5, "linearizable", "", ""},
		{"write-only", []string{"hashicorp"}, 0, "lease", "", ""},
		{"one backend, not served", []string{"hashicorp"}, 0.5, "lease", "",
			`--read-mode "lease": hashicorp does not serve it: it declares linearizable, stale; try --read-mode linearizable`},
		{"a plugin without reads", []string{"old"}, 0.5, "stale", "", `--read-mode "stale": old does not serve it: it declares no read mode`},
		{"no backend serves it", []string{"hashicorp", "dragonboat"}, 0.5, "lease", "",
			`--read-mode "lease": no backend of the experiment serves it: hashicorp (linearizable, stale), dragonboat (linearizable, stale) declare only those`},
		{"some serve it", []string{"etcd", "hashicorp", "dragonboat"}, 0.5, "lease",
			"warning: read mode lease is not served by hashicorp (linearizable, stale), dragonboat (linearizable, stale): their points will be recorded unsupported (never emulated); the others run", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := experiment.Spec{Impls: tc.impls, ReadRatio: tc.ratio, ReadMode: tc.mode}
			warning, err := readModeWarning(s, declared)
			fail := ""
			if err != nil {
				fail = err.Error()
			}
			if warning != tc.warning || fail != tc.fail {
				t.Errorf("warning %q, error %q; want %q, %q", warning, fail, tc.warning, tc.fail)
			}
		})
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
