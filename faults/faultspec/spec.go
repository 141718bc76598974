package faultspec

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role names which node(s) a fault targets; it is resolved to node ids only
// once the cluster is ready, so "leader" means the node that leads then.
type Role string

// Target roles.
const (
	RoleLeader    Role = "leader"    // the current leader
	RoleFollower  Role = "follower"  // one follower: the lowest-id follower
	RoleFollowers Role = "followers" // every follower
	RoleNode      Role = "node"      // a node by id (Target.Node)
)

// Target is the role a fault acts on.
type Target struct {
	Role Role
	Node uint64 // with RoleNode
}

func (t Target) String() string {
	if t.Role == RoleNode {
		return "node:" + strconv.FormatUint(t.Node, 10)
	}
	return string(t.Role)
}

// Spec is one fault as an experiment states it: what, on whom, with which
// parameters, and when inside the measured window.
type Spec struct {
	Kind   string
	Target Target
	// Params are the kind's parameters as given (unset ones take the
	// kind's defaults, see Kinds).
	Params map[string]string
	// At is when the fault starts, from the start of the measured window;
	// For is how long it lasts (0: to the end of the window).
	At, For time.Duration
}

// None is the no-fault baseline.
var None = Spec{Kind: KindNone}

// KindNone is the baseline's kind.
const KindNone = "none"

// IsNone reports whether s is the baseline.
func (s Spec) IsNone() bool { return s.Kind == KindNone || s.Kind == "" }

// String is the canonical form, as Parse reads it and results.csv records
// it: KIND:TARGET,param=value,... with parameters in name order.
func (s Spec) String() string {
	if s.IsNone() {
		return KindNone
	}
	var b strings.Builder
	b.WriteString(s.Kind + ":" + s.Target.String())
	for _, k := range slices.Sorted(maps.Keys(s.Params)) {
		b.WriteString("," + k + "=" + s.Params[k])
	}
	if s.At > 0 {
		b.WriteString(",at=" + s.At.String())
	}
	if s.For > 0 {
		b.WriteString(",for=" + s.For.String())
	}
	return b.String()
}

// Parse reads KIND[:TARGET][,param=value...], e.g.
// "cpu-slow:follower,quota=5%,period=1s" or "kill:leader,restart_after=2s,at=5s".
// It validates the kind, target and parameters.
func Parse(s string) (Spec, error) {
	bad := func(why string, args ...any) error {
		return fmt.Errorf("--fault %q: %s", s, fmt.Sprintf(why, args...))
	}
	parts := strings.Split(strings.TrimSpace(s), ",")
	head := parts[0]
	kind, target, hasTarget := strings.Cut(head, ":")
	k, ok := Kinds[kind]
	if !ok {
		return Spec{}, bad("unknown kind %q; kinds: %s", kind, strings.Join(KindNames(), ", "))
	}
	spec := Spec{Kind: kind, Params: map[string]string{}, Target: Target{Role: k.DefaultTarget}}
	if kind == KindNone {
		if hasTarget || len(parts) > 1 {
			return Spec{}, bad("none takes no target or parameters")
		}
		return None, nil
	}
	if hasTarget {
		t, err := parseTarget(target)
		if err != nil {
			return Spec{}, bad("%v", err)
		}
		spec.Target = t
	}
	for _, p := range parts[1:] {
		name, value, ok := strings.Cut(p, "=")
		if !ok || name == "" || value == "" {
			return Spec{}, bad("parameter %q: want NAME=VALUE", p)
		}
		switch name {
		case "at", "for":
			d, err := time.ParseDuration(value)
			if err != nil || d < 0 {
				return Spec{}, bad("%s=%s: want a duration such as 5s", name, value)
			}
			if name == "at" {
				spec.At = d
			} else {
				spec.For = d
			}
			continue
		}
		if _, dup := spec.Params[name]; dup {
			return Spec{}, bad("parameter %s given twice", name)
		}
		spec.Params[name] = value
	}
	if err := spec.Validate(); err != nil {
		return Spec{}, bad("%v", err)
	}
	return spec, nil
}

func parseTarget(s string) (Target, error) {
	switch Role(s) {
	case RoleLeader, RoleFollower, RoleFollowers:
		return Target{Role: Role(s)}, nil
	}
	if id, ok := strings.CutPrefix(s, "node:"); ok {
		if n, err := strconv.ParseUint(id, 10, 64); err == nil && n > 0 {
			return Target{Role: RoleNode, Node: n}, nil
		}
	}
	return Target{}, fmt.Errorf("target %q: want leader, follower, followers or node:ID", s)
}

// Validate checks the kind, the target's shape and every parameter.
func (s Spec) Validate() error {
	if s.IsNone() {
		return nil
	}
	k, ok := Kinds[s.Kind]
	if !ok {
		return fmt.Errorf("unknown kind %q; kinds: %s", s.Kind, strings.Join(KindNames(), ", "))
	}
	if k.SingleTarget && s.Target.Role == RoleFollowers {
		return fmt.Errorf("%s acts on one node; target leader, follower or node:ID", s.Kind)
	}
	for name, value := range s.Params {
		p, ok := k.param(name)
		if !ok {
			return fmt.Errorf("%s has no parameter %q; it takes %s", s.Kind, name, k.paramNames())
		}
		if err := p.check(value); err != nil {
			return fmt.Errorf("%s=%s: %v", name, value, err)
		}
	}
	return nil
}

// Param returns parameter name's value, or the kind's default.
func (s Spec) Param(name string) string {
	if v, ok := s.Params[name]; ok {
		return v
	}
	if p, ok := Kinds[s.Kind].param(name); ok {
		return p.Default
	}
	return ""
}
