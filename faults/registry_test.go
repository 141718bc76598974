package faults

import (
	"context"
	"strings"
	"testing"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/faultspec"
)

// Every kind faultspec describes has a mechanism here, and every mechanism
// a description there.
func TestEveryKindHasAMechanism(t *testing.T) {
	for name := range faultspec.Kinds {
		if _, ok := mechanisms[name]; !ok {
			t.Errorf("kind %s is described in faultspec.Kinds but no file of package faults registers it", name)
		}
	}
	for name := range mechanisms {
		if _, ok := faultspec.Kinds[name]; !ok {
			t.Errorf("kind %s is registered but not described in faultspec.Kinds", name)
		}
	}
}

// What each kind needs set up.
func TestNeeds(t *testing.T) {
	tests := []struct {
		kinds            []string
		cgroups, proxies bool
	}{
		{[]string{"none"}, false, false},
		{[]string{"none", "cpu-slow"}, true, false},
		{[]string{"cpu-contention"}, true, false},
		{[]string{"memory"}, true, false},
		{[]string{"disk-slow"}, true, false},
		{[]string{"pause"}, true, false},
		{[]string{"disk-contention"}, false, false},
		{[]string{"kill"}, false, false},
		{[]string{"net-delay"}, false, true},
		{[]string{"net-loss"}, false, true},
		{[]string{"net-bandwidth"}, false, true},
		{[]string{"partition", "pause"}, true, true},
	}
	for _, tc := range tests {
		var specs []faultspec.Spec
		for _, k := range tc.kinds {
			specs = append(specs, faultspec.Spec{Kind: k})
		}
		if c, p := NeedsCgroups(specs), NeedsProxies(specs); c != tc.cgroups || p != tc.proxies {
			t.Errorf("%v: cgroups %v, proxies %v; want %v, %v", tc.kinds, c, p, tc.cgroups, tc.proxies)
		}
	}
}

// A fault bound in an Env made without what it needs is refused, naming
// what is missing; an Env for a cgroup fault needs a cgroup manager.
func TestEnvRefusesWhatItLacks(t *testing.T) {
	env, err := NewEnv(EnvConfig{Faults: []faultspec.Spec{faultspec.None}})
	if err != nil {
		t.Fatal(err)
	}
	targets := []*cluster.Member{{ID: 2}}
	for kind, want := range map[string]string{
		"cpu-slow":  "cpu-slow needs node 2 in a cgroup",
		"partition": "partition needs the cluster's links proxied",
	} {
		if _, err := New(faultspec.Spec{Kind: kind}, env, nil, targets); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(%s) = %v, want an error containing %q", kind, err, want)
		}
	}
	if _, err := NewEnv(EnvConfig{Faults: []faultspec.Spec{{Kind: "pause"}}}); err == nil {
		t.Error("an Env for pause without a cgroup manager was accepted")
	}
}

// A proxied Env puts a proxy on every link once the cluster prepares its
// nodes, routes each node's peers through them, and closes them at
// teardown.
func TestEnvProxies(t *testing.T) {
	env, err := NewEnv(EnvConfig{Faults: []faultspec.Spec{{Kind: "net-delay"}}})
	if err != nil {
		t.Fatal(err)
	}
	h := env.Hooks()
	if h.Started != nil {
		t.Error("an Env without cgroup faults hooks process starts")
	}
	addrs, err := cluster.FreeAddrs(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Prepare(context.Background(), []adapter.Peer{{ID: 1, Addr: addrs[0]}, {ID: 2, Addr: addrs[1]}}); err != nil {
		t.Fatal(err)
	}
	if a := h.PeerAddr(1, 2); a == "" || a == addrs[1] {
		t.Errorf("node 1 dials node 2 at %q, want its proxy, not %s", a, addrs[1])
	}
	if _, ok := env.SentBytes(1); !ok {
		t.Error("no byte count through the proxies")
	}
	if err := h.Teardown(); err != nil {
		t.Fatal(err)
	}
	if env.Mesh() != nil {
		t.Error("the proxies outlived teardown")
	}
}
