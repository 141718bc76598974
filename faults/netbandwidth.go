package faults

import (
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
)

// net-bandwidth caps every link of each target, per direction
// (netproxy.Mesh.Bandwidth).
func init() {
	registerNetKind("net-bandwidth", func(mesh *netproxy.Mesh, id uint64, s faultspec.Spec) error {
		rate, _ := faultspec.ParseBytes(s.Param("rate"))
		return mesh.Bandwidth(id, max(rate/1000, 1)) // the mesh counts kilobytes of 1000 bytes
	})
}
