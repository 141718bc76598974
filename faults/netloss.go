package faults

import (
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
	"github.com/raftcmp/raftcmp/faults/netrules"
)

// net-loss loses traffic on every link of each target. On one machine it
// is emulated as TCP shows it to the application: retransmission delays,
// never lost bytes (netproxy.Mesh.Loss); on hosts, packets are dropped at
// random at the fraction, each way, on the target's host (nftables).
func init() {
	registerNetKind("net-loss", netAction{
		proxy: func(mesh *netproxy.Mesh, id uint64, s faultspec.Spec) error {
			return mesh.Loss(id, lossParam(s))
		},
		rules: func(r *netrules.Rules, s faultspec.Spec) { r.Drop = lossParam(s) },
	})
}

// lossParam is net-loss's fraction.
func lossParam(s faultspec.Spec) float64 {
	loss, _ := faultspec.ParsePercent(s.Param("loss"))
	return loss
}
