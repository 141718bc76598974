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

// registerNetKind registers a kind that acts on every link of its targets
// in the cluster's proxy mesh (faults/netproxy): apply sets the kind's
// toxics on the links of node id; Revert heals them. Effect: the bytes each
// target sent and received through the proxies while the fault was in
// place.
func registerNetKind(kind string, apply func(mesh *netproxy.Mesh, id uint64, spec faultspec.Spec) error) {
	register(kind, mechanism{proxies: true, new: func(b Binding) (Fault, error) {
		return &netFault{spec: b.Spec, apply: apply, mesh: b.Env.Mesh(), targets: b.Targets, effect: Effect{}}, nil
	}})
}

// netFault is a network kind bound to its targets.
type netFault struct {
	spec    faultspec.Spec
	apply   func(mesh *netproxy.Mesh, id uint64, spec faultspec.Spec) error
	mesh    *netproxy.Mesh
	targets []*cluster.Member
	before  []netproxy.LinkStats
	start   time.Time
	applied bool
	effect  Effect
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
		if err := f.apply(f.mesh, m.ID, f.spec); err != nil {
			return fmt.Errorf("%s on node %d: %w", f.spec.Kind, m.ID, err)
		}
	}
	return nil
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
