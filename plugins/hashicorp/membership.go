package hashicorp

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Node implements adapter.Reconfigurer.
var _ adapter.Reconfigurer = (*Node)(nil)

// ChangeMembership implements adapter.Reconfigurer with hashicorp/raft's
// own API, as Consul's autopilot does: Raft.AddVoter (the new server's id
// and the address the leader dials, which the library records in its
// configuration but this node never dials: see peerBook) or
// Raft.RemoveServer. The future resolves once the configuration entry is
// committed; on a follower it fails with ErrNotLeader, returned as
// adapter.NotLeaderError.
func (n *Node) ChangeMembership(ctx context.Context, ch adapter.MemberChange) error {
	r, err := n.started()
	if err != nil {
		return err
	}
	var timeout time.Duration // 0: wait for the queue as long as it takes
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Microsecond)
	}
	var f raft.IndexFuture
	switch ch.Op {
	case adapter.MemberAdd:
		f = r.AddVoter(serverID(ch.Peer.ID), raft.ServerAddress(ch.Peer.Addr), 0, timeout)
	case adapter.MemberRemove:
		f = r.RemoveServer(serverID(ch.Peer.ID), 0, timeout)
	default:
		return fmt.Errorf("membership change %q: %w", ch.Op, adapter.ErrUnsupported)
	}
	return n.futureError(ch.String(), r, f.Error())
}

// SetPeers implements adapter.Reconfigurer: the transport resolves server
// ids through the new list from now on.
func (n *Node) SetPeers(ctx context.Context, peers []adapter.Peer) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.book == nil {
		return fmt.Errorf("node not started")
	}
	n.book.set(peers)
	return nil
}

// peerBook resolves a server id to the address this node dials: its
// Config.Peers, replaced by SetPeers. It is the transport's
// ServerAddressProvider, so no address from the replicated configuration
// is ever dialled.
type peerBook struct {
	mu    sync.RWMutex
	peers []adapter.Peer
}

func newPeerBook(peers []adapter.Peer) *peerBook {
	return &peerBook{peers: slices.Clone(peers)}
}

func (b *peerBook) set(peers []adapter.Peer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.peers = slices.Clone(peers)
}

// ServerAddr implements raft.ServerAddressProvider.
func (b *peerBook) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return peerAddrs(b.peers).ServerAddr(id)
}
