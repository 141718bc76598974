package faultspec

import (
	"fmt"
	"maps"
	"math/big"
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
	// Params are the kind's parameters by name. Parse fills in every one
	// (unset ones at the kind's defaults, see Canonical); a Spec built
	// otherwise may leave some out, and Param then gives the default.
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

// String is the canonical form, as Parse reads it and results.csv,
// reports, compare and resume record and match it:
// KIND:TARGET,param=value,...[,at=D][,for=D] with every parameter of the
// kind (unset ones at their defaults) in name order and each value in its
// canonical spelling (see Canonical), then at and for when set. One fault
// has one name, however it was written: "cpu-slow" and
// "cpu-slow:follower,quota=0.05,period=1000ms" are both
// "cpu-slow:follower,period=1s,quota=5%".
func (s Spec) String() string {
	if s.IsNone() {
		return KindNone
	}
	c := s.Canonical()
	var b strings.Builder
	b.WriteString(c.Kind + ":" + c.Target.String())
	for _, k := range slices.Sorted(maps.Keys(c.Params)) {
		b.WriteString("," + k + "=" + c.Params[k])
	}
	if c.At > 0 {
		b.WriteString(",at=" + c.At.String())
	}
	if c.For > 0 {
		b.WriteString(",for=" + c.For.String())
	}
	return b.String()
}

// Canonical returns s with every parameter of its kind present (an unset
// one at the kind's default) and every value spelled one way: durations as
// time.Duration prints them (1s, 10ms), sizes in the largest binary unit
// that divides them (64MiB, 4KiB, 512), percentages and fractions as an
// exact percentage (5%, 0.5%), integers and booleans as strconv prints
// them. Parameters the kind does not have, and values that do not parse,
// are kept as given for Validate to report. Parse returns canonical specs,
// so Parse(s.String()) equals s.Canonical().
func (s Spec) Canonical() Spec {
	if s.IsNone() {
		return None
	}
	k := Kinds[s.Kind]
	params := make(map[string]string, len(k.Params)+len(s.Params))
	maps.Copy(params, s.Params)
	for _, p := range k.Params {
		params[p.Name] = canonicalValue(p.Type, s.Param(p.Name))
	}
	s.Params = params
	return s
}

// CanonicalName returns the canonical form of a recorded fault name (see
// Spec.String), so that names written by older raftcmp builds, which left
// defaults out, match today's. A name that does not parse (a kind this
// build does not know) is returned unchanged.
func CanonicalName(name string) string {
	s, err := Parse(name)
	if err != nil {
		return name
	}
	return s.String()
}

// canonicalValue spells v, a value of a parameter of type typ, the one way
// Canonical documents; a value that does not parse is returned as given.
func canonicalValue(typ, v string) string {
	switch typ {
	case "duration":
		if d, err := time.ParseDuration(v); err == nil {
			return d.String()
		}
	case "bytes":
		if n, err := ParseBytes(v); err == nil {
			return formatBytes(n)
		}
	case "int":
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return strconv.FormatInt(n, 10)
		}
	case "bool":
		if b, err := strconv.ParseBool(v); err == nil {
			return strconv.FormatBool(b)
		}
	case "percent", "fraction":
		if p, ok := exactPercent(v); ok {
			return p
		}
	}
	return v
}

// formatBytes writes n in the largest binary unit that divides it, in the
// spelling ParseBytes reads and the kinds' defaults use (64MiB, 4KiB).
func formatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// exactPercent writes a percentage ("5%") or a fraction ("0.05") as a
// percentage with the fewest decimals that keep it exact ("5%"). The
// arithmetic is on exact rationals (math/big), not floats, so 0.07 is 7%,
// not 7.000000000000001%, and the result reads back as the same value.
func exactPercent(v string) (string, bool) {
	num, pct := strings.CutSuffix(v, "%")
	r, ok := new(big.Rat).SetString(num)
	if !ok || strings.Contains(num, "/") {
		return "", false
	}
	if !pct {
		r.Mul(r, big.NewRat(100, 1))
	}
	// A decimal input has a finite decimal expansion; 20 places cover
	// any fraction a person writes.
	for prec := 0; prec <= 20; prec++ {
		s := r.FloatString(prec)
		if back, ok := new(big.Rat).SetString(s); ok && back.Cmp(r) == 0 {
			return s + "%", true
		}
	}
	return "", false
}

// Parse reads KIND[:TARGET][,param=value...], e.g.
// "cpu-slow:follower,quota=5%,period=1s" or "kill:leader,restart_after=2s,at=5s".
// It validates the kind, target and parameters, and returns the spec in
// canonical form (see Canonical): every parameter of the kind present.
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
	return spec.Canonical(), nil
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
	if k.FollowerOnly && s.Target.Role != RoleFollower && s.Target.Role != RoleNode {
		return fmt.Errorf("%s acts on one follower; target follower or node:ID (removing the leader is not offered: the libraries hand leadership over differently on removal, e.g. etcd raft keeps a removed leader leading unless StepDownOnRemoval is set)", s.Kind)
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
