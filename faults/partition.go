package faults

import (
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
	"github.com/raftcmp/raftcmp/faults/netrules"
)

// partition cuts each target off from every peer in both directions: on
// one machine its links stall until healed (netproxy.Mesh.Partition); on
// hosts, the target's host drops every packet of its Raft links, both
// ways (nftables), while its SSH connection goes on.
func init() {
	registerNetKind("partition", netAction{
		proxy: func(mesh *netproxy.Mesh, id uint64, _ faultspec.Spec) error { return mesh.Partition(id) },
		rules: func(r *netrules.Rules, _ faultspec.Spec) { r.Drop = 1 },
	})
}
