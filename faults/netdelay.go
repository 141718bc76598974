package faults

import (
	"time"

	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
)

// net-delay adds delay to every link of each target, half each way, so a
// round trip with any peer grows by delay (netproxy.Mesh.Delay).
func init() {
	registerNetKind("net-delay", func(mesh *netproxy.Mesh, id uint64, s faultspec.Spec) error {
		delay, _ := time.ParseDuration(s.Param("delay"))
		jitter, _ := time.ParseDuration(s.Param("jitter"))
		return mesh.Delay(id, delay, jitter)
	})
}
