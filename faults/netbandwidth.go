package faults

import (
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
	"github.com/raftcmp/raftcmp/faults/netrules"
)

// net-bandwidth caps every link of each target, per direction: on one
// machine through the proxies (netproxy.Mesh.Bandwidth), on hosts by an
// htb class per link on the egress of the target's host and of each
// peer's towards it.
func init() {
	registerNetKind("net-bandwidth", netAction{
		proxy: func(mesh *netproxy.Mesh, id uint64, s faultspec.Spec) error {
			return mesh.Bandwidth(id, max(rateParam(s)/1000, 1)) // the mesh counts kilobytes of 1000 bytes
		},
		rules:   func(r *netrules.Rules, s faultspec.Spec) { r.Rate = uint64(rateParam(s)) },
		perLink: true,
	})
}

// rateParam is net-bandwidth's rate in bytes per second.
func rateParam(s faultspec.Spec) int64 {
	rate, _ := faultspec.ParseBytes(s.Param("rate"))
	return rate
}
