package etcd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/types"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Node implements adapter.Reconfigurer.
var _ adapter.Reconfigurer = (*Node)(nil)

// ChangeMembership implements adapter.Reconfigurer as etcd's server changes
// its membership: raft.Node.ProposeConfChange with a ConfChangeAddNode or
// ConfChangeRemoveNode on the leader; the Ready loop hands the committed
// entry to raft.Node.ApplyConfChange (replica.apply). It returns once this
// node's raft reports the new voter set, that is once the change is
// committed and applied here.
//
// etcd raft accepts one pending change at a time and, without an error,
// turns a proposal made while another is pending (or before a new leader
// has applied its first entries) into an empty entry. So a change not seen
// applied within confRetry is proposed again; adding a voter already added
// or removing one already removed is a no-op in raft, so a retry is safe.
func (n *Node) ChangeMembership(ctx context.Context, ch adapter.MemberChange) error {
	r := n.r.Load()
	if r == nil {
		return errNotStarted
	}
	cc := &raftpb.ConfChange{NodeId: proto.Uint64(ch.Peer.ID)}
	switch ch.Op {
	case adapter.MemberAdd:
		cc.Type = raftpb.ConfChangeType_ConfChangeAddNode.Enum()
		cc.Context = []byte(ch.Peer.Addr) // as etcd's server does: the member's address, for the record
	case adapter.MemberRemove:
		cc.Type = raftpb.ConfChangeType_ConfChangeRemoveNode.Enum()
	default:
		return fmt.Errorf("membership change %q: %w", ch.Op, adapter.ErrUnsupported)
	}
	want := ch.Op == adapter.MemberAdd
	for {
		st := r.node.Status()
		if st.RaftState != raft.StateLeader {
			return &adapter.NotLeaderError{Leader: st.Lead}
		}
		if err := r.node.ProposeConfChange(ctx, cc); err != nil {
			if errors.Is(err, raft.ErrProposalDropped) {
				return &adapter.NotLeaderError{Leader: r.lead.Load()}
			}
			return fmt.Errorf("%s: propose conf change: %w", ch, err)
		}
		retry := time.NewTimer(confRetry)
		tick := time.NewTicker(confPoll)
		for done := false; !done; {
			select {
			case <-ctx.Done():
				retry.Stop()
				tick.Stop()
				return fmt.Errorf("%s: wait for the change to apply: %w", ch, ctx.Err())
			case <-r.stopc:
				retry.Stop()
				tick.Stop()
				return errStopped
			case <-retry.C:
				done = true
			case <-tick.C:
				st := r.node.Status()
				if _, in := st.Config.Voters.IDs()[ch.Peer.ID]; in == want {
					retry.Stop()
					tick.Stop()
					return nil
				}
				if st.RaftState != raft.StateLeader {
					retry.Stop()
					tick.Stop()
					return &adapter.NotLeaderError{Leader: st.Lead}
				}
			}
		}
		tick.Stop()
	}
}

const (
	// confPoll is how often ChangeMembership looks at raft's voter set.
	confPoll = 5 * time.Millisecond
	// confRetry is how long a proposed change may take to apply before it
	// is proposed again (see ChangeMembership).
	confRetry = 2 * time.Second
)

// SetPeers implements adapter.Reconfigurer: the transport dials each listed
// peer at its given address from now on and stops sending to a peer no
// longer listed. A listed peer's address cannot change.
func (n *Node) SetPeers(ctx context.Context, peers []adapter.Peer) error {
	n.mu.Lock() // serialised with Start and Stop
	defer n.mu.Unlock()
	r := n.r.Load()
	if r == nil {
		return errNotStarted
	}
	book := map[uint64]string{}
	for _, p := range peers {
		if p.ID != r.id {
			book[p.ID] = p.Addr
		}
	}
	switch t := r.trans.(type) {
	case *transport:
		return t.setPeers(book)
	case *httpTransport:
		return t.setPeers(book)
	}
	return fmt.Errorf("set peers: transport %T: %w", r.trans, adapter.ErrUnsupported)
}

// setPeers makes book (peer id to address, this node excluded) the TCP
// transport's peers: a new peer gets a queue and a writer; a removed one
// gets no more messages, and its writer idles until the transport closes.
func (t *transport) setPeers(book map[uint64]string) error {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	for id, p := range t.peers {
		if a, ok := book[id]; ok && a != p.addr {
			return fmt.Errorf("set peers: node %d moves from %s to %s: a peer's address cannot change", id, p.addr, a)
		}
	}
	queue := 0
	for id, p := range t.peers {
		queue = cap(p.queue)
		if _, ok := book[id]; !ok {
			delete(t.peers, id)
		}
	}
	for id, a := range book {
		if _, ok := t.peers[id]; ok {
			continue
		}
		p := &peer{id: id, addr: a, queue: make(chan outMsg, max(queue, 1))}
		t.peers[id] = p
		t.wg.Go(func() { t.write(p) })
	}
	return nil
}

// setPeers adds every new peer of book to rafthttp at its given address
// and removes the peers no longer in it (callers hold Node.mu).
func (t *httpTransport) setPeers(book map[uint64]string) error {
	for id, a := range t.peers {
		if b, ok := book[id]; ok && id != t.self && a != b {
			return fmt.Errorf("set peers: node %d moves from %s to %s: a peer's address cannot change", id, a, b)
		}
	}
	for id := range t.peers {
		if _, ok := book[id]; !ok && id != t.self {
			t.tr.RemovePeer(types.ID(id))
			delete(t.peers, id)
		}
	}
	for id, a := range book {
		if _, ok := t.peers[id]; !ok {
			t.tr.AddPeer(types.ID(id), []string{"http://" + a})
			t.peers[id] = a
		}
	}
	return nil
}
