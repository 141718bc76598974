package faults

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// Fault is a fault bound to its target nodes in one running cluster.
// Inject applies it; Revert undoes everything Inject did and is safe to
// call more than once, after a failed Inject, or without Inject; Effect
// reports what the fault was measured to do, between Inject and Revert.
type Fault interface {
	Inject(ctx context.Context) error
	Revert(ctx context.Context) error
	Effect() Effect
}

// Effect is what a fault was observed to do: a few named figures, recorded
// in results.csv as "name=value;..." so a reader can check that the fault
// took effect rather than assume it.
type Effect map[string]string

// String renders the effect deterministically: name=value pairs in name
// order, separated by ';'.
func (e Effect) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e)) {
		parts = append(parts, k+"="+e[k])
	}
	return strings.Join(parts, ";")
}

// Targets resolves a fault's target role to members of a ready cluster.
// "follower" is the lowest-id follower, so every backend's run picks the
// same node id whenever the leaders agree, and the choice is recorded.
func Targets(t faultspec.Target, c *cluster.Cluster, leader *cluster.Member) ([]*cluster.Member, error) {
	var out []*cluster.Member
	switch t.Role {
	case faultspec.RoleLeader:
		out = append(out, leader)
	case faultspec.RoleFollower, faultspec.RoleFollowers:
		for _, m := range c.Live() {
			if m.ID != leader.ID {
				out = append(out, m)
				if t.Role == faultspec.RoleFollower {
					break
				}
			}
		}
	case faultspec.RoleNode:
		if m := c.Member(t.Node); m != nil {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("fault target %s: no such node in this cluster", t)
	}
	return out, nil
}

// IDs lists members' ids, "1,3", for the record.
func IDs(ms []*cluster.Member) string {
	var ids []string
	for _, m := range ms {
		ids = append(ids, strconv.FormatUint(m.ID, 10))
	}
	return strings.Join(ids, ",")
}

// New binds spec to its targets in cluster c, whose Env is env (it must
// have been built for a set of faults that includes spec, or the kind's
// cgroups or proxies are missing and New says so).
func New(spec faultspec.Spec, env *Env, c *cluster.Cluster, targets []*cluster.Member) (Fault, error) {
	kind := spec.Kind
	if spec.IsNone() {
		kind = faultspec.KindNone
	}
	m, ok := mechanisms[kind]
	if !ok {
		return nil, fmt.Errorf("fault kind %q is not implemented", spec.Kind)
	}
	b := Binding{Spec: spec, Env: env, Cluster: c, Targets: targets}
	if m.cgroups {
		for _, t := range targets {
			if env.Cgroup(t.ID) == nil {
				return nil, fmt.Errorf("%s needs node %d in a cgroup, but the cluster was started without cgroups", spec.Kind, t.ID)
			}
		}
	}
	if m.proxies && env.Mesh() == nil && env.netHosts == nil {
		return nil, fmt.Errorf("%s needs the cluster's links proxied, but it was started without proxies", spec.Kind)
	}
	return m.new(b)
}

// Binding is what a kind's constructor is given: the fault as stated, the
// nodes it targets, their cluster and the Env around it.
type Binding struct {
	Spec    faultspec.Spec
	Env     *Env
	Cluster *cluster.Cluster
	Targets []*cluster.Member
}

// mechanism is how one fault kind acts. Each kind's own file registers its
// mechanism from init; the kind's description (parameters, defaults,
// target) is in faultspec.Kinds.
type mechanism struct {
	// cgroups and proxies say what the kind needs its Env to set up: a
	// cgroup per node process, a proxy per directed link.
	cgroups, proxies bool
	// controllers are the cgroup controllers a cgroups kind needs on its
	// targets' machines (cgroup.Controller* names).
	controllers []string
	// membership says the kind changes the cluster's membership, which
	// needs a backend declaring adapter.Capabilities.Membership.
	membership bool
	// new binds the kind to its targets.
	new func(Binding) (Fault, error)
}

// mechanisms holds every registered kind's mechanism, by kind name.
var mechanisms = map[string]mechanism{}

// register makes kind's mechanism known. It panics if kind is not
// described in faultspec.Kinds or is registered twice: both are mistakes
// in the source, caught by the first test that runs.
func register(kind string, m mechanism) {
	if _, ok := faultspec.Kinds[kind]; !ok {
		panic("faults: register " + kind + ": not described in faultspec.Kinds")
	}
	if _, dup := mechanisms[kind]; dup {
		panic("faults: register " + kind + " twice")
	}
	mechanisms[kind] = m
}

// NeedsCgroups reports whether any of the faults acts through cgroups.
func NeedsCgroups(specs []faultspec.Spec) bool {
	return slices.ContainsFunc(specs, func(s faultspec.Spec) bool { return mechanisms[s.Kind].cgroups })
}

// NeedsMembership reports whether any of the faults changes the cluster's
// membership: every backend of the run must then declare
// adapter.Capabilities.Membership.
func NeedsMembership(specs []faultspec.Spec) bool {
	return slices.ContainsFunc(specs, func(s faultspec.Spec) bool { return mechanisms[s.Kind].membership })
}

// CheckCombination refuses faults that cannot share a run: a membership
// change with a network fault (every point of such a run is proxied, and
// the link proxies are laid out for the initial members only).
func CheckCombination(specs []faultspec.Spec) error {
	if NeedsMembership(specs) && NeedsProxies(specs) {
		return fmt.Errorf("--fault: reconfigure cannot be combined with network faults (net-*, partition): the link proxies are set up for the initial members only; run them in separate experiments")
	}
	return nil
}

// NeedsProxies reports whether any of the faults acts through link proxies.
func NeedsProxies(specs []faultspec.Spec) bool {
	return slices.ContainsFunc(specs, func(s faultspec.Spec) bool { return mechanisms[s.Kind].proxies })
}

func init() {
	register(faultspec.KindNone, mechanism{new: func(Binding) (Fault, error) { return noFault{}, nil }})
}

// noFault is the baseline: nothing to inject, revert or measure.
type noFault struct{}

func (noFault) Inject(context.Context) error { return nil }
func (noFault) Revert(context.Context) error { return nil }
func (noFault) Effect() Effect               { return nil }

// seconds formats a duration for an Effect.
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
