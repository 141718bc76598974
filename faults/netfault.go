package faults

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/raftcmp/raftcmp/core/cluster"
	"github.com/raftcmp/raftcmp/faults/faultspec"
	"github.com/raftcmp/raftcmp/faults/netproxy"
	"github.com/raftcmp/raftcmp/faults/netrules"
)

// NetHosts runs network rules (faults/netrules) on the hosts the nodes run
// on; core/remote's Launcher implements it. With one in EnvConfig, the
// network kinds act on the real path between hosts instead of through
// link proxies.
type NetHosts interface {
	// NodeHost names the host node id runs on.
	NodeHost(id uint64) string
	// ApplyNetRules puts r in place in host's network namespace.
	ApplyNetRules(ctx context.Context, host string, r netrules.Rules) error
	// RevertNetRules removes what ApplyNetRules(host, r) added.
	RevertNetRules(ctx context.Context, host string, r netrules.Rules) error
	// NetCounters reads r's counters on host.
	NetCounters(ctx context.Context, host string, r netrules.Rules) (netrules.Counters, error)
}

// netAction is what a network kind does to each link, in both of its
// mechanisms: on the proxy mesh (one machine) and as rules on the hosts.
type netAction struct {
	// proxy sets the kind's toxics on the links of node id.
	proxy func(mesh *netproxy.Mesh, id uint64, spec faultspec.Spec) error
	// rules fills in what the kind does in r (Drop, Rate, Delay, Jitter).
	rules func(r *netrules.Rules, spec faultspec.Spec)
	// perLink says the rules act on egress only, so the reverse direction
	// of each link needs them on the peer's host too (rate, delay).
	perLink bool
}

// netKinds are the registered network kinds' actions, by kind.
var netKinds = map[string]netAction{}

// registerNetKind registers a network kind. On one machine it acts on every
// link of its targets in the cluster's proxy mesh (faults/netproxy): apply
// sets the kind's toxics on the links of node id; Revert heals them;
// Effect: the bytes each target sent and received through the proxies
// while the fault was in place. When the Env has NetHosts, it acts on the
// hosts instead (hostNetFault).
func registerNetKind(kind string, a netAction) {
	netKinds[kind] = a
	register(kind, mechanism{proxies: true, new: func(b Binding) (Fault, error) {
		if hs := b.Env.netHosts; hs != nil {
			return newHostNetFault(b, hs, a)
		}
		return &netFault{spec: b.Spec, apply: a.proxy, mesh: b.Env.Mesh(), targets: b.Targets, effect: Effect{}}, nil
	}})
}

// NetNeeds says what the network faults among specs need of a host: drops
// (nftables), a rate limit (htb) or a delay (netem).
func NetNeeds(specs []faultspec.Spec) (drop, rate, delay bool) {
	for _, s := range specs {
		a, ok := netKinds[s.Kind]
		if !ok {
			continue
		}
		var r netrules.Rules
		a.rules(&r, s)
		drop = drop || r.Drop > 0
		rate = rate || r.Rate > 0
		delay = delay || r.Delay > 0
	}
	return drop, rate, delay
}

// IsNetKind reports whether kind is a network kind.
func IsNetKind(kind string) bool { _, ok := netKinds[kind]; return ok }

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

// hostNetFault is a network kind acting on the hosts: one netrules.Rules
// per host, holding the links of that host's nodes the fault touches (the
// target's links to every peer; for an egress-only kind, also each peer's
// link back to the target). Effect: per target, the bytes it sent and
// received on those links while the fault was in place (passed, not
// dropped), the packets dropped, and for rate or delay the bytes through
// the shaping class and its overlimits, all from the rules' own counters.
type hostNetFault struct {
	spec    faultspec.Spec
	hosts   NetHosts
	targets []*cluster.Member
	addrs   map[uint64]netip.AddrPort
	rules   map[string]netrules.Rules // by host
	order   []string                  // hosts, in the order applied
	applied []string                  // hosts where Apply succeeded
	start   time.Time
	effect  Effect
}

// opTimeout bounds one rules operation on a host.
const netOpTimeout = 30 * time.Second

