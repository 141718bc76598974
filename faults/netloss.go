package faults

import (
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
)

// net-loss emulates loss on every link of each target as TCP shows it to
// the application: retransmission delays, never lost bytes
// (netproxy.Mesh.Loss).
func init() {
	registerNetKind("net-loss", func(mesh *netproxy.Mesh, id uint64, s faultspec.Spec) error {
		loss, _ := faultspec.ParsePercent(s.Param("loss"))
		return mesh.Loss(id, loss)
	})
}
