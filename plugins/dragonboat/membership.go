package dragonboat

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/lni/dragonboat/v4"
	"github.com/lni/dragonboat/v4/config"
	"github.com/lni/dragonboat/v4/raftio"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Node implements adapter.Reconfigurer.
var _ adapter.Reconfigurer = (*Node)(nil)

// ChangeMembership implements adapter.Reconfigurer with dragonboat's own
// API: NodeHost.SyncRequestAddReplica (the new replica named by its
// NodeHostID, as every member is here; the new node was started with
// StartReplica join=true) or SyncRequestDeleteReplica, with
// configChangeIndex 0 (no ordering check against other changes: raftcmp
// makes one at a time). Both return once the change is committed and
// applied on this replica. dragonboat would forward the request from a
// follower; the contract asks for the leader, so a follower answers
// NotLeaderError.
func (n *Node) ChangeMembership(ctx context.Context, ch adapter.MemberChange) error {
	if ch.Op != adapter.MemberAdd && ch.Op != adapter.MemberRemove {
		return fmt.Errorf("membership change %q: %w", ch.Op, adapter.ErrUnsupported)
	}
	if leader, ok := n.leader(); !ok || leader != n.id {
		return &adapter.NotLeaderError{Leader: leader}
	}
	ctx, timeout, cancel, err := n.deadline(ctx, ch.String())
	if err != nil {
		return err
	}
	defer cancel()
	// NodeHost.SyncRequestAddReplica / SyncRequestDeleteReplica split in
	// two, as Propose splits SyncPropose: the request is made holding mu
	// (Stop cannot close the NodeHost under it), the wait is not.
	rs, err := n.submit(func(nh *dragonboat.NodeHost) (*dragonboat.RequestState, error) {
		if ch.Op == adapter.MemberAdd {
			return nh.RequestAddReplica(shardID, ch.Peer.ID, nodeHostID(ch.Peer.ID), 0, timeout)
		}
		return nh.RequestDeleteReplica(shardID, ch.Peer.ID, 0, timeout)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", ch, n.proposeError(err))
	}
	r, err := n.wait(ctx, rs)
	if err != nil {
		return fmt.Errorf("%s: %w", ch, err)
	}
	if err := n.resultError(ch.String(), r); err != nil {
		return err
	}
	rs.Release()
	return nil
}

// SetPeers implements adapter.Reconfigurer: the node registry resolves
// replicas through the new list from now on.
func (n *Node) SetPeers(ctx context.Context, peers []adapter.Peer) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.book == nil {
		return errors.New("node not started")
	}
	n.book.set(peers)
	return nil
}

// peerBook is the node registry (see peerRegistry) over an address book
// that SetPeers replaces.
type peerBook struct {
	mu    sync.RWMutex
	peers peerRegistry
}

var (
	_ raftio.INodeRegistry       = (*peerBook)(nil)
	_ config.NodeRegistryFactory = (*peerBook)(nil)
)

func newPeerBook(peers []adapter.Peer) *peerBook {
	return &peerBook{peers: slices.Clone(peers)}
}

func (b *peerBook) set(peers []adapter.Peer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.peers = slices.Clone(peers)
}

// Create implements config.NodeRegistryFactory.
func (b *peerBook) Create(string, uint64, config.TargetValidator) (raftio.INodeRegistry, error) {
	return b, nil
}

// Add implements raftio.INodeRegistry; it ignores the target.
func (*peerBook) Add(uint64, uint64, string) {}

// Remove implements raftio.INodeRegistry; SetPeers says who is reachable.
func (*peerBook) Remove(uint64, uint64) {}

// RemoveShard implements raftio.INodeRegistry.
func (*peerBook) RemoveShard(uint64) {}

// Close implements raftio.INodeRegistry.
func (*peerBook) Close() error { return nil }

// Resolve implements raftio.INodeRegistry, as peerRegistry does.
func (b *peerBook) Resolve(shard uint64, replicaID uint64) (string, string, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.peers.Resolve(shard, replicaID)
}
