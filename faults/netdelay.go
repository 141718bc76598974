package faults

import (
	"time"

	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
	"github.com/raftcmp/raftcmp/faults/netrules"
)

// net-delay adds delay to every link of each target, half each way, so a
// round trip with any peer grows by delay: on one machine through the
// proxies (netproxy.Mesh.Delay), on hosts by netem on the egress of the
// target's host and of each peer's towards it (needs netem).
func init() {
	registerNetKind("net-delay", netAction{
		proxy: func(mesh *netproxy.Mesh, id uint64, s faultspec.Spec) error {
			delay, jitter := delayParams(s)
			return mesh.Delay(id, delay, jitter)
		},
		rules: func(r *netrules.Rules, s faultspec.Spec) {
			delay, jitter := delayParams(s)
			r.Delay, r.Jitter = delay/2, jitter/2
		},
		perLink: true,
	})
}

// delayParams are net-delay's delay and jitter.
func delayParams(s faultspec.Spec) (delay, jitter time.Duration) {
	delay, _ = time.ParseDuration(s.Param("delay"))
	jitter, _ = time.ParseDuration(s.Param("jitter"))
	return delay, jitter
}