func newHostNetFault(b Binding, hs NetHosts, a netAction) (Fault, error) {
	f := &hostNetFault{spec: b.Spec, hosts: hs, targets: b.Targets, addrs: map[uint64]netip.AddrPort{}, rules: map[string]netrules.Rules{}, effect: Effect{}}
	for _, m := range b.Cluster.Members() {
		ap, err := netip.ParseAddrPort(m.Addr)
		if err != nil {
			return nil, fmt.Errorf("%s on hosts: node %d's address %q is not IP:PORT (give the host's data_addr as an IP address): %w", b.Spec.Kind, m.ID, m.Addr, err)
		}
		f.addrs[m.ID] = ap
	}
	add := func(id uint64, l netrules.Link) {
		host := hs.NodeHost(id)
		r, ok := f.rules[host]
		if !ok {
			r = netrules.Rules{Name: b.Env.netName + "-" + host}
			a.rules(&r, b.Spec)
			f.order = append(f.order, host)
		}
		if !slices.Contains(r.Links, l) {
			r.Links = append(r.Links, l)
		}
		f.rules[host] = r
	}
	for _, t := range b.Targets {
		for _, m := range b.Cluster.Members() {
			if m.ID == t.ID {
				continue
			}
			add(t.ID, netrules.Link{Local: f.addrs[t.ID], Peer: f.addrs[m.ID]})
			if a.perLink {
				add(m.ID, netrules.Link{Local: f.addrs[m.ID], Peer: f.addrs[t.ID]})
			}
		}
	}
	for host, r := range f.rules {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("%s on host %s: %w", b.Spec.Kind, host, err)
		}
	}
	return f, nil
}

func (f *hostNetFault) Inject(ctx context.Context) error {
	f.start = time.Now()
	for _, host := range f.order {
		cctx, cancel := context.WithTimeout(ctx, netOpTimeout)
		err := f.hosts.ApplyNetRules(cctx, host, f.rules[host])
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", f.spec.Kind, err)
		}
		f.applied = append(f.applied, host)
	}
	return nil
}

// Revert reads the counters, then removes the rules from every host where
// they were applied. It uses a context of its own: it must run even when
// the run's was cancelled (Ctrl-C).
func (f *hostNetFault) Revert(context.Context) error {
	if len(f.applied) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), netOpTimeout)
	defer cancel()
	f.effect["window_s"] = seconds(time.Since(f.start))
	f.measure(ctx)
	var errs []error
	for _, host := range f.applied {
		if err := f.hosts.RevertNetRules(ctx, host, f.rules[host]); err != nil {
			errs = append(errs, err)
		}
	}
	f.applied = nil
	return errors.Join(errs...)
}

// measure fills the effect from the counters of each target's links on its
// own host; a host whose counters cannot be read leaves its figures out.
func (f *hostNetFault) measure(ctx context.Context) {
	type sum struct{ sent, recv, dropped, shaped, overlimits uint64 }
	sums := map[uint64]*sum{}
	shapes := false
	for _, t := range f.targets {
		sums[t.ID] = &sum{}
	}
	for _, host := range f.applied {
		r := f.rules[host]
		shapes = shapes || r.Shapes()
		c, err := f.hosts.NetCounters(ctx, host, r)
		if err != nil {
			continue
		}
		for _, lc := range c.Links {
			for id, s := range sums {
				if lc.Link.Local != f.addrs[id] {
					continue
				}
				s.sent += lc.Sent.Bytes - lc.Sent.DroppedBytes
				s.recv += lc.Recv.Bytes - lc.Recv.DroppedBytes
				s.dropped += lc.Sent.DroppedPackets + lc.Recv.DroppedPackets
				if lc.Shaped != nil {
					s.shaped += lc.Shaped.Bytes
					s.overlimits += lc.Shaped.Overlimits
				}
			}
		}
	}
	for id, s := range sums {
		n := func(name string, v uint64) { f.effect[fmt.Sprintf("n%d_%s", id, name)] = strconv.FormatUint(v, 10) }
		n("sent_bytes", s.sent)
		n("recv_bytes", s.recv)
		n("dropped_packets", s.dropped)
		if shapes {
			n("shaped_bytes", s.shaped)
			n("overlimits", s.overlimits)
		}
	}
}

func (f *hostNetFault) Effect() Effect { return f.effect }

// NetHostsOf is l as NetHosts when the launcher l runs nodes on hosts
// (core/remote's Launcher), else nil: network faults then use proxies.
func NetHostsOf(l any) NetHosts {
	nh, _ := l.(NetHosts)
	return nh
}
