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

// New binds spec to its targets in cluster c. The cluster must have been
// started with what the kind needs (cgroups, proxies); New fails, naming
// what is missing, otherwise.
func New(spec faultspec.Spec, c *cluster.Cluster, targets []*cluster.Member) (Fault, error) {
	switch spec.Kind {
	case faultspec.KindNone:
		return noFault{}, nil
	case "kill":
		return newKill(spec, c, targets)
	case "cpu-slow", "cpu-contention", "memory", "disk-slow", "pause":
		return newCgroupFault(spec, c, targets)
	case "disk-contention":
		return newDiskContention(spec, targets)
	case "net-delay", "net-loss", "net-bandwidth", "partition":
		return newNetFault(spec, c, targets)
	}
	return nil, fmt.Errorf("fault kind %q is not implemented", spec.Kind)
}

type noFault struct{}

func (noFault) Inject(context.Context) error { return nil }
func (noFault) Revert(context.Context) error { return nil }
func (noFault) Effect() Effect               { return nil }

// seconds formats a duration for an Effect.
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
