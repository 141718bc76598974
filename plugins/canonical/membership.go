//go:build cgo

package canonical

/*
#include <stdlib.h>
#include "glue.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime/cgo"
	"time"
	"unsafe"

	"github.com/raftcmp/raftcmp/core/adapter"
)

// Node implements adapter.Reconfigurer.
var _ adapter.Reconfigurer = (*Node)(nil)

// changeRetry is how long ChangeMembership waits before proposing a change
// again that libraft refused because another is still in progress
// (RAFT_CANTCHANGE: an uncommitted configuration, or a promotion under way).
const changeRetry = 50 * time.Millisecond

// ChangeMembership implements adapter.Reconfigurer through libraft's own
// membership API, as dqlite changes its cluster: an add is raft_add (the
// server joins as a spare) and, once that is committed, raft_assign to
// RAFT_VOTER, which makes the leader catch the new server up before it
// appends the configuration that counts it; a remove is raft_remove. It
// returns once the last configuration entry is committed and applied on
// this node (libraft's change callback). A change already in effect (a
// retry) succeeds. libraft takes one change at a time: a change refused
// because another is in progress is proposed again until ctx ends.
func (n *Node) ChangeMembership(ctx context.Context, ch adapter.MemberChange) error {
	var kind C.int
	switch ch.Op {
	case adapter.MemberAdd:
		kind = C.RC_ADD
	case adapter.MemberRemove:
		kind = C.RC_REMOVE
	default:
		return fmt.Errorf("membership change %q: %w", ch.Op, adapter.ErrUnsupported)
	}
	for {
		c, err := n.change(ctx, kind, ch.Peer)
		if err != nil {
			return fmt.Errorf("%s: %w", ch, err)
		}
		if c.status != C.RAFT_CANTCHANGE {
			if err := statusError("membership change", c.status, c.leader); err != nil {
				return fmt.Errorf("%s: %w", ch, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: another change still in progress: %w", ch, ctx.Err())
		case <-time.After(changeRetry):
		}
	}
}

// change queues one membership change and waits for its completion.
func (n *Node) change(ctx context.Context, kind C.int, p adapter.Peer) (completion, error) {
	ch := make(chan completion, 1)
	h := cgo.NewHandle(ch)
	addr := C.CString(p.Addr)
	defer C.free(unsafe.Pointer(addr))
	n.mu.RLock()
	if n.c == nil {
		n.mu.RUnlock()
		h.Delete()
		return completion{}, errors.New("node not started")
	}
	rv := C.rc_change(n.c, kind, C.uintptr_t(h), C.raft_id(p.ID), addr)
	n.mu.RUnlock()
	if rv != 0 {
		h.Delete()
		return completion{}, statusError("queue membership change", int(rv), 0)
	}
	select {
	case c := <-ch:
		return c, nil
	case <-ctx.Done():
		// The completion still comes and deletes the handle.
		return completion{}, ctx.Err()
	}
}

// SetPeers implements adapter.Reconfigurer: the transport dials each peer
// by id at the address listed here from the next connection on (libraft
// reconnects a dropped connection after connect_retry_delay); a peer no
// longer listed is no longer dialled. A listed peer may change address.
func (n *Node) SetPeers(ctx context.Context, peers []adapter.Peer) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.c == nil {
		return errors.New("set peers: node not started")
	}
	np := len(peers)
	ids := make([]C.raft_id, max(np, 1))
	cAddrs := C.calloc(C.size_t(max(np, 1)), C.size_t(unsafe.Sizeof((*C.char)(nil))))
	defer C.free(cAddrs)
	addrs := unsafe.Slice((**C.char)(cAddrs), max(np, 1))
	for i, p := range peers {
		ids[i] = C.raft_id(p.ID)
		addrs[i] = C.CString(p.Addr)
		defer C.free(unsafe.Pointer(addrs[i]))
	}
	// ids is Go memory holding no Go pointers, which cgo lets C read
	// during the call; rc_set_peers copies both arrays.
	if rv := C.rc_set_peers(n.c, C.unsigned(np), &ids[0], (**C.char)(cAddrs)); rv != 0 {
		return statusError("set peers", int(rv), 0)
	}
	return nil
}
