package faults

import (
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
)

// partition cuts each target off from every peer: its links stall in both
// directions until healed (netproxy.Mesh.Partition).
func init() {
	registerNetKind("partition", func(mesh *netproxy.Mesh, id uint64, _ faultspec.Spec) error {
		return mesh.Partition(id)
	})
}
