package adaptertest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
)

func TestMain(m *testing.M) { Main(m) }

// The kit must fail a broken adapter, naming what is wrong, and pass the
// rest of the checks that the fault does not touch.
func TestKitCatchesBrokenAdapters(t *testing.T) {
	plugin := BuildPlugin(t, "broken", "github.com/raftcmp/raftcmp/core/adapter/adaptertest/testdata/brokenplugin")
	tests := []struct {
		mode      string
		only      []string // checks to run; nil = all
		wantFail  string   // the check that must fail
		wantInErr string
	}{
		{"lossy", []string{"replicated-in-order"}, "replicated-in-order", "safety"},
		{"wrong-hint", nil, "follower-propose", "names node"},
		{"bad-join", []string{"membership"}, "membership", "adding node 4"},
		{"no-installs", []string{"snapshot-catch-up"}, "snapshot-catch-up", "reports 0 snapshot installs"},
		{"silent-knobs", []string{"settings-accounted"}, "settings-accounted", "uniform: election=1s is neither applied"},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			results, err := RunAll(context.Background(), Config{
				Plugin: plugin, Options: adapter.Options{"broken": tc.mode}, Only: tc.only, ConvergeTimeout: 5 * time.Second,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range results {
				if r.Check.Name == tc.wantFail {
					if r.Passed() || !strings.Contains(r.Err.Error(), tc.wantInErr) {
						t.Errorf("check %s: err %v, want a failure mentioning %q", r.Check.Name, r.Err, tc.wantInErr)
					}
					continue
				}
				if tc.mode == "wrong-hint" && !r.Passed() {
					t.Errorf("check %s failed on a fault it does not cover: %v", r.Check.Name, r.Err)
				}
			}
		})
	}
}

// A plugin must keep the limits it declares: one that says one node but
// forms a cluster of two fails describes-itself.
func TestKitCatchesUnkeptLimit(t *testing.T) {
	t.Setenv("BROKENPLUGIN_MAX_NODES", "1")
	plugin := BuildPlugin(t, "broken", "github.com/raftcmp/raftcmp/core/adapter/adaptertest/testdata/brokenplugin")
	results, err := RunAll(context.Background(), Config{Plugin: plugin, Only: []string{"describes-itself", "leader-elected"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		switch r.Check.Name {
		case "describes-itself":
			if r.Passed() || !strings.Contains(r.Err.Error(), "at most 1 nodes, but a cluster of 2 started") {
				t.Errorf("describes-itself: err %v, want the unkept limit named", r.Err)
			}
		case "leader-elected":
			// Three nodes are more than it declares: not its to pass.
			if !errors.Is(r.Err, ErrSkipped) {
				t.Errorf("leader-elected: err %v, want skipped", r.Err)
			}
		}
	}
}
