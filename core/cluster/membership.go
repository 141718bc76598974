package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// ErrProxiedMembership refuses a membership change on a cluster whose links
// are proxied (Hooks.PeerAddr): the proxies are laid out for the members
// the cluster started with, and a new node would reach its peers, and they
// it, around them.
var ErrProxiedMembership = errors.New("membership changes are not supported on a cluster whose links are proxied (network faults): the link proxies are set up for the initial members only")

// reconfigurer is m's node as a adapter.Reconfigurer, or an error saying
// the backend has none.
func reconfigurer(m *Member) (adapter.Reconfigurer, error) {
	n := m.Node()
	if !n.Describe().Capabilities.Membership {
		return nil, fmt.Errorf("membership change: %w (the backend does not declare Membership)", adapter.ErrUnsupported)
	}
	r, ok := n.(adapter.Reconfigurer)
	if !ok {
		return nil, fmt.Errorf("membership change: %w (node %d's process offers no membership API)", adapter.ErrUnsupported, m.ID)
	}
	return r, nil
}

// changeThroughLeader makes ch through the current leader, finding it
// again while a node answers that it is not the leader, until ctx ends.
// It returns the leader that made the change.
func (c *Cluster) changeThroughLeader(ctx context.Context, ch adapter.MemberChange) (*Member, error) {
	var by *Member
	err := Poll(ctx, fmt.Sprintf("the leader to %s", ch), func(ctx context.Context) (bool, string, error) {
		leader, err := c.Leader(ctx)
		if err != nil {
			return false, err.Error(), nil
		}
		r, err := reconfigurer(leader)
		if err != nil {
			return false, "", err
		}
		err = r.ChangeMembership(ctx, ch)
		var nl *adapter.NotLeaderError
		switch {
		case errors.As(err, &nl):
			return false, fmt.Sprintf("node %d: %v", leader.ID, err), nil
		case err != nil:
			return false, "", fmt.Errorf("node %d: %w", leader.ID, err)
		}
		by = leader
		return true, "", nil
	})
	return by, err
}

// RemoveMember removes node id from the cluster's membership through the
// leader (adapter.Reconfigurer.ChangeMembership, which returns once the
// change is committed), then stops the node's process and gives every
// remaining live member the address book without it. The member stays in
// Members, not live; its data directory goes at Stop. Removing the leader
// is refused. It returns the leader that made the change.
func (c *Cluster) RemoveMember(ctx context.Context, id uint64) (*Member, error) {
	if c.spec.Hooks.PeerAddr != nil {
		return nil, ErrProxiedMembership
	}
	m := c.Member(id)
	if m == nil || !m.Live() {
		return nil, fmt.Errorf("remove node %d: no such live node", id)
	}
	if _, err := reconfigurer(m); err != nil {
		return nil, err
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		return nil, err
	}
	if leader.ID == id {
		return nil, fmt.Errorf("remove node %d: it is the leader; raftcmp removes followers only", id)
	}
	by, err := c.changeThroughLeader(ctx, adapter.MemberChange{Op: adapter.MemberRemove, Peer: adapter.Peer{ID: id}})
	if err != nil {
		return nil, fmt.Errorf("remove node %d: %w", id, err)
	}
	if err := c.StopMember(ctx, id); err != nil {
		return by, fmt.Errorf("remove node %d: stop its process: %w", id, err)
	}
	return by, c.setPeers(ctx)
}

// AddMember adds a fresh node to the cluster: a new process with the next
// id, a new empty data directory and a new address, whose node starts to
// join (adapter.Config.Join) with the running members as its peers; then
// every other live member is given the address book with it
// (adapter.Reconfigurer.SetPeers) and the leader adds it
// (ChangeMembership, which returns once the change is committed). A cpu of
// 0 or more pins the new process to that CPU. It does not wait for the new
// node to catch up. On error the new member, if it got a process, stays in
// Members for Stop to end.
func (c *Cluster) AddMember(ctx context.Context, cpu int) (*Member, error) {
	if c.spec.Hooks.PeerAddr != nil {
		return nil, ErrProxiedMembership
	}
	if _, err := reconfigurer(c.Live()[0]); err != nil {
		return nil, err
	}
	c.mmu.Lock()
	id := uint64(len(c.members) + 1)
	c.mmu.Unlock()
	addrs, err := c.spec.Launcher.Addrs(int(id))
	if err != nil {
		return nil, fmt.Errorf("add node %d: %w", id, err)
	}
	m := &Member{ID: id, Addr: addrs[id-1], DataDir: filepath.Join(c.dataDir, "node-"+strconv.FormatUint(id, 10))}
	c.mmu.Lock()
	if uint64(len(c.members)+1) != id {
		c.mmu.Unlock()
		return nil, fmt.Errorf("add node %d: another node was added meanwhile", id)
	}
	c.members = append(c.members, m)
	c.mmu.Unlock()

	peers := c.peerList(m)
	m.cfg = adapter.Config{ID: id, Listen: m.Addr, Peers: peers, DataDir: m.DataDir, Storage: c.spec.Storage,
		Options: c.spec.Options, Raft: c.spec.Raft, ReadMode: c.spec.ReadMode, Join: true}
	for _, step := range []func(context.Context, *Member) error{c.launch, c.startNode} {
		if err := step(ctx, m); err != nil {
			return m, &NodesError{IDs: []uint64{id}, Err: err}
		}
	}
	if cpu >= 0 {
		if err := m.Process().Pin(cpu); err != nil {
			return m, fmt.Errorf("pin node %d to cpu %d: %w", id, cpu, err)
		}
	}
	if err := c.setPeers(ctx); err != nil {
		return m, err
	}
	if _, err := c.changeThroughLeader(ctx, adapter.MemberChange{Op: adapter.MemberAdd, Peer: adapter.Peer{ID: id, Addr: m.Addr}}); err != nil {
		return m, fmt.Errorf("add node %d: %w", id, err)
	}
	return m, nil
}

// CPU is the CPU node id was pinned to at start, or -1.
func (c *Cluster) CPU(id uint64) int {
	if id >= 1 && len(c.spec.CPUs) >= int(id) {
		return c.spec.CPUs[id-1]
	}
	return -1
}

// peerList is the address book of member m: every live member and m, in id
// order, at their listen addresses.
func (c *Cluster) peerList(m *Member) []adapter.Peer {
	var peers []adapter.Peer
	for _, p := range c.all() {
		if p == m || p.Live() {
			peers = append(peers, adapter.Peer{ID: p.ID, Addr: p.Addr})
		}
	}
	return peers
}

// setPeers gives every live member the address book of the live members.
func (c *Cluster) setPeers(ctx context.Context) error {
	live := c.Live()
	return c.eachOf(live, func(m *Member) error {
		r, err := reconfigurer(m)
		if err != nil {
			return err
		}
		peers := c.peerList(m)
		if err := r.SetPeers(ctx, peers); err != nil {
			return fmt.Errorf("set peers: %w", err)
		}
		m.mu.Lock()
		m.cfg.Peers = peers // a restart dials the same peers
		m.mu.Unlock()
		return nil
	})
}
