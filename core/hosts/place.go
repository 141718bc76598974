package hosts

import (
	"errors"
	"fmt"
	"strings"
)

// Placement says which host each node of a cluster runs on: node i (ids
// 1..N) on host i, and with fewer hosts than nodes, round robin: node i on
// host ((i-1) mod hosts)+1.
type Placement struct {
	hosts []Host
	nodes int
}

// Share is a host that runs more than one node.
type Share struct {
	Host  string // the host's name
	Nodes []int  // node ids, ascending
}

// Place maps nodes 1..nodes to hosts. Hosts beyond the nodes stay unused.
func Place(hs []Host, nodes int) (Placement, error) {
	if len(hs) == 0 {
		return Placement{}, errors.New("place nodes: no hosts")
	}
	if nodes < 1 {
		return Placement{}, fmt.Errorf("place nodes: %d nodes: want at least 1", nodes)
	}
	return Placement{hosts: hs, nodes: nodes}, nil
}

// Nodes is the cluster size placed.
func (p Placement) Nodes() int { return p.nodes }

// Host is the host of node id (1..Nodes()); it panics on an id out of range.
func (p Placement) Host(id int) Host {
	if id < 1 || id > p.nodes {
		panic(fmt.Sprintf("hosts.Placement.Host(%d): nodes are 1..%d", id, p.nodes))
	}
	return p.hosts[(id-1)%len(p.hosts)]
}

// Shared lists the hosts that run more than one node, in file order; empty
// when every node has a host of its own.
func (p Placement) Shared() []Share {
	if p.nodes <= len(p.hosts) {
		return nil
	}
	var out []Share
	for h := range p.hosts {
		s := Share{Host: p.hosts[h].Name}
		for id := h + 1; id <= p.nodes; id += len(p.hosts) {
			s.Nodes = append(s.Nodes, id)
		}
		if len(s.Nodes) > 1 {
			out = append(out, s)
		}
	}
	return out
}

// String says where the nodes run, for a log line or a report:
// "each node on its own host" or "nodes 1 and 3 share host a; ...".
func (p Placement) String() string {
	shared := p.Shared()
	if len(shared) == 0 {
		return "each node on its own host"
	}
	parts := make([]string, len(shared))
	for i, s := range shared {
		parts[i] = fmt.Sprintf("nodes %s share host %s", joinIDs(s.Nodes), s.Host)
	}
	return strings.Join(parts, "; ")
}

// joinIDs writes 1, 2 and 3.
func joinIDs(ids []int) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
