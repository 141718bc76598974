package adaptertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/raftcmp/raftcmp/core/adapter"
	"github.com/raftcmp/raftcmp/core/cluster"
)

// checkMembership replaces a follower of a real cluster while proposals
// flow: ChangeMembership on a follower answers NotLeaderError; the leader
// removes the follower (which is then stopped), a fresh node started with
// Config.Join is given to every member with SetPeers and added by the
// leader; then every live node, the new one included, must apply the same
// log, which is the one acknowledged.
func checkMembership(ctx context.Context, k *Kit) error {
	if !k.desc.Capabilities.Membership {
		return fmt.Errorf("%w: the plugin declares no Membership", ErrSkipped)
	}
	c, leader, err := k.startLed(ctx, false)
	if err != nil {
		return err
	}
	defer c.Stop(ctx)
	f := follower(c, leader)
	var want adapter.Digest
	if err := k.proposeN(ctx, leader, 20, &want); err != nil {
		return err
	}
	r, ok := f.Node().(adapter.Reconfigurer)
	if !ok {
		return errors.New("the plugin declares Membership but its node offers no membership API")
	}
	var nl *adapter.NotLeaderError
	if err := r.ChangeMembership(ctx, adapter.MemberChange{Op: adapter.MemberRemove, Peer: adapter.Peer{ID: 99}}); !errors.As(err, &nl) {
		return fmt.Errorf("ChangeMembership on follower %d: %v, want a NotLeaderError", f.ID, err)
	}

	// Proposals go on through the change, one at a time through whoever
	// leads, each acknowledged one folded into want in order.
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() { writeErr = k.proposeUntil(ctx, c, &stop, &want) })
	_, err = c.RemoveMember(ctx, f.ID)
	var added *cluster.Member
	if err == nil {
		added, err = c.AddMember(ctx, -1)
	}
	stop.Store(true)
	wg.Wait()
	if err != nil {
		return err
	}
	if writeErr != nil {
		return fmt.Errorf("proposals during the change: %w", writeErr)
	}
	leader, err = c.Leader(ctx)
	if err != nil {
		return err
	}
	if err := k.proposeN(ctx, leader, 20, &want); err != nil {
		return fmt.Errorf("after adding node %d: %w", added.ID, err)
	}
	if n := len(c.Live()); n != checkNodes {
		return fmt.Errorf("%d live nodes after the change, want %d", n, checkNodes)
	}
	if err := k.converge(ctx, c, want); err != nil {
		return fmt.Errorf("after removing node %d and adding node %d: %w", f.ID, added.ID, err)
	}
	return nil
}

// proposeUntil proposes fresh payloads one at a time through the current
// leader until stop is set, folding each acknowledged one into d. A
// NotLeaderError (a leader change) is retried with a fresh payload; the
// refused one was not accepted.
func (k *Kit) proposeUntil(ctx context.Context, c *cluster.Cluster, stop *atomic.Bool, d *adapter.Digest) error {
	for !stop.Load() {
		leader, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		p := k.payload()
		_, err = leader.Node().Propose(ctx, p)
		var nl *adapter.NotLeaderError
		switch {
		case errors.As(err, &nl):
			continue
		case err != nil:
			return fmt.Errorf("through node %d: %w", leader.ID, err)
		}
		d.Add(p)
	}
	return nil
}
