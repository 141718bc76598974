package runner_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/adapter/adaptertest"
	"github.com/raftcmp/raftcmp/core/experiment"
	"github.com/raftcmp/raftcmp/reports"
)

// Every row says where its nodes ran: on this machine, pinned as --cpus
// says (auto: each node its own core if the machine has one per node plus
// one), or sharing the CPUs.
func TestRowsRecordPlacement(t *testing.T) {
	noop := adaptertest.BuildPlugin(t, "noop", "github.com/raftcmp/raftcmp/plugins/noop/plugin")
	auto := experiment.Default()
	auto.Nodes = 1
	autoCPUs, autoPlacement := "", reports.PlacementSharedCPUs
	if cpus := auto.NodeCPUs(); cpus != nil {
		autoCPUs, autoPlacement = fmt.Sprintf("1=%d", cpus[0]), reports.PlacementPinned
	}
	tests := []struct {
		name                string
		cpus                []int
		nodeCPUs, placement string
	}{
		{"auto", nil, autoCPUs, autoPlacement},
		{"none", []int{}, "", reports.PlacementSharedCPUs},
		{"cpu 0", []int{0}, "1=0", reports.PlacementPinned},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := experiment.Default()
			spec.Impls, spec.Nodes, spec.Storage, spec.CPUs = []string{"noop"}, 1, adapter.StorageMemory, tc.cpus
			spec.Threads, spec.Rate = []int{1}, 1000
			spec.Warmup, spec.Duration, spec.Interval = 0, time.Second, time.Second
			if err := spec.Validate(); err != nil {
				t.Fatal(err)
			}
			r := runOKPoint(t, spec, noop)
			if r.NodeHosts != reports.NodeHostsLocal || r.NodeCPUs != tc.nodeCPUs || r.Placement != tc.placement {
				t.Errorf("node_hosts %q, node_cpus %q, placement %q; want local, %q, %q", r.NodeHosts, r.NodeCPUs, r.Placement, tc.nodeCPUs, tc.placement)
			}
		})
	}
}
