package main

import (
	"testing"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// A membership fault is refused before the run for a backend that does not
// declare Membership, in one line with what to try.
func TestLimitsOfMembership(t *testing.T) {
	reconf := []faultspec.Spec{{Kind: "reconfigure", Target: faultspec.Target{Role: faultspec.RoleFollower}}}
	for _, tc := range []struct {
		name   string
		caps   adapter.Capabilities
		faults []faultspec.Spec
		want   string
	}{
		{"no membership", adapter.Capabilities{Storage: adapter.StorageModes}, reconf, "--impl x: supports no membership change (fault reconfigure); try --fault without reconfigure"},
		{"membership", adapter.Capabilities{Storage: adapter.StorageModes, Membership: true}, reconf, ""},
		{"no membership, no such fault", adapter.Capabilities{Storage: adapter.StorageModes}, []faultspec.Spec{faultspec.None}, ""},
	} {
		err := limitsOf("x", tc.caps, experiment.Spec{Nodes: 3, Storage: adapter.StorageDisk, Faults: tc.faults})
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
