package reports

import (
	"slices"
	"strings"
	"testing"
)

// The report shows each backend's applied knobs and what it could not
// honour, once per backend and profile; rows from before --raft show none.
func TestRaftSettingsSection(t *testing.T) {
	etcd, hc := sampleRow("etcd", 2, StatusOK), sampleRow("hashicorp", 2, StatusOK)
	etcd2 := sampleRow("etcd", 4, StatusOK)
	for _, r := range []*Row{&etcd, &etcd2, &hc} {
		r.RaftProfile = "uniform"
		r.RaftApplied = "election=1s,heartbeat=100ms,prevote=on"
	}
	hc.RaftUnhonoured = "inflight=128: fixed pipeline depth"
	md := string(Analyze(nil, []Row{etcd, etcd2, hc}, nil).Markdown())
	for _, want := range []string{
		"### Raft settings",
		"| etcd | `uniform` | election=1s, heartbeat=100ms, prevote=on | — |",
		"| hashicorp | `uniform` | election=1s, heartbeat=100ms, prevote=on | inflight=128: fixed pipeline depth |",
	} {
		if strings.Count(md, want) != 1 {
			t.Errorf("report has %d of %q, want 1:\n%s", strings.Count(md, want), want, md)
		}
	}
	old := sampleRow("etcd", 2, StatusOK)
	if md := string(Analyze(nil, []Row{old}, nil).Markdown()); strings.Contains(md, "Raft settings") {
		t.Error("rows without raft columns got a Raft settings section")
	}
}

// compare says when the two runs ran different Raft profiles, so that a
// difference is not read as the library's alone.
func TestCompareNotesRaftProfiles(t *testing.T) {
	a, b := sampleRow("etcd", 2, StatusOK), sampleRow("etcd", 2, StatusOK)
	b.RaftProfile, b.RaftApplied = "uniform", "election=1s"
	c := Compare([]Row{a}, []Row{b})
	want := "Raft profiles (--raft) differ: A production, B uniform"
	if !slices.Contains(c.Notes, want) {
		t.Errorf("notes %q lack %q", c.Notes, want)
	}
}
