package faults

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/cgroup"
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
)

// EnvConfig says what an Env is for.
type EnvConfig struct {
	// Faults are every fault the cluster may see: the Env sets up what any
	// of them needs, so that a baseline and a faulted point of one
	// experiment run alike but for the fault.
	Faults []faultspec.Spec
	// Cgroups makes the node cgroups on this machine; required if a fault
	// needs cgroups and Machines is nil.
	Cgroups *cgroup.Manager
	// Machines, if not nil, gives the machine each node runs on (the
	// launcher's: core/remote places nodes on hosts); every cgroup and hog
	// of a node's faults is made there. nil: every node runs on this
	// machine (Local(Cgroups)).
	Machines Machines
	// CgroupPrefix names the cluster's cgroups (CgroupPrefix-n<id>, and
	// CgroupPrefix-<suffix> for NewCgroup); it must start with
	// cgroup.Prefix. Default: cgroup.Prefix, the pid and a time stamp.
	// It also names the network rules on hosts (CgroupPrefix-net-HOST).
	CgroupPrefix string
	// NetHosts, when the nodes run on hosts, makes network faults rules on
	// the hosts (faults/netrules) instead of link proxies.
	NetHosts NetHosts
}

// Env is what one cluster's faults need around it: when any of its faults
// acts through cgroups, every node process in a cgroup of its own from the
// moment it starts (so a fault changes limits only, covering every
// thread); when any acts on the network, a proxy on every directed link
// between nodes (faults/netproxy). Build one per cluster, start the
// cluster with its Hooks, and bind faults with New; the cluster's Stop
// removes everything the Env made (Hooks.Teardown).
type Env struct {
	cgroups  bool // the faults need cgroups
	machines Machines
	prefix   string
	proxied  bool

	netHosts NetHosts // network faults act on the hosts (no proxies)
	netName  string   // names their rules

	mu     sync.Mutex
	groups map[uint64]Cgroup // node cgroups, by node id
	extras []Cgroup          // made by NewCgroup
	mesh   *netproxy.Mesh
}

// localMachines puts every node on one Machine.
type localMachines struct{ m Machine }

func (l localMachines) Machine(uint64) Machine { return l.m }

// NewEnv returns the Env for a cluster that may see cfg.Faults. It makes
// nothing yet: the cluster's hooks do, as its nodes start.
func NewEnv(cfg EnvConfig) (*Env, error) {
	e := &Env{proxied: NeedsProxies(cfg.Faults) && cfg.NetHosts == nil, groups: map[uint64]Cgroup{}, machines: cfg.Machines, netHosts: cfg.NetHosts}
	e.netName = cmp.Or(cfg.CgroupPrefix, fmt.Sprintf("%s%d-%d", cgroup.Prefix, os.Getpid(), time.Now().UnixNano()%1e9)) + "-net"
	if e.machines == nil {
		e.machines = localMachines{Local(cfg.Cgroups)}
	}
	if NeedsCgroups(cfg.Faults) {
		if cfg.Cgroups == nil && cfg.Machines == nil {
			return nil, errors.New("a fault needs cgroups, but there is no cgroup manager")
		}
		e.cgroups = true
		e.prefix = cfg.CgroupPrefix
		if e.prefix == "" {
			e.prefix = fmt.Sprintf("%s%d-%d", cgroup.Prefix, os.Getpid(), time.Now().UnixNano()%1e9)
		}
	}
	return e, nil
}

// Hooks are the cluster hooks that set the Env up and tear it down.
func (e *Env) Hooks() cluster.Hooks {
	h := cluster.Hooks{Teardown: e.teardown}
	if e.proxied {
		h.Prepare = e.startMesh
		h.PeerAddr = func(from, to uint64) string { return e.Mesh().PeerAddr(from, to) }
	}
	if e.cgroups {
		h.Started = e.placeInCgroup
	}
	return h
}

// startMesh puts a proxy on every directed link between nodes.
func (e *Env) startMesh(_ context.Context, nodes []adapter.Peer) error {
	var mn []netproxy.Node
	for _, n := range nodes {
		mn = append(mn, netproxy.Node{ID: n.ID, Addr: n.Addr})
	}
	m, err := netproxy.NewMesh(mn)
	if err != nil {
		return fmt.Errorf("start link proxies: %w", err)
	}
	e.mu.Lock()
	e.mesh = m
	e.mu.Unlock()
	return nil
}

// placeInCgroup puts node id's new process in the node's cgroup, made the
// first time (a restarted node gets its old one back), on the node's
// machine, where p.PID() is the process's pid. The cluster names the node
// in the error.
func (e *Env) placeInCgroup(ctx context.Context, id uint64, p cluster.Process) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	g := e.groups[id]
	if g == nil {
		var err error
		if g, err = e.machines.Machine(id).NewCgroup(ctx, fmt.Sprintf("%s-n%d", e.prefix, id)); err != nil {
			return fmt.Errorf("create its cgroup: %w", err)
		}
		e.groups[id] = g
	}
	if err := g.AddProcess(p.PID()); err != nil {
		return fmt.Errorf("put process %d in its cgroup: %w", p.PID(), err)
	}
	return nil
}

// teardown deletes every cgroup and closes the proxies, once the node
// processes are gone.
func (e *Env) teardown() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, g := range e.extras {
		if err := g.Delete(); err != nil {
			errs = append(errs, err)
		}
	}
	for id, g := range e.groups {
		if err := g.Delete(); err != nil {
			errs = append(errs, fmt.Errorf("delete cgroup of node %d: %w", id, err))
		}
	}
	e.extras, e.groups = nil, map[uint64]Cgroup{}
	if e.mesh != nil {
		if err := e.mesh.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close link proxies: %w", err))
		}
		e.mesh = nil
	}
	return errors.Join(errs...)
}

// Cgroup is node id's own cgroup, or nil if it has none.
func (e *Env) Cgroup(id uint64) Cgroup {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.groups[id]
}

// Machine is the machine node id runs on.
func (e *Env) Machine(id uint64) Machine { return e.machines.Machine(id) }

// NewCgroup creates an extra cgroup named after the cluster's (for a
// fault's competing process) on the machine of node id; it is deleted at
// teardown if not before.
func (e *Env) NewCgroup(ctx context.Context, id uint64, suffix string) (Cgroup, error) {
	if e == nil || !e.cgroups {
		return nil, errors.New("the cluster was started without cgroups")
	}
	g, err := e.Machine(id).NewCgroup(ctx, e.prefix+"-"+suffix)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.extras = append(e.extras, g)
	e.mu.Unlock()
	return g, nil
}

// Mesh is the link proxies, or nil if the cluster is not proxied.
func (e *Env) Mesh() *netproxy.Mesh {
	if e == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mesh
}

// SentBytes is how many bytes node id has sent to its peers through the
// proxies so far; ok is false if the cluster is not proxied.
func (e *Env) SentBytes(id uint64) (sent uint64, ok bool) {
	m := e.Mesh()
	if m == nil {
		return 0, false
	}
	st, err := m.Stats(id)
	if err != nil {
		return 0, false
	}
	return st.Sent, true
}
