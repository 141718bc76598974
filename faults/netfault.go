package faults

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
)

// netFault applies toxics to every link of its targets in the cluster's
// proxy mesh (faults/netproxy): net-delay, net-loss, net-bandwidth and
// partition. Effect: the bytes each target sent and received through the
// proxies while the fault was in place.
type netFault struct {
	spec    faultspec.Spec
	mesh    *netproxy.Mesh
	targets []*cluster.Member
	before  []netproxy.LinkStats
	start   time.Time
	applied bool
	effect  Effect
}

func newNetFault(spec faultspec.Spec, c *cluster.Cluster, targets []*cluster.Member) (Fault, error) {
	if c.Mesh() == nil {
		return nil, fmt.Errorf("%s needs the cluster's links proxied, but it was started without proxies", spec.Kind)
	}
	return &netFault{spec: spec, mesh: c.Mesh(), targets: targets, effect: Effect{}}, nil
}

func (f *netFault) Inject(ctx context.Context) error {
	f.start = time.Now()
	f.applied = true
	for _, m := range f.targets {
		st, err := f.mesh.Stats(m.ID)
		if err != nil {
			return err
		}
		f.before = append(f.before, st)
		if err := f.apply(m.ID); err != nil {
			return fmt.Errorf("%s on node %d: %w", f.spec.Kind, m.ID, err)
		}
	}
	return nil
}

func (f *netFault) apply(id uint64) error {
	s := f.spec
	switch s.Kind {
	case "net-delay":
		delay, _ := time.ParseDuration(s.Param("delay"))
		jitter, _ := time.ParseDuration(s.Param("jitter"))
		return f.mesh.Delay(id, delay, jitter)
	case "net-loss":
		loss, _ := faultspec.ParsePercent(s.Param("loss"))
		return f.mesh.Loss(id, loss)
	case "net-bandwidth":
		rate, _ := faultspec.ParseBytes(s.Param("rate"))
		return f.mesh.Bandwidth(id, max(rate/1000, 1)) // the mesh counts kilobytes of 1000 bytes
	case "partition":
		return f.mesh.Partition(id)
	}
	return errors.New("not a network fault")
}

func (f *netFault) Revert(ctx context.Context) error {
	if !f.applied {
		return nil
	}
	f.applied = false
	f.effect["window_s"] = seconds(time.Since(f.start))
	var errs []error
	for i, m := range f.targets {
		if i < len(f.before) {
			if st, err := f.mesh.Stats(m.ID); err == nil {
				f.effect[fmt.Sprintf("n%d_sent_bytes", m.ID)] = strconv.FormatUint(st.Sent-f.before[i].Sent, 10)
				f.effect[fmt.Sprintf("n%d_recv_bytes", m.ID)] = strconv.FormatUint(st.Received-f.before[i].Received, 10)
			}
		}
		if err := f.mesh.Heal(m.ID); err != nil {
			errs = append(errs, fmt.Errorf("heal node %d: %w", m.ID, err))
		}
	}
	return errors.Join(errs...)
}

func (f *netFault) Effect() Effect { return f.effect }
